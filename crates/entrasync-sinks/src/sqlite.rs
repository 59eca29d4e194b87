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
use crate::sql;
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

/// SQLite in the shared SQL core.
pub const DIALECT: sql::Dialect = sql::Dialect {
    name: "SQLite",
    sql_type,
    holds: |declared, kind| declared.eq_ignore_ascii_case(&sql_type(kind)),
    param: |n| format!("?{n}"),
};

/// A sink writing into one SQLite database file.
pub struct SqliteSink {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    conn: Connection,
    path: PathBuf,
    write_mode: WriteMode,
    migrate_mode: MigrateMode,
    /// `create_performance_indexes`: index `(_cq_source_name, _cq_sync_time)` too.
    performance_indexes: bool,
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
                performance_indexes: false,
                pks: HashMap::new(),
            })),
        })
    }

    /// Sets what `migrate` may do to existing tables (default [`MigrateMode::Safe`]).
    pub fn with_migrate_mode(self, mode: MigrateMode) -> Self {
        self.lock().migrate_mode = mode;
        self
    }

    /// Sets CloudQuery's `create_performance_indexes` (see [`crate::sql`]; default off).
    pub fn with_performance_indexes(self, on: bool) -> Self {
        self.lock().performance_indexes = on;
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
    fn existing(&self, table: &str) -> Result<Option<sql::Existing>> {
        let info = table_info(&self.conn, table)?;
        if info.is_empty() {
            return Ok(None);
        }
        let mut pk: Vec<&ColumnInfo> = info.iter().filter(|c| c.pk > 0).collect();
        pk.sort_by_key(|c| c.pk);
        Ok(Some(sql::Existing {
            pk: pk.iter().map(|c| c.name.clone()).collect(),
            columns: info.into_iter().map(|c| (c.name, c.decl_type)).collect(),
        }))
    }

    fn migrate(&mut self, schema: &SchemaRef) -> Result<()> {
        let wanted = sql::Wanted::of(schema, self.write_mode)?;
        let table = wanted.table.clone();
        let existing = self.existing(&table)?;
        let ctx = format!("migrating {table}");
        let mut statements = Vec::new();
        match sql::plan(&DIALECT, existing.as_ref(), &wanted, self.migrate_mode) {
            sql::Plan::Create => statements.push(sql::create_table(&DIALECT, &wanted)),
            sql::Plan::Unchanged => {}
            sql::Plan::AddColumns(missing) => {
                statements.extend(sql::add_columns(&DIALECT, &table, &missing))
            }
            sql::Plan::Refuse(problems) => return Err(sql::refusal(&table, &problems)),
            sql::Plan::Recreate(problems) => {
                tracing::warn!(table = %table, changes = %problems.join("; "), "migrate_mode forced: dropping and recreating the table");
                statements.push(format!("DROP TABLE {}", quote_ident(&table)));
                statements.push(sql::create_table(&DIALECT, &wanted));
            }
        }
        // One transaction: a failed step (a duplicate _cq_id under the new unique index) leaves
        // the table as it was.
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(SinkError::sqlite(ctx.clone()))?;
        for statement in &statements {
            tx.execute(statement, [])
                .map_err(SinkError::sqlite(ctx.clone()))?;
        }
        let columns: Vec<String> = table_info(&tx, &table)?
            .into_iter()
            .map(|c| c.name)
            .collect();
        let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
        for statement in sql::indexes(&table, &columns, self.write_mode, self.performance_indexes) {
            tx.execute(&statement, [])
                .map_err(SinkError::sqlite(sql::index_error_hint(&table, &statement)))?;
        }
        tx.commit().map_err(SinkError::sqlite(ctx))?;
        self.pks.insert(table, wanted.pk);
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
        let pk = match sql::primary_key(&schema, self.write_mode) {
            pk if pk.is_empty() && self.write_mode != WriteMode::Append => {
                self.pks.get(&table).cloned().unwrap_or_default()
            }
            pk => pk,
        };
        let cols: Vec<String> = names.iter().map(|n| quote_ident(n)).collect();
        let params: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let owned: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({}){}",
            quote_ident(&table),
            cols.join(", "),
            params.join(", "),
            sql::on_conflict(&owned, &pk)
        );
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
                out.push(values::batch_as_sent(schema, &chunk)?);
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            out.push(values::batch_as_sent(schema, &chunk)?);
        }
        Ok(out)
    }

    fn read_state(&mut self, table: &str) -> Result<HashMap<String, String>> {
        let info = table_info(&self.conn, table)?;
        if info.is_empty() {
            return Ok(HashMap::new());
        }
        let has_version = info.iter().any(|c| c.name == "version");
        let ctx = || format!("reading state table {table}");
        let mut stmt = self
            .conn
            .prepare(&sql::state_read(&DIALECT, table, has_version))
            .map_err(|e| SinkError::sqlite(ctx())(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| SinkError::sqlite(ctx())(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| SinkError::sqlite(ctx())(e))?;
        Ok(sql::latest_state(rows))
    }

    fn write_state(&mut self, table: &str, entries: &HashMap<String, String>) -> Result<()> {
        let ctx = || format!("writing state table {table}");
        let mut info = table_info(&self.conn, table)?;
        if info.is_empty() {
            self.conn
                .execute(&sql::state_create(&DIALECT, table), [])
                .map_err(|e| SinkError::sqlite(ctx())(e))?;
            info = table_info(&self.conn, table)?;
        }
        let has_version = info.iter().any(|c| c.name == "version");
        let key_is_pk = info.iter().any(|c| c.name == "key" && c.pk > 0);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| SinkError::sqlite(ctx())(e))?;
        for statement in sql::state_write(&DIALECT, table, key_is_pk, has_version) {
            let mut stmt = tx
                .prepare(&statement)
                .map_err(|e| SinkError::sqlite(ctx())(e))?;
            for (key, value) in entries {
                // A statement that names only the key (`?1`) gets only the key.
                let n = stmt.parameter_count();
                let params: [&dyn rusqlite::ToSql; 2] = [key, value];
                stmt.execute(&params[..n])
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
