# A second engine "on a direct link" for the tests: a dockerd in a network namespace of its
# own, reached from the host only over a veth pair (the stand-in for a Thunderbolt bridge),
# with mutual TLS on port 2376. Its containers' addresses are inside that namespace, so
# nothing there is reachable from the host except the engine's API — as with a real remote
# engine. Idempotent: reuses a namespace, link, certificates and daemon that are there.

REMOTE_NETNS=slipway-remote
REMOTE_HOST_IF=slipway-tb0
REMOTE_PEER_IF=slipway-tb1
REMOTE_PREFIX=${SLIPWAY_TEST_LINK_PREFIX:-192.168.100}
REMOTE_HOST_ADDR=$REMOTE_PREFIX.1
REMOTE_PEER_ADDR=$REMOTE_PREFIX.2
# The remote engine's container addresses come from pools the local engine never uses
# (its defaults are 172.17-31.x and 192.168.x), so an address of a remote container can't
# also belong to a local one that the host reaches.
REMOTE_BRIDGE_IP=${SLIPWAY_TEST_REMOTE_BIP:-10.213.0.1/24}
REMOTE_ADDRESS_POOL=${SLIPWAY_TEST_REMOTE_POOL:-10.214.0.0/16}

remote_link_up() {
  ip netns list | grep -qw "^$REMOTE_NETNS" || ip netns add "$REMOTE_NETNS"
  if ! ip link show "$REMOTE_HOST_IF" >/dev/null 2>&1; then
    ip link add "$REMOTE_HOST_IF" type veth peer name "$REMOTE_PEER_IF"
    ip link set "$REMOTE_PEER_IF" netns "$REMOTE_NETNS"
    ip addr add "$REMOTE_HOST_ADDR/24" dev "$REMOTE_HOST_IF"
    ip link set "$REMOTE_HOST_IF" up
    ip netns exec "$REMOTE_NETNS" sh -c \
      "ip addr add $REMOTE_PEER_ADDR/24 dev $REMOTE_PEER_IF && ip link set $REMOTE_PEER_IF up && ip link set lo up"
  fi
}

# remote_tls DIR: a throwaway CA, a server certificate for the peer address and a client
# certificate (ca.pem, cert.pem, key.pem: the layout of DOCKER_CERT_PATH).
remote_tls() {
  local dir=$1
  if [ -s "$dir/cert.pem" ] && openssl x509 -checkend 86400 -noout -in "$dir/server-cert.pem" >/dev/null 2>&1; then
    return 0
  fi
  rm -rf "$dir" && mkdir -p "$dir" && chmod 700 "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=slipway-test-ca \
      -keyout ca-key.pem -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj /CN=slipway-test-remote \
      -keyout server-key.pem -out server.csr
    printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$REMOTE_PEER_ADDR" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
      -extfile server.ext -out server-cert.pem
    openssl req -newkey rsa:2048 -nodes -subj /CN=slipway-test-client -keyout key.pem -out client.csr
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
      -extfile client.ext -out cert.pem
  ) >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; die "making the remote engine's certificates failed"; }
}

# remote_engine_stop DIR: stops the remote engine whose pid file is in DIR and waits (up to
# 30 s) until it has exited; true when one was running.
remote_engine_stop() {
  local pid
  pid=$(cat "$1/docker.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || return 1
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
}

# ensure_remote_engine: exports SLIPWAY_TEST_REMOTE_ENGINE and
# SLIPWAY_TEST_REMOTE_TLS once the remote engine answers over the link and has the busybox
# and dind test images. SLIPWAY_TEST_REMOTE=0 skips it (and the tests that need it say so).
ensure_remote_engine() {
  [ "${SLIPWAY_TEST_REMOTE:-1}" = 0 ] && return 0
  # One per machine (the namespace and the link are): every checkout's tests share it.
  local dir=${SLIPWAY_TEST_REMOTE_DIR:-/var/lib/slipway-test/remote}
  local socket=unix://$dir/docker.sock
  mkdir -p "$dir"
  local gateway
  gateway=$(docker --host "$socket" network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null) || true
  if [ -n "$gateway" ] && [ "$gateway" != "${REMOTE_BRIDGE_IP%/*}" ] && [ -s "$dir/docker.pid" ]; then
    log "restarting the remote engine: it runs with other address pools"
    remote_engine_stop "$dir"
  fi
  if ! docker --host "$socket" version >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "the remote test engine needs root (a network namespace and a veth link); run as root, or set SLIPWAY_TEST_REMOTE=0 to leave those tests out"
    command -v ip >/dev/null 2>&1 || apt_install iproute2
    command -v openssl >/dev/null 2>&1 || apt_install openssl
    remote_link_up
    remote_tls "$dir/tls"
    log "starting the remote engine in network namespace $REMOTE_NETNS (log: $dir/dockerd.log)"
    setsid nohup nsenter --net="/var/run/netns/$REMOTE_NETNS" dockerd \
      --host "tcp://$REMOTE_PEER_ADDR:2376" --tlsverify --tlscacert "$dir/tls/ca.pem" \
      --tlscert "$dir/tls/server-cert.pem" --tlskey "$dir/tls/server-key.pem" \
      --host "$socket" --data-root "$dir/data" --exec-root "$dir/exec" \
      --bip "$REMOTE_BRIDGE_IP" --default-address-pool "base=$REMOTE_ADDRESS_POOL,size=24" \
      --pidfile "$dir/docker.pid" >"$dir/dockerd.log" 2>&1 </dev/null &
    local up=
    for _ in $(seq 1 120); do
      if docker --host "$socket" version >/dev/null 2>&1; then
        up=1
        break
      fi
      sleep 0.5
    done
    [ -n "$up" ] || { tail -n 20 "$dir/dockerd.log" >&2; die "the remote engine did not answer within 60 s"; }
  fi
  # It starts with no images and can't pull any: copy the test images over.
  local image
  for image in "$BUSYBOX_IMAGE" "$DIND_IMAGE"; do
    if ! docker --host "$socket" image inspect "$image" >/dev/null 2>&1; then
      docker save "$image" | docker --host "$socket" load -q >/dev/null ||
        die "copying $image to the remote engine failed"
    fi
  done
  export SLIPWAY_TEST_REMOTE_ENGINE="tcp://$REMOTE_PEER_ADDR:2376"
  export SLIPWAY_TEST_REMOTE_TLS="$dir/tls"
  export SLIPWAY_TEST_REMOTE_SOCKET="$socket"
}
