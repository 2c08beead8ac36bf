use futures_util::StreamExt;
use slipway_core::prelude::*;
use slipway_core::{run_container, LogOptions, LogSource, RemoveOptions, Timestamp};
use slipway_testkit::require_engine;

#[tokio::test]
async fn followed_logs_arrive_in_order_with_timestamps_and_end_with_the_container() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let script = "for i in 1 2 3 4 5 6 7 8; do echo line-$i; sleep 0.1; done; echo oops >&2";
    let spec = engine.sleeper("logs").with_cmd(["sh", "-c", script]);
    let id = run_container(runtime, &spec).await.unwrap();

    let lines: Vec<_> = runtime
        .logs(&id, &LogOptions::follow())
        .map(|line| line.unwrap())
        .collect()
        .await;
    let stdout: Vec<_> = lines
        .iter()
        .filter(|l| l.source == LogSource::Stdout)
        .map(|l| l.line.as_str())
        .collect();
    assert_eq!(
        stdout,
        ["line-1", "line-2", "line-3", "line-4", "line-5", "line-6", "line-7", "line-8"]
    );
    let stderr: Vec<_> = lines
        .iter()
        .filter(|l| l.source == LogSource::Stderr)
        .map(|l| l.line.as_str())
        .collect();
    assert_eq!(stderr, ["oops"]);

    let stamps: Vec<Timestamp> = lines
        .iter()
        .map(|l| l.timestamp.expect("timestamped"))
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
    let spread = stamps.last().unwrap().unix_millis() - stamps[0].unix_millis();
    assert!(
        spread >= 600,
        "lines were spaced 100 ms apart, spread {spread} ms"
    );
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn tail_limits_the_backlog_and_streams_can_be_filtered() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let spec = engine.sleeper("tail").with_cmd([
        "sh",
        "-c",
        "echo e >&2; sleep 0.3; seq 1 20; sleep 3600",
    ]);
    let id = run_container(runtime, &spec).await.unwrap();
    // Wait until the output is there. The stderr line comes first and well apart: the engine
    // applies `tail` before filtering streams.
    for _ in 0..100 {
        if runtime.logs(&id, &LogOptions::default()).count().await >= 21 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let options = LogOptions {
        tail: Some(3),
        stderr: false,
        timestamps: false,
        ..LogOptions::default()
    };
    let lines: Vec<_> = runtime
        .logs(&id, &options)
        .map(|l| l.unwrap().line)
        .collect()
        .await;
    assert_eq!(lines, ["18", "19", "20"]);
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}
