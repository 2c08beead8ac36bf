//! The Docker daemon inside a `docker:dind` run, started by slipway rather than left to the
//! image: a small init (any image with `dockerd` works) remounts the cgroup hierarchies
//! read-write when the privilege profile left them read-only, starts `dockerd` with
//! `overlay2` on the run's own volume at `/var/lib/docker`, waits until it answers, marks
//! itself ready, waits for slipway's go (images are loaded in between) and only then runs
//! the command with `DOCKER_HOST` pointing at the inner daemon.

use std::time::Duration;

use slipway_core::{ContainerId, Error, ExecRequest, ImageRef, LogOptions, Result, Runtime};

/// Where the inner daemon keeps its images and containers (a named volume: never
/// overlay-on-overlay, never `vfs`).
pub const DATA_ROOT: &str = "/var/lib/docker";
/// The label naming the cache key of an inner daemon's kept storage.
pub const DOCKER_CACHE_LABEL: &str = "dev.slipway.docker-cache";

/// Set to `1` in the main container when its sidecar answered as BuildKit (the `grpc`
/// probe): the init then registers it with `docker buildx` as [`BUILDX_BUILDER`].
pub const BUILDX_ENV: &str = "SLIPWAY_DIND_BUILDX";
/// The name of the sidecar's `buildx` builder. The main container gets
/// `BUILDX_BUILDER=slipway` along with [`BUILDX_ENV`]: `docker build` ignores the builder
/// `buildx use` selects (the CLI names the context's own builder), but not this variable.
pub const BUILDX_BUILDER: &str = "slipway";

/// How long the inner daemon may take to answer.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The init, run as `/bin/sh -c INIT slipway-dind COMMAND…`. Exit code 125 and the
/// daemon's last log lines on stderr when the daemon can't start.
pub const INIT: &str = r#"set -u
dir=/run/slipway-dind
mkdir -p "$dir"
log="$dir/dockerd.log"
fail() {
  echo "slipway-dind: $1" >&2
  if [ -s "$log" ]; then
    echo "slipway-dind: the inner dockerd's last lines:" >&2
    tail -n 20 "$log" >&2
  fi
  : >"$dir/failed"
  exit 125
}
command -v dockerd >/dev/null 2>&1 || fail "the image has no dockerd; a docker:dind run needs an image with Docker in it (such as docker:dind)"
# Without --privileged the engine mounts the cgroup hierarchies read-only, and the inner
# daemon could not make its containers' cgroups: mount each again, read-write.
mounts=$(cat /proc/mounts)
printf '%s\n' "$mounts" | while read -r _ target fstype options _; do
  case "$fstype:$options" in
    cgroup:ro,*) { umount "$target" && mount -t cgroup -o "rw${options#ro}" cgroup "$target"; } || exit 1 ;;
    cgroup2:ro,*) mount -o remount,rw "$target" || exit 1 ;;
  esac
done || fail "could not mount the cgroup hierarchies read-write (the privilege profile must allow mounts)"
# dockerd that starts its own containerd dials it before it listens and retries only after a
# second; started first (state on the same volume), the daemon answers about a second sooner.
containerd_flag=
if command -v containerd >/dev/null 2>&1; then
  socket="$dir/containerd.sock"
  containerd --root /var/lib/docker/containerd/daemon --state "$dir/containerd" \
    --address "$socket" >"$dir/containerd.log" 2>&1 &
  supervisor=$!
  tries=0
  until [ -S "$socket" ]; do
    kill -0 "$supervisor" 2>/dev/null || { log="$dir/containerd.log"; fail "containerd exited before it listened"; }
    tries=$((tries + 1))
    [ "$tries" -le 1000 ] || { log="$dir/containerd.log"; fail "containerd did not listen within 10 s"; }
    sleep 0.01
  done
  containerd_flag="--containerd=$socket"
fi
# shellcheck disable=SC2086 # the flag is one word or none
dockerd --data-root /var/lib/docker --storage-driver overlay2 --host unix:///var/run/docker.sock $containerd_flag >"$log" 2>&1 &
daemon=$!
tries=0
until docker version >/dev/null 2>&1; do
  kill -0 "$daemon" 2>/dev/null || fail "the inner dockerd exited before it answered"
  tries=$((tries + 1))
  [ "$tries" -le 1200 ] || fail "the inner dockerd did not answer within 60 s"
  sleep 0.05
done
# `BUILDKIT_HOST` is read by buildctl, not by `docker build`: with buildx in the image, the
# sidecar becomes the default builder (loading results into this daemon where buildx can).
if [ "${SLIPWAY_DIND_BUILDX:-}" = 1 ] && [ -n "${BUILDKIT_HOST:-}" ] && [ -n "${BUILDX_BUILDER:-}" ] && docker buildx version >/dev/null 2>&1; then
  buildx_log="$dir/buildx.log"
  docker buildx create --name "$BUILDX_BUILDER" --driver remote --driver-opt default-load=true --use "$BUILDKIT_HOST" >"$buildx_log" 2>&1 ||
    docker buildx create --name "$BUILDX_BUILDER" --driver remote --use "$BUILDKIT_HOST" >>"$buildx_log" 2>&1 ||
    fail "could not make the BuildKit sidecar docker buildx's builder: $(tail -n 3 "$buildx_log")"
fi
: >"$dir/ready"
until [ -e "$dir/go" ]; do sleep 0.02; done
export DOCKER_HOST=unix:///var/run/docker.sock
if [ "$#" -eq 0 ]; then
  wait "$daemon"
  exit $?
fi
exec "$@"
"#;

/// Waits in the container until the init said ready (0) or failed (1), or its time is up.
pub const WAIT_READY: &str = r#"i=0
while [ "$i" -lt 3000 ]; do
  [ -e /run/slipway-dind/ready ] && exit 0
  [ -e /run/slipway-dind/failed ] && exit 1
  i=$((i + 1))
  sleep 0.02
done
exit 2"#;

/// The entrypoint and command of a main container whose daemon slipway starts.
pub(crate) fn wrap(command: &[String]) -> (Vec<String>, Vec<String>) {
    let entrypoint = vec!["/bin/sh".to_owned(), "-c".to_owned(), INIT.to_owned()];
    let mut cmd = vec!["slipway-dind".to_owned()];
    cmd.extend(command.iter().cloned());
    (entrypoint, cmd)
}

/// Waits until the inner daemon of `container` answers. A daemon that fails is an error
/// carrying what the init printed.
pub(crate) async fn wait_ready(runtime: &dyn Runtime, container: &ContainerId) -> Result<()> {
    let request = ExecRequest::shell(WAIT_READY).with_timeout(READY_TIMEOUT);
    let outcome = runtime.exec(container, &request).await;
    match outcome {
        Ok(done) if done.exit_code == Some(0) => Ok(()),
        Ok(done) => Err(not_ready(runtime, container, done.exit_code).await),
        // A container whose init gave up is gone before the exec could start.
        Err(_) => Err(not_ready(runtime, container, None).await),
    }
}

async fn not_ready(runtime: &dyn Runtime, container: &ContainerId, code: Option<i64>) -> Error {
    let said = init_output(runtime, container).await;
    let why = match code {
        Some(2) => "it did not answer in time",
        _ => "it failed to start",
    };
    Error::backend(format!(
        "the run's inner Docker daemon is not ready: {why}{}",
        if said.is_empty() {
            String::new()
        } else {
            format!("\n{said}")
        }
    ))
}

/// The init's own lines (what it said about the daemon), from the container's output.
async fn init_output(runtime: &dyn Runtime, container: &ContainerId) -> String {
    use futures_util::StreamExt as _;
    let options = LogOptions {
        follow: false,
        tail: Some(40),
        ..LogOptions::default()
    };
    let lines: Vec<String> = runtime
        .logs(container, &options)
        .filter_map(|line| async move { line.ok().map(|l| l.line) })
        .collect()
        .await;
    lines.join("\n")
}

/// Copies `images` from the engine into the inner daemon of `container`.
pub(crate) async fn load_images(
    runtime: &dyn Runtime,
    container: &ContainerId,
    images: &[ImageRef],
) -> Result<()> {
    for image in images {
        let archive = runtime.export_image(image).await?;
        let loaded = runtime
            .exec(
                container,
                &ExecRequest::new(["docker", "load", "--quiet"])
                    .with_stdin(archive)
                    .with_timeout(Duration::from_secs(600)),
            )
            .await?;
        if loaded.exit_code != Some(0) {
            return Err(Error::backend(format!(
                "loading {image} into the run's inner daemon failed: {}",
                loaded.stderr_text().trim()
            )));
        }
    }
    Ok(())
}

/// Run in the container, lets the init run the command.
pub const GO: &str = ": >/run/slipway-dind/go";

/// Lets the init run the command.
pub(crate) async fn go(runtime: &dyn Runtime, container: &ContainerId) -> Result<()> {
    let done = runtime
        .exec(
            container,
            &ExecRequest::new(["/bin/sh", "-c", GO]).with_timeout(Duration::from_secs(30)),
        )
        .await?;
    match done.exit_code {
        Some(0) => Ok(()),
        code => Err(Error::backend(format!(
            "could not start the run's command after its inner daemon (exit {code:?})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_follows_the_init_as_its_arguments() {
        let (entrypoint, cmd) = wrap(&["sh".to_owned(), "-c".to_owned(), "docker ps".to_owned()]);
        assert_eq!(entrypoint[..2], ["/bin/sh", "-c"]);
        assert!(entrypoint[2].contains("dockerd --data-root /var/lib/docker"));
        assert_eq!(cmd, ["slipway-dind", "sh", "-c", "docker ps"]);
        let (_, none) = wrap(&[]);
        assert_eq!(none, ["slipway-dind"]);
    }
}
