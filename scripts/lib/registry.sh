# A throwaway registry on loopback for push tests (Debian's docker-registry, distribution 2.8).

REGISTRY_ADDR=127.0.0.1:5000

registry_answers() { curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; }

ensure_registry() {
  local state=$1
  registry_answers && return 0
  command -v docker-registry >/dev/null 2>&1 || apt_install docker-registry
  mkdir -p "$state/registry"
  cat >"$state/registry/config.yml" <<CONFIG
version: 0.1
storage:
  filesystem:
    rootdirectory: $state/registry/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
log:
  level: warn
CONFIG
  log "starting a registry on $REGISTRY_ADDR"
  setsid nohup docker-registry serve "$state/registry/config.yml" >"$state/registry.log" 2>&1 </dev/null &
  for _ in $(seq 1 40); do
    registry_answers && return 0
    sleep 0.25
  done
  tail -n 20 "$state/registry.log" >&2 || true
  die "the registry did not answer on $REGISTRY_ADDR"
}
