//! The seed's PostgreSQL configs, run unchanged, and incremental equivalence on PostgreSQL.

use crate::harness::{Tenant, run_cli};
use fake_graph::Profile;
use serde_json::json;
use std::path::Path;

/// The server the PostgreSQL tests use: `ENTRASYNC_TEST_PG`, by default the local one.
pub fn admin_url() -> String {
    std::env::var("ENTRASYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A connection to `url`, or a panic that says how to get a PostgreSQL server for the tests.
/// Every test that needs one has `postgres` in its name, so `-- --skip postgres` leaves them out.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
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

/// A fresh database for one test, dropped at the end.
pub struct PgDb {
    pub url: String,
    name: String,
}

impl PgDb {
    pub async fn create() -> PgDb {
        let name = format!("es_it_{}", uuid::Uuid::new_v4().simple());
        let client = connect(&admin_url()).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = admin_url();
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        PgDb { url, name }
    }

    async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }

    /// Rows of each table as text, without the columns that differ between two syncs.
    pub async fn snapshot(&self, tables: &[String]) -> Vec<(String, Vec<String>)> {
        let client = self.client().await;
        let mut out = Vec::new();
        for t in tables {
            let cols: Vec<String> = client
                .query(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = $1 \
                     AND column_name NOT IN ('_cq_sync_time', '_cq_id', '_cq_parent_id') \
                     ORDER BY ordinal_position",
                    &[t],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| format!("coalesce(\"{}\"::text, 'NULL')", r.get::<_, String>(0)))
                .collect();
            let rows = client
                .query(
                    &format!(
                        "SELECT concat_ws('|', {}) AS r FROM \"{t}\" ORDER BY r",
                        cols.join(", ")
                    ),
                    &[],
                )
                .await
                .unwrap_or_else(|e| panic!("{t}: {e}"))
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect();
            out.push((t.clone(), rows));
        }
        out
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.client()
            .await
            .query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
            .await
            .unwrap()
            .get(0)
    }

    pub async fn drop(self) {
        let _ = connect(&admin_url())
            .await
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await;
    }
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Runs `entrasync sync` on a seed config with the credentials and endpoints in the environment.
fn sync_example(tenant: &Tenant, config: &str, pg: &str) -> (i32, String) {
    let info = tenant.info();
    let (code, _, err) = run_cli(
        &["sync", "--no-progress", &example(config)],
        &[
            ("AZURE_TENANT_ID", &info.tenant_id),
            ("AZURE_CLIENT_ID", &info.client_id),
            ("AZURE_CLIENT_SECRET", &info.client_secret),
            ("AZURE_AUTHORITY_HOST", &info.login_url),
            ("ENTRASYNC_GRAPH_URL", &info.graph_url),
            ("PG_CONNECTION_STRING", pg),
        ],
    );
    (code, err)
}

const CORE: [&str; 8] = [
    "entraid_users",
    "entraid_groups",
    "entraid_group_members",
    "entraid_group_owners",
    "entraid_applications",
    "entraid_serviceprincipals",
    "entraid_devices",
    "entraid_directoryroles",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_configs_run_unchanged_and_incremental_equals_full() {
    let tenant = Tenant::start(Profile::Tiny, 41).await;
    let full = PgDb::create().await;
    let incremental = PgDb::create().await;
    let (code, err) = sync_example(&tenant, "postgresql.yml", &full.url);
    assert_eq!(code, 0, "{err}");
    assert!(full.count("entraid_users").await > 0);
    let (code, err) = sync_example(&tenant, "postgresql-incremental.yml", &incremental.url);
    assert_eq!(code, 0, "{err}");
    assert!(
        incremental.count("cq_state_entraid").await > 0,
        "state was stored"
    );
    let tables: Vec<String> = CORE.iter().map(|s| s.to_string()).collect();
    for round in 1..=2u64 {
        tenant
            .admin("mutate", json!({"seed": 400 + round, "count": 30}))
            .await;
        let (code, err) = sync_example(&tenant, "postgresql-incremental.yml", &incremental.url);
        assert_eq!(code, 0, "round {round}: {err}");
        let (code, err) = sync_example(&tenant, "postgresql.yml", &full.url);
        assert_eq!(code, 0, "round {round}: {err}");
        let (a, b) = (
            incremental.snapshot(&tables).await,
            full.snapshot(&tables).await,
        );
        crate::incremental::assert_same(&format!("postgres round {round}"), &a, &b);
    }
    full.drop().await;
    incremental.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_down_fails_before_any_graph_traffic() {
    let tenant = Tenant::start(Profile::Tiny, 42).await;
    let (code, err) = sync_example(
        &tenant,
        "postgresql.yml",
        "postgres://entrasync:s3cretpass@127.0.0.1:1/entraid",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("127.0.0.1"), "names the server: {err}");
    assert!(
        !err.contains("s3cretpass"),
        "never prints the password: {err}"
    );
    let stats = tenant.stats().await;
    assert_eq!(stats["tokens_issued"], 0, "no Graph traffic: {stats}");
}
