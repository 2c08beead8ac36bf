//! Every runtime operation against a real engine. Skips without one, fails without one when
//! `SLIPWAY_REQUIRE_DOCKER=1` (see `slipway_runtime::testing`).

mod archive;
mod containers;
mod endpoints;
mod events;
mod exec;
mod exec_kill;
mod images;
mod limits;
mod logs;
mod networks;
mod support;
mod system;
mod tls;
mod tty;
mod volumes;
