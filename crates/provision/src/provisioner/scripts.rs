//! The shell that runs inside environment containers. Values always travel as positional
//! arguments (`"$1"`), never spliced into the script.

/// The shell function behind [`LINK_DEPS`] and [`PREPARE`]: `link STORE FINGERPRINT DIR
/// MARKER` makes the environment's own dependency directory a set of links into the
/// read-only store's install of one lockfile, one per top-level entry (so new entries, such
/// as a bundler's cache, land in the environment's directory, while installed packages
/// can't be written), and records the fingerprint in it. Returns 12 when no store is
/// mounted, 11 when the store holds nothing for the fingerprint.
macro_rules! link_function {
    () => {
        r#"link() {
  [ -d "$1" ] || return 12
  src="$1/$2/node_modules"
  [ -d "$src" ] || return 11
  rm -rf "$3" && mkdir -p "$3" || return 1
  for entry in "$src"/* "$src"/.[!.]* "$src"/..?*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    ln -s "$entry" "$3/" || return 1
  done
  printf '%s' "$2" > "$3/$4"
}
"#
    };
}

/// Creates the app directory; when the dependency directory doesn't hold the lockfile's
/// fingerprint, tries to link the store's install of it; prints [`LINK_STATUS`] with the
/// link's status (`skipped` when there was nothing to link), then the fingerprint the
/// dependency directory holds (empty when none). Args: app dir, marker path, store,
/// fingerprint (may be empty), dependency directory, marker name.
pub(crate) const PREPARE: &str = concat!(
    link_function!(),
    r#"mkdir -p "$1" || exit 1
status=skipped
if [ -n "$4" ] && [ "$(cat "$2" 2>/dev/null)" != "$4" ]; then link "$3" "$4" "$5" "$6"; status=$?; fi
echo "slipway-link:$status"
cat "$2" 2>/dev/null; exit 0"#
);

/// What [`PREPARE`]'s first line starts with.
pub(crate) const LINK_STATUS: &str = "slipway-link:";

/// Empties the app directory except the dependency mount. Args: app dir, mount name.
pub(crate) const CLEAN_APP: &str = r#"cd "$1" || exit 1
for entry in * .[!.]* ..?*; do
  [ -e "$entry" ] || [ -L "$entry" ] || continue
  [ "$entry" = "$2" ] && continue
  rm -rf -- "$entry"
done"#;

/// Unpacks the tar on stdin into the app directory and prints [`UNPACK_STATUS`] with `tar`'s
/// exit status (127: no `tar`), its messages before it. Args: app dir.
pub(crate) const UNPACK: &str = r#"mkdir -p "$1" || exit 1
tar -x -f - -C "$1" 2>&1
echo "slipway-unpack-status:$?""#;

/// What [`UNPACK`]'s status line starts with.
pub(crate) const UNPACK_STATUS: &str = "slipway-unpack-status:";

/// Removes files. Args: app dir, then the paths.
pub(crate) const REMOVE_FILES: &str = r#"cd "$1" || exit 1; shift; rm -f -- "$@""#;

/// Links the store's install of a lockfile (see `link_function`); exits with its status.
/// Args: store, fingerprint, dependency directory, marker file name.
pub(crate) const LINK_DEPS: &str = concat!(link_function!(), r#"link "$@""#);

/// What [`LINK_DEPS`] exits with when the container has no dependency store.
pub(crate) const LINK_NO_STORE: i64 = 12;
/// What [`LINK_DEPS`] exits with when the store has nothing for the fingerprint.
pub(crate) const LINK_NOT_INSTALLED: i64 = 11;

/// Empties a dependency directory that holds another lockfile's dependencies (links into
/// the store, or an earlier install) before an install of the environment's own. Args:
/// dependency directory, marker file name.
pub(crate) const CLEAR_DEPS: &str = r#"if [ -f "$1/$2" ]; then rm -rf "$1"; fi; mkdir -p "$1""#;

/// Publishes what an install left in the installer's dependency directory to the store,
/// under the fingerprint: copied beside it first, then renamed into place, so the store
/// never shows a half-copied install (a concurrent install of the same lockfile that got
/// there first wins, and this copy goes). Args: dependency directory, store, fingerprint.
pub(crate) const PUBLISH_DEPS: &str = r#"mkdir -p "$1" || exit 1
part="$2/.partial-$3-$$"
rm -rf "$part" && mkdir -p "$part" || exit 1
if ! cp -a "$1" "$part/node_modules"; then rm -rf "$part"; exit 1; fi
[ -e "$2/$3" ] || mv "$part" "$2/$3"
rm -rf "$part"
[ -d "$2/$3/node_modules" ]"#;

/// Removes the store entries named in the arguments after the first (installed
/// dependencies, or partial copies an interrupted install left), printing each it removed.
/// Args: store, then the entries.
pub(crate) const REMOVE_DEPS: &str = r#"cd "$1" || exit 1; shift
for entry in "$@"; do
  case "$entry" in */*|.|..|"") continue ;; esac
  [ -e "$entry" ] || continue
  rm -rf -- "$entry" && echo "$entry"
done"#;

/// Lists the store's entries, one per line, each with its age in seconds (from the
/// directory's modification time: when it was installed). Args: store.
pub(crate) const LIST_DEPS: &str = r#"cd "$1" || exit 1
now=$(date +%s)
for entry in * .partial-*; do
  [ -d "$entry" ] || continue
  echo "$entry $((now - $(stat -c %Y "$entry")))"
done"#;

/// Prints a fingerprint marker's content (nothing when there is none). Args: marker path.
pub(crate) const READ_MARKER: &str = r#"cat "$1" 2>/dev/null; exit 0"#;

/// Records the fingerprint. Args: marker path, fingerprint.
pub(crate) const WRITE_MARKER: &str = r#"mkdir -p "$(dirname "$1")" && printf '%s' "$2" > "$1""#;

/// Stops the dev server an earlier setup started (its process group: `TERM`, up to 3 s, then
/// `KILL`), starts this one in the background in a session of its own, its output in the
/// container's log stream (PID 1's stdout/stderr), then waits — in the same exec, no round trip between — until
/// something listens on the port (the container's socket table, read with shell builtins
/// only, every 10 ms; a connect probe where `/proc/net/tcp` can't be read): 0 once it
/// listens, 3 when the dev server exits first, 4 when the attempts run out, 1 when the app
/// directory is missing. Args: app dir, command, a directory to put in front of `PATH` (may
/// be empty), port, attempts (10 ms apart).
pub(crate) const START_AND_WAIT: &str = r#"cd "$1" || exit 1
if [ -n "$3" ]; then PATH="$3:$PATH"; export PATH; fi
if [ -w /proc/1/fd/1 ]; then out=/proc/1/fd/1; err=/proc/1/fd/2; else out=/tmp/slipway-dev.log; err=$out; fi
port=$4; attempts=$5
suffix=$(printf ':%04X' "$port")
pidfile=/tmp/slipway-dev-server.pid
if [ -r "$pidfile" ]; then
  old=$(cat "$pidfile")
  if [ -n "$old" ] && kill -0 "$old" 2>/dev/null; then
    kill -TERM "-$old" 2>/dev/null || kill -TERM "$old" 2>/dev/null
    i=0
    while kill -0 "$old" 2>/dev/null && [ "$i" -lt 300 ]; do sleep 0.01; i=$((i + 1)); done
    kill -KILL "-$old" 2>/dev/null || kill -KILL "$old" 2>/dev/null
  fi
fi
if command -v setsid >/dev/null 2>&1; then
  ( exec setsid sh -c "$2" ) >"$out" 2>"$err" </dev/null &
else
  ( exec sh -c "$2" ) >"$out" 2>"$err" </dev/null &
fi
pid=$!
echo "$pid" >"$pidfile"
listening() {
  found=1
  for table in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$table" ] || continue
    found=0
    while read -r _ local _ state _; do
      if [ "$state" = 0A ]; then
        case "$local" in *"$suffix") return 0 ;; esac
      fi
    done <"$table"
  done
  [ "$found" = 1 ] && connects
}
connects() {
  if command -v bash >/dev/null 2>&1; then bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; return; fi
  if command -v nc >/dev/null 2>&1; then nc -z 127.0.0.1 "$port" 2>/dev/null; return; fi
  if command -v node >/dev/null 2>&1; then
    node -e "require('net').connect($port,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"
    return
  fi
  return 1
}
i=0
while [ "$i" -lt "$attempts" ]; do
  listening && exit 0
  kill -0 "$pid" 2>/dev/null || exit 3
  sleep 0.01
  i=$((i + 1))
done
exit 4"#;

/// Prints the container's memory use and limit in bytes (cgroup v2, else v1), nothing when
/// neither can be read.
pub(crate) const MEMORY_USE: &str = r#"for dir in /sys/fs/cgroup /sys/fs/cgroup/memory; do
  if [ -r "$dir/memory.current" ]; then read -r used <"$dir/memory.current"; read -r limit <"$dir/memory.max"; echo "$used $limit"; exit 0; fi
  if [ -r "$dir/memory.usage_in_bytes" ]; then read -r used <"$dir/memory.usage_in_bytes"; read -r limit <"$dir/memory.limit_in_bytes"; echo "$used $limit"; exit 0; fi
done"#;
