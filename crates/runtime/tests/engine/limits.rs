//! Every container is bounded: a fork bomb stops at its PIDs limit, a chatty process's log
//! stops at its cap, and processes can't gain privileges.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use slipway_core::prelude::*;
use slipway_core::{run_container, ExecRequest, LogLimits, LogOptions};
use slipway_testkit::require_engine;

use crate::support::sh;

#[tokio::test]
async fn a_fork_bomb_stops_at_the_pids_limit_and_the_host_stays_responsive() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let spec = engine.sleeper("forkbomb").with_pids_limit(Some(64));
    let id = run_container(runtime, &spec).await.unwrap();
    // Each shell starts two more: unbounded without the limit.
    let bomb = ExecRequest::shell("b() { b & b & wait; }; b").with_timeout(Duration::from_secs(20));
    let exec = tokio::spawn({
        let runtime = engine.shared();
        let id = id.clone();
        async move { runtime.exec(&id, &bomb).await }
    });

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut peak = 0;
    while !exec.is_finished() && Instant::now() < deadline {
        // The host and the engine answer while the bomb runs.
        assert!(std::process::Command::new("true")
            .status()
            .unwrap()
            .success());
        runtime.ping().await.unwrap();
        peak = peak.max(engine.processes(&id).await.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outcome = exec.await.unwrap().unwrap();
    // It hit the wall: forks failed (and the bomb died of it) instead of filling the host.
    assert!(
        outcome.stderr_text().contains("can't fork"),
        "the bomb never hit the limit (peak {peak} processes)"
    );
    assert!(peak <= 64, "{peak} processes, past the limit of 64");
    // The container is fine once it is over.
    assert_eq!(sh(runtime, &id, "echo alive").await, "alive\n");
    runtime
        .remove_container(&id, slipway_core::RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_chatty_process_s_log_stays_under_its_cap() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let limits = LogLimits {
        max_file_bytes: 64 << 10,
        max_files: 2,
    };
    // About 8 MiB of output, then quiet: a hundred times the cap.
    let script = "i=0; while [ $i -lt 80000 ]; do \
                  echo 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890; \
                  i=$((i+1)); done; echo done; sleep 3600";
    let spec = engine
        .sleeper("chatty")
        .with_cmd(["sh", "-c", script])
        .with_log_limits(Some(limits));
    let id = run_container(runtime, &spec).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let last: Vec<String> = runtime
            .logs(
                &id,
                &LogOptions {
                    tail: Some(1),
                    timestamps: false,
                    ..LogOptions::default()
                },
            )
            .filter_map(|l| async move { l.ok().map(|l| l.line) })
            .collect()
            .await;
        if last == ["done"] {
            break;
        }
        assert!(Instant::now() < deadline, "the output never finished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let kept: usize = runtime
        .logs(
            &id,
            &LogOptions {
                timestamps: false,
                ..LogOptions::default()
            },
        )
        .filter_map(|l| async move { l.ok().map(|l| l.line.len() + 1) })
        .fold(0, |sum, n| async move { sum + n })
        .await;
    assert!(kept > 0);
    assert!(
        kept as u64 <= limits.max_bytes(),
        "{kept} bytes of log kept, past the cap of {}",
        limits.max_bytes()
    );
}

#[tokio::test]
async fn processes_can_t_gain_privileges_by_default() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("nnp"))
        .await
        .unwrap();
    let status = sh(runtime, &id, "grep NoNewPrivs /proc/self/status").await;
    assert_eq!(status.split_whitespace().last(), Some("1"), "{status}");
}
