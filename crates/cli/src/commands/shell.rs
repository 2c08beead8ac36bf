//! `slipway env shell ID`: an interactive shell in an environment — through a slipwayd's
//! terminal when `SLIPWAY_API_URL` is set (with `SLIPWAY_API_TOKEN`), else on the engine
//! directly. The local terminal is put in raw mode while it runs (when it is one).

use std::io::{IsTerminal as _, Read as _, Write as _};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use slipway_app::{Access, Config, Services};
use slipway_core::TtyRequest;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;

use crate::commands::{Outcome, SHUTDOWN};

/// The shell: bash when the image has it, else sh.
const SHELL: [&str; 3] = [
    "/bin/sh",
    "-c",
    "command -v bash >/dev/null 2>&1 && exec bash -i; exec sh -i",
];
/// What ends the shell when our input ends: Ctrl-D on an empty line.
const END_OF_INPUT: u8 = 0x04;
/// How often Ctrl-D is sent again until the shell ends: one typed before the shell set up
/// its terminal can be lost, and a program the shell runs may need its own.
const END_OF_INPUT_AGAIN: std::time::Duration = std::time::Duration::from_millis(500);

/// Fires every [`END_OF_INPUT_AGAIN`] once the input has ended.
fn end_of_input_repeats() -> tokio::time::Interval {
    let mut repeat = tokio::time::interval(END_OF_INPUT_AGAIN);
    repeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    repeat
}

pub(crate) async fn run(config: &Config, id: &str) -> anyhow::Result<Outcome> {
    let _raw = RawMode::enter();
    let keys = read_stdin();
    match std::env::var("SLIPWAY_API_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(url) => through_api(&url, id, keys).await,
        None => direct(config, id, keys).await,
    }
}

async fn direct(
    config: &Config,
    id: &str,
    mut keys: mpsc::Receiver<Vec<u8>>,
) -> anyhow::Result<Outcome> {
    let services = Services::open(config, Access::Read).await?;
    let environments = services.environments()?;
    environments.wake(id).await?;
    let container = environments.container(id).await?;
    let mut tty = services
        .runtime()?
        .exec_tty(&container, &TtyRequest::new(SHELL))
        .await?;
    let mut stdout = std::io::stdout();
    let mut input_done = false;
    let mut repeat = end_of_input_repeats();
    loop {
        tokio::select! {
            chunk = tty.output.next() => match chunk {
                Some(chunk) => {
                    stdout.write_all(&chunk?)?;
                    stdout.flush()?;
                }
                None => break,
            },
            key = keys.recv(), if !input_done => match key {
                Some(key) => tty.input.write(&key).await?,
                None => {
                    input_done = true;
                    repeat.reset();
                    tty.input.write(&[END_OF_INPUT]).await?;
                }
            },
            _ = repeat.tick(), if input_done => tty.input.write(&[END_OF_INPUT]).await?,
        }
    }
    services.shutdown(SHUTDOWN).await?;
    Ok(Outcome::Success)
}

async fn through_api(
    url: &str,
    id: &str,
    mut keys: mpsc::Receiver<Vec<u8>>,
) -> anyhow::Result<Outcome> {
    let token = std::env::var("SLIPWAY_API_TOKEN")
        .context("SLIPWAY_API_URL is set: set SLIPWAY_API_TOKEN to an API secret too")?;
    let ws = url.trim_end_matches('/').replacen("http", "ws", 1);
    let mut request = format!("{ws}/api/containers/{id}/terminal").into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .with_context(|| format!("failed to open the terminal of {id} at {url}"))?;
    let mut stdout = std::io::stdout();
    let mut input_done = false;
    let mut repeat = end_of_input_repeats();
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Binary(data))) => {
                    stdout.write_all(&data)?;
                    stdout.flush()?;
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).context("the terminal connection broke"),
            },
            key = keys.recv(), if !input_done => match key {
                Some(key) => socket.send(Message::Binary(key.into())).await?,
                None => {
                    input_done = true;
                    repeat.reset();
                    socket.send(Message::Binary(vec![END_OF_INPUT].into())).await?;
                }
            },
            _ = repeat.tick(), if input_done => {
                socket.send(Message::Binary(vec![END_OF_INPUT].into())).await?;
            }
        }
    }
    Ok(Outcome::Success)
}

/// Standard input, as it arrives, from a thread of its own (reads block).
fn read_stdin() -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdin.read(&mut buffer) {
            if n == 0 || sender.blocking_send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The local terminal in raw mode (keys go through as typed) until dropped.
struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    fn enter() -> Self {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Self(None);
        }
        let Ok(saved) = tcgetattr(&stdin) else {
            return Self(None);
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        match tcsetattr(&stdin, SetArg::TCSANOW, &raw) {
            Ok(()) => Self(Some(saved)),
            Err(_) => Self(None),
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}
