//! `slipway audit [--verify]`: the hash-chained audit log.

use clap::Args;
use slipway_app::{Access, Config, Services};
use slipway_core::{AuditFilter, RunId};

use crate::commands::Outcome;
use crate::output::{print_json, Table};

/// Options of `slipway audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Check the hash chain; exit 1 when it is broken.
    #[arg(long)]
    verify: bool,
    /// Only this run's events.
    #[arg(long)]
    run: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(config: &Config, args: AuditArgs) -> anyhow::Result<Outcome> {
    let store = Services::open(config, Access::Records).await?.store();
    if args.verify {
        let verification = store.verify_audit().await?;
        if args.json {
            print_json(&verification)?;
        } else if let Some(problem) = &verification.problem {
            println!(
                "audit log BROKEN after {} entries: entry {}: {}",
                verification.entries, problem.seq, problem.reason
            );
        } else {
            println!("audit log intact: {} entries", verification.entries);
        }
        return Ok(if verification.is_intact() {
            Outcome::Success
        } else {
            Outcome::Failed
        });
    }
    let filter = AuditFilter {
        run_id: args.run.map(RunId::new),
        ..AuditFilter::default()
    };
    let entries = store.audit_entries(&filter).await?;
    if args.json {
        print_json(&entries)?;
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(["seq", "age", "event", "run", "resources", "detail"]);
    for entry in entries {
        table.row([
            entry.seq.to_string(),
            format!("{}s ago", entry.at.elapsed().as_secs()),
            entry.event.kind,
            entry
                .event
                .run_id
                .map(|r| r.to_string())
                .unwrap_or_default(),
            entry
                .event
                .resources
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            entry.event.detail.unwrap_or_default(),
        ]);
    }
    print!("{}", table.render());
    Ok(Outcome::Success)
}
