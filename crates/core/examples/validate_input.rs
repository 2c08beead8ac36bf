//! Checks each argument as a repo slug, git ref, image reference and container name, printing what each accepts and why the others refuse.
//!
//! `cargo run -p slipway-core --example validate_input -- me/app feature/x busybox:1 '../etc'`

use slipway_core::{ContainerName, GitRef, ImageRef, RepoSlug};

fn main() {
    for input in std::env::args().skip(1) {
        println!("{input:?}");
        let checks: [(&str, Result<(), slipway_core::Error>); 4] = [
            ("repo slug", input.parse::<RepoSlug>().map(drop)),
            ("git ref", input.parse::<GitRef>().map(drop)),
            ("image reference", input.parse::<ImageRef>().map(drop)),
            ("container name", input.parse::<ContainerName>().map(drop)),
        ];
        for (what, result) in checks {
            match result {
                Ok(()) => println!("  ok   {what}"),
                Err(e) => println!("  no   {e}"),
            }
        }
    }
}
