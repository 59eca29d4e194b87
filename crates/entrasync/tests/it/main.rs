//! entrasync's integration tests: the real client against fake-graph over real HTTP, writing to
//! real sinks. One binary, modules by topic.

mod canary;
mod catalog;
mod config_safety;
mod credentials;
mod file_sink;
mod harness;
mod hostile;
mod incremental;
mod init;
mod multi_tenant;
mod plugin;
mod postgres;
mod posture;
mod resilience;
mod sync_sqlite;
