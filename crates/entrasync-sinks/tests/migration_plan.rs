//! The shared migration plan (`entrasync_sinks::sql::plan`) on SQLite and PostgreSQL: each branch
//! (create, unchanged, add columns, refuse, recreate) through the sinks' `migrate`, checked in
//! the database's own catalog; the indexes every table gets (unique `_cq_id`, `_cq_parent_id`,
//! and `create_performance_indexes`). Tests needing PostgreSQL have `postgres` in their name
//! (`ENTRASYNC_TEST_PG`, default `postgres://postgres@127.0.0.1:5432/test`).

use arrow_array::{ArrayRef, FixedSizeBinaryArray, RecordBatch, StringArray};
use arrow_schema::{Field, Schema, SchemaRef};
use entrasync_sinks::cq::{self, ColumnKind};
use entrasync_sinks::postgres::{PostgresOptions, PostgresSink};
use entrasync_sinks::sqlite::SqliteSink;
use entrasync_sinks::values::quote_ident;
use entrasync_sinks::{MigrateMode, Sink, WriteMode};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

#[async_trait::async_trait]
trait Db: Send + Sync {
    async fn sink(&self, migrate: MigrateMode, performance_indexes: bool) -> Box<dyn Sink>;
    fn table(&self, base: &str) -> String;
    async fn exec(&self, sql: &str);
    async fn count(&self, table: &str) -> i64;
    /// Column names in table order.
    async fn columns(&self, table: &str) -> Vec<String>;
    async fn indexes(&self, table: &str) -> BTreeSet<String>;
    /// The declared type of `column` as the catalog names it.
    async fn column_type(&self, table: &str, column: &str) -> String;
}

struct Sqlite {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn sqlite() -> Sqlite {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.db");
    Sqlite { _dir: dir, path }
}

#[async_trait::async_trait]
impl Db for Sqlite {
    async fn sink(&self, migrate: MigrateMode, performance_indexes: bool) -> Box<dyn Sink> {
        Box::new(
            SqliteSink::open(&self.path, WriteMode::OverwriteDeleteStale)
                .unwrap()
                .with_migrate_mode(migrate)
                .with_performance_indexes(performance_indexes),
        )
    }
    fn table(&self, base: &str) -> String {
        base.to_string()
    }
    async fn exec(&self, sql: &str) {
        rusqlite::Connection::open(&self.path)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }
    async fn count(&self, table: &str) -> i64 {
        rusqlite::Connection::open(&self.path)
            .unwrap()
            .query_row(
                &format!("SELECT count(*) FROM {}", quote_ident(table)),
                [],
                |r| r.get(0),
            )
            .unwrap()
    }
    async fn columns(&self, table: &str) -> Vec<String> {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
            .unwrap();
        stmt.query_map([table], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }
    async fn indexes(&self, table: &str) -> BTreeSet<String> {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        // Named indexes only (not SQLite's automatic ones for the primary key).
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL")
            .unwrap();
        stmt.query_map([table], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }
    async fn column_type(&self, table: &str, column: &str) -> String {
        rusqlite::Connection::open(&self.path)
            .unwrap()
            .query_row(
                "SELECT type FROM pragma_table_info(?1) WHERE name = ?2",
                [table, column],
                |r| r.get(0),
            )
            .unwrap()
    }
}

struct Postgres {
    url: String,
    prefix: String,
    client: tokio_postgres::Client,
}

async fn postgres() -> Postgres {
    let url = std::env::var("ENTRASYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("this test needs PostgreSQL at {url}: {e}"));
    tokio::spawn(conn);
    let prefix = format!("mp{:08x}_", rand::random::<u32>());
    Postgres {
        url,
        prefix,
        client,
    }
}

impl Postgres {
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
            self.exec(&format!("DROP TABLE IF EXISTS {}", quote_ident(&t)))
                .await;
        }
    }
}

#[async_trait::async_trait]
impl Db for Postgres {
    async fn sink(&self, migrate: MigrateMode, performance_indexes: bool) -> Box<dyn Sink> {
        let options = PostgresOptions {
            write_mode: WriteMode::OverwriteDeleteStale,
            migrate_mode: migrate,
            performance_indexes,
            ..PostgresOptions::default()
        };
        Box::new(PostgresSink::connect(&self.url, options).await.unwrap())
    }
    fn table(&self, base: &str) -> String {
        format!("{}{base}", self.prefix)
    }
    async fn exec(&self, sql: &str) {
        self.client.batch_execute(sql).await.unwrap();
    }
    async fn count(&self, table: &str) -> i64 {
        self.client
            .query_one(&format!("SELECT count(*) FROM {}", quote_ident(table)), &[])
            .await
            .unwrap()
            .get(0)
    }
    async fn columns(&self, table: &str) -> Vec<String> {
        self.client
            .query(
                "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) \
                 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                &[&quote_ident(table)],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
    async fn indexes(&self, table: &str) -> BTreeSet<String> {
        self.client
            .query(
                "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() \
                 AND tablename = $1 AND indexname <> $1 || '_cqpk'",
                &[&table],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
    async fn column_type(&self, table: &str, column: &str) -> String {
        self.client
            .query_one(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                 WHERE attrelid = to_regclass($1) AND attname = $2",
                &[&quote_ident(table), &column],
            )
            .await
            .unwrap()
            .get(0)
    }
}

fn schema(table: &str, fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        fields,
        HashMap::from([(cq::META_TABLE_NAME.to_string(), table.to_string())]),
    ))
}

/// `_cq_id`, `_cq_parent_id`, the sync columns, key `(tenant_id, id)`, and `extra` text columns.
fn fields(extra: &[&str]) -> Vec<Field> {
    let mut f = vec![
        cq::sync_time_field(),
        cq::source_name_field(),
        cq::field(cq::CQ_ID, ColumnKind::Uuid, false, true),
        cq::field(cq::CQ_PARENT_ID, ColumnKind::Uuid, false, false),
        cq::field("tenant_id", ColumnKind::Utf8, true, true),
        cq::field("id", ColumnKind::Utf8, true, true),
    ];
    f.extend(
        extra
            .iter()
            .map(|n| cq::field(n, ColumnKind::Utf8, false, false)),
    );
    f
}

/// Rows `(id, _cq_id)` of a [`fields`] table (no extra columns), sync columns filled in.
fn batch(schema: &SchemaRef, rows: &[(&str, u128)]) -> RecordBatch {
    let n = rows.len();
    let bare = Arc::new(Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .filter(|f| f.name() != cq::CQ_SYNC_TIME && f.name() != cq::CQ_SOURCE_NAME)
            .cloned()
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    ));
    let ids: ArrayRef = Arc::new(
        FixedSizeBinaryArray::try_from_iter(rows.iter().map(|(_, u)| u.to_be_bytes())).unwrap(),
    );
    let parents: ArrayRef = Arc::new(FixedSizeBinaryArray::new_null(16, n));
    let text = |v: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let mut columns = vec![
        ids,
        parents,
        text(vec!["t1"; n]),
        text(rows.iter().map(|(id, _)| *id).collect()),
    ];
    for _extra in bare.fields().iter().skip(4) {
        columns.push(Arc::new(StringArray::new_null(n)) as ArrayRef);
    }
    let b = RecordBatch::try_new(bare, columns).unwrap();
    let sync_time = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    cq::add_sync_columns(&b, "plan-test", sync_time).unwrap()
}

fn index_names(table: &str, suffixes: &[&str]) -> BTreeSet<String> {
    suffixes.iter().map(|s| format!("{table}_{s}")).collect()
}

// ------------------------------------------------------------------ the cases

/// Create: the table with its key and the two indexes every table gets; the performance index
/// only when asked for.
async fn create(db: &dyn Db) {
    let t = db.table("created");
    let mut sink = db.sink(MigrateMode::Safe, false).await;
    sink.migrate(schema(&t, fields(&["name"]))).await.unwrap();
    assert_eq!(
        db.columns(&t).await,
        [
            "_cq_sync_time",
            "_cq_source_name",
            "_cq_id",
            "_cq_parent_id",
            "tenant_id",
            "id",
            "name"
        ]
    );
    assert_eq!(db.indexes(&t).await, index_names(&t, &["cqid", "cqparent"]));

    let p = db.table("perf");
    let mut sink = db.sink(MigrateMode::Safe, true).await;
    sink.migrate(schema(&p, fields(&[]))).await.unwrap();
    assert_eq!(
        db.indexes(&p).await,
        index_names(&p, &["cqid", "cqparent", "cqpi"])
    );
}

/// Unchanged: migrating again, or with the key columns declared in another order than the
/// table's key (the same key as a set), changes nothing and keeps the rows.
async fn unchanged_and_key_order(db: &dyn Db) {
    let t = db.table("keyorder");
    let s = schema(&t, fields(&["name"]));
    let mut sink = db.sink(MigrateMode::Safe, false).await;
    sink.migrate(s.clone()).await.unwrap();
    sink.write(batch(&s, &[("a", 1)])).await.unwrap();
    sink.flush().await.unwrap();
    sink.migrate(s).await.unwrap();
    let mut swapped = fields(&["name"]);
    swapped.swap(4, 5);
    let mut sink = db.sink(MigrateMode::Safe, false).await;
    sink.migrate(schema(&t, swapped)).await.unwrap();
    assert_eq!(db.count(&t).await, 1);
    assert_eq!(db.columns(&t).await.len(), 7);
}

/// Add columns: the new columns appear (nullable), the rows stay.
async fn add_columns(db: &dyn Db) {
    let t = db.table("grows");
    let mut sink = db.sink(MigrateMode::Safe, false).await;
    let v1 = schema(&t, fields(&[]));
    sink.migrate(v1.clone()).await.unwrap();
    sink.write(batch(&v1, &[("a", 1), ("b", 2)])).await.unwrap();
    sink.flush().await.unwrap();
    sink.migrate(schema(&t, fields(&["x", "y z"])))
        .await
        .unwrap();
    let cols = db.columns(&t).await;
    assert_eq!(cols[cols.len() - 2..], ["x", "y z"]);
    assert_eq!(db.count(&t).await, 2);
}

/// Refuse (safe mode): a changed column type or primary key is an error naming the table and
/// what changed, and the table is left as it was.
async fn refuse(db: &dyn Db) {
    let t = db.table("refused");
    let mut sink = db.sink(MigrateMode::Safe, false).await;
    let v1 = schema(&t, fields(&["n"]));
    sink.migrate(v1.clone()).await.unwrap();
    sink.write(batch(&v1, &[("a", 1)])).await.unwrap();
    sink.flush().await.unwrap();
    let before = db.column_type(&t, "n").await;

    let mut retyped = fields(&[]);
    retyped.push(cq::field("n", ColumnKind::Int64, false, false));
    let err = sink
        .migrate(schema(&t, retyped))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&t) && err.contains("column \"n\"") && err.contains("migrate_mode: forced"),
        "{err}"
    );

    let mut rekeyed = fields(&["n"]);
    rekeyed[4] = cq::field("tenant_id", ColumnKind::Utf8, false, true);
    let err = sink
        .migrate(schema(&t, rekeyed))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("primary key is (tenant_id, id), the schema wants (id)"),
        "{err}"
    );
    assert_eq!(db.column_type(&t, "n").await, before);
    assert_eq!(db.count(&t).await, 1);
}

/// Recreate (forced mode): the table is dropped and created as the schema says, with its
/// indexes.
async fn recreate(db: &dyn Db) {
    let t = db.table("recreated");
    let v1 = schema(&t, fields(&["n"]));
    let mut sink = db.sink(MigrateMode::Safe, false).await;
    sink.migrate(v1.clone()).await.unwrap();
    sink.write(batch(&v1, &[("a", 1)])).await.unwrap();
    sink.flush().await.unwrap();
    let text_type = db.column_type(&t, "n").await;

    let mut retyped = fields(&[]);
    retyped.push(cq::field("n", ColumnKind::Int64, false, false));
    let mut forced = db.sink(MigrateMode::Forced, false).await;
    forced.migrate(schema(&t, retyped)).await.unwrap();
    assert_ne!(db.column_type(&t, "n").await, text_type);
    assert_eq!(db.count(&t).await, 0);
    assert_eq!(db.indexes(&t).await, index_names(&t, &["cqid", "cqparent"]));
}

/// `_cq_id` is unique: two rows of different keys with one `_cq_id` are refused, and a table
/// that already holds a `_cq_id` twice is refused at migrate with what to do.
async fn unique_cq_id(db: &dyn Db) {
    let t = db.table("uniq");
    let s = schema(&t, fields(&[]));
    let mut sink = db.sink(MigrateMode::Safe, false).await;
    sink.migrate(s.clone()).await.unwrap();
    sink.write(batch(&s, &[("a", 7)])).await.unwrap();
    sink.flush().await.unwrap();
    let dup = async {
        sink.write(batch(&s, &[("b", 7)])).await?;
        sink.flush().await
    }
    .await;
    let err = dup.expect_err("a second row with the same _cq_id was accepted");
    assert!(err.to_string().contains(&t), "{err}");
    assert_eq!(db.count(&t).await, 1);

    // A table made before the index, holding a duplicate _cq_id.
    let old = db.table("olddup");
    let s = schema(&old, fields(&[]));
    let mut sink = db.sink(MigrateMode::Safe, false).await;
    sink.migrate(s.clone()).await.unwrap();
    sink.write(batch(&s, &[("a", 9), ("b", 10)])).await.unwrap();
    sink.flush().await.unwrap();
    db.exec(&format!(
        "DROP INDEX {0}; UPDATE {1} SET \"_cq_id\" = (SELECT \"_cq_id\" FROM {1} WHERE \"id\" = 'a')",
        quote_ident(&format!("{old}_cqid")),
        quote_ident(&old)
    ))
    .await;
    let err = sink.migrate(s).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("enforcing unique _cq_id on {old}")) && err.contains("duplicates"),
        "{err}"
    );
}

macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod sqlite_plan {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::sqlite()).await;
                }
            )*
        }
        mod postgres_plan {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = super::postgres().await;
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

both!(
    create,
    unchanged_and_key_order,
    add_columns,
    refuse,
    recreate,
    unique_cq_id
);
