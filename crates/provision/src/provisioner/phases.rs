//! One setup, phase by phase.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use slipway_core::{
    labels, CommitId, CommitRequest, ContainerId, Error, ExecOutcome, ExecRequest, GitRef,
    ImageRef, LogOptions, Result, Role,
};

use super::install::{command_for, lockfile_hash, LOCKFILES};
use super::request::{EventSink, Phase, SetupOutcome, SetupRequest};
use super::{event, scripts, send, Provisioner, COMMIT_LABEL, LOCKFILE_LABEL, MARKER_FILE};

/// How many log lines of a failed dev server an error carries.
const LOG_TAIL: usize = 20;
/// Short execs (mkdir, rm, marker) get this long.
const SHORT_EXEC: Duration = Duration::from_secs(60);

/// The state of one setup as it goes.
pub(crate) struct SetupRun<'a> {
    provisioner: &'a Provisioner,
    container: &'a ContainerId,
    request: &'a SetupRequest,
    events: Option<&'a EventSink>,
    phases: Vec<(Phase, Duration)>,
}

/// What the cloning phase learned.
struct Checkout {
    branch: GitRef,
    commit: CommitId,
    from_main_image: bool,
    /// The lockfile fingerprint the dependency volume holds, if any.
    installed_hash: Option<String>,
}

fn marker_path(deps_mount: &str) -> String {
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
            request,
            events,
            phases: Vec::new(),
        }
    }

    pub(crate) fn emit(
        &self,
        phase: Phase,
        started: bool,
        duration: Option<Duration>,
        log: Vec<String>,
        message: Option<String>,
    ) {
        send(self.events, event(phase, started, duration, log, message));
    }

    fn finish(&mut self, phase: Phase, started: Instant, log: Vec<String>) {
        let took = started.elapsed();
        self.phases.push((phase, took));
        self.emit(phase, false, Some(took), log, None);
    }

    async fn sh(&self, script: &str, args: &[&str], timeout: Duration) -> Result<ExecOutcome> {
        let mut cmd = vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            script.to_owned(),
            "slipway".to_owned(),
        ];
        cmd.extend(args.iter().map(|a| (*a).to_owned()));
        let mut request = ExecRequest::new(cmd).with_timeout(timeout);
        request.env = self.request.exec_env();
        self.provisioner
            .runtime
            .exec(self.container, &request)
            .await
    }

    async fn sh_ok(&self, what: &str, script: &str, args: &[&str]) -> Result<String> {
        let outcome = self.sh(script, args, SHORT_EXEC).await?;
        if outcome.success() {
            return Ok(outcome.stdout_text());
        }
        Err(Error::backend(format!(
            "failed to {what} in container {}: exit {:?}: {}",
            self.container,
            outcome.exit_code,
            outcome.stderr_text().trim()
        )))
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
        self.start_phase(&mut log).await?;
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

    async fn clone_phase(&self, log: &mut Vec<String>) -> Result<Checkout> {
        let (cache, repo, config) = (
            &self.provisioner.cache,
            &self.request.repo,
            &self.provisioner.config,
        );
        let info = self
            .provisioner
            .runtime
            .inspect_container(self.container)
            .await?;
        let mirror = cache.ensure(repo, self.request.credentials.clone()).await?;
        log.push(if mirror.cloned {
            format!("cloned {repo} into the repo cache")
        } else {
            format!("fetched {repo}")
        });
        let branch = match &self.request.branch {
            Some(branch) => branch.clone(),
            None => cache.default_branch(repo).await?,
        };
        let commit = cache.resolve(repo, &branch).await?;
        log.push(format!("{branch} is at {commit}"));

        let marker = marker_path(&config.deps_mount);
        let installed_hash = self
            .sh_ok(
                "prepare the app directory",
                scripts::PREPARE,
                &[&config.app_dir, &marker],
            )
            .await?;
        let installed_hash = Some(installed_hash.trim().to_owned()).filter(|h| !h.is_empty());

        // A container from the repo's main image holds the tree at the image's commit.
        let base = (info.labels.get(labels::REPO) == Some(&repo.to_string()))
            .then(|| {
                info.labels
                    .get(COMMIT_LABEL)
                    .and_then(|c| CommitId::try_from(c.clone()).ok())
            })
            .flatten();
        let from_main_image = match &base {
            Some(base) => self.apply_delta(base, &commit, log).await?,
            None => false,
        };
        if !from_main_image {
            let tar = cache.archive(repo, &commit).await?;
            log.push(format!(
                "copying the tree ({} KiB) into {}",
                tar.len() / 1024,
                config.app_dir
            ));
            self.provisioner
                .runtime
                .upload_tar(self.container, &config.app_dir, tar)
                .await?;
        }
        Ok(Checkout {
            branch,
            commit,
            from_main_image,
            installed_hash,
        })
    }

    /// Brings a main-image container from `base` to `commit` by copying only what changed.
    /// Returns false (after emptying the app directory) when the diff can't be had.
    async fn apply_delta(
        &self,
        base: &CommitId,
        commit: &CommitId,
        log: &mut Vec<String>,
    ) -> Result<bool> {
        let (cache, repo, config) = (
            &self.provisioner.cache,
            &self.request.repo,
            &self.provisioner.config,
        );
        let diff = match cache.diff(repo, base, commit).await {
            Ok(diff) => diff,
            Err(e) => {
                log.push(format!(
                    "the main image's commit {base} is unknown ({e}); copying the whole tree"
                ));
                let mount = config.deps_mount.rsplit('/').next().unwrap_or_default();
                self.sh_ok(
                    "empty the app directory",
                    scripts::CLEAN_APP,
                    &[&config.app_dir, mount],
                )
                .await?;
                return Ok(false);
            }
        };
        if !diff.changed.is_empty() {
            let tar = cache.archive_paths(repo, commit, &diff.changed).await?;
            self.provisioner
                .runtime
                .upload_tar(self.container, &config.app_dir, tar)
                .await?;
        }
        if !diff.deleted.is_empty() {
            let mut args = vec![config.app_dir.as_str()];
            args.extend(diff.deleted.iter().map(String::as_str));
            self.sh_ok("remove deleted files", scripts::REMOVE_FILES, &args)
                .await?;
        }
        log.push(format!(
            "started from the main image at {}: {} changed, {} deleted",
            &base.as_str()[..12],
            diff.changed.len(),
            diff.deleted.len()
        ));
        Ok(true)
    }

    /// Returns whether it installed, and the lockfile fingerprint (if there is a lockfile).
    async fn install_phase(
        &self,
        checkout: &Checkout,
        log: &mut Vec<String>,
    ) -> Result<(bool, Option<String>)> {
        let (cache, repo, config) = (
            &self.provisioner.cache,
            &self.request.repo,
            &self.provisioner.config,
        );
        let mut lockfile = None;
        for (name, _) in LOCKFILES {
            if let Some(content) = cache.read_file(repo, &checkout.commit, name).await? {
                lockfile = Some((name, lockfile_hash(&content)));
                break;
            }
        }
        let command = self
            .request
            .install_command
            .clone()
            .or_else(|| config.install_command.clone())
            .or_else(|| {
                lockfile
                    .as_ref()
                    .and_then(|(name, _)| command_for(name))
                    .map(str::to_owned)
            });
        let Some(command) = command else {
            log.push("no lockfile: nothing to install".to_owned());
            return Ok((false, None));
        };
        let hash = lockfile.as_ref().map(|(_, hash)| hash.clone());
        if hash.is_some() && hash == checkout.installed_hash {
            log.push(
                "the shared dependency volume already matches the lockfile: skipping install"
                    .to_owned(),
            );
            return Ok((false, hash));
        }
        log.push(format!("$ {command}"));
        let mut request = ExecRequest::new(["/bin/sh", "-c", command.as_str()])
            .with_working_dir(config.app_dir.clone())
            .with_timeout(config.install_timeout);
        request.env = self.request.exec_env();
        let outcome = self
            .provisioner
            .runtime
            .exec(self.container, &request)
            .await?;
        let output = format!("{}{}", outcome.stdout_text(), outcome.stderr_text());
        log.extend(output.lines().map(str::to_owned));
        if outcome.timed_out {
            return Err(Error::Timeout {
                operation: format!("`{command}`"),
                after: config.install_timeout,
            });
        }
        if !outcome.success() {
            let tail: Vec<&str> = output
                .lines()
                .rev()
                .take(LOG_TAIL)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(Error::backend(format!(
                "`{command}` failed with exit {:?}:\n{}",
                outcome.exit_code,
                tail.join("\n")
            )));
        }
        if let Some(hash) = &hash {
            self.sh_ok(
                "record the installed lockfile",
                scripts::WRITE_MARKER,
                &[&marker_path(&config.deps_mount), hash],
            )
            .await?;
        }
        Ok((true, hash))
    }

    async fn start_phase(&self, log: &mut Vec<String>) -> Result<()> {
        let config = &self.provisioner.config;
        let command = self
            .request
            .start_command
            .clone()
            .unwrap_or_else(|| config.start_command.clone());
        log.push(format!("$ {command}"));
        let pid = self
            .sh_ok(
                "start the dev server",
                scripts::START,
                &[&config.app_dir, &command],
            )
            .await?;
        let pid = pid.trim().to_owned();
        let attempts = (config.ready_timeout.as_millis() / 50).max(1).to_string();
        let port = config.port.to_string();
        let waited = self
            .sh(
                scripts::WAIT_FOR_PORT,
                &[&pid, &port, &attempts],
                config.ready_timeout * 2 + Duration::from_secs(5),
            )
            .await?;
        match waited.exit_code {
            Some(0) => {
                log.push(format!("listening on port {port}"));
                Ok(())
            }
            Some(3) => Err(Error::backend(format!(
                "the dev server `{command}` exited before listening on port {port}; its last output:\n{}",
                self.last_logs().await
            ))),
            _ => Err(Error::Timeout {
                operation: format!("waiting for `{command}` to listen on port {port} (last output: {})", self.last_logs().await),
                after: config.ready_timeout,
            }),
        }
    }

    async fn last_logs(&self) -> String {
        let options = LogOptions {
            tail: Some(LOG_TAIL),
            timestamps: false,
            ..LogOptions::default()
        };
        let lines: Vec<String> = self
            .provisioner
            .runtime
            .logs(self.container, &options)
            .filter_map(|line| async move { line.ok().map(|l| l.line) })
            .collect()
            .await;
        lines.join("\n")
    }

    async fn maybe_commit_main_image(
        &self,
        checkout: &Checkout,
        lock_hash: Option<String>,
    ) -> Result<Option<ImageRef>> {
        if !self.request.build_main_image {
            return Ok(None);
        }
        let repo = &self.request.repo;
        if checkout.branch != self.provisioner.cache.default_branch(repo).await? {
            return Ok(None);
        }
        let image = self.provisioner.main_image(repo)?;
        let mut labels = self.provisioner.labels(Role::Build, repo);
        labels.insert(COMMIT_LABEL.to_owned(), checkout.commit.to_string());
        labels.insert(LOCKFILE_LABEL.to_owned(), lock_hash.unwrap_or_default());
        self.provisioner
            .runtime
            .commit(self.container, &CommitRequest::new(image.clone(), labels))
            .await?;
        Ok(Some(image))
    }
}
