//! PostgreSQL sink (`path: cloudquery/postgresql`).
//!
//! # Type mapping (as CloudQuery's PostgreSQL destination)
//!
//! | CloudQuery / Arrow        | PostgreSQL          |
//! |---------------------------|---------------------|
//! | utf8                      | `text`              |
//! | bool                      | `boolean`           |
//! | int64 (and narrower ints) | `bigint`            |
//! | float64 (and float32)     | `double precision`  |
//! | timestamp[us, tz=UTC]     | `timestamptz`       |
//! | list<utf8>                | `text[]`            |
//! | json (extension)          | `jsonb`             |
//! | uuid (extension)          | `uuid`              |
//!
//! Non-nullable fields are `NOT NULL` at creation; the primary key (constraint `<table>_cqpk`)
//! is the set of `cq:extension:primary_key` fields (none in append mode).
//!
//! A NUL character (U+0000), which PostgreSQL's `text` and `jsonb` cannot hold, is an error
//! naming the table, column and row. CloudQuery's PostgreSQL destination deletes NULs silently;
//! entrasync stores values exactly or not at all (SQLite and the file formats keep them).
//!
//! # Loading
//!
//! `write` buffers batches per table until `batch_size` rows or `batch_size_bytes` (Arrow
//! memory) are reached (the largest table's as soon as all tables together hold 16 MiB), or
//! until `flush`, `delete_stale`, `delete_rows` or `write_state` (which flush everything first,
//! so state never gets ahead of rows). A flush encodes the rows straight
//! from Arrow into PostgreSQL's binary COPY format (our own encoder; no per-row round trip) and,
//! in one transaction, `COPY`s them into a `TEMP … ON COMMIT DROP` staging table and runs
//! `INSERT INTO t SELECT … ON CONFLICT (pk) DO UPDATE`; when the flushed rows repeat a key,
//! `SELECT DISTINCT ON (pk) … ORDER BY pk, ctid DESC` keeps the last of them. The session sets
//! `temp_buffers = 256MB` so staging stays in memory. In append mode (or without a primary key) it `COPY`s into
//! the table directly.
//!
//! # Migrations
//!
//! `migrate` creates the table or adds missing columns. A changed column type or primary key is
//! refused in [`MigrateMode::Safe`]; [`MigrateMode::Forced`] drops and recreates the table.
//!
//! # Connection strings
//!
//! A URL (`postgres://user:pass@host:5432/db?sslmode=disable`) or key=value
//! (`host=… user=… password=… dbname=… sslmode=…`), as tokio-postgres parses them.
//! `sslmode` has libpq's meaning (`disable`, `allow`, `prefer` (default), `require`,
//! `verify-ca`, `verify-full`; `sslrootcert` names a PEM file of roots, else the system roots are
//! used) on rustls; see `pgtls`. Error messages show the connection string with its password
//! replaced by `xxxxx`, and never the password itself.

use crate::cq;
use crate::sql;
use crate::values::{self, Column, Kind, quote_ident};
use crate::{MigrateMode, Result, Sink, SinkError, TableRelation, WriteMode};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};
use futures::SinkExt;
use std::collections::{HashMap, HashSet};
use tokio_postgres::types::ToSql;

/// Arrow bytes buffered across all tables before the largest table's rows are written, so
/// memory stays flat however many tables are read at once. A COPY of 16 MiB is thousands of
/// rows: 48 MiB took the same time on a large tenant, at 132 MB peak RSS instead of 116 MB.
const SINK_BUFFER_BYTES: usize = 16 << 20;

/// Options of the PostgreSQL sink (the CloudQuery destination spec's fields).
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pub write_mode: WriteMode,
    pub migrate_mode: MigrateMode,
    /// Rows buffered per table before a COPY (CloudQuery's default: 10000).
    pub batch_size: usize,
    /// Arrow bytes buffered per table before a COPY (CloudQuery's default: 100 MB).
    pub batch_size_bytes: usize,
    /// `create_performance_indexes`: index `(_cq_source_name, _cq_sync_time)` too (see
    /// [`crate::sql`]).
    pub performance_indexes: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            write_mode: WriteMode::default(),
            migrate_mode: MigrateMode::default(),
            batch_size: 10_000,
            batch_size_bytes: 100_000_000,
            performance_indexes: false,
        }
    }
}

/// The PostgreSQL type of a column kind (CloudQuery's PostgreSQL destination's choices, except
/// that every integer narrower than uint64 is `bigint`, every float `double precision`, and
/// lists of anything but strings, structs and maps `jsonb`).
pub fn pg_type(kind: Kind) -> String {
    match kind {
        Kind::Utf8 => "text".into(),
        Kind::Bool => "boolean".into(),
        Kind::Int64 => "bigint".into(),
        Kind::UInt64 => "numeric(20,0)".into(),
        Kind::Float64 => "double precision".into(),
        Kind::Decimal(p, s) if (0..=p as i8).contains(&s) && p <= 38 => format!("numeric({p},{s})"),
        Kind::Decimal(_, _) => "numeric".into(),
        Kind::Timestamp => "timestamptz".into(),
        Kind::Date => "date".into(),
        Kind::Time => "time".into(),
        Kind::Duration | Kind::Interval => "interval".into(),
        Kind::Binary => "bytea".into(),
        Kind::Utf8List => "text[]".into(),
        Kind::Json | Kind::Nested => "jsonb".into(),
        Kind::Uuid => "uuid".into(),
        Kind::Inet => "inet".into(),
        Kind::Mac => "macaddr".into(),
    }
}

/// `pg_type` as PostgreSQL's `format_type` prints it.
fn formatted_type(kind: Kind) -> String {
    match kind {
        Kind::Timestamp => "timestamp with time zone".into(),
        Kind::Time => "time without time zone".into(),
        other => pg_type(other),
    }
}

/// PostgreSQL in the shared SQL core. A uint64 column that an existing table holds as `bigint`
/// (state tables created before uint64 became `numeric(20,0)`) is accepted: see
/// `PostgresSink::bigint_u64`.
pub const DIALECT: sql::Dialect = sql::Dialect {
    name: "PostgreSQL",
    sql_type: pg_type,
    holds: |formatted, kind| {
        formatted == formatted_type(kind) || (kind == Kind::UInt64 && formatted == "bigint")
    },
    param: |n| format!("${n}"),
};

/// Whether a key of this kind binds as a typed parameter (others bind as text and are cast).
fn binds_natively(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Utf8
            | Kind::Bool
            | Kind::Int64
            | Kind::Float64
            | Kind::Timestamp
            | Kind::Utf8List
            | Kind::Json
            | Kind::Uuid
    )
}

/// A sink writing into one PostgreSQL database over one connection.
pub struct PostgresSink {
    client: tokio_postgres::Client,
    connection: tokio::task::JoinHandle<()>,
    options: PostgresOptions,
    target: String,
    pks: HashMap<String, Vec<String>>,
    /// Per table, the uint64 columns that an existing table holds as `bigint` (state tables
    /// created before uint64 became `numeric(20,0)`): written as bigint, a value above
    /// i64::MAX an error.
    bigint_u64: HashMap<String, HashSet<String>>,
    pending: HashMap<String, Pending>,
}

#[derive(Default)]
struct Pending {
    batches: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
}

impl Drop for PostgresSink {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            tracing::warn!(
                tables = self.pending.len(),
                "PostgreSQL sink dropped with unflushed rows; they are not written"
            );
        }
        self.connection.abort();
    }
}

/// The connection string with its passwords (URL user-info, `password` query parameter,
/// `password=` key, plain or quoted) replaced by `xxxxx`: safe for logs and errors.
pub fn sanitize_connection_string(conn: &str) -> String {
    crate::pgtls::mask_password(conn)
}

/// `message` with every form of the connection string's passwords replaced by `xxxxx`.
fn scrub(message: String, passwords: &[String]) -> String {
    passwords
        .iter()
        .filter(|p| !p.is_empty())
        .fold(message, |m, p| {
            m.replace(p.as_str(), crate::pgtls::PASSWORD_MASK)
        })
}

/// An error with PostgreSQL's own message, detail and hint.
fn pg_err(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> SinkError {
    let context = context.into();
    move |e| {
        let message = match e.as_db_error() {
            Some(db) => {
                let mut m = format!("{} ({})", db.message(), db.code().code());
                if let Some(d) = db.detail() {
                    m.push_str(&format!("; detail: {d}"));
                }
                if let Some(h) = db.hint() {
                    m.push_str(&format!("; hint: {h}"));
                }
                m
            }
            None => {
                let mut m = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    m.push_str(&format!(": {s}"));
                    source = s.source();
                }
                m
            }
        };
        SinkError::Postgres { context, message }
    }
}

impl PostgresSink {
    /// Connects to `connection_string` (URL or key=value; see the module doc for `sslmode`).
    pub async fn connect(connection_string: &str, options: PostgresOptions) -> Result<Self> {
        let target = sanitize_connection_string(connection_string);
        let passwords = crate::pgtls::passwords(connection_string);
        let fail = |message: String| SinkError::Postgres {
            context: format!("connecting to PostgreSQL at {target}"),
            message: scrub(message, &passwords),
        };
        let spec = crate::pgtls::parse(connection_string).map_err(&fail)?;
        let config: tokio_postgres::Config = spec
            .driver_string
            .parse()
            .map_err(|e: tokio_postgres::Error| fail(format!("invalid connection string: {e}")))?;
        let connect_error = |e: tokio_postgres::Error| {
            let SinkError::Postgres { message, .. } = pg_err("")(e) else {
                unreachable!()
            };
            fail(message)
        };
        let log_end = |r: Result<(), tokio_postgres::Error>| {
            if let Err(e) = r {
                tracing::error!(error = %e, "PostgreSQL connection closed with an error");
            }
        };
        let (client, connection) = match crate::pgtls::connector(&spec).map_err(&fail)? {
            None => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(connect_error)?;
                (
                    client,
                    tokio::spawn(async move { log_end(connection.await) }),
                )
            }
            Some(tls) => {
                let (client, connection) = config.connect(tls).await.map_err(connect_error)?;
                (
                    client,
                    tokio::spawn(async move { log_end(connection.await) }),
                )
            }
        };
        // Before any temporary table exists in the session, so that it takes effect.
        client
            .batch_execute("SET temp_buffers = '256MB'")
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(PostgresSink {
            client,
            connection,
            options,
            target,
            pks: HashMap::new(),
            bigint_u64: HashMap::new(),
            pending: HashMap::new(),
        })
    }

    /// The connection string with the password masked.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The options given at `connect`.
    pub fn options(&self) -> &PostgresOptions {
        &self.options
    }

    async fn columns(&self, table: &str) -> Result<Vec<(String, String)>> {
        let rows = self
            .client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
                 FROM pg_attribute a WHERE a.attrelid = to_regclass($1) \
                 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&quote_ident(table)],
            )
            .await
            .map_err(pg_err(format!("reading the columns of {table}")))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn primary_key(&self, table: &str) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(
                "SELECT a.attname::text FROM pg_index i \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = to_regclass($1) AND i.indisprimary \
                 ORDER BY array_position(i.indkey::int2[], a.attnum)",
                &[&quote_ident(table)],
            )
            .await
            .map_err(pg_err(format!("reading the primary key of {table}")))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn schema_pk(&self, schema: &Schema) -> Vec<String> {
        sql::primary_key(schema, self.options.write_mode)
    }

    async fn flush_all(&mut self) -> Result<()> {
        let tables: Vec<String> = self.pending.keys().cloned().collect();
        for t in tables {
            self.flush_table(&t).await?;
        }
        Ok(())
    }

    async fn flush_table(&mut self, table: &str) -> Result<()> {
        let Some(pending) = self.pending.remove(table) else {
            return Ok(());
        };
        if pending.rows == 0 {
            return Ok(());
        }
        let schema = pending.batches[0].schema();
        let mut pk = self.schema_pk(&schema);
        if pk.is_empty() && self.options.write_mode != WriteMode::Append {
            pk = match self.pks.get(table) {
                Some(pk) => pk.clone(),
                None => self.primary_key(table).await?,
            };
        }
        let ctx = format!("writing {} rows to {table}", pending.rows);
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| quote_ident(f.name()))
            .collect();
        let kinds: Vec<Kind> = schema
            .fields()
            .iter()
            .map(|f| values::kind(table, f))
            .collect::<Result<_>>()?;
        let legacy: Vec<bool> = {
            let set = self.bigint_u64.get(table);
            schema
                .fields()
                .iter()
                .map(|f| set.is_some_and(|s| s.contains(f.name())))
                .collect()
        };
        let cols = names.join(", ");
        let tx = self
            .client
            .transaction()
            .await
            .map_err(pg_err(ctx.clone()))?;
        let copy_target = if pk.is_empty() {
            quote_ident(table)
        } else {
            let defs: Vec<String> = names
                .iter()
                .zip(&kinds)
                .zip(&legacy)
                .map(|((n, k), l)| {
                    format!("{n} {}", if *l { "bigint".into() } else { pg_type(*k) })
                })
                .collect();
            tx.batch_execute(&format!(
                "CREATE TEMP TABLE \"_entrasync_stage\" ({}) ON COMMIT DROP",
                defs.join(", ")
            ))
            .await
            .map_err(pg_err(ctx.clone()))?;
            "\"_entrasync_stage\"".to_string()
        };
        {
            let copy = tx
                .copy_in::<_, bytes::Bytes>(&format!(
                    "COPY {copy_target} ({cols}) FROM STDIN (FORMAT binary)"
                ))
                .await
                .map_err(pg_err(ctx.clone()))?;
            futures::pin_mut!(copy);
            let mut buf = BytesMut::with_capacity(1 << 20);
            buf.put_slice(b"PGCOPY\n\xff\r\n\0");
            buf.put_i32(0);
            buf.put_i32(0);
            for batch in &pending.batches {
                let arrays = values::normalize(table, batch)?;
                let columns: Vec<Column<'_>> =
                    arrays.iter().map(|(k, a)| Column::new(*k, a)).collect();
                for row in 0..batch.num_rows() {
                    buf.put_i16(columns.len() as i16);
                    for (j, col) in columns.iter().enumerate() {
                        let encoded = if legacy[j] {
                            encode_bigint(&mut buf, col, row)
                        } else {
                            encode_cell(&mut buf, col, row)
                        };
                        encoded.map_err(|why| {
                            values::value_error(table, schema.field(j).name(), row, why)
                        })?;
                    }
                    if buf.len() >= 1 << 20 {
                        copy.send(buf.split().freeze())
                            .await
                            .map_err(pg_err(ctx.clone()))?;
                    }
                }
            }
            buf.put_i16(-1);
            copy.send(buf.split().freeze())
                .await
                .map_err(pg_err(ctx.clone()))?;
            copy.finish().await.map_err(pg_err(ctx.clone()))?;
        }
        if !pk.is_empty() {
            let pk_cols: Vec<String> = pk.iter().map(|c| quote_ident(c)).collect();
            let pk_cols = pk_cols.join(", ");
            let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
            let on_conflict = sql::on_conflict(&names, &pk);
            let sql = if has_duplicate_keys(table, &pending.batches, &pk)? {
                format!(
                    "INSERT INTO {} ({cols}) SELECT DISTINCT ON ({pk_cols}) {cols} \
                     FROM \"_entrasync_stage\" ORDER BY {pk_cols}, ctid DESC{on_conflict}",
                    quote_ident(table)
                )
            } else {
                format!(
                    "INSERT INTO {} ({cols}) SELECT {cols} FROM \"_entrasync_stage\"{on_conflict}",
                    quote_ident(table)
                )
            };
            tx.batch_execute(&sql).await.map_err(pg_err(ctx.clone()))?;
        }
        tx.commit().await.map_err(pg_err(ctx))?;
        Ok(())
    }

    /// The tables that exist among `names` and which of `columns` each has.
    async fn existing_columns(&self, table: &str) -> Result<HashSet<String>> {
        Ok(self
            .columns(table)
            .await?
            .into_iter()
            .map(|(n, _)| n)
            .collect())
    }
}

/// Whether two rows of `batches` share a primary key (then the upsert must pick the last one,
/// since `ON CONFLICT DO UPDATE` refuses to touch a row twice).
fn has_duplicate_keys(table: &str, batches: &[RecordBatch], pk: &[String]) -> Result<bool> {
    let mut seen = HashSet::new();
    for batch in batches {
        let schema = batch.schema();
        let arrays = values::normalize(table, batch)?;
        let key_columns: Vec<Column<'_>> = schema
            .fields()
            .iter()
            .zip(&arrays)
            .filter(|(f, _)| pk.contains(f.name()))
            .map(|(_, (k, a))| Column::new(*k, a))
            .collect();
        for row in 0..batch.num_rows() {
            let key: Vec<Option<String>> = key_columns.iter().map(|c| c.text(row)).collect();
            if !seen.insert(key) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Appends one cell in COPY BINARY encoding (length prefix, then the value's binary form).
fn encode_cell(
    buf: &mut BytesMut,
    col: &Column<'_>,
    row: usize,
) -> std::result::Result<(), String> {
    if col.is_null(row) {
        buf.put_i32(-1);
        return Ok(());
    }
    match col {
        Column::Utf8(a) => put_text(buf, a.value(row).as_bytes())?,
        Column::Bool(a) => {
            buf.put_i32(1);
            buf.put_u8(a.value(row) as u8);
        }
        Column::Int64(a) => {
            buf.put_i32(8);
            buf.put_i64(a.value(row));
        }
        Column::Float64(a) => {
            buf.put_i32(8);
            buf.put_f64(a.value(row));
        }
        Column::Timestamp(a) => {
            buf.put_i32(8);
            // PostgreSQL counts microseconds from 2000-01-01T00:00:00Z.
            buf.put_i64(a.value(row) - 946_684_800_000_000);
        }
        Column::Utf8List(a) => {
            let items = values::list_values(a, row);
            let start = buf.len();
            buf.put_i32(0); // length, patched below
            if items.is_empty() {
                buf.put_i32(0); // ndim
                buf.put_i32(0); // flags
                buf.put_u32(25); // text
            } else {
                buf.put_i32(1);
                buf.put_i32(items.iter().any(Option::is_none) as i32);
                buf.put_u32(25);
                buf.put_i32(items.len() as i32);
                buf.put_i32(1); // lower bound
                for item in items {
                    match item {
                        Some(s) => put_text(buf, s.as_bytes())?,
                        None => buf.put_i32(-1),
                    }
                }
            }
            let len = (buf.len() - start - 4) as i32;
            buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
        }
        Column::Json(a) => {
            let v = a.value(row);
            refuse_json_nul(v)?;
            buf.put_i32(v.len() as i32 + 1);
            buf.put_u8(1); // jsonb binary format version
            buf.put_slice(v);
        }
        Column::Uuid(a) => {
            buf.put_i32(16);
            buf.put_slice(a.value(row));
        }
        Column::UInt64(a) => put_numeric(buf, &a.value(row).to_string())?,
        Column::Decimal(a, s) => put_numeric(buf, &values::format_decimal(a.value(row), *s))?,
        Column::Date(a) => {
            buf.put_i32(4);
            // PostgreSQL counts days from 2000-01-01.
            buf.put_i32(
                a.value(row)
                    .checked_sub(10_957)
                    .ok_or("date out of range")?,
            );
        }
        Column::Time(a) => {
            buf.put_i32(8);
            buf.put_i64(a.value(row));
        }
        Column::Duration(a) => {
            buf.put_i32(16);
            buf.put_i64(a.value(row));
            buf.put_i32(0);
            buf.put_i32(0);
        }
        Column::Interval(a) => {
            let v = a.value(row);
            if v.nanoseconds % 1000 != 0 {
                return Err(format!(
                    "interval with {} ns is finer than PostgreSQL's microseconds",
                    v.nanoseconds
                ));
            }
            buf.put_i32(16);
            buf.put_i64(v.nanoseconds / 1000);
            buf.put_i32(v.days);
            buf.put_i32(v.months);
        }
        Column::Binary(a) => {
            buf.put_i32(a.value(row).len() as i32);
            buf.put_slice(a.value(row));
        }
        Column::Inet(a) => {
            let text = values::inet_text(a.value(row))?;
            let (addr, bits) = match text.split_once('/') {
                Some((addr, bits)) => (addr, Some(bits)),
                None => (text.as_str(), None),
            };
            let addr: std::net::IpAddr = addr
                .parse()
                .map_err(|_| format!("inet {text:?} is not an IP address"))?;
            let (family, bytes): (u8, Vec<u8>) = match addr {
                std::net::IpAddr::V4(a) => (2, a.octets().to_vec()),
                std::net::IpAddr::V6(a) => (3, a.octets().to_vec()),
            };
            let max = bytes.len() as u8 * 8;
            let bits = match bits {
                None => max,
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("inet {text:?} has a bad prefix length"))?,
            };
            buf.put_i32(4 + bytes.len() as i32);
            buf.put_u8(family);
            buf.put_u8(bits);
            buf.put_u8(0); // not cidr
            buf.put_u8(bytes.len() as u8);
            buf.put_slice(&bytes);
        }
        Column::Mac(a) => {
            let v = a.value(row);
            if v.len() != 6 {
                return Err(format!(
                    "MAC address of {} bytes does not fit macaddr (6 bytes)",
                    v.len()
                ));
            }
            buf.put_i32(6);
            buf.put_slice(v);
        }
        Column::Nested(_) => {
            let text = col.try_text(row)?.unwrap_or_default();
            refuse_json_nul(text.as_bytes())?;
            buf.put_i32(text.len() as i32 + 1);
            buf.put_u8(1);
            buf.put_slice(text.as_bytes());
        }
    }
    Ok(())
}

/// Appends a uint64 cell as `bigint` (see `PostgresSink::bigint_u64`).
fn encode_bigint(
    buf: &mut BytesMut,
    col: &Column<'_>,
    row: usize,
) -> std::result::Result<(), String> {
    match col {
        Column::UInt64(a) if !a.is_null(row) => {
            let v = i64::try_from(a.value(row)).map_err(|_| {
                format!(
                    "uint64 {} does not fit the table's existing bigint column",
                    a.value(row)
                )
            })?;
            buf.put_i32(8);
            buf.put_i64(v);
            Ok(())
        }
        other => encode_cell(buf, other, row),
    }
}

/// Appends a decimal text (`-12.340`) in `numeric`'s binary form: base-10000 digits.
fn put_numeric(buf: &mut BytesMut, text: &str) -> std::result::Result<(), String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a decimal"));
    }
    let int = int.trim_start_matches('0');
    let pad_int = (4 - int.len() % 4) % 4;
    let int = format!("{}{int}", "0".repeat(pad_int));
    let pad_frac = (4 - frac.len() % 4) % 4;
    let frac_p = format!("{frac}{}", "0".repeat(pad_frac));
    let group = |s: &str| -> Vec<i16> {
        s.as_bytes()
            .chunks(4)
            .map(|c| {
                std::str::from_utf8(c)
                    .unwrap_or("0")
                    .parse::<i16>()
                    .unwrap_or(0)
            })
            .collect()
    };
    let mut groups = group(&int);
    let int_groups = groups.len() as i16;
    groups.extend(group(&frac_p));
    let mut weight = int_groups - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    buf.put_i32(8 + 2 * groups.len() as i32);
    buf.put_i16(groups.len() as i16);
    buf.put_i16(weight);
    buf.put_u16(if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    });
    buf.put_i16(frac.len() as i16);
    for g in groups {
        buf.put_i16(g);
    }
    Ok(())
}

/// What a NUL in a value is (module doc: refused, never dropped).
const NUL_REFUSED: &str = "PostgreSQL text and jsonb cannot hold the NUL character (U+0000); \
     entrasync does not drop it as CloudQuery's PostgreSQL destination does, since the stored \
     value would differ from the sent one: remove it at the source, or write this table to \
     SQLite or files, which keep it";

fn put_text(buf: &mut BytesMut, bytes: &[u8]) -> std::result::Result<(), String> {
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        return Err(format!("NUL at byte {at}: {NUL_REFUSED}"));
    }
    buf.put_i32(bytes.len() as i32);
    buf.put_slice(bytes);
    Ok(())
}

/// JSON text with an escaped NUL (`\u0000`, not `\\u0000`) is refused like a NUL in text.
fn refuse_json_nul(json: &[u8]) -> std::result::Result<(), String> {
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'\\' if json[i + 1..].starts_with(b"u0000") => {
                return Err(format!(
                    "escaped NUL (\\u0000) in JSON at byte {i}: {NUL_REFUSED}"
                ));
            }
            // Any other escape: skip the escaped character (`\\u0000` is a backslash, then text).
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Ok(())
}

/// Cell `row` of `col` as a query parameter of the column's type.
fn param(col: &Column<'_>, row: usize) -> Box<dyn ToSql + Sync + Send> {
    let null = col.is_null(row);
    match col {
        Column::Utf8(a) => Box::new((!null).then(|| a.value(row).to_string())),
        Column::Bool(a) => Box::new((!null).then(|| a.value(row))),
        Column::Int64(a) => Box::new((!null).then(|| a.value(row))),
        Column::Float64(a) => Box::new((!null).then(|| a.value(row))),
        Column::Timestamp(a) => Box::new(
            (!null)
                .then(|| DateTime::<Utc>::from_timestamp_micros(a.value(row)))
                .flatten(),
        ),
        Column::Utf8List(a) => Box::new((!null).then(|| {
            values::list_values(a, row)
                .into_iter()
                .map(|s| s.map(str::to_string))
                .collect::<Vec<Option<String>>>()
        })),
        Column::Json(a) => Box::new(
            (!null)
                .then(|| serde_json::from_slice::<serde_json::Value>(a.value(row)).ok())
                .flatten(),
        ),
        Column::Uuid(a) => Box::new(
            (!null)
                .then(|| uuid::Uuid::from_slice(a.value(row)).ok())
                .flatten(),
        ),
        other => Box::new(pg_text(other, row)),
    }
}

/// Cell `row` as PostgreSQL input text, for kinds that bind as text (see [`binds_natively`]).
fn pg_text(col: &Column<'_>, row: usize) -> Option<String> {
    match col {
        _ if col.is_null(row) => None,
        Column::Binary(a) => Some(format!(
            "\\x{}",
            a.value(row)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )),
        Column::Duration(a) => Some(format!("{} microseconds", a.value(row))),
        Column::Interval(a) => {
            let v = a.value(row);
            Some(format!(
                "{} months {} days {} microseconds",
                v.months,
                v.days,
                v.nanoseconds / 1000
            ))
        }
        other => other.text(row),
    }
}

#[async_trait::async_trait]
impl Sink for PostgresSink {
    async fn migrate(&mut self, schema: SchemaRef) -> Result<()> {
        let wanted = sql::Wanted::of(&schema, self.options.write_mode)?;
        let table = wanted.table.clone();
        self.flush_table(&table).await?;
        let columns = self.columns(&table).await?;
        let existing = if columns.is_empty() {
            None
        } else {
            Some(sql::Existing {
                pk: self.primary_key(&table).await?,
                columns,
            })
        };
        let ctx = format!("migrating {table}");
        let mut statements = Vec::new();
        let plan = sql::plan(
            &DIALECT,
            existing.as_ref(),
            &wanted,
            self.options.migrate_mode,
        );
        match &plan {
            sql::Plan::Create => statements.push(sql::create_table(&DIALECT, &wanted)),
            sql::Plan::Unchanged => {}
            sql::Plan::AddColumns(missing) => {
                statements.extend(sql::add_columns(&DIALECT, &table, missing))
            }
            sql::Plan::Refuse(problems) => return Err(sql::refusal(&table, problems)),
            sql::Plan::Recreate(problems) => {
                tracing::warn!(table = %table, changes = %problems.join("; "), "migrate_mode forced: dropping and recreating the table");
                statements.push(format!("DROP TABLE {}", quote_ident(&table)));
                statements.push(sql::create_table(&DIALECT, &wanted));
            }
        }
        // uint64 columns an existing table keeps as bigint (see `bigint_u64`).
        let legacy: HashSet<String> = match (&plan, &existing) {
            (sql::Plan::Unchanged | sql::Plan::AddColumns(_), Some(existing)) => wanted
                .columns
                .iter()
                .filter(|(name, kind, _)| {
                    *kind == Kind::UInt64
                        && existing
                            .columns
                            .iter()
                            .any(|(n, t)| n == name && t == "bigint")
                })
                .map(|(name, _, _)| name.clone())
                .collect(),
            _ => HashSet::new(),
        };
        let mut present: Vec<&str> = wanted.columns.iter().map(|(n, _, _)| n.as_str()).collect();
        if let Some(existing) = &existing {
            present.extend(existing.columns.iter().map(|(n, _)| n.as_str()));
        }
        let indexes = sql::indexes(
            &table,
            &present,
            self.options.write_mode,
            self.options.performance_indexes,
        );
        // One transaction: a failed step (a duplicate _cq_id under the new unique index) leaves
        // the table as it was.
        let tx = self
            .client
            .transaction()
            .await
            .map_err(pg_err(ctx.clone()))?;
        for statement in &statements {
            tx.batch_execute(statement)
                .await
                .map_err(pg_err(ctx.clone()))?;
        }
        for statement in &indexes {
            tx.batch_execute(statement)
                .await
                .map_err(pg_err(sql::index_error_hint(&table, statement)))?;
        }
        tx.commit().await.map_err(pg_err(ctx))?;
        self.bigint_u64.insert(table.clone(), legacy);
        self.pks.insert(table, wanted.pk);
        Ok(())
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let schema = batch.schema();
        let table = values::table_of(&schema)?;
        for f in schema.fields() {
            values::kind(&table, f)?;
        }
        let same_shape = self
            .pending
            .get(&table)
            .and_then(|p| p.batches.first())
            .is_none_or(|b| b.schema().fields() == schema.fields());
        if !same_shape {
            self.flush_table(&table).await?;
        }
        let p = self.pending.entry(table.clone()).or_default();
        p.rows += batch.num_rows();
        p.bytes += batch.get_array_memory_size();
        p.batches.push(batch);
        if p.rows >= self.options.batch_size.max(1) || p.bytes >= self.options.batch_size_bytes {
            self.flush_table(&table).await?;
        }
        // One budget for all tables: many tables filling their own buffers at once would
        // otherwise hold up to `batch_size` rows each.
        while self.pending.values().map(|p| p.bytes).sum::<usize>() > SINK_BUFFER_BYTES {
            let largest = self
                .pending
                .iter()
                .max_by_key(|(_, p)| p.bytes)
                .map(|(t, _)| t.clone())
                .expect("over budget, so something is buffered");
            self.flush_table(&largest).await?;
        }
        Ok(())
    }

    async fn delete_stale(
        &mut self,
        table: &str,
        source_name: &str,
        tenant_id: Option<&str>,
        sync_time: DateTime<Utc>,
    ) -> Result<u64> {
        self.flush_table(table).await?;
        let mut sql = format!(
            "DELETE FROM {} WHERE {} = $1 AND {} < $2",
            quote_ident(table),
            quote_ident(cq::CQ_SOURCE_NAME),
            quote_ident(cq::CQ_SYNC_TIME)
        );
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&source_name, &sync_time];
        if let Some(tenant) = &tenant_id {
            sql.push_str(&format!(" AND {} = $3", quote_ident(cq::TENANT_ID)));
            params.push(tenant);
        }
        self.client
            .execute(&sql, &params)
            .await
            .map_err(pg_err(format!("deleting stale rows of {table}")))
    }

    async fn flush(&mut self) -> Result<()> {
        self.flush_all().await
    }

    async fn delete_rows(
        &mut self,
        table: &str,
        keys: RecordBatch,
        relations: &[TableRelation],
    ) -> Result<u64> {
        self.flush_all().await?;
        if keys.num_rows() == 0 {
            return Ok(0);
        }
        let schema = keys.schema();
        let arrays = values::normalize(table, &keys)?;
        let columns: Vec<Column<'_>> = arrays.iter().map(|(k, a)| Column::new(*k, a)).collect();
        if columns.is_empty() {
            return Err(SinkError::Schema(format!(
                "deleting rows of {table}: the key batch has no columns"
            )));
        }
        let condition: Vec<String> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let kind = arrays[i].0;
                if binds_natively(kind) {
                    format!("{} = ${}", quote_ident(f.name()), i + 1)
                } else {
                    format!(
                        "{} = CAST(${}::text AS {})",
                        quote_ident(f.name()),
                        i + 1,
                        pg_type(kind)
                    )
                }
            })
            .collect();
        // The cascade: a chain of data-modifying CTEs, parent before child.
        let mut ctes = Vec::new();
        let has_id = self.existing_columns(table).await?.contains(cq::CQ_ID);
        let returning = if has_id {
            format!(" RETURNING {}", quote_ident(cq::CQ_ID))
        } else {
            " RETURNING 1".to_string()
        };
        ctes.push(format!(
            "\"d0\" AS (DELETE FROM {} WHERE {}{returning})",
            quote_ident(table),
            condition.join(" AND ")
        ));
        if has_id {
            let mut queue: Vec<(String, String)> = vec![(table.to_string(), "d0".to_string())];
            let mut seen: HashSet<String> = HashSet::from([table.to_string()]);
            while let Some((parent, alias)) = queue.pop() {
                for rel in relations.iter().filter(|r| r.parent_table == parent) {
                    if !seen.insert(rel.table_name.clone()) {
                        continue;
                    }
                    let cols = self.existing_columns(&rel.table_name).await?;
                    if !cols.contains(cq::CQ_PARENT_ID) {
                        continue;
                    }
                    let child_alias = format!("d{}", ctes.len());
                    let ret = if cols.contains(cq::CQ_ID) {
                        format!(" RETURNING {}", quote_ident(cq::CQ_ID))
                    } else {
                        " RETURNING 1".to_string()
                    };
                    ctes.push(format!(
                        "\"{child_alias}\" AS (DELETE FROM {} WHERE {} IN (SELECT {} FROM \"{alias}\"){ret})",
                        quote_ident(&rel.table_name),
                        quote_ident(cq::CQ_PARENT_ID),
                        quote_ident(cq::CQ_ID)
                    ));
                    if cols.contains(cq::CQ_ID) {
                        queue.push((rel.table_name.clone(), child_alias));
                    }
                }
            }
        }
        let sql = format!("WITH {} SELECT count(*) FROM \"d0\"", ctes.join(", "));
        let ctx = format!("deleting {} rows of {table}", keys.num_rows());
        let tx = self
            .client
            .transaction()
            .await
            .map_err(pg_err(ctx.clone()))?;
        let stmt = tx.prepare(&sql).await.map_err(pg_err(ctx.clone()))?;
        let mut deleted = 0u64;
        // Pipelined: up to 256 statements in flight on the connection.
        let rows: Vec<usize> = (0..keys.num_rows()).collect();
        for chunk in rows.chunks(256) {
            let params: Vec<Vec<Box<dyn ToSql + Sync + Send>>> = chunk
                .iter()
                .map(|row| columns.iter().map(|c| param(c, *row)).collect())
                .collect();
            let refs: Vec<Vec<&(dyn ToSql + Sync)>> = params
                .iter()
                .map(|p| {
                    p.iter()
                        .map(|b| b.as_ref() as &(dyn ToSql + Sync))
                        .collect()
                })
                .collect();
            let results =
                futures::future::try_join_all(refs.iter().map(|r| tx.query_one(&stmt, r)))
                    .await
                    .map_err(pg_err(ctx.clone()))?;
            deleted += results
                .iter()
                .map(|r| r.get::<_, i64>(0) as u64)
                .sum::<u64>();
        }
        tx.commit().await.map_err(pg_err(ctx))?;
        Ok(deleted)
    }

    async fn read(&mut self, schema: SchemaRef) -> Result<Vec<RecordBatch>> {
        let table = values::table_of(&schema)?;
        self.flush_table(&table).await?;
        let cols: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("to_json({})::text", quote_ident(f.name())))
            .collect();
        let sql = format!("SELECT {} FROM {}", cols.join(", "), quote_ident(&table));
        let rows = self
            .client
            .query(&sql, &[])
            .await
            .map_err(pg_err(format!("reading {table}")))?;
        let mut out = Vec::new();
        for chunk in rows.chunks(10_000) {
            let cells: Vec<Vec<serde_json::Value>> = chunk
                .iter()
                .map(|r| {
                    (0..cols.len())
                        .map(|i| {
                            r.get::<_, Option<String>>(i)
                                .and_then(|t| serde_json::from_str(&t).ok())
                                .unwrap_or(serde_json::Value::Null)
                        })
                        .collect()
                })
                .collect();
            out.push(values::batch_as_sent(&schema, &cells)?);
        }
        Ok(out)
    }

    async fn read_state(&mut self, table_name: &str) -> Result<HashMap<String, String>> {
        let cols = self.existing_columns(table_name).await?;
        if cols.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = sql::state_read(&DIALECT, table_name, cols.contains("version"));
        let rows = self
            .client
            .query(&sql, &[])
            .await
            .map_err(pg_err(format!("reading state table {table_name}")))?;
        Ok(sql::latest_state(
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))),
        ))
    }

    async fn write_state(
        &mut self,
        table_name: &str,
        entries: &HashMap<String, String>,
    ) -> Result<()> {
        // Rows first: state must never get ahead of the rows it covers.
        self.flush_all().await?;
        let ctx = format!("writing state table {table_name}");
        let mut cols = self.existing_columns(table_name).await?;
        if cols.is_empty() {
            self.client
                .batch_execute(&sql::state_create(&DIALECT, table_name))
                .await
                .map_err(pg_err(ctx.clone()))?;
            cols = self.existing_columns(table_name).await?;
        }
        let has_version = cols.contains("version");
        let key_is_pk = self.primary_key(table_name).await? == ["key"];
        let tx = self
            .client
            .transaction()
            .await
            .map_err(pg_err(ctx.clone()))?;
        for statement in sql::state_write(&DIALECT, table_name, key_is_pk, has_version) {
            let stmt = tx.prepare(&statement).await.map_err(pg_err(ctx.clone()))?;
            for (key, value) in entries {
                // A statement that names only the key (`$1`) gets only the key.
                let params: [&(dyn ToSql + Sync); 2] = [key, value];
                tx.execute(&stmt, &params[..stmt.params().len()])
                    .await
                    .map_err(pg_err(ctx.clone()))?;
            }
        }
        tx.commit().await.map_err(pg_err(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            sanitize_connection_string("postgres://u:s3cr%40t@db:5432/x?sslmode=disable"),
            "postgres://u:xxxxx@db:5432/x?sslmode=disable"
        );
        assert_eq!(
            sanitize_connection_string("host=db user=u password='p w' dbname=x"),
            "host=db user=u password='xxxxx' dbname=x"
        );
        assert_eq!(
            sanitize_connection_string("host=db password=hunter2 dbname=x"),
            "host=db password=xxxxx dbname=x"
        );
        assert_eq!(
            sanitize_connection_string("postgres://u@db/x"),
            "postgres://u@db/x"
        );
    }
}
