//! One harness per database sink: makes sinks on a fresh database (or fresh table names) and
//! reads tables back as JSON objects, so the cases compare the same values everywhere.

use arrow_schema::Schema;
use entrasync_sinks::cq::ColumnKind;
use entrasync_sinks::postgres::{PostgresOptions, PostgresSink};
use entrasync_sinks::sqlite::SqliteSink;
use entrasync_sinks::{MigrateMode, Sink, WriteMode, values};
use serde_json::{Map, Value};

pub type JsonRow = Map<String, Value>;

#[async_trait::async_trait]
pub trait Harness: Send + Sync {
    /// A new sink on the harness's database.
    async fn sink(&self, write_mode: WriteMode, migrate_mode: MigrateMode) -> Box<dyn Sink>;
    /// A table name unique to this test.
    fn table(&self, base: &str) -> String;
    /// Every row of `table` as JSON (columns per `schema`), sorted by the `order_by` column(s).
    async fn rows(&self, table: &str, schema: &Schema) -> Vec<JsonRow>;
    /// Runs raw SQL (setup of unusual tables).
    async fn exec(&self, sql: &str);
    /// The harness's name (for messages).
    fn name(&self) -> &'static str;
    /// Removes what the test created (called only when the case passed).
    async fn cleanup(&self) {}
}

/// Turns database JSON into the canonical form: timestamps as fixed-width RFC 3339 `Z`.
fn canonical(mut row: JsonRow, schema: &Schema) -> JsonRow {
    for f in schema.fields() {
        let kind = values::column_kind("t", f).unwrap();
        let Some(v) = row.get_mut(f.name()) else {
            continue;
        };
        if let (ColumnKind::Timestamp, Value::String(s)) = (kind, &*v) {
            let t = chrono::DateTime::parse_from_rfc3339(s)
                .unwrap_or_else(|e| panic!("bad timestamp {s:?}: {e}"));
            *v = Value::String(values::format_timestamp(t.timestamp_micros()));
        }
    }
    row
}

pub fn sort_rows(rows: &mut [JsonRow]) {
    rows.sort_by_key(|r| {
        ["tenant_id", "id", "key", "name"]
            .iter()
            .map(|k| r.get(*k).map(|v| v.to_string()).unwrap_or_default())
            .collect::<Vec<_>>()
    });
}

// ---------------------------------------------------------------- SQLite

pub struct Sqlite {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

pub async fn sqlite(_test: &str) -> Box<dyn Harness> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.db");
    Box::new(Sqlite { _dir: dir, path })
}

#[async_trait::async_trait]
impl Harness for Sqlite {
    async fn sink(&self, write_mode: WriteMode, migrate_mode: MigrateMode) -> Box<dyn Sink> {
        Box::new(
            SqliteSink::open(&self.path, write_mode)
                .unwrap()
                .with_migrate_mode(migrate_mode),
        )
    }

    fn table(&self, base: &str) -> String {
        base.to_string()
    }

    async fn rows(&self, table: &str, schema: &Schema) -> Vec<JsonRow> {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| values::quote_ident(f.name()))
            .collect();
        let sql = format!(
            "SELECT {} FROM {}",
            names.join(", "),
            values::quote_ident(table)
        );
        let mut stmt = conn.prepare(&sql).unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut out = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            let mut m = Map::new();
            for (i, f) in schema.fields().iter().enumerate() {
                let kind = values::column_kind(table, f).unwrap();
                let raw: rusqlite::types::Value = r.get(i).unwrap();
                use rusqlite::types::Value as S;
                let v = match (kind, raw) {
                    (_, S::Null) => Value::Null,
                    (ColumnKind::Bool, S::Integer(i)) => Value::Bool(i != 0),
                    (_, S::Integer(i)) => Value::from(i),
                    (_, S::Real(x)) => Value::from(x),
                    (ColumnKind::Utf8List | ColumnKind::Json, S::Text(t)) => {
                        serde_json::from_str(&t).unwrap()
                    }
                    (_, S::Text(t)) => Value::String(t),
                    (_, S::Blob(b)) => panic!("unexpected blob {b:?} in {}", f.name()),
                };
                m.insert(f.name().clone(), v);
            }
            out.push(canonical(m, schema));
        }
        sort_rows(&mut out);
        out
    }

    async fn exec(&self, sql: &str) {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    fn name(&self) -> &'static str {
        "sqlite"
    }
}

// ---------------------------------------------------------------- PostgreSQL

pub fn pg_url() -> String {
    std::env::var("ENTRASYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A connection to the test server, or a panic that says how to get one. Every test that needs
/// it has `postgres` in its name, so `-- --skip postgres` leaves them out.
pub async fn pg_client() -> tokio_postgres::Client {
    let url = pg_url();
    match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok((client, conn)) => {
            tokio::spawn(conn);
            client
        }
        Err(e) => panic!(
            "this test needs PostgreSQL at {url}: {e}{}\n\
             Start a server on 127.0.0.1:5432 that trusts local connections and has a database \
             `test` (Debian/Ubuntu: `apt-get install postgresql`, then as the postgres user \
             `createdb test`, and `trust` for 127.0.0.1 in pg_hba.conf: README, \"Running the \
             tests\"), or set ENTRASYNC_TEST_PG to another server's URL, or leave these tests out \
             with `cargo test --workspace -- --skip postgres`.",
            std::error::Error::source(&e)
                .map(|cause| format!(" ({cause})"))
                .unwrap_or_default()
        ),
    }
}

pub struct Postgres {
    url: String,
    prefix: String,
    client: tokio_postgres::Client,
}

pub async fn postgres(_test: &str) -> Box<dyn Harness> {
    let client = pg_client().await;
    let suffix: u32 = rand::random();
    let prefix = format!("cf{suffix:08x}_");
    Box::new(Postgres {
        url: pg_url(),
        prefix,
        client,
    })
}

#[async_trait::async_trait]
impl Harness for Postgres {
    async fn sink(&self, write_mode: WriteMode, migrate_mode: MigrateMode) -> Box<dyn Sink> {
        let options = PostgresOptions {
            write_mode,
            migrate_mode,
            ..PostgresOptions::default()
        };
        Box::new(PostgresSink::connect(&self.url, options).await.unwrap())
    }

    fn table(&self, base: &str) -> String {
        format!("{}{base}", self.prefix)
    }

    async fn rows(&self, table: &str, schema: &Schema) -> Vec<JsonRow> {
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| values::quote_ident(f.name()))
            .collect();
        let sql = format!(
            "SELECT to_jsonb(x)::text FROM (SELECT {} FROM {}) x",
            names.join(", "),
            values::quote_ident(table)
        );
        let rows = self.client.query(&sql, &[]).await.unwrap();
        let mut out: Vec<JsonRow> = rows
            .iter()
            .map(|r| {
                let text: String = r.get(0);
                canonical(serde_json::from_str(&text).unwrap(), schema)
            })
            .collect();
        sort_rows(&mut out);
        out
    }

    async fn exec(&self, sql: &str) {
        self.client.batch_execute(sql).await.unwrap();
    }

    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn cleanup(&self) {
        let rows = self
            .client
            .query(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND starts_with(tablename, $1)",
                &[&self.prefix],
            )
            .await
            .unwrap();
        for r in rows {
            let t: String = r.get(0);
            self.client
                .batch_execute(&format!("DROP TABLE IF EXISTS {}", values::quote_ident(&t)))
                .await
                .unwrap();
        }
    }
}
