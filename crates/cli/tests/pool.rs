//! `slipway pool status|fill|drain` and `slipway bench pool` against the real engine.

use std::path::Path;
use std::process::{Command, Output};

use slipway_core::prelude::*;
use slipway_testkit::engine::{BUSYBOX_IMAGE, TEST_LABEL};
use slipway_testkit::{free_port_range, require_engine};

fn slipway(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        .env("SLIPWAY_STATE_DIR", state)
        .output()
        .expect("the slipway binary runs")
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn fill_status_and_drain_manage_the_configured_pool() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let config = state.path().join("slipway.toml");
    std::fs::write(
        &config,
        format!(
            "[pool]\nport_range = \"{}\"\nmemory_budget_mb = 256\n\n\
             [[pools]]\nimage = \"{BUSYBOX_IMAGE}\"\nmemory_mb = 16\ntarget = 2\n\
             labels = {{ \"{TEST_LABEL}\" = \"{}\" }}\n",
            free_port_range(100),
            engine.scope()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let filled = json(&slipway(
        state.path(),
        &["--config", config, "pool", "fill", "--json"],
    ));
    let pool = &filled["pools"][0];
    assert_eq!(
        (pool["ready"].as_u64(), pool["target"].as_u64()),
        (Some(2), Some(2)),
        "{filled:#}"
    );
    assert_eq!(pool["image"], BUSYBOX_IMAGE);
    assert_eq!(filled["memory_budget_bytes"], 256u64 << 20);
    assert_eq!(
        engine
            .runtime()
            .list_containers(&engine.filter())
            .await
            .unwrap()
            .len(),
        2
    );

    // A second process finds them again.
    let status = json(&slipway(
        state.path(),
        &["--config", config, "pool", "status", "--json"],
    ));
    assert_eq!(status["pools"][0]["ready"], 2, "{status:#}");
    let table = slipway(state.path(), &["--config", config, "pool", "status"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("memory: 32 MiB of 256 MiB in use"));

    let drained = json(&slipway(
        state.path(),
        &["--config", config, "pool", "drain", "--json"],
    ));
    assert_eq!(drained["drained"], 2);
    assert_eq!(drained["pools"][0]["ready"], 0);
    assert!(engine
        .runtime()
        .list_containers(&engine.filter())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_pool_of_a_missing_image_fails_to_fill_with_the_reason() {
    let Some(_engine) = require_engine!() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let output = slipway(
        state.path(),
        &[
            "pool",
            "fill",
            "--image",
            "slipway-test/not-here:1",
            "--timeout-secs",
            "60",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("failed to fill pool"), "{stderr}");
    assert!(
        stderr.contains("image `slipway-test/not-here:1` not found"),
        "{stderr}"
    );
}

#[tokio::test]
async fn bench_pool_reports_warm_claims_against_cold_starts() {
    let Some(_engine) = require_engine!() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let output = slipway(
        state.path(),
        &[
            "bench",
            "pool",
            "--iterations",
            "3",
            "--image",
            BUSYBOX_IMAGE,
            "--json",
        ],
    );
    let report = json(&output);
    for key in [
        "claim_p50_ms",
        "claim_p99_ms",
        "cold_p50_ms",
        "cold_p99_ms",
        "speedup_p50",
        "refill_per_s",
    ] {
        assert!(
            report[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {report:#}"
        );
    }
    assert_eq!(
        (report["hits"].as_u64(), report["misses"].as_u64()),
        (Some(3), Some(0)),
        "{report:#}"
    );
    let leftovers = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=dev.slipway.bench"])
        .output()
        .unwrap();
    assert!(leftovers.stdout.is_empty(), "the benchmark left containers");
}
