//! Installing: the lockfile's dependencies, linked from the repo's dependency store when it
//! holds an install of that lockfile, else installed into the store by an installer
//! container first and then linked. An environment without a store, or a setup without a
//! lockfile to key the install by, installs into the environment's own directory.

use slipway_core::ExecRequest;

use super::{marker_path, Checkout, Result, SetupRun, LOG_TAIL, SHORT_EXEC};
use crate::provisioner::install::{command_for, lockfile_hash, LOCKFILES};
use crate::provisioner::setup_error::SetupError;
use crate::provisioner::{scripts, MARKER_FILE};

/// What linking the store's install into the environment found.
enum Linked {
    /// The environment's dependency directory links the install.
    Done,
    /// The store holds no install of the lockfile yet.
    NotInstalled,
    /// The container has no store mounted.
    NoStore,
}

impl SetupRun<'_> {
    /// Returns whether it installed, and the lockfile fingerprint (if there is a lockfile).
    pub(super) async fn install_phase(
        &self,
        checkout: &Checkout,
        log: &mut Vec<String>,
    ) -> Result<(bool, Option<String>)> {
        let config = &self.provisioner.config;
        let lockfile = &checkout.lockfile;
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
        let Some(hash) = lockfile.as_ref().map(|(_, hash)| hash.clone()) else {
            // Nothing to key a shared install by: the environment installs its own.
            self.install_own(&command, None, log).await?;
            return Ok((true, None));
        };
        if checkout.installed_hash.as_ref() == Some(&hash) {
            log.push(if checkout.link_status == Some(0) {
                linked_message(&hash)
            } else {
                "the dependencies already match the lockfile: skipping install".to_owned()
            });
            return Ok((false, Some(hash)));
        }
        // The preparation tried to link already; its status says why it couldn't.
        let found = match checkout.link_status {
            Some(status) => {
                link_outcome(Some(status)).ok_or_else(|| self.link_failed(Some(status), ""))?
            }
            None => self.link(&hash).await?,
        };
        match (found, &checkout.store) {
            (Linked::Done, _) => {
                log.push(linked_message(&hash));
                Ok((false, Some(hash)))
            }
            (Linked::NotInstalled, Some(store)) => {
                log.push(format!(
                    "installing this lockfile's dependencies ({}) into the store {store}",
                    &hash[..12]
                ));
                self.install_in_store(checkout, store, &command, &hash, log)
                    .await?;
                match self.link(&hash).await? {
                    Linked::Done => Ok((true, Some(hash))),
                    _ => Err(SetupError::HelperFailed {
                        what: "link the installed dependencies",
                        container: self.container.clone(),
                        exit_code: None,
                        stderr: "the store has no install of the lockfile after installing it"
                            .to_owned(),
                    }),
                }
            }
            // A store the container's labels don't name can't be installed into.
            (Linked::NotInstalled | Linked::NoStore, _) => {
                self.install_own(&command, Some(&hash), log).await?;
                Ok((true, Some(hash)))
            }
        }
    }

    /// The lockfile of `commit` (the first of [`LOCKFILES`] it has) and its fingerprint.
    pub(super) async fn lockfile(
        &self,
        commit: &slipway_core::CommitId,
    ) -> Result<Option<(&'static str, String)>> {
        for (name, _) in LOCKFILES {
            let content = self
                .provisioner
                .cache
                .read_file(&self.source, commit, name)
                .await
                .map_err(|error| self.read_error("the lockfile", error))?;
            if let Some(content) = content {
                return Ok(Some((name, lockfile_hash(&content))));
            }
        }
        Ok(None)
    }

    /// Makes the dependency directory links into the store's install of `hash`.
    async fn link(&self, hash: &str) -> Result<Linked> {
        let config = &self.provisioner.config;
        let outcome = self
            .sh(
                "link the installed dependencies",
                scripts::LINK_DEPS,
                &[&config.deps_store, hash, &config.deps_mount, MARKER_FILE],
                SHORT_EXEC,
            )
            .await?;
        link_outcome(outcome.exit_code)
            .ok_or_else(|| self.link_failed(outcome.exit_code, outcome.stderr_text().trim()))
    }

    fn link_failed(&self, exit_code: Option<i64>, stderr: &str) -> SetupError {
        SetupError::HelperFailed {
            what: "link the installed dependencies",
            container: self.container.clone(),
            exit_code,
            stderr: stderr.to_owned(),
        }
    }

    /// Installs into the environment's own dependency directory (emptied first when it
    /// held another lockfile's dependencies) and records `hash` there.
    async fn install_own(
        &self,
        command: &str,
        hash: Option<&str>,
        log: &mut Vec<String>,
    ) -> Result<()> {
        let config = &self.provisioner.config;
        self.sh_ok(
            "empty the dependency directory",
            scripts::CLEAR_DEPS,
            &[&config.deps_mount, MARKER_FILE],
        )
        .await?;
        self.run_install(command, log).await?;
        if let Some(hash) = hash {
            self.sh_ok(
                "record the installed lockfile",
                scripts::WRITE_MARKER,
                &[&marker_path(&config.deps_mount), hash],
            )
            .await?;
        }
        Ok(())
    }

    /// Runs the install command in the app directory, its output into `log`.
    pub(super) async fn run_install(&self, command: &str, log: &mut Vec<String>) -> Result<()> {
        let config = &self.provisioner.config;
        log.push(format!("$ {command}"));
        let mut request = ExecRequest::new(["/bin/sh", "-c", command])
            .with_working_dir(config.app_dir.clone())
            .with_timeout(config.install_timeout);
        request.env = self.request.exec_env();
        let outcome = self
            .provisioner
            .runtime
            .exec(self.container, &request)
            .await
            .map_err(|source| SetupError::Helper {
                what: "run the install command",
                container: self.container.clone(),
                source,
            })?;
        let output = format!("{}{}", outcome.stdout_text(), outcome.stderr_text());
        log.extend(output.lines().map(str::to_owned));
        if outcome.timed_out {
            return Err(SetupError::InstallTimedOut {
                command: command.to_owned(),
                after: config.install_timeout,
                memory_near_limit: self.memory_near_limit().await,
            });
        }
        if !outcome.success() {
            return Err(SetupError::Install {
                command: command.to_owned(),
                exit_code: outcome.exit_code,
                output: last_lines(&output, LOG_TAIL),
            });
        }
        Ok(())
    }
}

/// What a link's exit status means; `None` when it failed.
fn link_outcome(exit_code: Option<i64>) -> Option<Linked> {
    match exit_code {
        Some(0) => Some(Linked::Done),
        Some(scripts::LINK_NOT_INSTALLED) => Some(Linked::NotInstalled),
        Some(scripts::LINK_NO_STORE) => Some(Linked::NoStore),
        _ => None,
    }
}

fn linked_message(hash: &str) -> String {
    format!(
        "linked the dependencies installed for this lockfile ({}) from the store",
        &hash[..12.min(hash.len())]
    )
}

/// The last `count` lines of `text`.
fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}
