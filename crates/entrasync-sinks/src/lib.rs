//! Sinks: Arrow schemas and record batches in, rows in a database or files out.
//!
//! This is the CloudQuery destination contract: a sink never sees Graph types. Each schema carries
//! the table's `cq:` metadata (`cq:table_name`, and per field `cq:extension:primary_key`, …) and the
//! CloudQuery extension types (`uuid`, `json`) as field metadata.
//!
//! - [`sqlite::SqliteSink`]: the embedded default (`cloudquery/sqlite`).
//! - [`postgres::PostgresSink`]: `cloudquery/postgresql` (binary COPY + upsert, TLS per `sslmode`).
//! - [`file::FileSink`]: `cloudquery/file` (Parquet, JSON lines, CSV).
//! - [`destination::open`]: a boxed sink from a destination's `path` and nested `spec`.
//! - [`cq`]: CloudQuery's metadata keys, column kinds, `_cq_*` helpers, the state table schema.
//! - [`values`]: how every sink reads Arrow columns (shared type widening and formatting).
//!
//! Ordering and durability: rows passed to `write` may be buffered (PostgreSQL buffers up to
//! `batch_size`, the file sink keeps a table's file open until `table_done` or `flush`);
//! `flush`, `delete_stale`, `delete_rows` and `write_state` write buffered rows first, so a state
//! entry is never committed before the rows written ahead of it to the same sink. A state entry
//! that covers rows in several sinks is stored only after each of them was flushed. A sink
//! dropped without `flush` may lose buffered rows.

pub mod cq;
pub mod destination;
pub mod file;
pub mod pgtls;
pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod values;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

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

impl WriteMode {
    /// Parses CloudQuery's spelling (`overwrite-delete-stale`, `overwrite`, `append`).
    pub fn parse(s: &str) -> Option<WriteMode> {
        match s {
            "overwrite-delete-stale" => Some(WriteMode::OverwriteDeleteStale),
            "overwrite" => Some(WriteMode::Overwrite),
            "append" => Some(WriteMode::Append),
            _ => None,
        }
    }

    /// CloudQuery's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::OverwriteDeleteStale => "overwrite-delete-stale",
            WriteMode::Overwrite => "overwrite",
            WriteMode::Append => "append",
        }
    }
}

/// What `migrate` may do to an existing table, as CloudQuery's destination `migrate_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrateMode {
    /// Create tables and add columns; refuse a changed column type or primary key.
    #[default]
    Safe,
    /// Like `Safe`, but drop and recreate a table whose columns or key changed incompatibly.
    Forced,
}

impl MigrateMode {
    /// Parses CloudQuery's spelling (`safe`, `forced`).
    pub fn parse(s: &str) -> Option<MigrateMode> {
        match s {
            "safe" => Some(MigrateMode::Safe),
            "forced" => Some(MigrateMode::Forced),
            _ => None,
        }
    }
}

/// A parent/child link between tables, as CloudQuery's `TableRelation`: deleting a parent row
/// deletes the child rows whose `_cq_parent_id` is the parent row's `_cq_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRelation {
    pub table_name: String,
    pub parent_table: String,
}

impl TableRelation {
    pub fn new(table_name: impl Into<String>, parent_table: impl Into<String>) -> Self {
        TableRelation {
            table_name: table_name.into(),
            parent_table: parent_table.into(),
        }
    }
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
    #[error("{context}: {message}")]
    Postgres { context: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl SinkError {
    pub(crate) fn sqlite(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> SinkError {
        let context = context.into();
        move |source| SinkError::Sqlite { context, source }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SinkError {
        let context = context.into();
        move |source| SinkError::Io { context, source }
    }
}

fn unsupported(what: &str) -> SinkError {
    SinkError::Other(format!("this sink does not support {what}"))
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
    /// Deletes rows of `table` from `source_name` whose `_cq_sync_time` is before `sync_time`;
    /// with `tenant_id`, only that tenant's rows (one source may sync several tenants, and one
    /// tenant's sync must never delete another's rows).
    async fn delete_stale(
        &mut self,
        table: &str,
        source_name: &str,
        tenant_id: Option<&str>,
        sync_time: DateTime<Utc>,
    ) -> Result<u64>;
    /// Makes every write so far durable.
    async fn flush(&mut self) -> Result<()>;

    /// No more rows of `table` are expected in this sync (its sync has ended). A sink that keeps
    /// something open per table releases it and makes the table's rows durable (the file sink
    /// closes the table's file); rows of `table` that still arrive later are written as usual.
    /// The default does nothing.
    async fn table_done(&mut self, table: &str) -> Result<()> {
        let _ = table;
        Ok(())
    }

    /// Deletes the rows of `table` identified by `keys` (Graph delta `@removed`, CloudQuery's
    /// `DeleteRecord`): every row of `keys` names one row to delete, matching when all of its
    /// columns (named as columns of `table`, typed as in its schema) are equal. In the same
    /// transaction, rows of child tables (per `relations`, transitively) whose `_cq_parent_id`
    /// is the `_cq_id` of a deleted row are deleted too. Returns the rows deleted from `table`.
    async fn delete_rows(
        &mut self,
        table: &str,
        keys: RecordBatch,
        relations: &[TableRelation],
    ) -> Result<u64> {
        let _ = (table, keys, relations);
        Err(unsupported("deleting rows"))
    }

    /// Reads every row of the table that `schema` describes (its columns, by name), as batches
    /// of `schema` itself (see [`values::batch_as_sent`]) of at most 10000 rows: CloudQuery's
    /// destination `Read`.
    async fn read(&mut self, schema: SchemaRef) -> Result<Vec<RecordBatch>> {
        let _ = schema;
        Err(unsupported("reading tables"))
    }

    /// Reads the state table `table_name` (CloudQuery's `key`, `value`, `version`; a table
    /// without `version` is accepted; for a key stored twice the highest version wins). A
    /// missing table reads as empty.
    async fn read_state(&mut self, table_name: &str) -> Result<HashMap<String, String>> {
        let _ = table_name;
        Err(unsupported("a state table"))
    }

    /// Writes `entries` to the state table `table_name` in one transaction, creating the table
    /// if needed; each written key's `version` goes up by one.
    async fn write_state(
        &mut self,
        table_name: &str,
        entries: &HashMap<String, String>,
    ) -> Result<()> {
        let _ = (table_name, entries);
        Err(unsupported("a state table"))
    }
}
