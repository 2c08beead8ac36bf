//! Starting: the dev server in the background, then a wait until its port listens.

use std::time::Duration;

use futures_util::StreamExt;
use slipway_core::LogOptions;

use super::{Checkout, Result, SetupRun, LOG_TAIL};
use crate::provisioner::launch::{launch, Launch};
use crate::provisioner::scripts;
use crate::provisioner::setup_error::SetupError;

impl SetupRun<'_> {
    pub(super) async fn start_phase(
        &self,
        checkout: &Checkout,
        log: &mut Vec<String>,
    ) -> Result<()> {
        let config = &self.provisioner.config;
        let command = self
            .request
            .start_command
            .clone()
            .unwrap_or_else(|| config.start_command.clone());
        log.push(format!("$ {command}"));
        let launch = self.launch(checkout, &command).await?;
        if launch.command != command {
            log.push(format!(
                "running the npm script directly: {}",
                launch.command
            ));
        }
        let attempts = (config.ready_timeout.as_millis() / 10).max(1).to_string();
        let port = config.port;
        let waited = self
            .sh_with_env(
                "start the dev server",
                scripts::START_AND_WAIT,
                &[
                    &config.app_dir,
                    &launch.command,
                    launch.path_prefix.as_deref().unwrap_or_default(),
                    &port.to_string(),
                    &attempts,
                ],
                config.ready_timeout * 2 + Duration::from_secs(5),
                &launch.env,
            )
            .await?;
        match waited.exit_code {
            Some(0) => {
                log.push(format!("listening on port {port}"));
                Ok(())
            }
            Some(3) => Err(SetupError::DevServerExited {
                command,
                port,
                output: self.last_logs().await,
            }),
            Some(4) | None => Err(SetupError::DevServerTimedOut {
                command,
                port,
                after: config.ready_timeout,
                memory_near_limit: self.memory_near_limit().await,
                output: self.last_logs().await,
            }),
            exit_code => Err(SetupError::HelperFailed {
                what: "start the dev server",
                container: self.container.clone(),
                exit_code,
                stderr: waited.stderr_text().trim().to_owned(),
            }),
        }
    }

    /// How `command` starts: an npm script directly when the config allows it and the
    /// tree's `package.json` says what it runs.
    async fn launch(&self, checkout: &Checkout, command: &str) -> Result<Launch> {
        let config = &self.provisioner.config;
        if !config.direct_npm_scripts {
            return Ok(Launch::as_written(command));
        }
        let package = self
            .provisioner
            .cache
            .read_file(&self.source, &checkout.commit, "package.json")
            .await
            .map_err(|error| self.read_error("package.json", error))?;
        Ok(launch(command, package.as_deref(), &config.app_dir))
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
}
