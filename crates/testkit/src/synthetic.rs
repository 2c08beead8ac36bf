//! Synthetic repositories for tests and `slipway bench setup`: a small node app whose
//! dependency is a locally packed `file:` tarball (so `npm ci` is hermetic), filler files to
//! reach a realistic size, commits written straight into a bare repository, and a
//! `git daemon` to serve it over the git protocol.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use git2::{build::TreeUpdateBuilder, FileMode, Oid, Repository, Signature};
use sha2::{Digest, Sha512};
use slipway_core::{CommitId, Error, Result};

/// One file of a synthetic commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    /// Path inside the repository.
    pub path: String,
    /// Content.
    pub content: Vec<u8>,
    /// Whether it is executable.
    pub executable: bool,
}

impl RepoFile {
    /// A regular file.
    pub fn new(path: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            content: content.into(),
            executable: false,
        }
    }
}

/// The packed dependency `greeting@version` exporting `message`, as `npm pack` lays it out.
fn greeting_tarball(version: &str, message: &str) -> Vec<u8> {
    let package =
        format!("{{\"name\":\"greeting\",\"version\":\"{version}\",\"main\":\"index.js\"}}\n");
    let index = format!("module.exports = {message:?};\n");
    let mut tar = tar::Builder::new(Vec::new());
    for (name, body) in [
        ("package/package.json", package),
        ("package/index.js", index),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        tar.append_data(&mut header, name, body.as_bytes())
            .expect("writing to memory");
    }
    let raw = tar.into_inner().expect("writing to memory");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

/// A node app: `npm run dev` serves `<greeting> <banner>` on port 3000, where the greeting
/// comes from the dependency `greeting@dependency_version`, pinned by a `package-lock.json`.
pub fn node_app(banner: &str, dependency_version: &str, dependency_message: &str) -> Vec<RepoFile> {
    let tarball = greeting_tarball(dependency_version, dependency_message);
    let tarball_path = format!("vendor/greeting-{dependency_version}.tgz");
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&tarball))
    );
    let package = format!(
        r#"{{
  "name": "fixture",
  "version": "1.0.0",
  "private": true,
  "scripts": {{ "dev": "node server.js" }},
  "dependencies": {{ "greeting": "file:{tarball_path}" }}
}}
"#
    );
    let lock = format!(
        r#"{{
  "name": "fixture",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {{
    "": {{
      "name": "fixture",
      "version": "1.0.0",
      "dependencies": {{ "greeting": "file:{tarball_path}" }}
    }},
    "node_modules/greeting": {{
      "version": "{dependency_version}",
      "resolved": "file:{tarball_path}",
      "integrity": "{integrity}"
    }}
  }}
}}
"#
    );
    let server = format!(
        "const http = require('http');\n\
         const greeting = require('greeting');\n\
         const banner = {banner:?};\n\
         http.createServer((req, res) => res.end(greeting + ' ' + banner + '\\n'))\n  \
         .listen(3000, () => console.log('[dev] ready on port 3000'));\n"
    );
    vec![
        RepoFile::new("package.json", package),
        RepoFile::new("package-lock.json", lock),
        RepoFile::new("server.js", server),
        RepoFile::new(tarball_path, tarball),
    ]
}

/// `count` text files of about `bytes_each` bytes under `src/`, different for each `seed`.
pub fn filler_files(count: usize, bytes_each: usize, seed: u64) -> Vec<RepoFile> {
    const WORDS: [&str; 16] = [
        "const", "return", "value", "items", "render", "state", "props", "async", "await",
        "export", "import", "function", "length", "index", "result", "module",
    ];
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        // xorshift64: fast, deterministic, good enough for filler text.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    (0..count)
        .map(|i| {
            let mut text = String::with_capacity(bytes_each + 32);
            while text.len() < bytes_each {
                let word = WORDS[(next() % 16) as usize];
                text.push_str(word);
                text.push(if next() % 9 == 0 { '\n' } else { ' ' });
            }
            RepoFile::new(format!("src/dir{:03}/file{i:05}.js", i % 100), text)
        })
        .collect()
}

/// A bare repository that commits are written into directly.
pub struct SyntheticRepo {
    path: PathBuf,
    repo: Repository,
}

fn git_error(what: &str) -> impl FnOnce(git2::Error) -> Error + '_ {
    move |e| Error::backend(format!("failed to {what} in the synthetic repository: {e}"))
}

impl SyntheticRepo {
    /// Creates an empty bare repository at `path` whose HEAD is `main`.
    pub fn create(path: &Path) -> Result<Self> {
        let repo = Repository::init_bare(path).map_err(git_error("create it"))?;
        repo.set_head("refs/heads/main")
            .map_err(git_error("set HEAD"))?;
        Ok(Self {
            path: path.to_owned(),
            repo,
        })
    }

    /// The commit `branch` points at.
    pub fn head(&self, branch: &str) -> Result<CommitId> {
        let oid = self
            .repo
            .refname_to_id(&format!("refs/heads/{branch}"))
            .map_err(git_error("read a branch"))?;
        CommitId::try_from(oid.to_string())
    }

    /// The repository's `file://` URL.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// Commits `files` (added or replaced) and `removed` on `branch`, starting from `from`
    /// (a branch) or from the branch itself, or from nothing.
    pub fn commit(
        &self,
        branch: &str,
        from: Option<&str>,
        files: &[RepoFile],
        removed: &[&str],
        message: &str,
    ) -> Result<CommitId> {
        let parent_ref = from.unwrap_or(branch);
        let parent = self
            .repo
            .find_reference(&format!("refs/heads/{parent_ref}"))
            .ok()
            .and_then(|r| r.peel_to_commit().ok());
        let base = match &parent {
            Some(commit) => commit.tree().map_err(git_error("read a tree"))?,
            None => {
                let empty = self
                    .repo
                    .treebuilder(None)
                    .map_err(git_error("build a tree"))?;
                let id = empty.write().map_err(git_error("write a tree"))?;
                self.repo.find_tree(id).map_err(git_error("read a tree"))?
            }
        };
        let mut update = TreeUpdateBuilder::new();
        for file in files {
            let blob: Oid = self
                .repo
                .blob(&file.content)
                .map_err(git_error("write a blob"))?;
            let mode = if file.executable {
                FileMode::BlobExecutable
            } else {
                FileMode::Blob
            };
            update.upsert(&file.path, blob, mode);
        }
        for path in removed {
            update.remove(*path);
        }
        let tree_id = update
            .create_updated(&self.repo, &base)
            .map_err(git_error("update a tree"))?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(git_error("read a tree"))?;
        let author = Signature::now("slipway", "slipway@localhost").map_err(git_error("sign"))?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = self
            .repo
            .commit(
                Some(&format!("refs/heads/{branch}")),
                &author,
                &author,
                message,
                &tree,
                &parents,
            )
            .map_err(git_error("commit"))?;
        CommitId::try_from(id.to_string())
    }
}

/// `git daemon` serving a directory of bare repositories on loopback; stopped on drop.
pub struct GitDaemon {
    port: u16,
    _child: tokio::process::Child,
}

impl GitDaemon {
    /// Serves every repository under `base` on `git://127.0.0.1:<free port>/`.
    pub async fn serve(base: &Path) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Error::backend(format!("failed to find a free port for git daemon: {e}")))?
            .port();
        let child = tokio::process::Command::new("git")
            .arg("daemon")
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--informative-errors")
            .arg(format!("--base-path={}", base.display()))
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(base)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Unavailable {
                endpoint: "git daemon".into(),
                reason: format!("failed to start it (is git installed?): {e}"),
            })?;
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(Self {
                    port,
                    _child: child,
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(Error::Unavailable {
            endpoint: format!("git daemon on port {port}"),
            reason: "it did not start listening".into(),
        })
    }

    /// The URL of repository `relative` (a path under the served directory).
    pub fn url(&self, relative: &str) -> String {
        format!("git://127.0.0.1:{}/{relative}", self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lockfile_pins_the_tarball_it_ships_with() {
        let files = node_app("on main", "1.0.0", "hello");
        let lock = String::from_utf8(files[1].content.clone()).unwrap();
        let tarball = &files[3].content;
        let integrity = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(tarball));
        assert!(lock.contains(&integrity));
        assert_eq!(files[3].path, "vendor/greeting-1.0.0.tgz");
        assert_ne!(
            node_app("x", "1.1.0", "hi")[1].content,
            files[1].content,
            "a new version changes the lockfile"
        );
    }

    #[test]
    fn filler_files_have_the_asked_size_and_differ_by_seed() {
        let files = filler_files(10, 5000, 1);
        assert_eq!(files.len(), 10);
        assert!(files
            .iter()
            .all(|f| (5000..5100).contains(&f.content.len())));
        assert_ne!(files[0].content, filler_files(1, 5000, 2)[0].content);
    }

    #[test]
    fn commits_build_on_their_branch_and_others() {
        let dir = tempfile::tempdir().unwrap();
        let repo = SyntheticRepo::create(&dir.path().join("app.git")).unwrap();
        let first = repo
            .commit("main", None, &[RepoFile::new("a/b.txt", "1")], &[], "first")
            .unwrap();
        let second = repo
            .commit(
                "feature",
                Some("main"),
                &[RepoFile::new("c.txt", "2")],
                &["a/b.txt"],
                "second",
            )
            .unwrap();
        assert_ne!(first, second);
        let git = Repository::open_bare(dir.path().join("app.git")).unwrap();
        let tree = git
            .find_reference("refs/heads/feature")
            .unwrap()
            .peel_to_tree()
            .unwrap();
        assert!(tree.get_path(Path::new("c.txt")).is_ok());
        assert!(tree.get_path(Path::new("a/b.txt")).is_err());
    }
}
