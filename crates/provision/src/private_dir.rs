//! Directories only their owner can read: mirrors may hold private code.

use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;

/// Creates `path` and any missing parents with mode 0700 (existing ones are left as they
/// are).
pub(crate) fn create(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}
