//! Installing: the lockfile's install command into the shared dependency volume, skipped
//! when the volume already holds that lockfile.

use slipway_core::ExecRequest;

use super::{marker_path, Checkout, Result, SetupRun, LOG_TAIL};
use crate::provisioner::install::{command_for, lockfile_hash, LOCKFILES};
use crate::provisioner::scripts;
use crate::provisioner::setup_error::SetupError;

impl SetupRun<'_> {
    /// Returns whether it installed, and the lockfile fingerprint (if there is a lockfile).
    pub(super) async fn install_phase(
        &self,
        checkout: &Checkout,
        log: &mut Vec<String>,
    ) -> Result<(bool, Option<String>)> {
        let (cache, config) = (&self.provisioner.cache, &self.provisioner.config);
        let mut lockfile = None;
        for (name, _) in LOCKFILES {
            let content = cache
                .read_file(&self.source, &checkout.commit, name)
                .await
                .map_err(|error| self.read_error("the lockfile", error))?;
            if let Some(content) = content {
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
                command,
                after: config.install_timeout,
                memory_near_limit: self.memory_near_limit().await,
            });
        }
        if !outcome.success() {
            return Err(SetupError::Install {
                command,
                exit_code: outcome.exit_code,
                output: last_lines(&output, LOG_TAIL),
            });
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
}

/// The last `count` lines of `text`.
fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}
