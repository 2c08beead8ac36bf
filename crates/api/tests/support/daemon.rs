//! `slipwayd` itself, started on a fixture's state and config.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::Fixture;

/// A running `slipwayd`; killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub url: String,
}

impl Daemon {
    /// Starts it on 127.0.0.1 (a port of the OS's choosing) with `args` added, logging to
    /// this process's stderr.
    pub fn start(fixture: &Fixture) -> Daemon {
        Self::start_with(fixture, &[], Stdio::inherit(), "warn")
    }

    /// [`Daemon::start`] with more arguments, stderr going to `stderr`, logging `rust_log`.
    pub fn start_with(fixture: &Fixture, args: &[&str], stderr: Stdio, rust_log: &str) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_slipwayd"))
            .arg("--config")
            .arg(&fixture.config_path)
            .arg("--state-dir")
            .arg(fixture.state_dir())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("SLIPWAY_API_SECRET")
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("slipwayd starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("slipwayd listening on ")
            .unwrap_or_else(|| panic!("slipwayd printed {line:?}"))
            .to_owned();
        Daemon { child, url }
    }

    /// SIGKILL, and reap it.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, and wait for the exit: the pool finishes the creations under way, so
    /// nothing half made outlives the test.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().unwrap()
    }

    /// Sends `signal` (`HUP`, `TERM`, ...).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
