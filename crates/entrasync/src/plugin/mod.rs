//! entrasync as a CloudQuery plugin (protocol v3): `entrasync serve` serves the entraid source
//! and entrasync's sinks as a destination; `doc` and `package` write the plugin's docs and
//! package layout.

pub mod destination;
pub mod docs;
pub mod ipc;
pub mod logging;
pub mod metrics;
pub mod server;
pub mod source;
pub mod stale;
pub mod state_client;

pub use server::{ServeOptions, serve};
