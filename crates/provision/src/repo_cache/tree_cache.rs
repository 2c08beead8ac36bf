//! Trees already walked, kept as tar files beside their mirror. A commit's tree never
//! changes, so a later copy of the same commit (the next environment of a branch's head)
//! reads one file instead of inflating thousands of git objects again — on a small host
//! the walk competes for the CPU with the engine and with `tar -x` in the container.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use slipway_core::CommitId;

/// Trees kept per mirror (the most recently used).
const KEPT: usize = 4;
/// Bytes read from a kept tree at a time.
const READ: usize = 256 * 1024;

/// The kept trees of one mirror.
pub(crate) struct TreeCache {
    dir: PathBuf,
}

impl TreeCache {
    /// The trees kept beside the mirror at `mirror`.
    pub(crate) fn beside(mirror: &Path) -> Self {
        Self {
            dir: mirror.join("slipway-trees"),
        }
    }

    fn file(&self, commit: &CommitId) -> PathBuf {
        self.dir.join(format!("{commit}.tar"))
    }

    /// Copies the kept tar of `commit` into `out`; `Ok(false)` when none is kept.
    pub(crate) fn copy_into(&self, commit: &CommitId, out: &mut impl Write) -> io::Result<bool> {
        let path = self.file(commit);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        // Used now: the last to be evicted.
        let _ = file.set_modified(SystemTime::now());
        let mut buffer = vec![0; READ];
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            out.write_all(&buffer[..read])?;
        }
        out.flush()?;
        Ok(true)
    }

    /// A writer passing everything on to `out` and writing a copy aside, which
    /// [`Recording::finish`] hands over to become `commit`'s kept tree. Keeping is best
    /// effort: when the copy can't be written, `out` still gets everything.
    pub(crate) fn record<'a, W: Write>(
        &self,
        commit: &CommitId,
        out: &'a mut W,
    ) -> Recording<'a, W> {
        let partial = self.dir.join(format!(
            ".{commit}.tar.partial-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let copy = fs::create_dir_all(&self.dir)
            .and_then(|()| File::create(&partial))
            .ok()
            .map(|file| TreeCopy {
                file: Some(file),
                partial,
                target: self.file(commit),
                dir: self.dir.clone(),
            });
        Recording { out, copy }
    }
}

/// See [`TreeCache::record`]; dropped unfinished, the copy goes.
pub(crate) struct Recording<'a, W> {
    out: &'a mut W,
    copy: Option<TreeCopy>,
}

impl<W: Write> Recording<'_, W> {
    /// The tar is complete: the copy, to keep once the reader has everything (so the
    /// stream's end doesn't wait for the disk).
    pub(crate) fn finish(mut self) -> Option<TreeCopy> {
        self.copy.take()
    }
}

impl<W: Write> Write for Recording<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = self.out.write(data)?;
        if let Some(copy) = &mut self.copy {
            let file = copy.file.as_mut().expect("an unkept copy has its file");
            if file.write_all(&data[..written]).is_err() {
                // Dropped: the partial file goes.
                self.copy = None;
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A complete copy of a tree written aside; dropped without [`TreeCopy::keep`], it goes.
pub(crate) struct TreeCopy {
    file: Option<File>,
    partial: PathBuf,
    target: PathBuf,
    dir: PathBuf,
}

impl TreeCopy {
    /// Makes the copy the kept tree (replacing a concurrent one of the same commit, which
    /// is the same bytes); the least recently used beyond [`KEPT`] go.
    pub(crate) fn keep(mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        if file.sync_data().is_ok() && fs::rename(&self.partial, &self.target).is_ok() {
            evict(&self.dir);
        } else {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

impl Drop for TreeCopy {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

/// Removes the least recently used kept trees beyond [`KEPT`].
fn evict(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut kept: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let path = entry.path();
            let is_tree = path.extension().is_some_and(|ext| ext == "tar")
                && !entry.file_name().to_string_lossy().starts_with('.');
            let modified = entry.metadata().ok()?.modified().ok()?;
            is_tree.then_some((modified, path))
        })
        .collect();
    kept.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, path) in kept.into_iter().skip(KEPT) {
        let _ = fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(n: u8) -> CommitId {
        CommitId::try_from(format!("{n:02x}").repeat(20)).unwrap()
    }

    #[test]
    fn a_recorded_tree_is_copied_later_and_only_the_most_recent_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let trees = TreeCache::beside(dir.path());
        let mut out = Vec::new();
        assert!(!trees.copy_into(&commit(1), &mut out).unwrap());

        // Dropped unfinished, or finished and not kept: nothing kept, everything passed on.
        let mut passed = Vec::new();
        let mut recording = trees.record(&commit(1), &mut passed);
        recording.write_all(b"half").unwrap();
        drop(recording);
        let mut recording = trees.record(&commit(1), &mut passed);
        recording.write_all(b"all").unwrap();
        drop(recording.finish());
        assert_eq!(passed, b"halfall");
        assert!(!trees.copy_into(&commit(1), &mut out).unwrap());
        assert_eq!(
            fs::read_dir(&trees.dir).unwrap().count(),
            0,
            "no partial left"
        );

        for n in 1..=6 {
            let mut passed = Vec::new();
            let mut recording = trees.record(&commit(n), &mut passed);
            recording.write_all(&[n; 1000]).unwrap();
            recording.finish().unwrap().keep();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let mut copied = Vec::new();
        assert!(trees.copy_into(&commit(6), &mut copied).unwrap());
        assert_eq!(copied, vec![6; 1000]);
        assert!(!trees.copy_into(&commit(1), &mut out).unwrap(), "evicted");
        assert_eq!(fs::read_dir(&trees.dir).unwrap().count(), KEPT);
    }
}
