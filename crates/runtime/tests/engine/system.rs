use slipway_core::prelude::*;
use slipway_testkit::require_engine;

#[tokio::test]
async fn ping_version_and_info_describe_the_engine() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    runtime.ping().await.unwrap();

    let version = runtime.version().await.unwrap();
    assert!(!version.version.is_empty());
    assert!(!version.api_version.is_empty());
    // The client speaks at most what the engine speaks, whatever bollard defaults to.
    let as_pair = |v: &str| -> (u32, u32) {
        let (major, minor) = v.split_once('.').unwrap();
        (major.parse().unwrap(), minor.parse().unwrap())
    };
    assert!(
        as_pair(&version.negotiated_api_version) <= as_pair(&version.api_version),
        "{version:?}"
    );

    let info = runtime.info().await.unwrap();
    assert!(info.total_memory_bytes > 256 << 20, "{info:?}");
    assert!(!info.storage_driver.is_empty());
    assert!(info.cpus >= 1);
}
