# A property-based fuzz of slipwayd's API: schemathesis (from PyPI) reads /api/openapi.json
# of a scratch slipwayd on the real engine and sends generated requests to every route,
# following the create's links to real containers; any 5xx fails (scripts/fuzz/checks.py).
# Whatever the fuzz made is destroyed through the API, the rest removed by its label.
#
#   SLIPWAY_FUZZ_EXAMPLES  examples per operation and phase (25)
#   SLIPWAY_FUZZ_SEED      a seed to replay a run (a new one each run otherwise; printed)

SCHEMATHESIS_VERSION=4.32.5

ensure_schemathesis() {
  local venv=$1
  [ -x "$venv/bin/schemathesis" ] && "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION" && return 0
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  python3 -m venv "$venv" >/dev/null 2>&1 || { apt_install python3-venv && python3 -m venv "$venv"; }
  log "installing schemathesis $SCHEMATHESIS_VERSION (PyPI) into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" ||
    die "could not install schemathesis from PyPI"
}

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run_api_fuzz STATE_DIR LABEL_VALUE: fuzzes a scratch slipwayd whose objects carry
# dev.slipway.test-run=LABEL_VALUE; dies on a 5xx.
run_api_fuzz() {
  local state=$1 run_label=$2
  local venv="$state/schemathesis-venv"
  ensure_schemathesis "$venv"
  # The features of the test build, so what it built is used again.
  cargo build --quiet --workspace --all-features --bin slipwayd

  local dir port secret
  dir=$(mktemp -d "$state/fuzz.XXXXXX")
  port=$(free_port)
  secret=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  # A budget large enough that only the fuzzer's own terabyte requests exhaust it; a repo
  # URL template that finds nothing, so setups end at `cloning` without reaching out.
  cat >"$dir/slipway.toml" <<CONFIG
[pool]
port_range = "24000-24199"
memory_budget_mb = 4194304

[provision]
base_image = "$BUSYBOX_IMAGE"
warm_base = 0
memory_mb = 16
url_template = "file://$dir/no-remotes/{owner}/{repo}.git"
labels = { "dev.slipway.test-run" = "$run_label" }
CONFIG
  local url="http://127.0.0.1:$port"
  SLIPWAY_API_SECRET=$secret target/debug/slipwayd --config "$dir/slipway.toml" \
    --state-dir "$dir/state" --listen "127.0.0.1:$port" >"$dir/slipwayd.log" 2>&1 &
  local pid=$!
  local ready=0
  for _ in $(seq 1 120); do
    if curl -fsS "$url/health" >/dev/null 2>&1; then
      ready=1
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if [ "$ready" != 1 ]; then
    kill "$pid" 2>/dev/null || true
    tail -n 20 "$dir/slipwayd.log" >&2 || true
    die "the scratch slipwayd for the API fuzz did not start"
  fi

  local seed=${SLIPWAY_FUZZ_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}
  local examples=${SLIPWAY_FUZZ_EXAMPLES:-25}
  log "API fuzz: schemathesis against $url/api/openapi.json ($examples examples per operation, seed $seed)"
  local status=0
  SCHEMATHESIS_HOOKS="$PWD/scripts/fuzz/checks.py" timeout 900 "$venv/bin/schemathesis" run \
    "$url/api/openapi.json" \
    --header "Authorization: Bearer $secret" \
    --checks no_server_error \
    --max-examples "$examples" \
    --seed "$seed" \
    --request-timeout 15 \
    --no-color \
    >"$dir/schemathesis.log" 2>&1 || status=$?

  # Destroy what the fuzz made through the API, then stop the daemon gracefully.
  local ids
  ids=$(curl -fsS -H "Authorization: Bearer $secret" "$url/api/containers" |
    python3 -c 'import json, sys; print("\n".join(c["id"] for c in json.load(sys.stdin)))') || ids=
  for id in $ids; do
    curl -fsS -o /dev/null -X DELETE -H "Authorization: Bearer $secret" "$url/api/containers/$id" ||
      log "warning: could not destroy $id through the API"
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # Repo and named volumes and the state's environment network outlive the containers by
  # design; nothing else should be left.
  local filter="label=dev.slipway.test-run=$run_label"
  docker ps -aq --filter "$filter" | xargs -r docker rm -f >/dev/null
  docker volume ls -q --filter "$filter" | xargs -r docker volume rm -f >/dev/null
  docker network ls -q --filter "$filter" | xargs -r docker network rm >/dev/null

  if [ "$status" != 0 ]; then
    tail -n 80 "$dir/schemathesis.log" >&2 || true
    printf -- '--- slipwayd (last lines) ---\n' >&2
    tail -n 20 "$dir/slipwayd.log" >&2 || true
    die "the API fuzz failed (exit $status; replay with SLIPWAY_FUZZ_SEED=$seed)"
  fi
  grep -E '^ *[0-9]+ generated|^Seed' "$dir/schemathesis.log" | sed 's/^ */    /' >&2 || true
  [ "${SLIPWAY_FUZZ_KEEP:-0}" = 1 ] || rm -rf "$dir"
}
