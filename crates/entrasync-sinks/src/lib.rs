//! Sinks: Arrow schemas and record batches in, rows in a database or files out.
//!
//! This is the CloudQuery destination contract: a sink never sees Graph types. Each schema carries
//! the table's `cq:` metadata (`cq:table_name`, and per field `cq:extension:primary_key`, …) and the
//! CloudQuery extension types (`uuid`, `json`) as field metadata.

pub mod cq;
pub mod sqlite;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::{DateTime, Utc};

/// How rows are written, as CloudQuery's destination `write_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Upsert by primary key; rows of this source not seen in this sync are deleted at the end.
    #[default]
    OverwriteDeleteStale,
    /// Upsert by primary key, never delete.
    Overwrite,
    /// Insert only.
    Append,
}

/// What a sink can fail with. Messages name the table and never contain connection secrets.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{0}")]
    Schema(String),
    #[error("{context}: {source}")]
    Sqlite {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = SinkError> = std::result::Result<T, E>;

/// A destination for synced rows. Calls for one table arrive in this order: `migrate`, any number
/// of `write`, then at most one `delete_stale`. `flush` makes everything written so far durable.
#[async_trait::async_trait]
pub trait Sink: Send {
    /// Creates the table described by `schema` or adds the columns it lacks.
    async fn migrate(&mut self, schema: SchemaRef) -> Result<()>;
    /// Writes rows; the batch's schema carries `cq:table_name`.
    async fn write(&mut self, batch: RecordBatch) -> Result<()>;
    /// Deletes rows of `table` from `source_name` whose `_cq_sync_time` is before `sync_time`.
    async fn delete_stale(
        &mut self,
        table: &str,
        source_name: &str,
        sync_time: DateTime<Utc>,
    ) -> Result<u64>;
    /// Makes every write so far durable.
    async fn flush(&mut self) -> Result<()>;
}
