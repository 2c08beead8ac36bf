//! One setup, phase by phase: [`SetupRun`] drives cloning → installing → starting → ready;
//! each phase lives in its own file, the main image in `main_image.rs`.

mod cloning;
mod installer;
mod installing;
mod main_image;
mod memory;
mod starting;

use std::time::{Duration, Instant};

use slipway_core::{CommitId, ContainerId, ExecOutcome, ExecRequest, GitRef, Redactor, RepoSource};

use super::request::{EventSink, Phase, SetupOutcome, SetupRequest};
use super::setup_error::SetupError;
use super::{event, send, Provisioner, MARKER_FILE};

/// How many log lines of a failed dev server an error carries.
const LOG_TAIL: usize = 20;
/// Short execs (mkdir, rm, marker) get this long.
const SHORT_EXEC: Duration = Duration::from_secs(60);

type Result<T, E = SetupError> = std::result::Result<T, E>;

/// The state of one setup as it goes.
pub(crate) struct SetupRun<'a> {
    provisioner: &'a Provisioner,
    container: &'a ContainerId,
    request: &'a SetupRequest,
    source: RepoSource,
    events: Option<&'a EventSink>,
    phases: Vec<(Phase, Duration)>,
    /// Takes the request's secrets out of everything this setup reports.
    redactor: Redactor,
}

/// What the cloning phase learned.
pub(super) struct Checkout {
    pub(super) branch: GitRef,
    pub(super) commit: CommitId,
    pub(super) from_main_image: bool,
    /// The lockfile (its name) and its fingerprint, if the commit has one.
    pub(super) lockfile: Option<(&'static str, String)>,
    /// How the app directory's preparation linked the store's install of the lockfile (the
    /// link's exit status), `None` when there was nothing to link.
    pub(super) link_status: Option<i64>,
    /// The lockfile fingerprint the environment's dependency directory holds, if any.
    pub(super) installed_hash: Option<String>,
    /// The dependency store volume the container mounts, if any.
    pub(super) store: Option<String>,
    /// The image the container was created from (its installer runs the same).
    pub(super) image: String,
    /// The container's memory limit.
    pub(super) memory_bytes: Option<u64>,
}

pub(super) fn marker_path(deps_mount: &str) -> String {
    format!("{}/{MARKER_FILE}", deps_mount.trim_end_matches('/'))
}

impl<'a> SetupRun<'a> {
    pub(crate) fn new(
        provisioner: &'a Provisioner,
        container: &'a ContainerId,
        request: &'a SetupRequest,
        events: Option<&'a EventSink>,
    ) -> Self {
        Self {
            provisioner,
            container,
            source: request.source(),
            request,
            events,
            phases: Vec::new(),
            redactor: request.redactor(),
        }
    }

    /// The same setup's steps, run in `container` instead (an installer), reporting nothing.
    pub(super) fn in_container<'b>(&'b self, container: &'b ContainerId) -> SetupRun<'b> {
        SetupRun::new(self.provisioner, container, self.request, None)
    }

    pub(crate) fn emit(
        &self,
        phase: Phase,
        started: bool,
        duration: Option<Duration>,
        log: Vec<String>,
        message: Option<String>,
    ) {
        let log = log.iter().map(|line| self.redactor.redact(line)).collect();
        let message = message.map(|m| self.redactor.redact(&m));
        send(self.events, event(phase, started, duration, log, message));
    }

    /// `error` as it may be shown: without the request's secrets.
    pub(crate) fn redacted(&self, error: SetupError) -> SetupError {
        error.redacted(&self.redactor)
    }

    pub(super) fn finish(&mut self, phase: Phase, started: Instant, log: Vec<String>) {
        let took = started.elapsed();
        self.phases.push((phase, took));
        self.emit(phase, false, Some(took), log, None);
    }

    /// Runs one of the helper scripts with `args` as its positional parameters.
    pub(super) async fn sh(
        &self,
        what: &'static str,
        script: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<ExecOutcome> {
        self.sh_with_env(what, script, args, timeout, &[]).await
    }

    /// [`SetupRun::sh`] with `extra_env` set besides the request's variables.
    pub(super) async fn sh_with_env(
        &self,
        what: &'static str,
        script: &str,
        args: &[&str],
        timeout: Duration,
        extra_env: &[(String, String)],
    ) -> Result<ExecOutcome> {
        let mut cmd = vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            script.to_owned(),
            "slipway".to_owned(),
        ];
        cmd.extend(args.iter().map(|a| (*a).to_owned()));
        let mut request = ExecRequest::new(cmd).with_timeout(timeout);
        request.env = self.request.exec_env();
        request.env.extend(extra_env.iter().cloned());
        self.provisioner
            .runtime
            .exec(self.container, &request)
            .await
            .map_err(|source| SetupError::Helper {
                what,
                container: self.container.clone(),
                source,
            })
    }

    /// [`SetupRun::sh`] that must exit 0; its stdout.
    pub(super) async fn sh_ok(
        &self,
        what: &'static str,
        script: &str,
        args: &[&str],
    ) -> Result<String> {
        let outcome = self.sh(what, script, args, SHORT_EXEC).await?;
        if outcome.success() {
            return Ok(outcome.stdout_text());
        }
        Err(SetupError::HelperFailed {
            what,
            container: self.container.clone(),
            exit_code: outcome.exit_code,
            stderr: outcome.stderr_text().trim().to_owned(),
        })
    }

    pub(crate) async fn execute(&mut self) -> Result<SetupOutcome> {
        let started = Instant::now();
        self.emit(Phase::Cloning, true, None, Vec::new(), None);
        let mut log = Vec::new();
        let checkout = self.clone_phase(&mut log).await?;
        self.finish(Phase::Cloning, started, log);

        let started = Instant::now();
        self.emit(Phase::Installing, true, None, Vec::new(), None);
        let mut log = Vec::new();
        let (installed, lock_hash) = self.install_phase(&checkout, &mut log).await?;
        self.finish(Phase::Installing, started, log);

        let started = Instant::now();
        self.emit(Phase::Starting, true, None, Vec::new(), None);
        let mut log = Vec::new();
        self.start_phase(&checkout, &mut log).await?;
        self.finish(Phase::Starting, started, log);

        let main_image = self.maybe_commit_main_image(&checkout, lock_hash).await?;
        let mut log = vec![format!(
            "{} at {} is ready",
            checkout.branch,
            &checkout.commit.as_str()[..12]
        )];
        if let Some(image) = &main_image {
            log.push(format!("committed main image {image}"));
        }
        self.emit(Phase::Ready, false, Some(Duration::ZERO), log, None);
        Ok(SetupOutcome {
            branch: checkout.branch,
            commit: checkout.commit,
            from_main_image: checkout.from_main_image,
            installed,
            main_image,
            phases: std::mem::take(&mut self.phases),
        })
    }
}
