//! `GitRepoCache` against real repositories: file://, git://, and an HTTP remote that asks
//! for credentials.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use slipway_core::{ErrorKind, GitCredentials, RepoCache, RepoSlug, RepoSource};
use slipway_provision::GitRepoCache;
use slipway_testkit::git_http::{GitHttpOptions, GitHttpServer};
use slipway_testkit::synthetic::{GitDaemon, RepoFile, SyntheticRepo};

fn slug() -> RepoSlug {
    "octo/app".parse().unwrap()
}

/// `octo/app` from the configured URL template.
fn source() -> RepoSource {
    RepoSource::new(slug())
}

/// A cache under `dir/cache` whose URL template points where `url` (a URL of `octo/app`)
/// lives, so mirrors take the template's path.
fn cache_at(dir: &Path, url: &str) -> GitRepoCache {
    let template = url.replace("octo/app.git", "{owner}/{repo}.git");
    GitRepoCache::new(dir.join("cache"))
        .with_url_template(&template)
        .unwrap()
}

/// A repo with `main` (a file, an executable, a symlink, a nested dir) and `feature`.
fn fixture(dir: &Path) -> SyntheticRepo {
    let repo = SyntheticRepo::create(&dir.join("octo/app.git")).unwrap();
    let mut run = RepoFile::new("bin/run.sh", "#!/bin/sh\necho run\n");
    run.executable = true;
    repo.commit(
        "main",
        None,
        &[
            RepoFile::new("README.md", "hello\n"),
            RepoFile::new("src/a/b.txt", "b\n"),
            run,
        ],
        &[],
        "main",
    )
    .unwrap();
    repo.commit(
        "feature",
        Some("main"),
        &[
            RepoFile::new("src/a/b.txt", "changed\n"),
            RepoFile::new("new.txt", "new\n"),
        ],
        &["README.md"],
        "feature",
    )
    .unwrap();
    repo
}

fn entries(tar_bytes: &[u8]) -> Vec<(String, u32, String)> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mode = entry.header().mode().unwrap();
            let mut body = String::new();
            std::io::Read::read_to_string(&mut entry, &mut body).unwrap();
            let link = entry
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            (path, mode, link.unwrap_or(body))
        })
        .collect()
}

#[tokio::test]
async fn a_mirror_resolves_archives_reads_and_diffs_without_a_work_tree() {
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture(dir.path());
    let cache = cache_at(dir.path(), &repo.file_url());

    let info = cache.ensure(&source(), None).await.unwrap();
    assert!(info.cloned);
    assert!(
        cache.mirror_path(&source()).join("HEAD").exists(),
        "a bare mirror"
    );
    assert_eq!(
        cache.default_branch(&source()).await.unwrap().as_str(),
        "main"
    );
    let main = cache
        .resolve(&source(), &"main".parse().unwrap())
        .await
        .unwrap();
    let feature = cache
        .resolve(&source(), &"feature".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        cache
            .resolve(&source(), &main.as_str().parse().unwrap())
            .await
            .unwrap(),
        main
    );

    let files = entries(&cache.archive(&source(), &main).await.unwrap());
    let find = |name: &str| {
        files
            .iter()
            .find(|(p, _, _)| p.trim_end_matches('/') == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        find("README.md"),
        ("README.md".into(), 0o644, "hello\n".into())
    );
    assert_eq!(find("bin/run.sh").1, 0o755);
    assert_eq!(find("src/a/b.txt").2, "b\n");
    assert!(files.iter().any(|(p, _, _)| p == "src/a/"));

    let diff = cache.diff(&source(), &main, &feature).await.unwrap();
    assert_eq!(diff.changed, ["new.txt", "src/a/b.txt"]);
    assert_eq!(diff.deleted, ["README.md"]);
    let delta = entries(
        &cache
            .archive_paths(&source(), &feature, &diff.changed)
            .await
            .unwrap(),
    );
    assert_eq!(
        delta
            .iter()
            .map(|(p, _, b)| (p.as_str(), b.as_str()))
            .collect::<Vec<_>>(),
        [("new.txt", "new\n"), ("src/a/b.txt", "changed\n")]
    );
    assert_eq!(
        cache
            .read_file(&source(), &feature, "new.txt")
            .await
            .unwrap(),
        Some(b"new\n".to_vec())
    );
    assert_eq!(
        cache
            .read_file(&source(), &feature, "README.md")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn symlinks_keep_their_targets() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SyntheticRepo::create(&dir.path().join("octo/app.git")).unwrap();
    let git = git2::Repository::open_bare(dir.path().join("octo/app.git")).unwrap();
    let target = git.blob(b"README.md").unwrap();
    let base = repo
        .commit("main", None, &[RepoFile::new("README.md", "x")], &[], "one")
        .unwrap();
    let tree = git
        .find_commit(git2::Oid::from_str(base.as_str()).unwrap())
        .unwrap()
        .tree()
        .unwrap();
    let mut update = git2::build::TreeUpdateBuilder::new();
    update.upsert("link", target, git2::FileMode::Link);
    let tree = git
        .find_tree(update.create_updated(&git, &tree).unwrap())
        .unwrap();
    let sig = git2::Signature::now("t", "t@t").unwrap();
    let parent = git
        .find_commit(git2::Oid::from_str(base.as_str()).unwrap())
        .unwrap();
    git.commit(
        Some("refs/heads/main"),
        &sig,
        &sig,
        "link",
        &tree,
        &[&parent],
    )
    .unwrap();

    let cache = cache_at(dir.path(), &repo.file_url());
    cache.ensure(&source(), None).await.unwrap();
    let head = cache
        .resolve(&source(), &"main".parse().unwrap())
        .await
        .unwrap();
    let files = entries(&cache.archive(&source(), &head).await.unwrap());
    assert!(
        files.contains(&("link".into(), 0o777, "README.md".into())),
        "{files:?}"
    );
}

#[tokio::test]
async fn fetches_bring_new_commits_and_a_fetch_with_nothing_new_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture(dir.path());
    let daemon = GitDaemon::serve(dir.path()).await.unwrap();
    let cache = cache_at(dir.path(), &daemon.url("octo/app.git"));
    cache.ensure(&source(), None).await.unwrap();
    let before = cache
        .resolve(&source(), &"main".parse().unwrap())
        .await
        .unwrap();

    let after = repo
        .commit(
            "main",
            None,
            &[RepoFile::new("later.txt", "later")],
            &[],
            "later",
        )
        .unwrap();
    let info = cache.ensure(&source(), None).await.unwrap();
    assert!(!info.cloned);
    assert_eq!(
        cache
            .resolve(&source(), &"main".parse().unwrap())
            .await
            .unwrap(),
        after
    );
    assert_ne!(before, after);

    // Nothing new: the mirror is fetched again and stays where it was (how fast that is,
    // `slipway bench setup` measures as noop_fetch_ms).
    let again = cache.ensure(&source(), None).await.unwrap();
    assert!(!again.cloned);
    assert!(again.fetched_at >= info.fetched_at);
    assert_eq!(
        cache
            .resolve(&source(), &"main".parse().unwrap())
            .await
            .unwrap(),
        after
    );
}

#[tokio::test]
async fn concurrent_ensures_of_one_repo_share_a_single_clone() {
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture(dir.path());
    let cache = Arc::new(cache_at(dir.path(), &repo.file_url()));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move { cache.ensure(&source(), None).await.unwrap() })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let clones = results.iter().filter(|info| info.cloned).count();
    let distinct: std::collections::BTreeSet<_> =
        results.iter().map(|info| info.fetched_at).collect();
    assert_eq!(clones, 8, "all eight shared the one clone");
    assert_eq!(distinct.len(), 1, "one fetch served everyone");
}

#[tokio::test]
async fn a_failed_first_clone_leaves_no_broken_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_at(
        dir.path(),
        &format!("file://{}/nowhere/octo/app.git", dir.path().display()),
    );
    let err = cache.ensure(&source(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("octo/app"), "{err}");
    let owner_dir = dir.path().join("cache/octo");
    let left: Vec<_> = std::fs::read_dir(&owner_dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn a_missing_branch_is_not_found_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture(dir.path());
    let cache = cache_at(dir.path(), &repo.file_url());
    cache.ensure(&source(), None).await.unwrap();
    let err = cache
        .resolve(&source(), &"no-such-branch".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "branch `no-such-branch` in `octo/app` not found"
    );
}

const TOKEN: &str = "tok-very-secret-123";

fn token() -> GitCredentials {
    GitCredentials {
        username: "x-access-token".into(),
        secret: slipway_core::Secret::new(TOKEN),
    }
}

/// Every file under `dir`, with its content.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                found.push((entry.path(), std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    found
}

/// A TLS git remote of the fixture that demands the token.
async fn https_remote(dir: &Path) -> GitHttpServer {
    GitHttpServer::serve(
        dir,
        GitHttpOptions {
            credentials: Some(("x-access-token".into(), TOKEN.into())),
            tls: true,
            ..GitHttpOptions::default()
        },
    )
    .await
}

#[tokio::test]
async fn the_token_reaches_the_configured_host_over_https_and_is_stored_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture(dir.path());
    let server = https_remote(dir.path()).await;
    let cache = cache_at(dir.path(), &server.url("octo/app.git"))
        .with_trusted_certificate(server.certificate_pem().unwrap())
        .unwrap();
    let info = cache.ensure(&source(), Some(token())).await.unwrap();
    assert!(info.cloned);
    assert_eq!(
        cache
            .resolve(&source(), &"main".parse().unwrap())
            .await
            .unwrap(),
        repo.head("main").unwrap()
    );
    // It travelled as HTTP Basic, as exactly this user and token, to this server only.
    let sent = server.basic_credentials();
    assert!(!sent.is_empty());
    assert!(
        sent.iter().all(|c| c == &format!("x-access-token:{TOKEN}")),
        "{sent:?}"
    );
    // Nothing of it stays on disk: every file of the mirror is free of it.
    let files = files_under(&dir.path().join("cache"));
    assert!(files.len() > 10, "a real mirror: {} files", files.len());
    for (path, content) in files {
        assert!(
            !String::from_utf8_lossy(&content).contains(TOKEN),
            "{path:?}"
        );
    }
    let origin = git2::Repository::open_bare(cache.mirror_path(&source()))
        .unwrap()
        .find_remote("origin")
        .unwrap()
        .url()
        .unwrap()
        .to_owned();
    assert_eq!(origin, server.url("octo/app.git"));
}

#[tokio::test]
async fn a_refused_token_is_a_clear_error_after_one_try() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let server = GitHttpServer::serve(
        dir.path(),
        GitHttpOptions {
            credentials: Some(("x-access-token".into(), "the-right-one".into())),
            tls: true,
            ..GitHttpOptions::default()
        },
    )
    .await;
    let cache = cache_at(dir.path(), &server.url("octo/app.git"))
        .with_trusted_certificate(server.certificate_pem().unwrap())
        .unwrap();
    let err = cache.ensure(&source(), Some(token())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(
        err.to_string()
            .contains("refused the credentials for octo/app"),
        "{err}"
    );
    assert!(!err.to_string().contains(TOKEN));
    assert_eq!(
        server.basic_credentials(),
        [format!("x-access-token:{TOKEN}")],
        "sent once, no retry loop"
    );
    assert!(
        files_under(&dir.path().join("cache")).is_empty(),
        "no broken mirror"
    );
}

#[tokio::test]
async fn the_token_is_never_sent_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let server = GitHttpServer::serve(
        dir.path(),
        GitHttpOptions {
            credentials: Some(("x-access-token".into(), TOKEN.into())),
            ..GitHttpOptions::default()
        },
    )
    .await;
    let cache = cache_at(dir.path(), &server.url("octo/app.git"));
    let err = cache.ensure(&source(), Some(token())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(err.to_string().contains("only https carries them"), "{err}");
    assert!(
        server.authorizations().is_empty(),
        "{:?}",
        server.authorizations()
    );
}

#[tokio::test]
async fn the_token_does_not_follow_a_redirect_to_another_host() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let elsewhere = https_remote(dir.path()).await;
    let redirecting = GitHttpServer::serve(
        dir.path(),
        GitHttpOptions {
            tls: true,
            redirect_to: Some(elsewhere.url("").trim_end_matches('/').to_owned()),
            ..GitHttpOptions::default()
        },
    )
    .await;
    let cache = cache_at(dir.path(), &redirecting.url("octo/app.git"))
        .with_trusted_certificate(redirecting.certificate_pem().unwrap())
        .unwrap();
    cache.ensure(&source(), Some(token())).await.unwrap_err();
    assert!(
        elsewhere.authorizations().is_empty(),
        "the token followed the redirect"
    );
    assert!(redirecting.authorizations().is_empty());
}

#[tokio::test]
async fn a_stalled_remote_times_out_and_does_not_hold_the_mirror() {
    let dir = tempfile::tempdir().unwrap();
    // Accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let cache = Arc::new(
        cache_at(dir.path(), &format!("http://127.0.0.1:{port}/octo/app.git"))
            .with_fetch_limits(Duration::from_secs(1), 1 << 30),
    );
    let first = cache.ensure(&source(), None).await.unwrap_err();
    assert_eq!(first.kind(), ErrorKind::Timeout, "{first}");
    // The mirror's slot was given back: the next request gets its own answer.
    let second = tokio::time::timeout(Duration::from_secs(30), cache.ensure(&source(), None))
        .await
        .expect("the slot is not held forever")
        .unwrap_err();
    assert_eq!(second.kind(), ErrorKind::Timeout, "{second}");
}

#[tokio::test]
async fn a_fetch_past_the_size_cap_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SyntheticRepo::create(&dir.path().join("octo/app.git")).unwrap();
    let big: String = (0..200_000).map(|i| format!("{i:x}")).collect();
    repo.commit("main", None, &[RepoFile::new("big.txt", big)], &[], "big")
        .unwrap();
    let daemon = GitDaemon::serve(dir.path()).await.unwrap();
    let cache = cache_at(dir.path(), &daemon.url("octo/app.git"))
        .with_fetch_limits(Duration::from_secs(60), 16 << 10);
    let err = cache.ensure(&source(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded, "{err}");
    assert!(err.to_string().contains("the cap"), "{err}");
}

#[test]
fn url_templates_with_credentials_or_without_placeholders_are_refused() {
    for template in [
        "https://x:tok@github.com/{owner}/{repo}.git",
        "https://github.com/fixed.git",
        "ext::sh -c {owner}{repo}",
    ] {
        let err = GitRepoCache::new("/tmp/unused")
            .with_url_template(template)
            .err()
            .unwrap_or_else(|| panic!("{template} was accepted"));
        assert_eq!(err.kind(), ErrorKind::Invalid, "{template}: {err}");
    }
}

#[tokio::test]
async fn an_explicit_remote_gets_a_mirror_of_its_own_and_leaves_the_template_s_alone() {
    let dir = tempfile::tempdir().unwrap();
    let templated = fixture(dir.path());
    let elsewhere = SyntheticRepo::create(&dir.path().join("fork/octo/app.git")).unwrap();
    let fork_head = elsewhere
        .commit(
            "main",
            None,
            &[RepoFile::new("fork.txt", "fork\n")],
            &[],
            "fork",
        )
        .unwrap();
    let cache = cache_at(dir.path(), &templated.file_url());
    let fork = RepoSource::with_remote(slug(), elsewhere.file_url().parse().unwrap());

    cache.ensure(&fork, None).await.unwrap();
    cache.ensure(&source(), None).await.unwrap();
    assert_ne!(cache.mirror_path(&fork), cache.mirror_path(&source()));
    let main = "main".parse().unwrap();
    assert_eq!(cache.resolve(&fork, &main).await.unwrap(), fork_head);
    assert_ne!(cache.resolve(&source(), &main).await.unwrap(), fork_head);
    // Fetching the template's mirror again still goes to the template's remote.
    cache.ensure(&source(), None).await.unwrap();
    let origin = git2::Repository::open_bare(cache.mirror_path(&source()))
        .unwrap()
        .find_remote("origin")
        .unwrap()
        .url()
        .unwrap()
        .to_owned();
    assert_eq!(origin, templated.file_url());
}

/// A bare repository at `dir/octo/app.git` whose `main` commit has a root tree entry named
/// `name`: written as a raw object, since git itself refuses to make one.
fn crafted_repo(dir: &Path, name: &str) -> String {
    let path = dir.join("octo/app.git");
    let repo = git2::Repository::init_bare(&path).unwrap();
    let blob = repo.blob(b"owned\n").unwrap();
    let mut raw = format!("100644 {name}\0").into_bytes();
    raw.extend_from_slice(blob.as_bytes());
    let tree_id = repo
        .odb()
        .unwrap()
        .write(git2::ObjectType::Tree, &raw)
        .unwrap();
    let tree = repo.find_tree(tree_id).unwrap();
    let who = git2::Signature::now("t", "t@example.com").unwrap();
    repo.commit(Some("refs/heads/main"), &who, &who, "crafted", &tree, &[])
        .unwrap();
    repo.set_head("refs/heads/main").unwrap();
    format!("file://{}", path.display())
}

#[tokio::test]
async fn tree_entries_that_climb_out_or_plant_a_git_dir_are_refused() {
    for name in ["..", ".git", ".GIT", "."] {
        let dir = tempfile::tempdir().unwrap();
        let url = crafted_repo(dir.path(), name);
        let cache = cache_at(dir.path(), &url);
        cache.ensure(&source(), None).await.unwrap();
        let main = cache
            .resolve(&source(), &"main".parse().unwrap())
            .await
            .unwrap();
        let error = cache.archive(&source(), &main).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Invalid, "{name}: {error}");
        assert!(error.to_string().contains("refuses to copy"), "{error}");
        let error = cache
            .archive_paths(&source(), &main, &["../etc/passwd".to_owned()])
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Invalid, "{error}");
    }
}

#[tokio::test]
async fn a_streamed_tree_is_kept_and_the_next_stream_of_the_commit_is_the_same_bytes() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let repo = fixture(dir.path());
    let cache = cache_at(dir.path(), &repo.file_url());
    cache.ensure(&source(), None).await.unwrap();
    let commit = cache
        .resolve(&source(), &"main".parse().unwrap())
        .await
        .unwrap();
    let streamed = || async {
        let chunks: Vec<_> = cache
            .archive_stream(&source(), &commit)
            .await
            .unwrap()
            .collect()
            .await;
        chunks
            .into_iter()
            .flat_map(|chunk| chunk.unwrap())
            .collect::<Vec<u8>>()
    };
    let walked = streamed().await;
    assert_eq!(walked, cache.archive(&source(), &commit).await.unwrap());
    let kept = cache
        .mirror_path(&source())
        .join("slipway-trees")
        .join(format!("{commit}.tar"));
    // Kept once the stream has ended (the stream doesn't wait for the disk).
    let mut waited = 0;
    while !kept.exists() && waited < 500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    assert_eq!(std::fs::read(&kept).unwrap(), walked, "the walk was kept");
    // The kept file is what the next stream sends: changed on disk, the stream shows it.
    let mut marked = walked.clone();
    marked.extend_from_slice(b"kept");
    std::fs::write(&kept, &marked).unwrap();
    assert_eq!(streamed().await, marked);
}
