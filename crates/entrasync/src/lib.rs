//! entrasync: sync a Microsoft Entra ID tenant from Microsoft Graph into a database.
//!
//! `config` reads CloudQuery-style YAML, `tables` is the catalog, `graph` talks to Microsoft
//! Graph, `sync` schedules the reads and turns pages into Arrow, and `standalone` writes them to
//! the sinks of `entrasync-sinks`.

pub mod check;
pub mod config;
pub mod graph;
pub mod init;
pub mod plugin;
pub mod posture;
pub mod standalone;
pub mod sync;
pub mod tables;

pub use standalone::{SyncResult, sync as run_sync};
