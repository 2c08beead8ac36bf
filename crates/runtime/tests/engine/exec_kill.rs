//! A timed-out or abandoned command leaves nothing of it running, however its processes try
//! to get away; checked from the host with `docker top`, not with the container's own tools.

use std::time::{Duration, Instant};

use slipway_core::prelude::*;
use slipway_core::{run_container, ContainerId, ExecRequest};
use slipway_testkit::{require_engine, Need, TestEngine};

use crate::support::sh;

/// Runs `request` (which must time out) and asserts no process whose command line holds
/// one of `tags` is left in the container.
async fn times_out_leaving_nothing(
    engine: &TestEngine,
    id: &ContainerId,
    request: ExecRequest,
    tags: &[&str],
) {
    let outcome = engine.runtime().exec(id, &request).await.unwrap();
    assert!(outcome.timed_out, "{outcome:?}");
    let left: Vec<String> = engine
        .processes(id)
        .await
        .into_iter()
        .filter(|cmd| tags.iter().any(|tag| cmd.contains(tag)))
        .collect();
    assert!(left.is_empty(), "survived the timeout: {left:?}");
}

/// Waits (generously) until `docker top` shows the background command `tag` running.
async fn until_running(engine: &TestEngine, id: &ContainerId, tag: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !engine
        .processes(id)
        .await
        .iter()
        .any(|cmd| cmd.contains(tag))
    {
        assert!(Instant::now() < deadline, "{tag} never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn timed(script: &str) -> ExecRequest {
    ExecRequest::shell(script).with_timeout(Duration::from_secs(2))
}

#[tokio::test]
async fn a_child_that_cleared_its_environment_is_killed() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let id = run_container(engine.runtime(), &engine.sleeper("envi"))
        .await
        .unwrap();
    let request = timed("env -i sh -c 'sleep 401' & sleep 402");
    times_out_leaving_nothing(&engine, &id, request, &["sleep 40"]).await;
}

#[tokio::test]
async fn a_child_that_became_another_user_is_killed() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let id = run_container(engine.runtime(), &engine.sleeper("su"))
        .await
        .unwrap();
    // `su` changes uid, which also makes the process non-dumpable: its environ is unreadable.
    let request = timed("su -s /bin/sh nobody -c 'sleep 403' & sleep 404");
    times_out_leaving_nothing(&engine, &id, request, &["sleep 40"]).await;
}

#[tokio::test]
async fn a_child_dropped_to_another_uid_with_setpriv_is_killed() {
    let Some(engine) = require_engine!(Need::NodeImage) else {
        return;
    };
    let mut spec = engine.sleeper("setpriv");
    spec.image = engine.node();
    let id = run_container(engine.runtime(), &spec).await.unwrap();
    let request = timed("setpriv --reuid=65534 --regid=65534 --clear-groups sleep 405 & sleep 406");
    times_out_leaving_nothing(&engine, &id, request, &["sleep 40"]).await;
}

#[tokio::test]
async fn a_double_forked_session_leader_is_killed() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let id = run_container(engine.runtime(), &engine.sleeper("setsid"))
        .await
        .unwrap();
    // The inner shell exits at once: `sleep 407` is re-parented to PID 1 in a new session.
    let request = timed("setsid sh -c 'sleep 407 >/dev/null 2>&1 </dev/null &'; sleep 408");
    times_out_leaving_nothing(&engine, &id, request, &["sleep 40"]).await;
}

#[tokio::test]
async fn a_command_that_never_reads_its_stdin_still_times_out() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let id = run_container(engine.runtime(), &engine.sleeper("stdin"))
        .await
        .unwrap();
    // Far more input than a pipe holds, to a command that never reads it.
    let request = ExecRequest::new(["sleep", "409"])
        .with_stdin(vec![b'x'; 8 << 20])
        .with_timeout(Duration::from_secs(2));
    times_out_leaving_nothing(&engine, &id, request, &["sleep 409"]).await;
}

#[tokio::test]
async fn dropping_the_exec_future_kills_the_command() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let id = run_container(engine.runtime(), &engine.sleeper("drop"))
        .await
        .unwrap();
    let request = ExecRequest::shell("sleep 410 & sleep 411");
    let exec = engine.runtime().exec(&id, &request);
    let abandoned = async {
        tokio::select! {
            _ = exec => panic!("the command finished"),
            () = until_running(&engine, &id, "sleep 411") => {}
        }
    };
    abandoned.await;
    // The kill runs on the command's own task: wait for it, generously.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: Vec<String> = engine
            .processes(&id)
            .await
            .into_iter()
            .filter(|cmd| cmd.contains("sleep 41"))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "survived the drop: {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn processes_older_than_the_command_survive_its_kill() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let id = run_container(engine.runtime(), &engine.sleeper("older"))
        .await
        .unwrap();
    // A detached process started by an earlier command, like a dev server.
    sh(
        engine.runtime(),
        &id,
        "sleep 412 >/dev/null 2>&1 </dev/null &",
    )
    .await;
    until_running(&engine, &id, "sleep 412").await;
    let request = timed("setsid sh -c 'sleep 413 >/dev/null 2>&1 </dev/null &'; sleep 414");
    times_out_leaving_nothing(&engine, &id, request, &["sleep 413", "sleep 414"]).await;
    let processes = engine.processes(&id).await;
    assert!(
        processes.iter().any(|cmd| cmd.contains("sleep 412")),
        "an older process was killed: {processes:?}"
    );
    assert!(
        processes.iter().any(|cmd| cmd.contains("sleep 3600")),
        "the container's own command was killed: {processes:?}"
    );
}
