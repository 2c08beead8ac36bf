//! Killing a timed-out or abandoned command and everything it started.
//!
//! The engine has no API to kill an exec, and a marker in the environment is no containment:
//! `env -i`, another uid or a non-dumpable process hides it. What every process does have is
//! `/proc/<pid>/stat`, readable by root whatever the process did to itself: its parent and
//! its start time. The command's processes are its root (identified by the pid and start
//! time it printed first), the root's descendants, and every process re-parented to PID 1
//! that started after the root did (a double fork or `setsid` orphans itself to init), with
//! their descendants. A root exec stops them all (so none can fork), kills them, and checks
//! that none is left alive; when that can't be confirmed the kill fails loudly.
//!
//! The price of not trusting anything a process can change: an orphan that another command
//! started while this one ran is taken for this one's, and killed with it.

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use slipway_core::{ContainerId, Error, Result};

use super::capture::{drain, Captured};
use crate::error::{IntoCore, RuntimeError};
use crate::DockerRuntime;

/// What the shim prints first on stderr, before the command's own output.
pub(super) const ROOT_PREFIX: &str = "slipway-exec ";

/// Runs the command after printing its own `/proc/self/stat` line, so the command's root
/// process (the shell, replaced by the command in place) is known by pid and start time.
pub(super) const SHIM: &str =
    r#"read -r s </proc/self/stat && printf 'slipway-exec %s\n' "$s" >&2; exec "$@""#;

/// Stops, kills and confirms gone every process of the command whose root is `$1`, started
/// at tick `$2` (see the module docs). Needs only a POSIX `sh` with `kill` and `read`.
const KILL_TREE: &str = r#"root=$1; since=$2; me=$$
members=" "
# Sets state, ppid and start of process $1; fails when it is gone.
stat_of() {
  s=; read -r s <"/proc/$1/stat" 2>/dev/null; [ -n "$s" ] || return 1
  set -- ${s##*) }
  state=$1; ppid=$2; start=${20}
}
is_member() { case "$members" in *" $1:"*) return 0;; esac; return 1; }
dead() { case "$state" in Z|X|x) return 0;; esac; return 1; }
# Adds (and stops) every live process of the command not yet known; sets added=1 if any.
grow() {
  added=0
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$me" ] && continue
    is_member "$p" && continue
    stat_of "$p" || continue
    dead && continue
    if [ "$p" = "$root" ]; then
      [ "$start" = "$since" ] || continue
    elif is_member "$ppid"; then :
    elif [ "$ppid" = 1 ] && [ "$start" -ge "$since" ]; then :
    else continue
    fi
    members="$members$p:$start "
    kill -s STOP "$p" 2>/dev/null
    added=1
  done
}
quiet=0
while [ "$quiet" -lt 2 ]; do
  grow
  if [ "$added" = 1 ]; then quiet=0; else quiet=$((quiet + 1)); fi
done
for m in $members; do kill -s KILL "${m%%:*}" 2>/dev/null; done
tries=0
while :; do
  grow
  alive=
  for m in $members; do
    p=${m%%:*}
    stat_of "$p" || continue
    [ "$start" = "${m#*:}" ] || continue
    dead || alive="$alive $p"
  done
  [ -z "$alive" ] && exit 0
  tries=$((tries + 1))
  if [ "$tries" -gt 300 ]; then echo "still alive:$alive" >&2; exit 1; fi
  for p in $alive; do kill -s KILL "$p" 2>/dev/null; done
  sleep 0.01 2>/dev/null || sleep 1
done"#;

/// How long the killer may take before the kill counts as failed.
const KILL_DEADLINE: Duration = Duration::from_secs(30);

/// The first process of a command, as its shim printed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ExecRoot {
    /// Its pid in the container.
    pub(super) pid: u32,
    /// When it started, in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
    pub(super) start_ticks: u64,
}

impl ExecRoot {
    /// Parses the line the shim printed (without the newline); `None` if it isn't one.
    pub(super) fn parse(line: &str) -> Option<ExecRoot> {
        let stat = line.strip_prefix(ROOT_PREFIX)?;
        let (pid, _) = stat.split_once(" (")?;
        // The command name may hold spaces and parentheses; the fields after it can't.
        let (_, rest) = stat.rsplit_once(") ")?;
        let start = rest.split_ascii_whitespace().nth(19)?;
        Some(ExecRoot {
            pid: pid.parse().ok()?,
            start_ticks: start.parse().ok()?,
        })
    }
}

impl DockerRuntime {
    /// Kills the command whose root is `root` and everything it started, and confirms it.
    pub(super) async fn kill_tree(&self, id: &ContainerId, root: Option<ExecRoot>) -> Result<()> {
        let Some(root) = root else {
            return Err(Error::backend(format!(
                "failed to kill a command in container {id}: it never said which process it is \
                 (the image needs /bin/sh and /proc)"
            )));
        };
        match tokio::time::timeout(KILL_DEADLINE, self.run_killer(id, root)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                operation: format!("killing a command in container {id}"),
                after: KILL_DEADLINE,
            }),
        }
    }

    async fn run_killer(&self, id: &ContainerId, root: ExecRoot) -> Result<()> {
        let kill_error = |source| RuntimeError::KillExec {
            id: id.to_string(),
            source,
        };
        let created = self
            .docker
            .create_exec(
                id.as_str(),
                CreateExecOptions::<String> {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(vec![
                        "/bin/sh".into(),
                        "-c".into(),
                        KILL_TREE.into(),
                        "sh".into(),
                        root.pid.to_string(),
                        root.start_ticks.to_string(),
                    ]),
                    user: Some("0".into()),
                    ..CreateExecOptions::default()
                },
            )
            .await
            .or_core(self, kill_error)?;
        let mut captured = Captured::plain();
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&created.id, Some(StartExecOptions::default()))
            .await
            .or_core(self, kill_error)?
        {
            drain(&mut output, &mut captured, 64 * 1024)
                .await
                .or_core(self, kill_error)?;
        }
        match self
            .exit_code(&created.id)
            .await
            .or_core(self, kill_error)?
        {
            Some(0) => Ok(()),
            code => Err(Error::backend(format!(
                "failed to kill a command in container {id}: the killer exited with {} ({})",
                code.map_or("no code".to_owned(), |c| c.to_string()),
                String::from_utf8_lossy(&captured.stderr).trim()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_read_from_the_shim_s_stat_line() {
        let line = "slipway-exec 42 (s h) (x)) S 0 42 42 0 -1 4194560 95 0 0 0 0 0 0 0 20 0 1 0 \
                    987654 1691648 203 18446744073709551615";
        assert_eq!(
            ExecRoot::parse(line),
            Some(ExecRoot {
                pid: 42,
                start_ticks: 987654
            })
        );
        assert_eq!(ExecRoot::parse("42 (sh) S 0"), None, "no prefix");
        assert_eq!(
            ExecRoot::parse("slipway-exec 42 (sh) S 0 1"),
            None,
            "cut short"
        );
        assert_eq!(ExecRoot::parse("slipway-exec x (sh) S 0"), None);
    }
}
