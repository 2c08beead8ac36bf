# Builds the offline test images when missing. Nothing is pulled: the busybox image is
# imported from Debian's busybox-static, the node and dind images from debootstraps of Debian.

BUSYBOX_IMAGE=slipway-test/busybox:1
NODE_IMAGE=slipway-test/node:1
DIND_IMAGE=slipway-test/dind:2

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

build_busybox_image() {
  image_present "$BUSYBOX_IMAGE" && return 0
  [ -x /bin/busybox ] || apt_install busybox-static
  log "building $BUSYBOX_IMAGE"
  local root
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root" "$root/www"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  echo 'slipway test page' >"$root/www/index.html"
  tar -C "$root" -c . | docker import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' - "$BUSYBOX_IMAGE" >/dev/null
  rm -rf "$root"
}

build_node_image() {
  image_present "$NODE_IMAGE" && return 0
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  log "building $NODE_IMAGE (debootstrap, one to two minutes)"
  local root
  root=$(mktemp -d)
  # debootstrap's resolver can't install npm's dependency tree; apt inside the root can.
  if ! debootstrap --variant=minbase --include=nodejs,git,ca-certificates bookworm "$root" >"$root.log" 2>&1 \
    || ! cp /etc/resolv.conf "$root/etc/resolv.conf" \
    || ! chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm' >>"$root.log" 2>&1; then
    tail -n 20 "$root.log" >&2
    rm -rf "$root" "$root.log"
    die "building the node test image failed"
  fi
  rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/* "$root/etc/resolv.conf"
  import_node_root "$root"
  rm -rf "$root" "$root.log"
}

import_node_root() {
  tar -C "$1" -c . | docker import \
    --change 'CMD ["/bin/bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$NODE_IMAGE" >/dev/null
}

# A Docker daemon to run inside a docker:dind run: Debian's docker.io (dockerd, the CLI,
# containerd, runc) and iptables.
build_dind_image() {
  image_present "$DIND_IMAGE" && return 0
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  log "building $DIND_IMAGE (debootstrap, about a minute)"
  local root
  root=$(mktemp -d)
  # trixie: Docker 26 with the buildx plugin (bookworm has neither buildx nor a split CLI);
  # netcat for the BuildKit probe's relay, perl for the embedded-BuildKit test sidecar.
  local packages=docker.io,docker-cli,docker-buildx,iptables,ca-certificates,netcat-openbsd,perl-base
  if ! debootstrap --variant=minbase --include="$packages" trixie "$root" >"$root.log" 2>&1; then
    tail -n 20 "$root.log" >&2
    rm -rf "$root" "$root.log"
    die "building the dind test image failed"
  fi
  rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*
  tar -C "$root" -c . | docker import \
    --change 'CMD ["/bin/sh"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$DIND_IMAGE" >/dev/null
  rm -rf "$root" "$root.log"
}
