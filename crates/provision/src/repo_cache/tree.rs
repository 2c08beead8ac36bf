//! Reading commits out of a mirror: refs, files, tar archives and diffs, with no working
//! directory (blocking; run on a worker thread).

use std::io::Write;
use std::path::Path;

use git2::{Delta, ObjectType, Oid, Repository, Tree};
use slipway_core::{CommitId, GitRef, RepoSlug, TreeDiff};

use crate::error::GitError;

const MODE_EXECUTABLE: i32 = 0o100_755;
const MODE_SYMLINK: i32 = 0o120_000;

fn open(path: &Path, slug: &RepoSlug) -> Result<Repository, GitError> {
    Repository::open_bare(path).map_err(|source| GitError::Open {
        repo: slug.to_string(),
        source,
    })
}

fn read_error(slug: &RepoSlug, what: impl Into<String>) -> impl FnOnce(git2::Error) -> GitError {
    let (repo, what) = (slug.to_string(), what.into());
    move |source| GitError::Read { repo, what, source }
}

fn commit_id(oid: Oid) -> CommitId {
    CommitId::try_from(oid.to_string()).expect("git object ids are 40 hex digits")
}

/// The commit `reference` names: a branch, a tag, a full ref or a commit id. `None` when it
/// names nothing.
pub(crate) fn resolve(
    path: &Path,
    slug: &RepoSlug,
    reference: &GitRef,
) -> Result<Option<CommitId>, GitError> {
    let repo = open(path, slug)?;
    let name = reference.as_str();
    let mut candidates = vec![format!("refs/heads/{name}"), format!("refs/tags/{name}")];
    if name.starts_with("refs/") {
        candidates.insert(0, name.to_owned());
    }
    for candidate in candidates {
        if let Ok(found) = repo.find_reference(&candidate) {
            let commit = found
                .peel_to_commit()
                .map_err(read_error(slug, candidate))?;
            return Ok(Some(commit_id(commit.id())));
        }
    }
    if reference.is_commit_id() {
        if let Ok(object) = repo.revparse_single(name) {
            if let Ok(commit) = object.peel_to_commit() {
                return Ok(Some(commit_id(commit.id())));
            }
        }
    }
    Ok(None)
}

/// The branch HEAD points at (the remote's default branch).
pub(crate) fn default_branch(path: &Path, slug: &RepoSlug) -> Result<GitRef, GitError> {
    let repo = open(path, slug)?;
    let head = repo
        .find_reference("HEAD")
        .map_err(read_error(slug, "HEAD"))?;
    let target = head
        .symbolic_target()
        .ok()
        .flatten()
        .unwrap_or("refs/heads/main");
    let branch = target.strip_prefix("refs/heads/").unwrap_or(target);
    branch.parse().map_err(|_| GitError::Read {
        repo: slug.to_string(),
        what: format!("the default branch `{branch}`"),
        source: git2::Error::from_str("not a valid branch name"),
    })
}

fn commit_tree<'r>(
    repo: &'r Repository,
    slug: &RepoSlug,
    commit: &CommitId,
) -> Result<(Tree<'r>, u64), GitError> {
    let oid =
        Oid::from_str(commit.as_str()).map_err(read_error(slug, format!("commit {commit}")))?;
    let found = repo
        .find_commit(oid)
        .map_err(read_error(slug, format!("commit {commit}")))?;
    let time = u64::try_from(found.time().seconds()).unwrap_or(0);
    Ok((
        found
            .tree()
            .map_err(read_error(slug, format!("the tree of {commit}")))?,
        time,
    ))
}

/// The content of `file` at `commit`.
pub(crate) fn read_file(
    path: &Path,
    slug: &RepoSlug,
    commit: &CommitId,
    file: &str,
) -> Result<Option<Vec<u8>>, GitError> {
    let repo = open(path, slug)?;
    let (tree, _) = commit_tree(&repo, slug, commit)?;
    let Ok(entry) = tree.get_path(Path::new(file)) else {
        return Ok(None);
    };
    if entry.kind() != Some(ObjectType::Blob) {
        return Ok(None);
    }
    let blob = repo
        .find_blob(entry.id())
        .map_err(read_error(slug, file.to_owned()))?;
    Ok(Some(blob.content().to_vec()))
}

/// Writes the blob at `path` (a file or symlink) into the archive.
fn append_blob<W: Write>(
    builder: &mut tar::Builder<W>,
    repo: &Repository,
    slug: &RepoSlug,
    path: &str,
    id: Oid,
    filemode: i32,
    mtime: u64,
) -> Result<(), GitError> {
    let blob = repo
        .find_blob(id)
        .map_err(read_error(slug, path.to_owned()))?;
    let archive_error = |source| GitError::Archive {
        repo: slug.to_string(),
        source,
    };
    let mut header = tar::Header::new_gnu();
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    if filemode == MODE_SYMLINK {
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        let target = String::from_utf8_lossy(blob.content()).into_owned();
        builder
            .append_link(&mut header, path, target)
            .map_err(archive_error)
    } else {
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(if filemode == MODE_EXECUTABLE {
            0o755
        } else {
            0o644
        });
        header.set_size(blob.content().len() as u64);
        builder
            .append_data(&mut header, path, blob.content())
            .map_err(archive_error)
    }
}

fn append_dir<W: Write>(
    builder: &mut tar::Builder<W>,
    slug: &RepoSlug,
    path: &str,
    mtime: u64,
) -> Result<(), GitError> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_mtime(mtime);
    header.set_size(0);
    builder
        .append_data(&mut header, format!("{path}/"), std::io::empty())
        .map_err(|source| GitError::Archive {
            repo: slug.to_string(),
            source,
        })
}

/// Checks one entry name of a tree: a well-formed repository never has these, and a crafted
/// one could use them to write or remove outside the app directory.
fn check_name(slug: &RepoSlug, path: &str, name: &[u8]) -> Result<(), GitError> {
    let why = match name {
        b"" | b"." | b".." => Some("a relative path component"),
        _ if name.contains(&b'/') || name.contains(&b'\\') => Some("a path separator"),
        _ if name.contains(&0) => Some("a NUL byte"),
        _ if name.eq_ignore_ascii_case(b".git") => Some("a .git entry"),
        _ => None,
    };
    match why {
        Some(why) => Err(GitError::UnsafePath {
            repo: slug.to_string(),
            path: path.to_owned(),
            why,
        }),
        None => Ok(()),
    }
}

/// Checks a path from a diff, component by component; absolute paths are refused too.
fn check_path(slug: &RepoSlug, path: &str) -> Result<(), GitError> {
    if path.starts_with('/') {
        return Err(GitError::UnsafePath {
            repo: slug.to_string(),
            path: path.to_owned(),
            why: "an absolute path",
        });
    }
    path.split('/')
        .try_for_each(|component| check_name(slug, path, component.as_bytes()))
}

fn walk<W: Write>(
    builder: &mut tar::Builder<W>,
    repo: &Repository,
    slug: &RepoSlug,
    tree: &Tree<'_>,
    prefix: &str,
    mtime: u64,
) -> Result<(), GitError> {
    for entry in tree.iter() {
        check_name(slug, prefix, entry.name_bytes())?;
        let name = String::from_utf8_lossy(entry.name_bytes());
        let path = if prefix.is_empty() {
            name.into_owned()
        } else {
            format!("{prefix}/{name}")
        };
        match entry.kind() {
            Some(ObjectType::Blob) => append_blob(
                builder,
                repo,
                slug,
                &path,
                entry.id(),
                entry.filemode(),
                mtime,
            )?,
            Some(ObjectType::Tree) => {
                append_dir(builder, slug, &path, mtime)?;
                let subtree = repo
                    .find_tree(entry.id())
                    .map_err(read_error(slug, path.clone()))?;
                walk(builder, repo, slug, &subtree, &path, mtime)?;
            }
            // Submodules (commit entries) have no content in this repository.
            _ => {}
        }
    }
    Ok(())
}

/// A tar of the commit's tree, or of only `paths` of it.
pub(crate) fn archive(
    path: &Path,
    slug: &RepoSlug,
    commit: &CommitId,
    paths: Option<&[String]>,
) -> Result<Vec<u8>, GitError> {
    let mut out = Vec::new();
    archive_into(path, slug, commit, paths, &mut out)?;
    Ok(out)
}

/// [`archive`] written to `out` as it is produced (complete when this returns `Ok`).
pub(crate) fn archive_into<W: Write>(
    path: &Path,
    slug: &RepoSlug,
    commit: &CommitId,
    paths: Option<&[String]>,
    out: &mut W,
) -> Result<(), GitError> {
    let repo = open(path, slug)?;
    let (tree, mtime) = commit_tree(&repo, slug, commit)?;
    let mut builder = tar::Builder::new(out);
    match paths {
        None => walk(&mut builder, &repo, slug, &tree, "", mtime)?,
        Some(paths) => {
            for file in paths {
                check_path(slug, file)?;
                let Ok(entry) = tree.get_path(Path::new(file)) else {
                    continue;
                };
                if entry.kind() == Some(ObjectType::Blob) {
                    append_blob(
                        &mut builder,
                        &repo,
                        slug,
                        file,
                        entry.id(),
                        entry.filemode(),
                        mtime,
                    )?;
                }
            }
        }
    }
    let out = builder.into_inner().map_err(|source| GitError::Archive {
        repo: slug.to_string(),
        source,
    })?;
    out.flush().map_err(|source| GitError::Archive {
        repo: slug.to_string(),
        source,
    })
}

/// Files added or changed, and files removed, from `from` to `to`.
pub(crate) fn diff(
    path: &Path,
    slug: &RepoSlug,
    from: &CommitId,
    to: &CommitId,
) -> Result<TreeDiff, GitError> {
    let repo = open(path, slug)?;
    let (old, _) = commit_tree(&repo, slug, from)?;
    let (new, _) = commit_tree(&repo, slug, to)?;
    let deltas = repo
        .diff_tree_to_tree(Some(&old), Some(&new), None)
        .map_err(read_error(slug, format!("the diff {from}..{to}")))?;
    let mut diff = TreeDiff::default();
    let path_of = |file: git2::DiffFile<'_>| file.path().map(|p| p.to_string_lossy().into_owned());
    for delta in deltas.deltas() {
        match delta.status() {
            Delta::Deleted => diff.deleted.extend(path_of(delta.old_file())),
            Delta::Renamed => {
                diff.deleted.extend(path_of(delta.old_file()));
                diff.changed.extend(path_of(delta.new_file()));
            }
            Delta::Unmodified | Delta::Ignored | Delta::Untracked => {}
            _ => diff.changed.extend(path_of(delta.new_file())),
        }
    }
    for path in diff.changed.iter().chain(&diff.deleted) {
        check_path(slug, path)?;
    }
    Ok(diff)
}
