use slipway_core::prelude::*;
use slipway_core::{run_container, ErrorKind, RemoveOptions};
use slipway_testkit::require_engine;

use crate::support::sh;

/// A tar with a nested file, an executable, a symlink and 1 MiB of binary data.
fn sample_tar() -> (Vec<u8>, Vec<u8>) {
    let blob: Vec<u8> = (0..1_048_576u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: &str, mode: u32, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, data).unwrap();
    };
    add("app/src/index.js", 0o644, b"console.log('hi')\n");
    add("app/run.sh", 0o755, b"#!/bin/sh\necho ran\n");
    add("app/blob.bin", 0o600, &blob);
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    link.set_mode(0o777);
    builder
        .append_link(&mut link, "app/latest", "src/index.js")
        .unwrap();
    (builder.into_inner().unwrap(), blob)
}

/// The bytes and mode of `name` inside a tar.
fn entry(tar_bytes: &[u8], name: &str) -> (Vec<u8>, u32) {
    let mut archive = tar::Archive::new(tar_bytes);
    for file in archive.entries().unwrap() {
        let mut file = file.unwrap();
        if file.path().unwrap().to_string_lossy() == name {
            let mode = file.header().mode().unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut data).unwrap();
            return (data, mode);
        }
    }
    panic!("{name} is not in the archive");
}

#[tokio::test]
async fn an_uploaded_tar_reads_back_byte_identical() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("tar"))
        .await
        .unwrap();
    let (tar_bytes, blob) = sample_tar();
    runtime.upload_tar(&id, "/tmp", tar_bytes).await.unwrap();

    let back = runtime
        .download_tar(&id, "/tmp/app/blob.bin")
        .await
        .unwrap();
    let (data, mode) = entry(&back, "blob.bin");
    assert!(data == blob, "1 MiB of binary data came back different");
    assert_eq!(mode & 0o777, 0o600);

    let (script, mode) = entry(
        &runtime.download_tar(&id, "/tmp/app/run.sh").await.unwrap(),
        "run.sh",
    );
    assert_eq!(script, b"#!/bin/sh\necho ran\n");
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(sh(runtime, &id, "/tmp/app/run.sh").await, "ran\n");
    assert_eq!(
        sh(
            runtime,
            &id,
            "readlink /tmp/app/latest; cat /tmp/app/latest"
        )
        .await,
        "src/index.js\nconsole.log('hi')\n"
    );
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn archive_paths_must_exist_and_be_absolute() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("tarpath"))
        .await
        .unwrap();
    let err = runtime
        .download_tar(&id, "/no/such/path")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("/no/such/path"), "{err}");
    let err = runtime
        .upload_tar(&id, "relative/dir", Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let err = runtime.download_tar(&id, "/tmp/../etc").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}
