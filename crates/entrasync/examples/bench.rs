//! Benchmark that prints numbers (never a timed test): the PostgreSQL load rate of entrasync's
//! sink beside `COPY … FROM` a CSV file by `psql` of the same rows on the same machine (target:
//! at least 0.8 of it). What incremental syncs cost is measured by the `incremental` example.
//!
//! `cargo run --release -p entrasync --example bench [-- --rows 200000]`; PostgreSQL from
//! `ENTRASYNC_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`).

use entrasync::sync::convert;
use entrasync_sinks::Sink;
use entrasync_sinks::postgres::{PostgresOptions, PostgresSink};
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::args()
        .skip_while(|a| a != "--rows")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    postgres_load(rows).await?;
    Ok(())
}

/// Realistic user rows from fake-graph, repeated with fresh ids up to `rows`.
async fn user_objects(rows: usize) -> anyhow::Result<Vec<serde_json::Value>> {
    let server = fake_graph::start(fake_graph::Config::new(fake_graph::Profile::Small, 2)).await?;
    let info = server.info.clone();
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(&info.token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", info.client_id.as_str()),
            ("client_secret", info.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let bearer = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let table = entrasync::tables::by_name("entraid_users").expect("in the catalog");
    let mut url = format!(
        "{}/v1.0/users?$select={}&$top=999",
        info.graph_url,
        table.select().join(",")
    );
    let mut base = Vec::new();
    loop {
        let page: serde_json::Value = http
            .get(&url)
            .bearer_auth(&bearer)
            .send()
            .await?
            .json()
            .await?;
        base.extend(page["value"].as_array().cloned().unwrap_or_default());
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    server.shutdown().await;
    Ok((0..rows)
        .map(|i| {
            let mut o = base[i % base.len()].clone();
            o["id"] = serde_json::json!(uuid::Uuid::new_v4().to_string());
            o
        })
        .collect())
}

async fn postgres_load(rows: usize) -> anyhow::Result<()> {
    let url = std::env::var("ENTRASYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let objects = user_objects(rows).await?;
    let table = entrasync::tables::by_name("entraid_users").expect("in the catalog");
    let schema = convert::schema(table);
    let ctx = convert::RowContext {
        tenant_id: "00000000-0000-0000-0000-000000000001",
        parent: None,
    };
    let batches: Vec<_> = objects
        .chunks(1000)
        .map(|chunk| convert::to_batch(table, &schema, chunk, &ctx, false).map(|(b, _)| b))
        .collect::<Result<_, _>>()?;

    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute("DROP TABLE IF EXISTS entraid_users")
        .await?;

    // entrasync's sink: binary COPY into staging, then upsert, in one transaction per batch.
    let mut sink = PostgresSink::connect(&url, PostgresOptions::default()).await?;
    sink.migrate(schema.clone()).await?;
    let t = Instant::now();
    for batch in &batches {
        sink.write(batch.clone()).await?;
    }
    sink.flush().await?;
    let sink_secs = t.elapsed().as_secs_f64();

    // Baseline: the same rows exported to CSV, then loaded by psql's COPY into an empty copy of
    // the table (no upsert: the best case PostgreSQL can do).
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("users.csv");
    let psql = |sql: &str| {
        std::process::Command::new("psql")
            .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .status()
    };
    let export = format!("\\copy entraid_users TO '{}' CSV", csv.display());
    anyhow::ensure!(psql(&export)?.success(), "psql export failed");
    client
        .batch_execute(
            "DROP TABLE IF EXISTS entraid_users_copy; \
             CREATE TABLE entraid_users_copy (LIKE entraid_users INCLUDING ALL)",
        )
        .await?;
    let load = format!("\\copy entraid_users_copy FROM '{}' CSV", csv.display());
    let t = Instant::now();
    anyhow::ensure!(psql(&load)?.success(), "psql COPY failed");
    let copy_secs = t.elapsed().as_secs_f64();
    client
        .batch_execute("DROP TABLE entraid_users_copy; DROP TABLE entraid_users")
        .await?;

    let sink_rate = rows as f64 / sink_secs;
    let copy_rate = rows as f64 / copy_secs;
    println!(
        "== PostgreSQL load, {rows} entraid_users rows ({} columns) ==",
        schema.fields().len()
    );
    println!("entrasync sink (binary COPY + upsert): {sink_rate:>10.0} rows/s ({sink_secs:.2} s)");
    println!("psql \\copy FROM csv (baseline):        {copy_rate:>10.0} rows/s ({copy_secs:.2} s)");
    println!("ratio: {:.2} (target ≥ 0.80)", sink_rate / copy_rate);
    Ok(())
}
