#!/bin/sh
# A real BuildKit on port 1234 for tests: the one built into dockerd, whose gRPC API
# dockerd serves only behind an HTTP upgrade of /grpc; relay.pl does the upgrade for each
# connection. Its state (BuildKit's bolt databases, locked while open) is on the sidecar's
# state volume, as buildkitd's would be.
set -u
log=/var/log/dockerd.log
# containerd first: dockerd that starts its own retries the dial only after a second.
containerd --root /var/lib/buildkit/containerd --address /run/embedded-containerd.sock \
  >/var/log/containerd.log 2>&1 &
until [ -S /run/embedded-containerd.sock ]; do sleep 0.01; done
dockerd --data-root /var/lib/buildkit/docker --iptables=false --bridge=none \
  --containerd=/run/embedded-containerd.sock --host unix:///var/run/docker.sock >"$log" 2>&1 &
daemon=$!
until docker version >/dev/null 2>&1; do
  if ! kill -0 "$daemon" 2>/dev/null; then
    echo "embedded BuildKit: dockerd exited" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  sleep 0.05
done
echo "embedded BuildKit relayed on 1234" >&2
exec perl /usr/local/lib/relay.pl
