# Shared by scripts/test and scripts/up: make sure a Docker engine answers, installing and
# starting one when this is a Debian machine where we are root.

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root_debian() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  is_root_debian || die "missing $* - install it with your package manager (Debian: apt-get install $*)"
  log "installing $*"
  if [ -z "${SLIPWAY_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    SLIPWAY_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ensure_engine STATE_DIR: returns once `docker version` answers.
ensure_engine() {
  local state=$1
  if docker version >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    apt_install docker.io
  fi
  command -v docker >/dev/null 2>&1 || die "the docker CLI is missing (Debian: apt-get install docker.io)"
  [ "$(id -u)" = 0 ] || die "no Docker engine answers and only root can start one; start it (sudo systemctl start docker) and run again"
  mkdir -p "$state"
  log "starting dockerd (log: $state/dockerd.log)"
  setsid nohup dockerd >"$state/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    if docker version >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  tail -n 20 "$state/dockerd.log" >&2 || true
  die "dockerd did not answer within 60 s"
}
