//! [`Creator`]: which process created a pooled container, so reconciliation can tell a
//! container whose creator is gone (safe to reap) from one another live process is using.
//!
//! A process is named by its pid, its start time (so a reused pid is not mistaken for it)
//! and the boot id (so a pid from before a reboot is not either), read from `/proc`.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// A process on this host, as recorded in a container's `dev.slipway.creator` label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creator {
    pid: u32,
    start_ticks: u64,
    boot_id: String,
}

impl Creator {
    /// This process, or `None` where `/proc` can't tell (then containers carry no creator
    /// and only the grace period protects them).
    pub fn current() -> Option<Self> {
        let pid = std::process::id();
        Some(Self {
            pid,
            start_ticks: start_ticks(Path::new("/proc"), pid)?,
            boot_id: boot_id(Path::new("/proc"))?,
        })
    }

    /// Whether the process still runs: same boot, same pid, same start time.
    pub fn is_alive(&self) -> bool {
        self.is_alive_in(Path::new("/proc"))
    }

    fn is_alive_in(&self, proc: &Path) -> bool {
        boot_id(proc).is_some_and(|boot| boot == self.boot_id)
            && start_ticks(proc, self.pid) == Some(self.start_ticks)
    }
}

impl fmt::Display for Creator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}@{}", self.pid, self.start_ticks, self.boot_id)
    }
}

impl FromStr for Creator {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (process, boot_id) = text.split_once('@').ok_or(())?;
        let (pid, start) = process.split_once('.').ok_or(())?;
        Ok(Self {
            pid: pid.parse().map_err(drop)?,
            start_ticks: start.parse().map_err(drop)?,
            boot_id: boot_id.to_owned(),
        })
    }
}

/// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks since boot.
fn start_ticks(proc: &Path, pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(proc.join(pid.to_string()).join("stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

fn boot_id(proc: &Path) -> Option<String> {
    let id = std::fs::read_to_string(proc.join("sys/kernel/random/boot_id")).ok()?;
    Some(id.trim().to_owned()).filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_proc(pid: u32, start: u64, boot: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(pid.to_string())).unwrap();
        std::fs::write(
            dir.path().join(pid.to_string()).join("stat"),
            format!(
                "{pid} (slip way) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 {start} 99 100\n"
            ),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("sys/kernel/random")).unwrap();
        std::fs::write(
            dir.path().join("sys/kernel/random/boot_id"),
            format!("{boot}\n"),
        )
        .unwrap();
        dir
    }

    #[test]
    fn this_process_is_alive_and_round_trips_through_its_label() {
        let me = Creator::current().expect("/proc is readable here");
        assert!(me.is_alive());
        let label = me.to_string();
        assert_eq!(label.parse::<Creator>(), Ok(me));
    }

    #[test]
    fn a_reused_pid_or_a_reboot_is_not_the_creator() {
        let creator = Creator {
            pid: 4242,
            start_ticks: 777,
            boot_id: "boot-a".into(),
        };
        assert!(creator.is_alive_in(fake_proc(4242, 777, "boot-a").path()));
        assert!(!creator.is_alive_in(fake_proc(4242, 778, "boot-a").path()));
        assert!(!creator.is_alive_in(fake_proc(4242, 777, "boot-b").path()));
        assert!(!creator.is_alive_in(fake_proc(4243, 777, "boot-a").path()));
    }

    #[test]
    fn malformed_labels_are_no_creator() {
        for bad in ["", "12", "12.x@b", "x.1@b", "12.1"] {
            assert!(bad.parse::<Creator>().is_err(), "{bad}");
        }
    }
}
