//! `slipway env up|ls|rm|logs|exec`: development environments.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use futures_util::StreamExt;
use slipway_app::{Access, Config, Services};
use slipway_core::{
    EnvironmentRecord, ExecRequest, GitRef, LogOptions, LogSource, RemoteUrl, RepoSlug,
};
use slipway_provision::{EnvValue, Environments, Phase, SetupRequest};

use crate::commands::{own, parse_env_pair, parse_secret_env, Outcome, SHUTDOWN};
use crate::output::{age, capitalized, print_json, terminal_safe, Passthrough, Table};

/// Environment verbs.
#[derive(Debug, Subcommand)]
pub(crate) enum EnvCommand {
    /// Claim a container, set up OWNER/REPO at a branch in it, and print the dev server's URL.
    Up(UpArgs),
    /// List environments.
    Ls(JsonArgs),
    /// Destroy an environment (its container; the repo's cache, volume and image stay).
    Rm {
        /// The environment id.
        id: String,
    },
    /// Print an environment's output (setup phases and dev server).
    Logs {
        /// The environment id.
        id: String,
        /// Keep printing new lines.
        #[arg(long, short)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<usize>,
    },
    /// An interactive shell in an environment (through slipwayd when SLIPWAY_API_URL is set).
    Shell {
        /// The environment id.
        id: String,
    },
    /// Run a command in an environment's app directory and exit with its exit code.
    Exec {
        /// The environment id.
        id: String,
        /// Kill the command (and what it started) after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

/// `--json`.
#[derive(Debug, Args)]
pub(crate) struct JsonArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Options of `slipway env up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// The repository, `owner/repo`.
    repo: RepoSlug,
    /// The branch (default: the repository's default branch).
    #[arg(long, short)]
    branch: Option<GitRef>,
    /// Fetch from this URL instead of the configured template (https, git or file URL).
    #[arg(long)]
    remote: Option<RemoteUrl>,
    /// A name for the environment.
    #[arg(long)]
    name: Option<String>,
    /// Environment variables for install and dev server, `KEY=VALUE`.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    env: Vec<(String, String)>,
    /// Secret environment variables (never logged, stored or committed): `KEY` takes the
    /// value from slipway's own environment, keeping it off the command line; `KEY=VALUE`
    /// works too.
    #[arg(long = "secret-env", value_name = "KEY", value_parser = parse_secret_env)]
    secret_env: Vec<(String, String)>,
    /// Replace the install command detected from the lockfile.
    #[arg(long)]
    install: Option<String>,
    /// Replace the dev-server command.
    #[arg(long)]
    start: Option<String>,
    /// Do not commit the repo's main image after setting up its default branch.
    #[arg(long)]
    no_main_image: bool,
    /// Print the environment as JSON instead of its URL.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(config: &Config, command: EnvCommand) -> anyhow::Result<Outcome> {
    if let EnvCommand::Shell { id } = &command {
        return crate::commands::shell::run(config, id).await;
    }
    let access = match &command {
        EnvCommand::Up(args) => own(&format!("env up {}", args.repo), false),
        EnvCommand::Rm { id } => own(&format!("env rm {id}"), false),
        EnvCommand::Ls(_) => Access::Records,
        EnvCommand::Logs { .. } | EnvCommand::Exec { .. } | EnvCommand::Shell { .. } => {
            Access::Read
        }
    };
    let services = Services::open(config, access).await?;
    let outcome = dispatch(&services, command).await;
    services.shutdown(SHUTDOWN).await?;
    outcome
}

async fn dispatch(services: &Services, command: EnvCommand) -> anyhow::Result<Outcome> {
    match command {
        EnvCommand::Shell { id } => anyhow::bail!("`env shell {id}` runs on its own"),
        EnvCommand::Up(args) => up(services.environments()?, args).await,
        EnvCommand::Ls(args) => {
            let records = services.store().environments().await?;
            if args.json {
                print_json(&records)?;
            } else {
                print_list(&records);
            }
            Ok(Outcome::Success)
        }
        EnvCommand::Rm { id } => {
            services
                .environments()?
                .destroy(&id)
                .await
                .with_context(|| format!("failed to destroy environment {id}"))?;
            println!("destroyed {id}");
            Ok(Outcome::Success)
        }
        EnvCommand::Logs { id, follow, tail } => {
            let options = LogOptions {
                follow,
                tail,
                timestamps: false,
                ..LogOptions::default()
            };
            let mut lines = services.environments()?.logs(&id, &options).await?;
            let shown = Passthrough::new();
            while let Some(line) = lines.next().await {
                let line = line?;
                match line.source {
                    LogSource::Stderr => eprintln!("{}", shown.err(&line.line)),
                    _ => println!("{}", shown.out(&line.line)),
                }
            }
            Ok(Outcome::Success)
        }
        EnvCommand::Exec {
            id,
            timeout_secs,
            command,
        } => {
            let request = ExecRequest::new(command).with_timeout(Duration::from_secs(timeout_secs));
            let outcome = services.environments()?.exec(&id, request).await?;
            let shown = Passthrough::new();
            print!("{}", shown.out(&outcome.stdout_text()));
            eprint!("{}", shown.err(&outcome.stderr_text()));
            if outcome.timed_out {
                eprintln!(
                    "error: the command ran out of time after {timeout_secs}s and was killed"
                );
                return Ok(Outcome::Exit(124));
            }
            let code = outcome.exit_code.unwrap_or(1);
            Ok(Outcome::Exit(u8::try_from(code).unwrap_or(1)))
        }
    }
}

async fn up(environments: &Environments, args: UpArgs) -> anyhow::Result<Outcome> {
    let mut request = SetupRequest::new(args.repo.clone());
    request.branch = args.branch;
    request.remote = args.remote;
    request.build_main_image = !args.no_main_image;
    request.install_command = args.install;
    request.start_command = args.start;
    request
        .env
        .extend(args.env.into_iter().map(|(k, v)| (k, EnvValue::plain(v))));
    request.env.extend(
        args.secret_env
            .into_iter()
            .map(|(k, v)| (k, EnvValue::secret(v))),
    );

    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let progress = tokio::spawn(async move {
        while let Some(slipway_provision::EnvironmentEvent { event, .. }) = receiver.recv().await {
            let phase = capitalized(event.phase.as_str());
            match (event.phase, event.started, event.duration_ms) {
                (Phase::Error, _, _) => eprintln!(
                    "error: {}",
                    terminal_safe(&event.message.unwrap_or_default())
                ),
                (_, true, _) => eprintln!("{phase}…"),
                (current, false, Some(ms)) if current != Phase::Ready => {
                    eprintln!("{phase} done in {ms} ms");
                }
                _ => {}
            }
        }
    });
    let result = environments.up(args.name, request, Some(sender)).await;
    let _ = progress.await;
    let record = result.with_context(|| format!("failed to set up {}", args.repo))?;
    if args.json {
        print_json(&record)?;
    } else {
        println!("{}", Environments::url(&record).unwrap_or_default());
        eprintln!("environment {} ({}) is ready", record.id, record.name);
    }
    Ok(Outcome::Success)
}

fn print_list(records: &[EnvironmentRecord]) {
    let mut table = Table::new(["id", "repo", "branch", "status", "url", "age"]);
    for record in records {
        table.row([
            record.id.clone(),
            record
                .repo
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            record
                .branch
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            match &record.error {
                Some(error) => format!(
                    "{}: {}",
                    record.status,
                    terminal_safe(error.lines().next().unwrap_or_default())
                ),
                None => record.status.to_string(),
            },
            Environments::url(record).unwrap_or_default(),
            age(record.created_at),
        ]);
    }
    print!("{}", table.render());
}
