//! Opens a store in a state directory (default `./.slipway`), appends an audit event, prints the log and whether its hash chain is intact.
//!
//! `cargo run -p slipway-store --example audit_log -- /tmp/slipway-state`

use slipway_core::prelude::*;
use slipway_core::{AuditEvent, AuditFilter};
use slipway_store::SqliteStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| ".slipway".to_owned());
    let store = SqliteStore::open_in_dir(std::path::Path::new(&dir))?;
    store
        .append_audit(&AuditEvent::new("example_ran").with_detail("audit_log example"))
        .await?;
    for entry in store
        .audit_entries(&AuditFilter {
            limit: Some(10),
            ..AuditFilter::default()
        })
        .await?
    {
        println!(
            "{:>4} {} {} {}",
            entry.seq,
            entry.at.unix_millis(),
            entry.event.kind,
            &entry.hash[..12]
        );
    }
    let verification = store.verify_audit().await?;
    match verification.problem {
        None => println!("chain intact ({} entries)", verification.entries),
        Some(problem) => println!("chain broken at entry {}: {}", problem.seq, problem.reason),
    }
    Ok(())
}
