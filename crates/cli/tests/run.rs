//! `slipway run|runs|stop|clean|audit` and `bench run` against the real engine, with the
//! BuildKit stand-in image (probe `tcp`) and the capability profile.

use std::path::Path;
use std::process::{Command, Output};

use slipway_core::prelude::*;
use slipway_core::LabelFilter;
use slipway_testkit::engine::{TestEngine, BUSYBOX_IMAGE, TEST_LABEL};
use slipway_testkit::require_engine;

fn slipway(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        .env("SLIPWAY_STATE_DIR", state)
        .env("SLIPWAY_CONFIG", state.join("none.toml"))
        .output()
        .expect("the slipway binary runs")
}

/// A state directory whose config gives its runs their own BuildKit state volume and the
/// test's label (so the test engine removes what a failed test leaves).
fn state_dir(engine: &TestEngine, cache_key: &str) -> tempfile::TempDir {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join("none.toml"),
        format!(
            "[buildkit]\ncache_key = \"{cache_key}-{}\"\nlabels = {{ \"{TEST_LABEL}\" = \"{}\" }}\n",
            engine.scope(),
            engine.scope()
        ),
    )
    .unwrap();
    state
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_dind_run_through_the_cli_from_start_to_stop() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let standin = engine.buildkit_standin().await;
    let state = state_dir(&engine, "cli-test");
    let run = |args: &[&str]| slipway(state.path(), args);

    let created = stdout(&run(&[
        "run",
        "--docker",
        "dind",
        "--image",
        BUSYBOX_IMAGE,
        "--buildkit-image",
        standin.as_str(),
        "--buildkit-probe",
        "tcp",
        "--privilege",
        "caps",
        "--no-inner-daemon",
        "--",
        "sleep",
        "3600",
    ]));
    let id = created.trim().to_owned();
    assert_eq!(created.lines().count(), 1, "only the run id: {created}");
    let by_run = LabelFilter::default().with(slipway_core::labels::RUN_ID, id.clone());
    assert_eq!(
        engine
            .runtime()
            .list_containers(&by_run)
            .await
            .unwrap()
            .len(),
        2
    );

    let runs: serde_json::Value = serde_json::from_str(&stdout(&run(&["runs", "--json"]))).unwrap();
    assert_eq!(runs[0]["id"], id.as_str());
    assert_eq!(runs[0]["state"], "running");
    assert!(stdout(&run(&["runs"])).contains(&id));

    assert_eq!(
        stdout(&run(&["clean", "--dry-run"])).trim(),
        "nothing to clean"
    );
    assert_eq!(stdout(&run(&["stop", &id])).trim(), format!("{id} stopped"));
    assert!(engine
        .runtime()
        .list_containers(&by_run)
        .await
        .unwrap()
        .is_empty());
    assert!(engine
        .runtime()
        .list_networks(&by_run)
        .await
        .unwrap()
        .is_empty());

    let audit: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["audit", "--run", &id, "--json"]))).unwrap();
    let kinds: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "run_created",
            "docker_network_created",
            "buildkit_sidecar_started",
            "buildkit_sidecar_healthy",
            "buildkit_sidecar_stopped",
            "run_stopped"
        ]
    );
    assert!(stdout(&run(&["audit", "--verify"])).contains("intact"));

    // The state volume was used a moment ago: a day's grace keeps it, none removes it.
    let volume = format!("slipway-buildkit-state-cli-test-{}", engine.scope());
    let kept = stdout(&run(&["clean", "--volumes", "--volume-days", "1"]));
    assert!(!kept.contains(&volume), "{kept}");
    assert!(engine
        .runtime()
        .list_volumes(&engine.filter())
        .await
        .unwrap()
        .iter()
        .any(|v| v.name == volume));
    let removed = stdout(&run(&["clean", "--volumes", "--volume-days", "0"]));
    assert!(
        removed.contains(&format!("removed volume {volume}")),
        "{removed}"
    );
}

#[tokio::test]
async fn an_attached_run_streams_its_output_and_exits_with_its_code() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let state = state_dir(&engine, "cli-attach");
    let output = slipway(
        state.path(),
        &[
            "run",
            "--attach",
            "--image",
            BUSYBOX_IMAGE,
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "out");
    assert!(String::from_utf8_lossy(&output.stderr).contains("err"));
    let runs: serde_json::Value =
        serde_json::from_str(&stdout(&slipway(state.path(), &["runs", "--json"]))).unwrap();
    assert_eq!(runs[0]["state"], "stopped");
}

#[test]
fn bad_run_input_is_refused_with_a_clear_error() {
    let state = tempfile::tempdir().unwrap();
    let mode = slipway(state.path(), &["run", "--docker", "bogus"]);
    assert_eq!(mode.status.code(), Some(2));
    let probe = slipway(state.path(), &["run", "--buildkit-probe", "http"]);
    assert_eq!(probe.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&probe.stderr).contains("`grpc` or `tcp`"));
    // Sizes and ages that would overflow once multiplied out are refused up front.
    for args in [
        &["run", "--memory-mb", "18446744073709551615", "--", "true"][..],
        &[
            "run",
            "--buildkit-memory-mb",
            "99999999999999",
            "--",
            "true",
        ],
        &["clean", "--volumes", "--volume-days", "213503982334601"],
        &["clean", "--records-days", "99999999999"],
    ] {
        let refused = slipway(state.path(), args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
    }
    assert!(
        std::fs::read_dir(state.path()).unwrap().next().is_none(),
        "nothing was created"
    );
}

#[tokio::test]
async fn stopping_an_unknown_run_names_it() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let state = state_dir(&engine, "cli-stop");
    let output = slipway(state.path(), &["stop", "nosuchrun"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("run nosuchrun"));
}

#[tokio::test]
async fn bench_run_reports_ready_and_teardown_against_raw_bollard() {
    let Some(engine) = require_engine!(slipway_testkit::Need::DindImage) else {
        return;
    };
    let standin = engine.buildkit_standin().await;
    let state = state_dir(&engine, "cli-bench");
    let output = slipway(
        state.path(),
        &[
            "bench",
            "run",
            "--docker",
            "dind",
            "--iterations",
            "2",
            "--image",
            BUSYBOX_IMAGE,
            "--buildkit-image",
            standin.as_str(),
            "--buildkit-probe",
            "tcp",
            "--privilege",
            "caps",
            "--no-inner-daemon",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    for key in [
        "ready_p50_ms",
        "ready_p99_ms",
        "teardown_p50_ms",
        "raw_ready_p50_ms",
        "ready_ratio_p50",
    ] {
        assert!(
            report[key].as_f64().unwrap_or_default() > 0.0,
            "{key}: {report:#}"
        );
    }
    assert_eq!(report["inner_daemon"], false);
    assert!(report["inner_ready_p50_ms"].is_null());
    // With slipway's inner daemon, on both sides, its answering is part of ready.
    let output = slipway(
        state.path(),
        &[
            "bench",
            "run",
            "--iterations",
            "1",
            "--image",
            slipway_testkit::engine::DIND_IMAGE,
            "--buildkit-image",
            standin.as_str(),
            "--buildkit-probe",
            "tcp",
            "--privilege",
            "caps",
            "--json",
        ],
    );
    let inner: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(inner["inner_daemon"], true, "{inner:#}");
    assert_eq!(inner["inner_ready_p50_ms"], inner["ready_p50_ms"]);
    assert!(inner["raw_ready_p50_ms"].as_f64().unwrap() > 0.0);
    // The bench ran in a scratch state with a cache volume of its own, and removed it.
    let volumes = std::process::Command::new("docker")
        .args([
            "volume",
            "ls",
            "-q",
            "--filter",
            "name=slipway-buildkit-state-bench-",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&volumes.stdout).trim(),
        "",
        "the bench left its volume"
    );
    let runs: serde_json::Value =
        serde_json::from_str(&stdout(&slipway(state.path(), &["runs", "--json"]))).unwrap();
    assert_eq!(
        runs,
        serde_json::json!([]),
        "bench runs are not the user's runs"
    );
}

#[tokio::test]
async fn run_verbs_settle_crashed_runs_first_but_leave_a_fresh_creation_alone() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let state = state_dir(&engine, "cli-recover");
    let run = |args: &[&str]| slipway(state.path(), args);
    let crashed = stdout(&run(&[
        "run",
        "--image",
        BUSYBOX_IMAGE,
        "--",
        "sleep",
        "3600",
    ]))
    .trim()
    .to_owned();
    // Its main container disappears, as if the host rebooted under it.
    let runs: serde_json::Value = serde_json::from_str(&stdout(&run(&["runs", "--json"]))).unwrap();
    let main = runs[0]["main_container_id"].as_str().unwrap().to_owned();
    engine
        .runtime()
        .remove_container(
            &slipway_core::ContainerId::new(main),
            slipway_core::RemoveOptions::force(),
        )
        .await
        .unwrap();
    // Two creations a crash interrupted: one alive just now (maybe still under way), one whose
    // heartbeat stopped long ago.
    let store = slipway_store::SqliteStore::open_in_dir(state.path()).unwrap();
    let mut fresh = serde_json::from_value::<slipway_core::RunRecord>(runs[0].clone()).unwrap();
    fresh.id = slipway_core::RunId::new("fresh0000000");
    fresh.state = slipway_core::RunState::Creating;
    fresh.main_container_id = None;
    fresh.updated_at = slipway_core::Timestamp::now();
    fresh.heartbeat_at = fresh.updated_at;
    let mut stale = fresh.clone();
    stale.id = slipway_core::RunId::new("stale0000000");
    stale.updated_at =
        slipway_core::Timestamp::from_unix_millis(fresh.updated_at.unix_millis() - 10 * 60_000);
    stale.heartbeat_at = stale.updated_at;
    store.put_run(&fresh).await.unwrap();
    store.put_run(&stale).await.unwrap();

    // Listing only reads.
    let listed: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["runs", "--json"]))).unwrap();
    let state_of = |runs: &serde_json::Value, id: &str| {
        runs.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state_of(&listed, &crashed), "running");

    // The next run verb settles the crashed and the stale one first, not the fresh one.
    let next = run(&["run", "--image", BUSYBOX_IMAGE, "--", "true"]);
    let said = String::from_utf8_lossy(&next.stderr).into_owned();
    assert!(said.contains(&format!("recovered run {crashed}")), "{said}");
    assert!(said.contains("recovered run stale0000000"), "{said}");
    assert!(!said.contains("fresh0000000"), "{said}");
    let after: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["runs", "--json"]))).unwrap();
    assert_eq!(state_of(&after, &crashed), "failed");
    assert_eq!(state_of(&after, "stale0000000"), "failed");
    assert_eq!(state_of(&after, "fresh0000000"), "creating");
}

#[tokio::test]
async fn audit_verify_exits_1_when_an_entry_was_changed() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let state = state_dir(&engine, "cli-audit");
    let run = |args: &[&str]| slipway(state.path(), args);
    let id = stdout(&run(&["run", "--image", BUSYBOX_IMAGE, "--", "true"]))
        .trim()
        .to_owned();
    stdout(&run(&["stop", &id]));
    assert!(run(&["audit", "--verify"]).status.success());
    let db = rusqlite::Connection::open(state.path().join(slipway_store::DATABASE_FILE)).unwrap();
    let changed = db
        .execute(
            "UPDATE audit_log SET event = replace(event, 'run_created', 'run_forged') WHERE seq = 1",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);
    let verify = run(&["audit", "--verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("BROKEN"));
}

#[tokio::test]
async fn clean_records_days_deletes_old_ended_runs_and_keeps_the_audit_verifiable() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let state = state_dir(&engine, "records");
    let run = |args: &[&str]| slipway(state.path(), args);
    let id = stdout(&run(&["run", "--image", BUSYBOX_IMAGE, "--", "true"]))
        .trim()
        .to_owned();
    stdout(&run(&["stop", &id]));
    // The run ended forty days ago; another ended just now.
    let store = slipway_store::SqliteStore::open_in_dir(state.path()).unwrap();
    let mut old = store
        .run(&slipway_core::RunId::new(&id))
        .await
        .unwrap()
        .unwrap();
    let recent = old.clone();
    old.id = slipway_core::RunId::new("old000000000");
    old.updated_at = slipway_core::Timestamp::from_unix_millis(
        slipway_core::Timestamp::now().unix_millis() - 40 * 24 * 3_600_000,
    );
    store.put_run(&old).await.unwrap();

    let report: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["clean", "--records-days", "30", "--json"]))).unwrap();
    assert_eq!(report["run_records"], 1, "{report:#}");
    let left: Vec<String> = store
        .runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(left, [recent.id.to_string()]);
    assert_eq!(run(&["audit", "--verify"]).status.code(), Some(0));
}

#[tokio::test]
async fn an_attached_dind_run_has_its_own_docker_inside_and_leaves_nothing() {
    let Some(engine) = require_engine!(slipway_testkit::Need::DindImage) else {
        return;
    };
    let standin = engine.buildkit_standin().await;
    let state = state_dir(&engine, "cli-dind");
    let script = "docker info --format 'driver={{.Driver}}'; \
                  echo \"containers=$(docker ps -aq | wc -l)\"; \
                  mkdir /b && cd /b && echo x >f && printf 'FROM scratch\\nCOPY f /f\\n' >Dockerfile \
                  && docker build -q -t built:1 . >/dev/null && echo built; \
                  docker run --rm slipway-test/busybox:1 echo inner-hello";
    let output = slipway(
        state.path(),
        &[
            "run",
            "--docker",
            "dind",
            "--attach",
            "--image",
            slipway_testkit::engine::DIND_IMAGE,
            "--buildkit-image",
            standin.as_str(),
            "--buildkit-probe",
            "tcp",
            "--privilege",
            "caps",
            "--load-image",
            BUSYBOX_IMAGE,
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    let printed = stdout(&output);
    for expected in ["driver=overlay2", "containers=0", "built", "inner-hello"] {
        assert!(
            printed.lines().any(|l| l == expected),
            "{expected}:\n{printed}"
        );
    }
    // Attached: the run was stopped when its command ended — nothing of it is left.
    let runs: serde_json::Value =
        serde_json::from_str(&stdout(&slipway(state.path(), &["runs", "--json"]))).unwrap();
    let id = runs[0]["id"].as_str().unwrap().to_owned();
    let by_run = LabelFilter::default().with(slipway_core::labels::RUN_ID, id);
    let runtime = engine.runtime();
    assert!(runtime.list_containers(&by_run).await.unwrap().is_empty());
    assert!(runtime.list_networks(&by_run).await.unwrap().is_empty());
    assert!(runtime.list_volumes(&by_run).await.unwrap().is_empty());
}
