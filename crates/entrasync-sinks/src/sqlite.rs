//! SQLite sink, the embedded default (`path: cloudquery/sqlite`).
//!
//! # Type mapping
//!
//! | CloudQuery / Arrow            | SQLite column | stored value                                              |
//! |-------------------------------|---------------|-----------------------------------------------------------|
//! | utf8                          | `TEXT`        | the string                                                |
//! | bool                          | `INTEGER`     | 0 / 1                                                     |
//! | int64 (and narrower ints)     | `INTEGER`     | the integer                                               |
//! | float64 (and float32)         | `REAL`        | the number                                                |
//! | timestamp[us, tz=UTC]         | `TEXT`        | RFC 3339, always 6 fractional digits and `Z`: `2024-01-02T03:04:05.000000Z` (fixed width, so text order is time order) |
//! | list<utf8>                    | `TEXT`        | JSON array, e.g. `["a","b"]` (null items are `null`)      |
//! | json (extension)              | `TEXT`        | the JSON text as received                                  |
//! | uuid (extension)              | `TEXT`        | canonical lower-case hyphenated UUID                       |
//!
//! Arrow nulls are SQL `NULL`. Columns whose field is not nullable are `NOT NULL` when the table
//! is created (columns added later are nullable, as SQLite requires). The primary key is the set
//! of fields with `cq:extension:primary_key = true` (none in append mode).
//!
//! # Behaviour
//!
//! - WAL journal, `synchronous = NORMAL`: a committed transaction survives a process crash, and
//!   commits become visible (and durable) in order, so state written after rows never survives
//!   without them. `flush` checkpoints the WAL.
//! - `migrate` creates the table or adds the columns it lacks (`ALTER TABLE ADD COLUMN`); a
//!   changed column type or primary key is refused unless [`MigrateMode::Forced`], which drops
//!   and recreates the table.
//! - `write` is one transaction per batch with one cached prepared statement per table:
//!   `INSERT … ON CONFLICT (pk) DO UPDATE SET …` (overwrite modes) or a plain `INSERT` (append
//!   mode, or a table without primary key).
//! - Identifiers are always quoted; values are always bound.
//! - Threading: `rusqlite` is synchronous, so every operation runs on tokio's blocking pool
//!   (`spawn_blocking`) against the one connection behind a mutex; the async runtime never waits
//!   on SQLite and the sink works on current-thread and multi-thread runtimes alike.

use crate::cq::{self, ColumnKind};
use crate::values::{self, Column, Kind, quote_ident};
use crate::{MigrateMode, Result, Sink, SinkError, TableRelation, WriteMode};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Statement};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The SQLite declared type of a column kind (as CloudQuery's SQLite destination declares it:
/// integers INTEGER, floats REAL, binary BLOB, everything else TEXT).
pub fn sql_type(kind: Kind) -> String {
    match kind {
        Kind::Bool | Kind::Int64 | Kind::UInt64 | Kind::Duration => "INTEGER",
        Kind::Float64 => "REAL",
        Kind::Binary => "BLOB",
        Kind::Utf8
        | Kind::Decimal(_, _)
        | Kind::Timestamp
        | Kind::Date
        | Kind::Time
        | Kind::Interval
        | Kind::Utf8List
        | Kind::Json
        | Kind::Uuid
        | Kind::Inet
        | Kind::Mac
        | Kind::Nested => "TEXT",
    }
    .to_string()
}

/// A sink writing into one SQLite database file.
pub struct SqliteSink {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    conn: Connection,
    path: PathBuf,
    write_mode: WriteMode,
    migrate_mode: MigrateMode,
    /// Primary key of each migrated table.
    pks: HashMap<String, Vec<String>>,
}

struct ColumnInfo {
    name: String,
    decl_type: String,
    pk: i64,
}

impl SqliteSink {
    /// Opens (creating if needed) the database at `path`, in WAL mode.
    pub fn open(path: &Path, write_mode: WriteMode) -> Result<Self> {
        let ctx = format!("opening SQLite database {}", path.display());
        let conn = Connection::open(path).map_err(SinkError::sqlite(ctx.clone()))?;
        Self::from_connection(conn, path.to_path_buf(), write_mode, ctx)
    }

    /// An in-memory database (tests, dry runs).
    pub fn open_in_memory(write_mode: WriteMode) -> Result<Self> {
        let ctx = "opening in-memory SQLite database".to_string();
        let conn = Connection::open_in_memory().map_err(SinkError::sqlite(ctx.clone()))?;
        Self::from_connection(conn, PathBuf::from(":memory:"), write_mode, ctx)
    }

    fn from_connection(
        conn: Connection,
        path: PathBuf,
        write_mode: WriteMode,
        ctx: String,
    ) -> Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(SinkError::sqlite(ctx.clone()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(SinkError::sqlite(ctx.clone()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(SinkError::sqlite(ctx))?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(SqliteSink {
            inner: Arc::new(Mutex::new(Inner {
                conn,
                path,
                write_mode,
                migrate_mode: MigrateMode::Safe,
                pks: HashMap::new(),
            })),
        })
    }

    /// Sets what `migrate` may do to existing tables (default [`MigrateMode::Safe`]).
    pub fn with_migrate_mode(self, mode: MigrateMode) -> Self {
        self.lock().migrate_mode = mode;
        self
    }

    /// The write mode given at `open`.
    pub fn write_mode(&self) -> WriteMode {
        self.lock().write_mode
    }

    /// The database path given at `open`.
    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Inner) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| SinkError::Other(format!("SQLite worker failed: {e}")))?
    }
}

#[async_trait::async_trait]
impl Sink for SqliteSink {
    async fn migrate(&mut self, schema: SchemaRef) -> Result<()> {
        self.run(move |inner| inner.migrate(&schema)).await
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        self.run(move |inner| inner.write(&batch)).await
    }

    async fn delete_stale(
        &mut self,
        table: &str,
        source_name: &str,
        tenant_id: Option<&str>,
        sync_time: DateTime<Utc>,
    ) -> Result<u64> {
        let (table, source_name) = (table.to_string(), source_name.to_string());
        let tenant_id = tenant_id.map(str::to_string);
        self.run(move |inner| {
            let mut sql = format!(
                "DELETE FROM {} WHERE {} = ?1 AND {} < ?2",
                quote_ident(&table),
                quote_ident(cq::CQ_SOURCE_NAME),
                quote_ident(cq::CQ_SYNC_TIME)
            );
            if tenant_id.is_some() {
                sql.push_str(&format!(" AND {} = ?3", quote_ident(cq::TENANT_ID)));
            }
            let time = values::format_timestamp(sync_time.timestamp_micros());
            let n = match &tenant_id {
                Some(tenant) => inner
                    .conn
                    .execute(&sql, rusqlite::params![source_name, time, tenant]),
                None => inner
                    .conn
                    .execute(&sql, rusqlite::params![source_name, time]),
            }
            .map_err(SinkError::sqlite(format!("deleting stale rows of {table}")))?;
            Ok(n as u64)
        })
        .await
    }

    async fn flush(&mut self) -> Result<()> {
        self.run(|inner| {
            inner
                .conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .map_err(SinkError::sqlite("checkpointing the SQLite WAL"))
        })
        .await
    }

    async fn delete_rows(
        &mut self,
        table: &str,
        keys: RecordBatch,
        relations: &[TableRelation],
    ) -> Result<u64> {
        let table = table.to_string();
        let relations = relations.to_vec();
        self.run(move |inner| inner.delete_rows(&table, &keys, &relations))
            .await
    }

    async fn read(&mut self, schema: SchemaRef) -> Result<Vec<RecordBatch>> {
        self.run(move |inner| inner.read(&schema)).await
    }

    async fn read_state(&mut self, table_name: &str) -> Result<HashMap<String, String>> {
        let table = table_name.to_string();
        self.run(move |inner| inner.read_state(&table)).await
    }

    async fn write_state(
        &mut self,
        table_name: &str,
        entries: &HashMap<String, String>,
    ) -> Result<()> {
        let table = table_name.to_string();
        let entries = entries.clone();
        self.run(move |inner| inner.write_state(&table, &entries))
            .await
    }
}

fn table_info(conn: &Connection, table: &str) -> Result<Vec<ColumnInfo>> {
    let ctx = || format!("reading the columns of {table}");
    let mut stmt = conn
        .prepare_cached("SELECT name, type, pk FROM pragma_table_info(?1)")
        .map_err(|e| SinkError::sqlite(ctx())(e))?;
    let rows = stmt
        .query_map([table], |r| {
            Ok(ColumnInfo {
                name: r.get(0)?,
                decl_type: r.get(1)?,
                pk: r.get(2)?,
            })
        })
        .map_err(|e| SinkError::sqlite(ctx())(e))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| SinkError::sqlite(ctx())(e))
}

/// Binds cell `row` of `col` as parameter `index` (1-based). A value SQLite cannot hold exactly
/// (a uint64 above i64::MAX, a NaN, which SQLite turns into NULL) is an error naming it.
fn bind_cell(
    stmt: &mut Statement<'_>,
    index: usize,
    col: &Column<'_>,
    row: usize,
    at: &dyn Fn(String) -> SinkError,
) -> Result<()> {
    let sql = |r: rusqlite::Result<()>| r.map_err(|e| at(format!("SQLite refused it: {e}")));
    if col.is_null(row) {
        return sql(stmt.raw_bind_parameter(index, rusqlite::types::Null));
    }
    match col {
        Column::Bool(a) => sql(stmt.raw_bind_parameter(index, a.value(row) as i64)),
        Column::Int64(a) => sql(stmt.raw_bind_parameter(index, a.value(row))),
        Column::UInt64(a) => {
            let v = i64::try_from(a.value(row)).map_err(|_| {
                at(format!(
                    "uint64 {} is above SQLite's largest INTEGER {}",
                    a.value(row),
                    i64::MAX
                ))
            })?;
            sql(stmt.raw_bind_parameter(index, v))
        }
        Column::Duration(a) => sql(stmt.raw_bind_parameter(index, a.value(row))),
        Column::Float64(a) => {
            if a.value(row).is_nan() {
                return Err(at("NaN cannot be stored in SQLite (it stores NULL)".into()));
            }
            sql(stmt.raw_bind_parameter(index, a.value(row)))
        }
        Column::Binary(a) => sql(stmt.raw_bind_parameter(index, a.value(row))),
        Column::Utf8(a) => sql(stmt.raw_bind_parameter(index, a.value(row))),
        other => {
            let text = other.try_text(row).map_err(&at)?.unwrap_or_default();
            sql(stmt.raw_bind_parameter(index, text))
        }
    }
}

impl Inner {
    fn create_table(
        &self,
        table: &str,
        columns: &[(String, Kind, bool)],
        pk: &[String],
    ) -> Result<()> {
        let mut defs = values::column_defs(columns, sql_type);
        if !pk.is_empty() {
            let pk: Vec<String> = pk.iter().map(|c| quote_ident(c)).collect();
            defs.push(format!("PRIMARY KEY ({})", pk.join(", ")));
        }
        let sql = format!("CREATE TABLE {} ({})", quote_ident(table), defs.join(", "));
        self.conn
            .execute(&sql, [])
            .map_err(SinkError::sqlite(format!("creating table {table}")))?;
        Ok(())
    }

    fn migrate(&mut self, schema: &SchemaRef) -> Result<()> {
        let table = values::table_of(schema)?;
        let columns: Vec<(String, Kind, bool)> = schema
            .fields()
            .iter()
            .map(|f| Ok((f.name().clone(), values::kind(&table, f)?, f.is_nullable())))
            .collect::<Result<_>>()?;
        let pk: Vec<String> = if self.write_mode == WriteMode::Append {
            Vec::new()
        } else {
            schema
                .fields()
                .iter()
                .filter(|f| cq::is_primary_key(f))
                .map(|f| f.name().clone())
                .collect()
        };
        let existing = table_info(&self.conn, &table)?;
        if existing.is_empty() {
            self.create_table(&table, &columns, &pk)?;
        } else {
            let mut existing_pk: Vec<&ColumnInfo> = existing.iter().filter(|c| c.pk > 0).collect();
            existing_pk.sort_by_key(|c| c.pk);
            let existing_pk: Vec<&str> = existing_pk.iter().map(|c| c.name.as_str()).collect();
            let mut problems = Vec::new();
            if !pk.is_empty() && existing_pk != pk.iter().map(String::as_str).collect::<Vec<_>>() {
                problems.push(format!(
                    "primary key is ({}), the schema wants ({})",
                    existing_pk.join(", "),
                    pk.join(", ")
                ));
            }
            let mut missing = Vec::new();
            for (name, kind, _) in &columns {
                match existing.iter().find(|c| &c.name == name) {
                    None => missing.push((name, *kind)),
                    Some(c) if !c.decl_type.eq_ignore_ascii_case(&sql_type(*kind)) => problems
                        .push(format!(
                            "column {name:?} is {}, the schema wants {}",
                            c.decl_type,
                            sql_type(*kind)
                        )),
                    Some(_) => {}
                }
            }
            if !problems.is_empty() {
                if self.migrate_mode != MigrateMode::Forced {
                    return Err(SinkError::Schema(format!(
                        "table {table} cannot be migrated safely: {}; set migrate_mode: forced to drop and recreate it",
                        problems.join("; ")
                    )));
                }
                tracing::warn!(table = %table, changes = %problems.join("; "), "migrate_mode forced: dropping and recreating the table");
                let tx = self
                    .conn
                    .unchecked_transaction()
                    .map_err(SinkError::sqlite(format!("recreating {table}")))?;
                tx.execute(&format!("DROP TABLE {}", quote_ident(&table)), [])
                    .map_err(SinkError::sqlite(format!("dropping {table}")))?;
                self.create_table(&table, &columns, &pk)?;
                tx.commit()
                    .map_err(SinkError::sqlite(format!("recreating {table}")))?;
            } else {
                for (name, kind) in missing {
                    let sql = format!(
                        "ALTER TABLE {} ADD COLUMN {} {}",
                        quote_ident(&table),
                        quote_ident(name),
                        sql_type(kind)
                    );
                    self.conn
                        .execute(&sql, [])
                        .map_err(SinkError::sqlite(format!(
                            "adding column {name:?} to {table}"
                        )))?;
                }
            }
        }
        self.pks.insert(table, pk);
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let schema = batch.schema();
        let table = values::table_of(&schema)?;
        let arrays = values::normalize(&table, batch)?;
        let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
        let pk: Vec<String> = if self.write_mode == WriteMode::Append {
            Vec::new()
        } else {
            let from_batch: Vec<String> = schema
                .fields()
                .iter()
                .filter(|f| cq::is_primary_key(f))
                .map(|f| f.name().clone())
                .collect();
            if from_batch.is_empty() {
                self.pks.get(&table).cloned().unwrap_or_default()
            } else {
                from_batch
            }
        };
        let cols: Vec<String> = names.iter().map(|n| quote_ident(n)).collect();
        let params: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote_ident(&table),
            cols.join(", "),
            params.join(", ")
        );
        if !pk.is_empty() {
            let updates: Vec<String> = names
                .iter()
                .filter(|n| !pk.contains(n))
                .map(|n| format!("{0} = excluded.{0}", quote_ident(n)))
                .collect();
            let pk: Vec<String> = pk.iter().map(|c| quote_ident(c)).collect();
            if updates.is_empty() {
                sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", pk.join(", ")));
            } else {
                sql.push_str(&format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    pk.join(", "),
                    updates.join(", ")
                ));
            }
        }
        let ctx = || format!("writing {} rows to {table}", batch.num_rows());
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| SinkError::sqlite(ctx())(e))?;
        {
            let mut stmt = tx
                .prepare_cached(&sql)
                .map_err(|e| SinkError::sqlite(ctx())(e))?;
            let columns: Vec<Column<'_>> = arrays.iter().map(|(k, a)| Column::new(*k, a)).collect();
            for row in 0..batch.num_rows() {
                for (j, col) in columns.iter().enumerate() {
                    let at = |why: String| values::value_error(&table, names[j], row, why);
                    bind_cell(&mut stmt, j + 1, col, row, &at)?;
                }
                stmt.raw_execute()
                    .map_err(|e| SinkError::sqlite(ctx())(e))?;
            }
        }
        tx.commit().map_err(|e| SinkError::sqlite(ctx())(e))?;
        Ok(())
    }

    fn delete_rows(
        &mut self,
        table: &str,
        keys: &RecordBatch,
        relations: &[TableRelation],
    ) -> Result<u64> {
        if keys.num_rows() == 0 {
            return Ok(0);
        }
        let schema = keys.schema();
        let arrays = values::normalize(table, keys)?;
        let columns: Vec<Column<'_>> = arrays.iter().map(|(k, a)| Column::new(*k, a)).collect();
        let condition: Vec<String> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| format!("{} = ?{}", quote_ident(f.name()), i + 1))
            .collect();
        if condition.is_empty() {
            return Err(SinkError::Schema(format!(
                "deleting rows of {table}: the key batch has no columns"
            )));
        }
        let condition = condition.join(" AND ");
        let ctx = || format!("deleting {} rows of {table}", keys.num_rows());
        let cascade = has_children(table, relations)
            && table_info(&self.conn, table)?
                .iter()
                .any(|c| c.name == cq::CQ_ID);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| SinkError::sqlite(ctx())(e))?;
        let mut deleted = 0u64;
        let mut ids: Vec<String> = Vec::new();
        {
            let delete_sql = format!("DELETE FROM {} WHERE {condition}", quote_ident(table));
            let select_sql = format!(
                "SELECT {} FROM {} WHERE {condition}",
                quote_ident(cq::CQ_ID),
                quote_ident(table)
            );
            let mut delete = tx
                .prepare_cached(&delete_sql)
                .map_err(|e| SinkError::sqlite(ctx())(e))?;
            let mut select = if cascade {
                Some(
                    tx.prepare_cached(&select_sql)
                        .map_err(|e| SinkError::sqlite(ctx())(e))?,
                )
            } else {
                None
            };
            for row in 0..keys.num_rows() {
                if let Some(select) = select.as_mut() {
                    for (j, col) in columns.iter().enumerate() {
                        let at = |why: String| {
                            values::value_error(table, schema.field(j).name(), row, why)
                        };
                        bind_cell(select, j + 1, col, row, &at)?;
                    }
                    let mut rows = select.raw_query();
                    while let Some(r) = rows.next().map_err(|e| SinkError::sqlite(ctx())(e))? {
                        if let Some(id) = r
                            .get::<_, Option<String>>(0)
                            .map_err(|e| SinkError::sqlite(ctx())(e))?
                        {
                            ids.push(id);
                        }
                    }
                }
                for (j, col) in columns.iter().enumerate() {
                    let at =
                        |why: String| values::value_error(table, schema.field(j).name(), row, why);
                    bind_cell(&mut delete, j + 1, col, row, &at)?;
                }
                deleted += delete
                    .raw_execute()
                    .map_err(|e| SinkError::sqlite(ctx())(e))? as u64;
            }
        }
        if cascade {
            delete_children(&tx, table, ids, relations, 0)?;
        }
        tx.commit().map_err(|e| SinkError::sqlite(ctx())(e))?;
        Ok(deleted)
    }

    fn read(&mut self, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        use serde_json::Value;
        let table = values::table_of(schema)?;
        let out_schema = values::canonical_schema(schema)?;
        let kinds: Vec<ColumnKind> = schema
            .fields()
            .iter()
            .map(|f| values::column_kind(&table, f))
            .collect::<Result<_>>()?;
        let cols: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| quote_ident(f.name()))
            .collect();
        let sql = format!("SELECT {} FROM {}", cols.join(", "), quote_ident(&table));
        let ctx = || format!("reading {table}");
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| SinkError::sqlite(ctx())(e))?;
        let mut rows = stmt.query([]).map_err(|e| SinkError::sqlite(ctx())(e))?;
        let mut out = Vec::new();
        let mut chunk: Vec<Vec<Value>> = Vec::new();
        while let Some(r) = rows.next().map_err(|e| SinkError::sqlite(ctx())(e))? {
            let mut cells = Vec::with_capacity(kinds.len());
            for (i, kind) in kinds.iter().enumerate() {
                use rusqlite::types::Value as S;
                let v: S = r.get(i).map_err(|e| SinkError::sqlite(ctx())(e))?;
                cells.push(match (kind, v) {
                    (_, S::Null) => Value::Null,
                    (ColumnKind::Bool, S::Integer(i)) => Value::Bool(i != 0),
                    (_, S::Integer(i)) => Value::from(i),
                    (_, S::Real(x)) => Value::from(x),
                    (ColumnKind::Json, S::Text(t)) => {
                        serde_json::from_str(&t).unwrap_or(Value::String(t))
                    }
                    (_, S::Text(t)) => Value::String(t),
                    (_, S::Blob(b)) => Value::String(String::from_utf8_lossy(&b).into_owned()),
                });
            }
            chunk.push(cells);
            if chunk.len() == 10_000 {
                out.push(values::batch_from_json_rows(&out_schema, &chunk)?);
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            out.push(values::batch_from_json_rows(&out_schema, &chunk)?);
        }
        Ok(out)
    }

    fn read_state(&mut self, table: &str) -> Result<HashMap<String, String>> {
        let info = table_info(&self.conn, table)?;
        if info.is_empty() {
            return Ok(HashMap::new());
        }
        let has_version = info.iter().any(|c| c.name == "version");
        let sql = format!(
            "SELECT {}, {}, {} FROM {}",
            quote_ident("key"),
            quote_ident("value"),
            if has_version {
                quote_ident("version")
            } else {
                "0".into()
            },
            quote_ident(table)
        );
        let ctx = || format!("reading state table {table}");
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| SinkError::sqlite(ctx())(e))?;
        let mut rows = stmt.query([]).map_err(|e| SinkError::sqlite(ctx())(e))?;
        let mut best: HashMap<String, (i64, String)> = HashMap::new();
        while let Some(r) = rows.next().map_err(|e| SinkError::sqlite(ctx())(e))? {
            let key: String = r.get(0).map_err(|e| SinkError::sqlite(ctx())(e))?;
            let value: Option<String> = r.get(1).map_err(|e| SinkError::sqlite(ctx())(e))?;
            let version: Option<i64> = r.get(2).map_err(|e| SinkError::sqlite(ctx())(e))?;
            let version = version.unwrap_or(0);
            match best.get(&key) {
                Some((v, _)) if *v > version => {}
                _ => {
                    best.insert(key, (version, value.unwrap_or_default()));
                }
            }
        }
        Ok(best.into_iter().map(|(k, (_, v))| (k, v)).collect())
    }

    fn write_state(&mut self, table: &str, entries: &HashMap<String, String>) -> Result<()> {
        let ctx = || format!("writing state table {table}");
        let mut info = table_info(&self.conn, table)?;
        if info.is_empty() {
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} (\"key\" TEXT NOT NULL PRIMARY KEY, \"value\" TEXT, \"version\" INTEGER)",
                quote_ident(table)
            );
            self.conn
                .execute(&sql, [])
                .map_err(|e| SinkError::sqlite(ctx())(e))?;
            info = table_info(&self.conn, table)?;
        }
        let has_version = info.iter().any(|c| c.name == "version");
        let key_is_pk = info.iter().any(|c| c.name == "key" && c.pk > 0);
        let t = quote_ident(table);
        let sql = match (key_is_pk, has_version) {
            (true, true) => format!(
                "INSERT INTO {t} (\"key\", \"value\", \"version\") VALUES (?1, ?2, 1) \
                 ON CONFLICT (\"key\") DO UPDATE SET \"value\" = excluded.\"value\", \
                 \"version\" = COALESCE({t}.\"version\", 0) + 1"
            ),
            (true, false) => format!(
                "INSERT INTO {t} (\"key\", \"value\") VALUES (?1, ?2) \
                 ON CONFLICT (\"key\") DO UPDATE SET \"value\" = excluded.\"value\""
            ),
            (false, true) => format!(
                "INSERT INTO {t} (\"key\", \"value\", \"version\") \
                 SELECT ?1, ?2, COALESCE(MAX(\"version\"), 0) + 1 FROM {t} WHERE \"key\" = ?1"
            ),
            (false, false) => format!("INSERT INTO {t} (\"key\", \"value\") VALUES (?1, ?2)"),
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| SinkError::sqlite(ctx())(e))?;
        {
            if !key_is_pk && !has_version {
                let mut del = tx
                    .prepare(&format!("DELETE FROM {t} WHERE \"key\" = ?1"))
                    .map_err(|e| SinkError::sqlite(ctx())(e))?;
                for key in entries.keys() {
                    del.execute([key])
                        .map_err(|e| SinkError::sqlite(ctx())(e))?;
                }
            }
            let mut stmt = tx.prepare(&sql).map_err(|e| SinkError::sqlite(ctx())(e))?;
            for (key, value) in entries {
                stmt.execute([key, value])
                    .map_err(|e| SinkError::sqlite(ctx())(e))?;
            }
        }
        tx.commit().map_err(|e| SinkError::sqlite(ctx())(e))
    }
}

fn has_children(table: &str, relations: &[TableRelation]) -> bool {
    relations.iter().any(|r| r.parent_table == table)
}

/// Deletes the rows of `parent`'s child tables whose `_cq_parent_id` is in `ids`, recursively.
fn delete_children(
    conn: &Connection,
    parent: &str,
    ids: Vec<String>,
    relations: &[TableRelation],
    depth: usize,
) -> Result<()> {
    if ids.is_empty() || depth > 16 {
        return Ok(());
    }
    for rel in relations.iter().filter(|r| r.parent_table == parent) {
        let child = rel.table_name.as_str();
        let info = table_info(conn, child)?;
        if !info.iter().any(|c| c.name == cq::CQ_PARENT_ID) {
            continue;
        }
        let ctx = || format!("deleting child rows of {child}");
        let grand = has_children(child, relations) && info.iter().any(|c| c.name == cq::CQ_ID);
        let mut child_ids = Vec::new();
        if grand {
            let mut select = conn
                .prepare_cached(&format!(
                    "SELECT {} FROM {} WHERE {} = ?1",
                    quote_ident(cq::CQ_ID),
                    quote_ident(child),
                    quote_ident(cq::CQ_PARENT_ID)
                ))
                .map_err(|e| SinkError::sqlite(ctx())(e))?;
            for id in &ids {
                let found = select
                    .query_map([id], |r| r.get::<_, Option<String>>(0))
                    .map_err(|e| SinkError::sqlite(ctx())(e))?;
                for f in found {
                    if let Some(f) = f.map_err(|e| SinkError::sqlite(ctx())(e))? {
                        child_ids.push(f);
                    }
                }
            }
        }
        let mut delete = conn
            .prepare_cached(&format!(
                "DELETE FROM {} WHERE {} = ?1",
                quote_ident(child),
                quote_ident(cq::CQ_PARENT_ID)
            ))
            .map_err(|e| SinkError::sqlite(ctx())(e))?;
        for id in &ids {
            delete
                .execute([id])
                .map_err(|e| SinkError::sqlite(ctx())(e))?;
        }
        delete_children(conn, child, child_ids, relations, depth + 1)?;
    }
    Ok(())
}
