use std::time::Duration;

use futures_util::StreamExt;
use slipway_core::prelude::*;
use slipway_core::{run_container, PipeRequest, RemoveOptions, TtyRequest, TtySize};
use slipway_testkit::require_engine;

/// Reads terminal output until `needle` shows up (or the deadline passes).
async fn read_until(
    output: &mut futures_util::stream::BoxStream<'static, slipway_core::Result<Vec<u8>>>,
    needle: &str,
) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(needle) {
        match tokio::time::timeout_at(deadline, output.next()).await {
            Ok(Some(chunk)) => seen.push_str(&String::from_utf8_lossy(&chunk.unwrap())),
            Ok(None) => break,
            Err(_) => panic!("`{needle}` never appeared; saw {seen:?}"),
        }
    }
    seen
}

#[tokio::test]
async fn a_terminal_runs_commands_and_follows_resizes() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("tty"))
        .await
        .unwrap();
    let mut request = TtyRequest::new(["/bin/sh"]);
    request.size = TtySize {
        cols: 100,
        rows: 30,
    };
    let mut session = runtime.exec_tty(&id, &request).await.unwrap();

    session.input.write(b"echo tty-$((6*7))\n").await.unwrap();
    read_until(&mut session.output, "tty-42").await;

    session.input.write(b"stty size\n").await.unwrap();
    read_until(&mut session.output, "30 100").await;

    runtime
        .resize_tty(
            &session.exec,
            TtySize {
                cols: 120,
                rows: 40,
            },
        )
        .await
        .unwrap();
    session.input.write(b"stty size\n").await.unwrap();
    read_until(&mut session.output, "40 120").await;

    session.input.write(b"exit\n").await.unwrap();
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_piped_command_passes_every_byte_through_and_keeps_stderr_out() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("pipe"))
        .await
        .unwrap();
    let request = PipeRequest::new(["sh", "-c", "echo on-stderr >&2; cat"]);
    let mut session = runtime.exec_pipe(&id, &request).await.unwrap();
    // Every byte value, the ones a terminal would translate or act on (\r, \n, ^C, ^D) included.
    let sent: Vec<u8> = (0..=255u8).cycle().take(256 * 64).collect();
    session.input.write(&sent).await.unwrap();
    session.input.close().await.unwrap();
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Some(chunk) = tokio::time::timeout_at(deadline, session.stdout.next())
        .await
        .expect("the command ends when its stdin closes")
    {
        received.extend(chunk.unwrap());
    }
    assert_eq!(received.len(), sent.len());
    assert!(received == sent, "the bytes came back changed");
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}
