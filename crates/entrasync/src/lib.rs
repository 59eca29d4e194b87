//! entrasync: sync a Microsoft Entra ID tenant from Microsoft Graph into a database.

pub mod config;
pub mod graph;
pub mod tables;
