//! The destination role: entrasync's sinks (SQLite, PostgreSQL, files) behind CloudQuery's
//! `Write` and `Read`, so the CLI (and the state client of any source) can use them.
//!
//! The spec is the CloudQuery destination's nested spec: `connection_string` (a
//! `postgres://`/`postgresql://` URL or `key=value` string means PostgreSQL, anything else is a
//! SQLite file), or `path` + `format` (+ `compression`) for files; `batch_size` and
//! `batch_size_bytes` tune PostgreSQL. `write_mode` and `migrate_mode` are the CLI's business:
//! it strips keys for append and sends delete-stale only for overwrite-delete-stale.

use super::ipc;
use anyhow::{Context, anyhow, bail};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use chrono::{DateTime, Utc};
use entrasync_proto::plugin::v3 as pb;
use entrasync_sinks::cq;
use entrasync_sinks::{MigrateMode, Sink, TableRelation, WriteMode};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Which sink the spec asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    File,
}

impl Kind {
    /// The name `GetName` answers, as CloudQuery's destination plugins are called.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgresql",
            Kind::File => "file",
        }
    }
}

/// Whether a spec is a destination's: only destination specs carry `connection_string`, or
/// `path` with `format`; the entraid source spec has neither.
pub fn is_destination_spec(value: &serde_json::Value) -> bool {
    value.get("connection_string").is_some()
        || (value.get("path").is_some() && value.get("format").is_some())
}

fn is_postgres(conn: &str) -> bool {
    conn.starts_with("postgres://")
        || conn.starts_with("postgresql://")
        || conn.contains("host=")
        || conn.contains("dbname=")
}

pub struct Destination {
    pub kind: Kind,
    spec: serde_json::Value,
    /// Whether the sink was reopened in forced migrate mode (the CLI's `migrate_mode: forced`).
    forced: std::sync::atomic::AtomicBool,
    sink: tokio::sync::Mutex<Box<dyn Sink>>,
    /// State tables migrated through `Write` (routed to the sink's state API).
    state_tables: std::sync::Mutex<HashSet<String>>,
}

impl Destination {
    pub async fn open(value: &serde_json::Value) -> anyhow::Result<Destination> {
        let (kind, sink) = open_sink(value, MigrateMode::Safe).await?;
        tracing::info!(destination = kind.name(), "destination ready");
        Ok(Destination {
            kind,
            spec: value.clone(),
            forced: Default::default(),
            sink: tokio::sync::Mutex::new(sink),
            state_tables: Default::default(),
        })
    }

    /// `migrate_mode: forced` arrives only with the first migrate message, after Init: the sink
    /// is reopened in forced mode then, once.
    async fn force_migrations(&self) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering;
        if self.forced.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let mut sink = self.sink.lock().await;
        sink.flush().await?;
        let (_, forced) = open_sink(&self.spec, MigrateMode::Forced).await?;
        *sink = forced;
        Ok(())
    }

    /// One `Write` message. The sink is locked per message, not per stream: the CLI's stream
    /// stays open for the whole sync while the source's state client reads and writes.
    pub async fn handle(&self, message: pb::write::request::Message) -> anyhow::Result<()> {
        use pb::write::request::Message;
        match message {
            Message::MigrateTable(m) => {
                let schema = ipc::schema_from_bytes(&m.table)?;
                let table = table_of(&schema)?;
                if is_state_schema(&schema) {
                    // The sink owns the state table's layout; writing nothing creates it.
                    self.sink
                        .lock()
                        .await
                        .write_state(&table, &HashMap::new())
                        .await
                        .with_context(|| format!("creating the state table {table}"))?;
                    self.state_tables
                        .lock()
                        .expect("not poisoned")
                        .insert(table);
                    return Ok(());
                }
                if m.migrate_force {
                    self.force_migrations().await?;
                }
                self.sink
                    .lock()
                    .await
                    .migrate(schema)
                    .await
                    .with_context(|| format!("migrating {table}"))?;
            }
            Message::Insert(m) => {
                let batch = ipc::record_from_bytes(&m.record)?;
                let table = table_of(&batch.schema())?;
                if self.is_state_table(&table, &batch.schema()) {
                    let entries = state_entries(&batch)?;
                    self.sink
                        .lock()
                        .await
                        .write_state(&table, &entries)
                        .await
                        .with_context(|| format!("writing state to {table}"))?;
                    return Ok(());
                }
                self.sink
                    .lock()
                    .await
                    .write(batch)
                    .await
                    .with_context(|| format!("writing rows of {table}"))?;
            }
            Message::Delete(m) => {
                let sync_time = m
                    .sync_time
                    .map(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
                    .unwrap_or_default()
                    .ok_or_else(|| anyhow!("delete-stale without a valid sync_time"))?;
                let mut sink = self.sink.lock().await;
                // The rows of this sync must be in place before the older ones go.
                sink.flush().await?;
                let deleted = sink
                    .delete_stale(&m.table_name, &m.source_name, None, sync_time)
                    .await
                    .with_context(|| format!("deleting stale rows of {}", m.table_name))?;
                if deleted > 0 {
                    tracing::info!(table = %m.table_name, deleted, "stale rows deleted");
                }
            }
            Message::DeleteRecord(m) => {
                let relations: Vec<TableRelation> = m
                    .table_relations
                    .iter()
                    .map(|r| TableRelation::new(&r.table_name, &r.parent_table))
                    .collect();
                let mut sink = self.sink.lock().await;
                for keys in key_batches(&m.where_clause)? {
                    sink.delete_rows(&m.table_name, keys, &relations)
                        .await
                        .with_context(|| format!("deleting rows of {}", m.table_name))?;
                }
            }
        }
        Ok(())
    }

    /// The end of a `Write` stream: make it durable.
    pub async fn flush(&self) -> anyhow::Result<()> {
        Ok(self.sink.lock().await.flush().await?)
    }

    fn is_state_table(&self, table: &str, schema: &Schema) -> bool {
        self.state_tables
            .lock()
            .expect("not poisoned")
            .contains(table)
            || is_state_schema(schema)
    }

    /// `Read`: the state table (deduplicated by key, as the state client expects) or any
    /// table, through the sink's reader.
    pub async fn read(&self, table_bytes: &[u8]) -> anyhow::Result<Vec<RecordBatch>> {
        let schema = ipc::schema_from_bytes(table_bytes)?;
        let table = table_of(&schema)?;
        if !self.is_state_table(&table, &schema) {
            return self
                .sink
                .lock()
                .await
                .read(schema)
                .await
                .with_context(|| format!("reading {table}"));
        }
        let entries = self
            .sink
            .lock()
            .await
            .read_state(&table)
            .await
            .with_context(|| format!("reading the state table {table}"))?;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut keys: Vec<&String> = entries.keys().collect();
        keys.sort();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> anyhow::Result<ArrayRef> {
                Ok(match (f.name().as_str(), f.data_type()) {
                    ("key", _) => Arc::new(StringArray::from_iter_values(
                        keys.iter().map(|k| k.as_str()),
                    )),
                    ("value", _) => Arc::new(StringArray::from_iter_values(
                        keys.iter().map(|k| entries[*k].as_str()),
                    )),
                    // The sink keeps the highest version only; one row per key needs no order.
                    ("version", DataType::UInt64) => {
                        Arc::new(UInt64Array::from(vec![1u64; keys.len()]))
                    }
                    (_, t) => arrow_array::new_null_array(t, keys.len()),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(vec![RecordBatch::try_new(schema, columns)?])
    }
}

fn table_of(schema: &Schema) -> anyhow::Result<String> {
    cq::table_name(schema)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("the schema has no cq:table_name"))
}

/// CloudQuery's state table: `key`, `value` and maybe `version`, and no `_cq_*` columns.
fn is_state_schema(schema: &Schema) -> bool {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names.len() >= 2
        && names[0] == "key"
        && names[1] == "value"
        && names[2..].iter().all(|n| *n == "version")
}

fn state_entries(batch: &RecordBatch) -> anyhow::Result<HashMap<String, String>> {
    let col = |name: &str| -> anyhow::Result<&StringArray> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| anyhow!("state rows need a utf8 column {name}"))
    };
    let (keys, values) = (col("key")?, col("value")?);
    Ok((0..batch.num_rows())
        .filter(|&i| !keys.is_null(i))
        .map(|i| {
            let v = if values.is_null(i) {
                ""
            } else {
                values.value(i)
            };
            (keys.value(i).to_string(), v.to_string())
        })
        .collect())
}

/// The rows to delete, as key batches for `Sink::delete_rows`: an AND group is one row over
/// all its columns; an OR group (and each group, as groups are alternatives) is one row each.
fn key_batches(groups: &[pb::PredicatesGroup]) -> anyhow::Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for group in groups {
        let mut fields: Vec<Field> = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for p in &group.predicates {
            if p.operator != pb::predicate::Operator::Eq as i32 {
                bail!("delete-record: only the EQ operator is supported");
            }
            let record = ipc::record_from_bytes(&p.record)?;
            if record.num_columns() != 1 || record.num_rows() != 1 {
                bail!("delete-record: a predicate must hold one column and one row");
            }
            let field = record
                .schema()
                .field(0)
                .as_ref()
                .clone()
                .with_name(&p.column);
            let column = record.column(0).clone();
            if group.grouping_type == pb::predicates_group::GroupingType::Or as i32 {
                out.push(RecordBatch::try_new(
                    Arc::new(Schema::new(vec![field])),
                    vec![column],
                )?);
            } else {
                fields.push(field);
                columns.push(column);
            }
        }
        if !fields.is_empty() {
            out.push(RecordBatch::try_new(
                Arc::new(Schema::new(fields)),
                columns,
            )?);
        }
    }
    Ok(out)
}

/// A destination spec's JSON Schema (for `GetSpecSchema` once the role is known).
pub fn spec_schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "entrasync destination spec",
        "type": "object",
        "properties": {
            "connection_string": {"type": "string", "description": "PostgreSQL URL or key=value string, or a SQLite file path"},
            "path": {"type": "string", "description": "File destination path template ({{TABLE}}, {{UUID}}, {{FORMAT}}, …)"},
            "format": {"type": "string", "enum": ["parquet", "json", "csv"]},
            "compression": {"type": "string", "enum": ["", "gzip"]},
            "batch_size": {"type": "integer", "minimum": 1},
            "batch_size_bytes": {"type": "integer", "minimum": 1}
        }
    })
}

async fn open_sink(
    value: &serde_json::Value,
    migrate: MigrateMode,
) -> anyhow::Result<(Kind, Box<dyn Sink>)> {
    let kind = match value.get("connection_string").and_then(|v| v.as_str()) {
        Some(conn) if is_postgres(conn) => Kind::Postgres,
        Some(_) => Kind::Sqlite,
        None => Kind::File,
    };
    let path = format!("cloudquery/{}", kind.name());
    // Keys are upserted; deletion of stale rows comes from the CLI's delete-stale messages.
    let sink = entrasync_sinks::destination::open(&path, value, WriteMode::Overwrite, migrate)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    Ok((kind, sink))
}
