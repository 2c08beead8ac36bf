//! `slipway env up|ls|exec|logs|rm` against the real engine, with a synthetic repo fetched
//! from a `file://` remote and the Debian+node test image.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output};

use slipway_core::prelude::*;
use slipway_testkit::engine::{BUSYBOX_IMAGE, NODE_IMAGE, TEST_LABEL};
use slipway_testkit::synthetic::{node_app, SyntheticRepo};
use slipway_testkit::{free_port_range, require_engine, Need, TestEngine};

fn slipway(state: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slipway"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("SLIPWAY_STATE_DIR", state)
        .env_remove("SLIPWAY_GIT_TOKEN")
        .output()
        .expect("the slipway binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn http_get(url: &str) -> String {
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("the dev server accepts");
    write!(stream, "GET / HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A state directory, a synthetic repo serving `hello from the cli`, and a config file
/// with host ports of the test's own and the test's label on what environments create.
struct Fixture {
    state: tempfile::TempDir,
    config: std::path::PathBuf,
    slug: String,
    repo: SyntheticRepo,
    ports: slipway_core::PortRange,
}

fn fixture(engine: &TestEngine) -> Fixture {
    let state = tempfile::tempdir().unwrap();
    let slug = format!("fixture/cli-{}", engine.scope());
    let repo = SyntheticRepo::create(&state.path().join("remote.git")).unwrap();
    repo.commit(
        "main",
        None,
        &node_app("from the cli", "1.0.0", "hello"),
        &[],
        "main",
    )
    .unwrap();
    let config = state.path().join("slipway.toml");
    let ports = free_port_range(100);
    std::fs::write(
        &config,
        format!(
            "[pool]\nport_range = \"{ports}\"\nmemory_budget_mb = 4096\n\n\
             [[pools]]\nimage = \"{BUSYBOX_IMAGE}\"\nmemory_mb = 16\ntarget = 0\nmin = 0\n\
             labels = {{ \"{TEST_LABEL}\" = \"{}\" }}\n\n\
             [provision]\nbase_image = \"{NODE_IMAGE}\"\nready_timeout_secs = 60\n\
             labels = {{ \"{TEST_LABEL}\" = \"{}\" }}\n",
            engine.scope(),
            engine.scope()
        ),
    )
    .unwrap();
    Fixture {
        state,
        config,
        slug,
        repo,
        ports,
    }
}

#[tokio::test]
async fn env_up_serves_the_repo_and_the_other_verbs_manage_it() {
    let Some(engine) = require_engine!(Need::NodeImage) else {
        return;
    };
    let fixture = fixture(&engine);
    let (state, config, slug, repo) = (
        &fixture.state,
        &fixture.config,
        &fixture.slug,
        &fixture.repo,
    );
    let run = |args: &[&str]| slipway(state.path(), config, args);

    let up = run(&["env", "up", slug, "--remote", &repo.file_url()]);
    let url = stdout(&up).trim().to_owned();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && fixture.ports.contains(port),
        "{url}"
    );
    let progress = String::from_utf8_lossy(&up.stderr);
    assert!(progress.contains("Cloning"), "{progress}");
    assert!(http_get(&url).ends_with("hello from the cli\n"));

    let listed: serde_json::Value = serde_json::from_str(&stdout(&run(&["env", "ls", "--json"])))
        .expect("env ls --json prints JSON");
    let record = &listed[0];
    assert_eq!(record["repo"], slug.as_str(), "{listed:#}");
    assert_eq!(record["status"], "ready");
    assert_eq!(record["branch"], "main");
    let id = record["id"].as_str().unwrap().to_owned();
    assert!(stdout(&run(&["env", "ls"])).contains(&url));

    let exited = run(&[
        "env",
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "test -f server.js && exit 3",
    ]);
    assert_eq!(exited.status.code(), Some(3));
    let printed = stdout(&run(&[
        "env",
        "exec",
        &id,
        "--",
        "node",
        "-e",
        "console.log(require('greeting'))",
    ]));
    assert_eq!(printed.trim(), "hello");
    let timed_out = run(&[
        "env",
        "exec",
        &id,
        "--timeout-secs",
        "1",
        "--",
        "sleep",
        "30",
    ]);
    assert_eq!(timed_out.status.code(), Some(124));
    assert!(String::from_utf8_lossy(&timed_out.stderr).contains("ran out of time"));

    let logs = stdout(&run(&["env", "logs", &id]));
    assert!(logs.contains("[dev] ready on port 3000"), "{logs}");

    // A shell, fed from a pipe: what it prints comes back, and the end of input ends it.
    let mut shell = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .arg("--config")
        .arg(config)
        .args(["env", "shell", &id])
        .env("SLIPWAY_STATE_DIR", state.path())
        .env_remove("SLIPWAY_API_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    shell
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo shell-$((20+1)) in $(pwd)\n")
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while shell.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = shell.kill();
            panic!("env shell did not end within 60 s of its input ending");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let shell = shell.wait_with_output().unwrap();
    let printed = String::from_utf8_lossy(&shell.stdout);
    assert!(
        shell.status.success(),
        "{}",
        String::from_utf8_lossy(&shell.stderr)
    );
    assert!(printed.contains("shell-21 in /"), "{printed}");

    let container = record["container_id"].as_str().unwrap().to_owned();
    assert!(stdout(&run(&["env", "rm", &id])).contains(&id));
    let gone = engine
        .runtime()
        .inspect_container(&slipway_core::ContainerId::new(container))
        .await;
    assert!(gone.is_err(), "the container is removed");
    assert_eq!(
        stdout(&run(&["env", "ls", "--json"])).trim(),
        "[]",
        "the record is gone"
    );
    let volumes = engine
        .runtime()
        .list_volumes(&engine.filter())
        .await
        .unwrap();
    assert_eq!(volumes.len(), 1, "the dependency volume stays: {volumes:?}");

    let again = run(&["env", "rm", &id]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains(&id));
}

#[tokio::test]
async fn env_up_succeeds_while_other_processes_look_at_the_same_state() {
    let Some(engine) = require_engine!(Need::NodeImage) else {
        return;
    };
    let fixture = fixture(&engine);
    let mut up = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .arg("--config")
        .arg(&fixture.config)
        .args([
            "env",
            "up",
            &fixture.slug,
            "--remote",
            &fixture.repo.file_url(),
        ])
        .env("SLIPWAY_STATE_DIR", fixture.state.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Another shell looks at the same state the whole time, with another pool's image: it
    // must never touch env up's container or its leases.
    let mut looks = 0;
    while up.try_wait().unwrap().is_none() {
        let run = |args: &[&str]| slipway(fixture.state.path(), &fixture.config, args);
        stdout(&run(&[
            "pool",
            "status",
            "--image",
            BUSYBOX_IMAGE,
            "--json",
        ]));
        stdout(&run(&["env", "ls", "--json"]));
        looks += 1;
    }
    let up = up.wait_with_output().unwrap();
    let url = stdout(&up).trim().to_owned();
    assert!(looks > 0, "the other process never looked");
    assert!(http_get(&url).ends_with("hello from the cli\n"), "{url}");

    let store = slipway_store::SqliteStore::open_in_dir(fixture.state.path()).unwrap();
    let leases = store.port_leases().await.unwrap();
    let ports: std::collections::BTreeSet<u16> = leases.iter().map(|l| l.port).collect();
    assert_eq!(
        ports.len(),
        leases.len(),
        "no port leased twice: {leases:?}"
    );
    let listed: serde_json::Value = serde_json::from_str(&stdout(&slipway(
        fixture.state.path(),
        &fixture.config,
        &["env", "ls", "--json"],
    )))
    .unwrap();
    let id = listed[0]["id"].as_str().unwrap();
    stdout(&slipway(
        fixture.state.path(),
        &fixture.config,
        &["env", "rm", id],
    ));
}

/// Every file under `dir` (the state: database, WAL, lock, mirrors) as bytes.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                found.push((path, bytes));
            }
        }
    }
    found
}

#[tokio::test]
async fn a_failing_install_is_shown_redacted_and_escaped_and_its_secret_reaches_no_log_state_or_config(
) {
    let Some(engine) = require_engine!(Need::NodeImage) else {
        return;
    };
    const NPM_TOKEN: &str = "npm-secret-5b1e0c7d";
    const GIT_TOKEN: &str = "git-secret-9d2f4a6b";
    let fixture = fixture(&engine);
    // An install that prints its secret on both streams and fails, as a broken and
    // verbose package manager would.
    let up = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .arg("--config")
        .arg(&fixture.config)
        .args([
            "env",
            "up",
            &fixture.slug,
            "--remote",
            &fixture.repo.file_url(),
            "--secret-env",
            "NPM_TOKEN",
            "--install",
            "echo \"auth $NPM_TOKEN\"; printf '\\033]0;owned\\007'; echo \"denied for $NPM_TOKEN\" >&2; exit 1",
        ])
        .env("SLIPWAY_STATE_DIR", fixture.state.path())
        .env("NPM_TOKEN", NPM_TOKEN)
        .env("SLIPWAY_GIT_TOKEN", GIT_TOKEN)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(!up.status.success());
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(
        printed.contains("denied for <redacted>"),
        "the failure is shown, redacted: {printed}"
    );
    assert!(printed.contains("DEBUG"), "debug logging was on: {printed}");
    assert!(
        !printed.contains('\u{1b}') && printed.contains("\\x1b]0;owned\\x07"),
        "control characters from the repo are shown escaped: {printed}"
    );
    for secret in [NPM_TOKEN, GIT_TOKEN] {
        assert!(!printed.contains(secret), "{secret} was printed");
        for (path, bytes) in files_under(fixture.state.path()) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(secret), "{secret} is in {}", path.display());
        }
    }

    let listed: serde_json::Value = serde_json::from_str(&stdout(&slipway(
        fixture.state.path(),
        &fixture.config,
        &["env", "ls", "--json"],
    )))
    .unwrap();
    let record = &listed[0];
    assert_eq!(record["status"], "error", "{listed:#}");
    assert!(!record.to_string().contains(NPM_TOKEN));
    let container = slipway_core::ContainerId::new(record["container_id"].as_str().unwrap());
    let config = engine
        .runtime()
        .bollard()
        .inspect_container(container.as_str(), None)
        .await
        .unwrap()
        .config
        .unwrap();
    assert!(
        !format!("{:?}", config.env).contains(NPM_TOKEN),
        "the secret is in the container's config"
    );
    stdout(&slipway(
        fixture.state.path(),
        &fixture.config,
        &["env", "rm", record["id"].as_str().unwrap()],
    ));
}

#[test]
fn bad_input_is_refused_before_anything_happens() {
    let state = tempfile::tempdir().unwrap();
    let config = state.path().join("slipway.toml");
    std::fs::write(&config, "").unwrap();
    let run = |args: &[&str]| slipway(state.path(), &config, args);

    let slug = run(&["env", "up", "not a slug"]);
    assert_eq!(slug.status.code(), Some(2));
    let branch = run(&["env", "up", "owner/repo", "--branch", "../etc"]);
    assert_eq!(branch.status.code(), Some(2));
    let env = run(&["env", "up", "owner/repo", "-e", "1BAD=x"]);
    assert_eq!(env.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&env.stderr).contains("1BAD"));
    assert!(
        !state.path().join("repo-cache").exists(),
        "nothing was created"
    );
}

#[tokio::test]
async fn bench_setup_reports_every_key_and_leaves_nothing_behind() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let config = state.path().join("slipway.toml");
    std::fs::write(&config, "").unwrap();
    let output = slipway(
        state.path(),
        &config,
        &[
            "bench",
            "setup",
            "--files",
            "20",
            "--iterations",
            "1",
            "--image",
            NODE_IMAGE,
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    for key in [
        "full_setup_ms",
        "warm_setup_ms",
        "network_clone_setup_ms",
        "cache_speedup",
        "branch_switch_ms",
        "branch_switch_ratio",
        "noop_fetch_ms",
        "raw_upload_ms",
        "warm_over_raw_upload",
        "raw_exec_tar_ms",
        "raw_exec_tar_volume_ms",
        "raw_exec_tar_tmpfs_ms",
        "wan_clone_setup_ms",
        "wan_cache_speedup",
        "warm_cloning_ms",
        "warm_starting_ms",
        "warm_setup_walked_ms",
        "warm_env_ready_p50_ms",
        "warm_env_ready_p99_ms",
        "warm_env_ready_over_warm_setup",
    ] {
        let value = report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key}: {report:#}"));
        assert!(value > 0.0, "{key}: {report:#}");
    }
    // The store's install is linked while the tree is copied: nothing is left to install.
    let installing = report["warm_installing_ms"].as_f64().unwrap();
    assert!(installing >= 0.0, "{report:#}");
    assert_eq!(report["files"], 20);
    assert_eq!(report["main_image_layer_growth"], 0, "{report:#}");

    let bench = slipway_core::LabelFilter::default().with_key("dev.slipway.bench");
    let runtime = engine.runtime();
    assert!(runtime.list_containers(&bench).await.unwrap().is_empty());
    assert!(runtime.list_volumes(&bench).await.unwrap().is_empty());
    assert!(runtime.list_networks(&bench).await.unwrap().is_empty());
    // Main images included, those the layer-growth rounds replaced.
    let images = runtime
        .bollard()
        .list_images(Some(
            slipway_runtime::bollard::query_parameters::ListImagesOptions {
                all: true,
                filters: Some(std::collections::HashMap::from([(
                    "label".to_owned(),
                    vec!["dev.slipway.bench".to_owned()],
                )])),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    assert!(images.is_empty(), "{images:?}");
}
