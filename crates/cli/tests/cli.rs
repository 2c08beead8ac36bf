//! The `slipway` binary end to end: doctor and bench against the real engine, and the
//! configuration errors a user meets first.

use std::process::{Command, Output};

use slipway_testkit::engine::BUSYBOX_IMAGE;
use slipway_testkit::require_engine;

fn slipway(args: &[&str]) -> Output {
    let state = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        .env("SLIPWAY_STATE_DIR", state.path())
        .env_remove("SLIPWAY_CONFIG")
        .output()
        .expect("the slipway binary runs")
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn leftovers(label: &str) -> usize {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label={label}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[tokio::test]
async fn doctor_passes_on_a_working_engine_and_cleans_up() {
    let Some(_engine) = require_engine!() else {
        return;
    };
    let output = slipway(&["doctor", "--json", "--image", BUSYBOX_IMAGE]);
    let report = json(&output);
    assert!(output.status.success(), "{report:#}");
    assert_eq!(report["ok"], true);
    let status = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["status"]
            .clone()
    };
    for name in [
        "engine",
        "versions",
        "storage driver",
        "memory",
        "container start",
        "state",
    ] {
        assert_eq!(status(name), "ok", "{name}: {report:#}");
    }
    // Privileged may be refused by the host; either way it is reported, never a failure.
    assert!(
        ["ok", "warn"].contains(&status("privileged").as_str().unwrap()),
        "{report:#}"
    );
    assert_eq!(leftovers("dev.slipway.doctor=true"), 0);
}

#[tokio::test]
async fn doctor_creates_no_state_directory() {
    let Some(_engine) = require_engine!() else {
        return;
    };
    let parent = tempfile::tempdir().unwrap();
    let state = parent.path().join("never-made");
    let output = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["doctor", "--json", "--image", BUSYBOX_IMAGE])
        .env("SLIPWAY_STATE_DIR", &state)
        .env_remove("SLIPWAY_CONFIG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(!state.exists(), "doctor created the state directory");
}

#[test]
fn doctor_fails_with_a_fix_when_no_engine_answers() {
    let output = slipway(&[
        "--host",
        "unix:///nonexistent/docker.sock",
        "doctor",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    let engine = &report["checks"][0];
    assert_eq!(engine["status"], "fail");
    assert!(
        engine["detail"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/docker.sock"),
        "{engine}"
    );
    assert!(
        engine["fix"].as_str().unwrap().contains("start the engine"),
        "{engine}"
    );
    assert_eq!(report["checks"][1]["status"], "skipped");
}

#[tokio::test]
async fn doctor_names_a_missing_image_and_how_to_get_it() {
    let Some(_engine) = require_engine!() else {
        return;
    };
    let output = slipway(&["doctor", "--image", "slipway-test/not-here:1"]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("image `slipway-test/not-here:1` not found"),
        "{text}"
    );
    assert!(
        text.contains("docker pull slipway-test/not-here:1"),
        "{text}"
    );
}

#[tokio::test]
async fn bench_runtime_reports_every_op_against_raw_bollard() {
    let Some(_engine) = require_engine!() else {
        return;
    };
    let output = slipway(&[
        "bench",
        "runtime",
        "--iterations",
        "2",
        "--image",
        BUSYBOX_IMAGE,
        "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    for op in ["create", "start", "exec", "remove"] {
        for key in [
            "slipway_p50_ms",
            "raw_p50_ms",
            "ratio_p50",
            "slipway_p99_ms",
            "raw_p99_ms",
        ] {
            let value = report["ops"][op][key]
                .as_f64()
                .unwrap_or_else(|| panic!("ops.{op}.{key} missing: {report:#}"));
            assert!(value > 0.0, "ops.{op}.{key} = {value}");
        }
    }
    assert_eq!(report["iterations"], 2);
    assert_eq!(leftovers("dev.slipway.bench"), 0);

    let table = slipway(&[
        "bench",
        "runtime",
        "--iterations",
        "1",
        "--image",
        BUSYBOX_IMAGE,
    ]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("ratio p50") && text.contains("total"),
        "{text}"
    );
}

#[test]
fn plain_tcp_is_refused_unless_marked_insecure() {
    let output = slipway(&["--host", "tcp://127.0.0.1:1", "doctor"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("plain TCP") && stderr.contains("--allow-insecure-tcp"),
        "{stderr}"
    );

    let allowed = slipway(&[
        "--host",
        "tcp://127.0.0.1:1",
        "--allow-insecure-tcp",
        "doctor",
        "--json",
    ]);
    assert_eq!(
        allowed.status.code(),
        Some(1),
        "the engine is unreachable, so doctor fails"
    );
    assert_eq!(json(&allowed)["checks"][0]["status"], "fail");
}

#[test]
fn bad_arguments_say_what_is_allowed() {
    let output = slipway(&["bench", "runtime", "--image", "Not/Valid"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("[registry[:port]/]path[:tag]"), "{stderr}");

    let output = slipway(&["--host", "docker.sock", "doctor"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected unix:///path"));

    let output = slipway(&["doctor", "--ports", "20000-10000"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn an_unreachable_engine_error_comes_with_a_hint() {
    let output = slipway(&[
        "--host",
        "unix:///nonexistent/docker.sock",
        "bench",
        "runtime",
        "--iterations",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: failed to connect to the engine"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: is the engine running?"), "{stderr}");
}

#[test]
fn bench_ls_times_env_ls_on_a_state_of_twenty_environments() {
    let output = slipway(&["bench", "ls", "--iterations", "3", "--json"]);
    let report = json(&output);
    assert!(output.status.success(), "{report:#}");
    assert_eq!(report["environments"], 20);
    assert!(
        report["env_ls_p50_ms"].as_f64().unwrap() > 0.0,
        "{report:#}"
    );
    assert!(report["env_ls_p99_ms"].as_f64().unwrap() >= report["env_ls_p50_ms"].as_f64().unwrap());
}

/// The `slipwayd` binary beside `slipway` in the target directory, built if this test run
/// didn't build it already.
fn slipwayd() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_slipway")).with_file_name("slipwayd");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "-p", "slipway-api", "--bin", "slipwayd"])
            .status()
            .unwrap();
        assert!(status.success(), "failed to build slipwayd");
    }
    path
}

/// `slipway bench ARGS… --slipwayd <the built slipwayd> --json`, which must succeed; its report.
fn bench_against_slipwayd(args: &[&str]) -> serde_json::Value {
    let daemon = slipwayd();
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend(["--slipwayd", daemon.to_str().unwrap(), "--json"]);
    let output = slipway(&all);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json(&output)
}

#[tokio::test]
async fn bench_api_reports_every_key_and_leaves_nothing_behind() {
    let Some(_engine) = require_engine!() else {
        return;
    };
    let report = bench_against_slipwayd(&[
        "api",
        "--image",
        BUSYBOX_IMAGE,
        "--iterations",
        "3",
        "--health-seconds",
        "1",
        "--connections",
        "2",
    ]);
    for key in [
        "create_pooled_p50_ms",
        "create_pooled_p99_ms",
        "docker_run_p50_ms",
        "speedup_p50",
        "health_rps",
        "rss_idle_mb",
    ] {
        assert!(report[key].as_f64().unwrap() > 0.0, "{key}: {report:#}");
    }
    assert_eq!(report["pooled_hits"], 3, "{report:#}");
    assert_eq!(leftovers("slipway-bench-api"), 0);
}

#[tokio::test]
async fn bench_exec_compares_the_api_exec_with_raw_bollard() {
    let Some(_engine) = require_engine!() else {
        return;
    };
    let report = bench_against_slipwayd(&["exec", "--image", BUSYBOX_IMAGE, "--iterations", "3"]);
    for key in ["exec_p50_ms", "raw_exec_p50_ms", "exec_ratio_p50"] {
        assert!(report[key].as_f64().unwrap() > 0.0, "{key}: {report:#}");
    }
}

#[tokio::test]
async fn bench_logs_reports_throughput_latency_and_memory() {
    let Some(_engine) = require_engine!() else {
        return;
    };
    let report = bench_against_slipwayd(&[
        "logs",
        "--image",
        BUSYBOX_IMAGE,
        "--lines",
        "2000",
        "--streams",
        "20",
    ]);
    for key in ["lines_per_s", "raw_lines_per_s", "rss_1000_streams_mb"] {
        assert!(report[key].as_f64().unwrap() > 0.0, "{key}: {report:#}");
    }
    // Latencies are whole milliseconds apart at worst: zero is a valid answer.
    assert!(report["latency_p99_ms"].as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn bench_terminal_compares_keystroke_echo_with_a_raw_tty() {
    let Some(_engine) = require_engine!() else {
        return;
    };
    let report =
        bench_against_slipwayd(&["terminal", "--image", BUSYBOX_IMAGE, "--keystrokes", "20"]);
    for key in ["terminal_p99_ms", "raw_tty_p99_ms"] {
        assert!(report[key].as_f64().unwrap() > 0.0, "{key}: {report:#}");
    }
    assert!(report["terminal_added_p99_ms"].as_f64().unwrap() >= 0.0);
}
