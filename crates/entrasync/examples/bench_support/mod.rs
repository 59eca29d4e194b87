//! What the benchmark examples share: arguments, a scratch database per scenario, and the Graph
//! traffic fake-graph has served.

use serde_json::Value;
use std::path::Path;

/// The value after `name` on the command line, or `default`.
pub fn arg(name: &str, default: &str) -> String {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .unwrap_or_else(|| default.to_string())
}

/// Graph traffic fake-graph has served so far: (requests, resource units, 429s). Token
/// requests and its admin API are not Graph requests.
pub async fn graph_traffic(http: &reqwest::Client, url: &str) -> anyhow::Result<(u64, u64, u64)> {
    let stats: Value = http
        .get(format!("{url}/_fake/stats"))
        .send()
        .await?
        .json()
        .await?;
    let requests = stats["by_endpoint"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("GET /v1.0") || k.starts_with("GET /beta"))
        .flat_map(|(_, v)| v.as_object().into_iter().flatten())
        .filter_map(|(_, n)| n.as_u64())
        .sum();
    Ok((
        requests,
        stats["resource_units"].as_u64().unwrap_or(0),
        stats["throttled_429"].as_u64().unwrap_or(0),
    ))
}

/// Where a scenario writes: a SQLite file in its directory, or a PostgreSQL database of its own.
pub struct Database {
    pub connection: String,
    drop: Option<(String, String)>,
}

impl Database {
    /// Drops the scenario's PostgreSQL database (a SQLite file goes with its directory).
    pub async fn remove(self) -> anyhow::Result<()> {
        if let Some((admin, name)) = self.drop {
            let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
        }
        Ok(())
    }
}

/// A scenario's database: SQLite in `dir` (files go there too), or a new PostgreSQL database on
/// the server of `ENTRASYNC_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`).
pub async fn database(backend: &str, dir: &Path) -> anyhow::Result<Database> {
    if backend != "postgres" {
        return Ok(Database {
            connection: dir.join("bench.db").display().to_string(),
            drop: None,
        });
    }
    let admin = std::env::var("ENTRASYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("es_bench_{}", uuid::Uuid::new_v4().simple());
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let base = &admin[..admin.rfind('/').unwrap_or(admin.len())];
    Ok(Database {
        connection: format!("{base}/{name}"),
        drop: Some((admin, name)),
    })
}
