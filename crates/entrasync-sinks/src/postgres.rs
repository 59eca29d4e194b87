//! PostgreSQL sink (in progress).
use crate::{MigrateMode, Result, WriteMode};

#[derive(Debug, Clone, Default)]
pub struct PostgresOptions {
    pub write_mode: WriteMode,
    pub migrate_mode: MigrateMode,
}

pub struct PostgresSink;

impl PostgresSink {
    pub async fn connect(_c: &str, _o: PostgresOptions) -> Result<crate::sqlite::SqliteSink> {
        todo!()
    }
}
