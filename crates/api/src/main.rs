//! `slipwayd`: the management API server. Owns its state directory (one owner at a time),
//! reconciles it with the engine at start, serves until SIGTERM or Ctrl-C (environments
//! keep running), reloads its API secrets on SIGHUP.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use slipway_api::{app, ApiState, Secrets};
use slipway_app::logging::{self, LogFormat};
use slipway_app::{Access, Config, Holder, LockWait, Overrides, Ownership, Services};
use tokio::signal::unix::{signal, SignalKind};

/// How long shutdown waits for the pools' background work.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(name = "slipwayd", version, about = "slipway's management API server")]
struct Args {
    /// Config file (default: $SLIPWAY_CONFIG, else ./slipway.toml when present).
    #[arg(long)]
    config: Option<PathBuf>,
    /// State directory (default: $SLIPWAY_STATE_DIR, else ./.slipway).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Address to listen on (default: $SLIPWAY_LISTEN, else 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    /// Docker engine (default: $DOCKER_HOST, else the local socket).
    #[arg(long)]
    host: Option<String>,
    /// Allow a plain-TCP engine (anyone who reaches it is root there).
    #[arg(long)]
    allow_insecure_tcp: bool,
    /// `text` or `json` log lines.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let format = if args.log_format == "json" {
        LogFormat::Json
    } else {
        LogFormat::Text
    };
    let rust_log = std::env::var("RUST_LOG").ok();
    logging::init(format, Some(rust_log.as_deref().unwrap_or("info")), 0);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let overrides = Overrides {
        config: args.config,
        host: args.host,
        state_dir: args.state_dir,
        allow_insecure_tcp: args.allow_insecure_tcp,
    };
    let mut config = Config::load(&overrides, &|key| std::env::var(key).ok())?;
    if let Some(listen) = &args.listen {
        config.server.listen = listen.parse().map_err(|_| {
            anyhow::anyhow!("--listen `{listen}` is not an address like 127.0.0.1:8080")
        })?;
    }
    if !config.pools.configured {
        // The server's pool is the environments' own (`provision.warm_base`); the generic
        // default pool would hold containers no create can claim.
        config.pools.pools.clear();
    }
    let secrets = config.server.load_secrets()?;
    if secrets.is_empty() {
        anyhow::bail!(
            "no API secret: set SLIPWAY_API_SECRET or write one (`openssl rand -hex 32`) to {} \
             (mode 0600); slipwayd never serves without auth",
            config.server.secrets_file.display()
        );
    }
    let services = Services::open(
        &config,
        Access::Own(Ownership {
            holder: Holder::current("slipwayd", true),
            wait: LockWait::Never,
            refill: true,
        }),
    )
    .await?;
    let startup = services.startup_report();
    tracing::info!(
        adopted = startup.pool.adopted,
        interrupted = startup.environments.interrupted.len(),
        "state reconciled"
    );
    let services = Arc::new(services);
    let state = ApiState::new(services.clone(), Secrets::new(&secrets))?;
    state.first_look(Duration::from_secs(3)).await;
    state.start_background();

    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "slipwayd listening");
    println!("slipwayd listening on http://{address}");

    let reload_state = state.clone();
    let server_config = config.server.clone();
    let mut hangup = signal(SignalKind::hangup())?;
    let reloader = tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match server_config.load_secrets() {
                Ok(secrets) if !secrets.is_empty() => {
                    reload_state.secrets().replace(&secrets);
                    tracing::info!(count = secrets.len(), "API secrets reloaded");
                }
                Ok(_) => tracing::warn!("reload found no API secret; keeping the current ones"),
                Err(e) => tracing::warn!(error = %e, "reload failed; keeping the current secrets"),
            }
        }
    });

    let router = app(state);
    // Keystrokes and log lines are small writes: send each at once.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("shutting down; environments keep running");
    reloader.abort();
    let _ = reloader.await;
    // Creations under way finish, so nothing is left half made; the lock goes with the
    // process.
    services.stop_background(SHUTDOWN_TIMEOUT).await?;
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(terminate) => terminate,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
