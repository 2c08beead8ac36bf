use std::time::{Duration, Instant};

use slipway_core::prelude::*;
use slipway_core::{run_container, ErrorKind, ExecRequest, RemoveOptions};
use slipway_testkit::require_engine;

use crate::support::sh;

#[tokio::test]
async fn exec_reports_stdout_stderr_and_the_exit_code() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("exec"))
        .await
        .unwrap();
    let request = ExecRequest::shell("echo out; echo err >&2; echo $GREETING; pwd; exit 7")
        .with_env("GREETING", "hello")
        .with_working_dir("/tmp");
    let outcome = runtime.exec(&id, &request).await.unwrap();
    assert_eq!(outcome.exit_code, Some(7));
    assert_eq!(outcome.stdout_text(), "out\nhello\n/tmp\n");
    assert_eq!(outcome.stderr_text(), "err\n");
    assert!(!outcome.timed_out && !outcome.truncated);
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn exec_feeds_stdin_and_closes_it() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("stdin"))
        .await
        .unwrap();
    let outcome = runtime
        .exec(
            &id,
            &ExecRequest::new(["wc", "-c"]).with_stdin(vec![b'x'; 100_000]),
        )
        .await
        .unwrap();
    assert_eq!(outcome.stdout_text().trim(), "100000");
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn output_beyond_the_cap_is_dropped_without_blocking_the_command() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("cap"))
        .await
        .unwrap();
    // 4 MiB of output against a 64 KiB cap: the command must still finish.
    let request = ExecRequest::shell("head -c 4194304 /dev/zero; echo done >&2")
        .with_output_limit(64 * 1024)
        .with_timeout(Duration::from_secs(20));
    let outcome = runtime.exec(&id, &request).await.unwrap();
    assert_eq!(outcome.exit_code, Some(0));
    assert_eq!(outcome.stdout.len(), 64 * 1024);
    assert!(outcome.truncated);
    assert_eq!(outcome.stderr_text(), "done\n");
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_command_that_outlives_its_timeout_is_killed_with_its_children() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("timeout"))
        .await
        .unwrap();
    // A shell that starts a background child and a foreground one, both far longer than 1 s.
    let request = ExecRequest::shell("echo started; sleep 311 & sleep 312; echo never")
        .with_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let outcome = runtime.exec(&id, &request).await.unwrap();
    assert!(outcome.timed_out);
    assert_eq!(outcome.exit_code, None);
    assert_eq!(outcome.stdout_text(), "started\n", "partial output is kept");
    // The commands would run for five minutes: returning long before means it was stopped.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );

    let left = sh(
        runtime,
        &id,
        "ps -o pid,args | grep 'sleep 31[12]' | grep -v grep || true",
    )
    .await;
    assert_eq!(left.trim(), "", "processes survived the timeout");
    // The container itself is unharmed.
    assert_eq!(sh(runtime, &id, "echo alive").await, "alive\n");
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_command_that_finishes_in_time_is_not_killed() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("intime"))
        .await
        .unwrap();
    let outcome = runtime
        .exec(
            &id,
            &ExecRequest::shell("sleep 0.2; echo ok").with_timeout(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    assert_eq!((outcome.exit_code, outcome.timed_out), (Some(0), false));
    assert_eq!(outcome.stdout_text(), "ok\n");
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn exec_in_a_stopped_container_is_a_conflict_and_in_a_missing_one_not_found() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = runtime
        .create_container(&engine.sleeper("stopped"))
        .await
        .unwrap();
    let err = runtime
        .exec(&id, &ExecRequest::new(["true"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();

    let err = runtime
        .exec(&id, &ExecRequest::new(["true"]))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), format!("container `{id}` not found"));
}

#[tokio::test]
async fn an_empty_command_is_invalid() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("empty"))
        .await
        .unwrap();
    let err = runtime
        .exec(&id, &ExecRequest::new(Vec::<String>::new()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_command_that_cannot_start_fails_quickly_instead_of_timing_out() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("exec-nostart"))
        .await
        .unwrap();
    // The working directory is missing: the engine can't start the process at all, so there
    // is nothing to wait for or to kill (with stdin attached, or without).
    // The second case is what the API fuzz sent: a path and a command of odd code points.
    let odd_dir = "/\u{fb}\u{fd}\u{a51b1}\u{98}\u{c4}".to_owned();
    let odd_command: Vec<String> = [
        "\u{7f}N",
        "",
        "\u{8b}gh\u{1ca8d}",
        "\u{11}\u{4}",
        "\u{8a}\u{8c}\u{ff}m#\u{4}m\u{d0d63}\u{b3}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let cases = [
        (vec!["true".to_owned()], "/no/such/directory".to_owned()),
        (odd_command, odd_dir),
    ];
    let variants = [
        (Some(b"8".to_vec()), Duration::from_secs(2)),
        (None, Duration::from_secs(2)),
        // Out of time before the engine even reported that it could not start it.
        (Some(b"8".to_vec()), Duration::from_millis(2)),
    ];
    for ((cmd, dir), (stdin, timeout)) in cases
        .iter()
        .flat_map(|case| variants.iter().map(move |variant| (case, variant)))
    {
        let mut request = ExecRequest::new(cmd.clone())
            .with_working_dir(dir.clone())
            .with_timeout(*timeout);
        request.stdin = stdin.clone();
        let started = Instant::now();
        let outcome = runtime.exec(&id, &request).await.unwrap();
        assert!(!outcome.timed_out, "stdin {stdin:?}: {outcome:?}");
        assert!(!outcome.success(), "stdin {stdin:?}: {outcome:?}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "stdin {stdin:?}"
        );
    }
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}
