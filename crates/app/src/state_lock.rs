//! [`StateLock`]: one owner per state directory. The process that owns pools and
//! reconciliation holds an advisory lock (`flock`) on `<state>/owner.lock`; the lock goes
//! with the process, whatever way it ends. The holder writes who it is into the file, so a
//! process that can't have the lock can say who has it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use slipway_core::{Error, Result, Timestamp};

/// The lock file inside a state directory.
pub const LOCK_FILE: &str = "owner.lock";

/// How often a waiting process tries the lock again.
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// Who owns a state directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// What it is doing, e.g. `slipway env up me/app` or `slipwayd`.
    pub command: String,
    /// Whether it is a long-running server (waiting for it is pointless).
    pub daemon: bool,
    /// Since when it holds the lock.
    pub since: Timestamp,
}

impl Holder {
    /// This process, doing `command`.
    pub fn current(command: impl Into<String>, daemon: bool) -> Self {
        Self {
            pid: std::process::id(),
            command: command.into(),
            daemon,
            since: Timestamp::now(),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let age = self.since.elapsed().as_secs();
        write!(
            f,
            "pid {} (`{}`, for {}m{:02}s)",
            self.pid,
            self.command,
            age / 60,
            age % 60
        )
    }
}

/// What to do when another process owns the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// Fail at once, saying who owns it.
    Never,
    /// Wait up to this long for a one-shot owner (never for a daemon), then fail.
    Up(Duration),
}

/// Ownership of a state directory, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Takes the lock if nobody holds it; `Ok(None)` when someone does.
    pub fn try_acquire(state_dir: &Path, holder: &Holder) -> Result<Option<StateLock>> {
        let path = state_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| lock_error(&path, &e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(lock_error(&path, &e)),
        }
        let mut lock = StateLock { _file: file, path };
        lock.write_holder(holder)?;
        Ok(Some(lock))
    }

    /// Takes the lock, waiting as `wait` says; `on_wait` hears once who is being waited for.
    /// When it can't be had, the error is a `Conflict` naming the holder and what to do.
    pub async fn acquire(
        state_dir: &Path,
        holder: &Holder,
        wait: LockWait,
        on_wait: impl FnOnce(&Holder),
    ) -> Result<StateLock> {
        let started = Instant::now();
        let mut on_wait = Some(on_wait);
        loop {
            if let Some(lock) = Self::try_acquire(state_dir, holder)? {
                return Ok(lock);
            }
            let owner = Self::holder(state_dir);
            let patient = match (wait, &owner) {
                (LockWait::Never, _) | (_, Some(Holder { daemon: true, .. })) => false,
                (LockWait::Up(limit), _) => started.elapsed() < limit,
            };
            if !patient {
                return Err(owned_by(state_dir, owner.as_ref()));
            }
            if let (Some(notify), Some(owner)) = (on_wait.take_if(|_| owner.is_some()), &owner) {
                notify(owner);
            }
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }

    /// Who holds the lock of `state_dir` now, as far as it wrote.
    pub fn holder(state_dir: &Path) -> Option<Holder> {
        let mut text = String::new();
        File::open(state_dir.join(LOCK_FILE))
            .ok()?
            .read_to_string(&mut text)
            .ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write_holder(&mut self, holder: &Holder) -> Result<()> {
        let json = serde_json::to_vec(holder).map_err(Error::backend)?;
        let file = &mut self._file;
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(&json))
            .and_then(|()| file.flush());
        written.map_err(|e| lock_error(&self.path, &e))
    }
}

fn lock_error(path: &Path, error: &std::io::Error) -> Error {
    Error::invalid(
        "state directory",
        format!("cannot lock {}: {error}", path.display()),
    )
}

/// The refusal: who owns the state and what to do about it.
fn owned_by(state_dir: &Path, holder: Option<&Holder>) -> Error {
    let dir = state_dir.display();
    match holder {
        Some(holder) if holder.daemon => Error::Conflict(format!(
            "the state in {dir} is owned by {holder}: use its API, stop it, or pass --state-dir \
             for another state"
        )),
        Some(holder) => Error::Conflict(format!(
            "the state in {dir} is owned by {holder}: wait for it to finish, or stop it"
        )),
        None => Error::Conflict(format!(
            "the state in {dir} is owned by another slipway process: wait for it to finish"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_owner_is_refused_naming_the_first_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = Holder::current("slipway env up me/app", false);
        let lock = StateLock::try_acquire(dir.path(), &first).unwrap().unwrap();
        assert_eq!(StateLock::holder(dir.path()), Some(first.clone()));

        let second = Holder::current("slipway pool fill", false);
        assert!(StateLock::try_acquire(dir.path(), &second)
            .unwrap()
            .is_none());
        let err = StateLock::acquire(dir.path(), &second, LockWait::Never, |_| {})
            .await
            .unwrap_err();
        assert_eq!(err.kind(), slipway_core::ErrorKind::Conflict);
        assert!(err.to_string().contains("slipway env up me/app"), "{err}");

        drop(lock);
        let taken = StateLock::try_acquire(dir.path(), &second).unwrap();
        assert!(taken.is_some());
        assert_eq!(
            StateLock::holder(dir.path()).unwrap().command,
            "slipway pool fill"
        );
    }

    #[tokio::test]
    async fn a_waiting_owner_gets_the_lock_when_the_first_one_ends() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::try_acquire(dir.path(), &Holder::current("first", false))
            .unwrap()
            .unwrap();
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(first);
        });
        let mut waited_for = None;
        let lock = StateLock::acquire(
            dir.path(),
            &Holder::current("second", false),
            LockWait::Up(Duration::from_secs(30)),
            |holder| waited_for = Some(holder.command.clone()),
        )
        .await
        .unwrap();
        assert_eq!(waited_for.as_deref(), Some("first"));
        release.await.unwrap();
        drop(lock);
    }

    #[tokio::test]
    async fn nobody_waits_for_a_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let _daemon = StateLock::try_acquire(dir.path(), &Holder::current("slipwayd", true))
            .unwrap()
            .unwrap();
        let err = StateLock::acquire(
            dir.path(),
            &Holder::current("slipway env up", false),
            LockWait::Up(Duration::from_secs(600)),
            |_| panic!("nobody waits for a daemon"),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("use its API"), "{err}");
    }
}
