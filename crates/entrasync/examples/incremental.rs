//! What an incremental sync costs (issue 10), in Graph requests, against fake-graph with latency
//! and Graph's published throttling on, `tables: ["*"]`, state in SQLite or PostgreSQL. For each
//! scenario it prints one JSON line: the requests of a first sync, of a second sync of the
//! unchanged tenant, and of a sync after 1% of the tenant's objects changed (creations, updates,
//! deletions, memberships, owners, registered owners, app role assignments, federated
//! credentials). Targets: no change ≤ 5% of the first sync; 1% changed ≤ 10%.
//!
//! `cargo run --release -p entrasync --example incremental [-- --profiles small,large
//! --backends sqlite,postgres --latency-ms 20]`; PostgreSQL from `ENTRASYNC_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/test`; a database is created per scenario and dropped).

use serde_json::{Value, json};
use std::time::{Duration, Instant};

mod bench_support;
use bench_support::{arg, database, graph_traffic};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let latency = Duration::from_millis(arg("--latency-ms", "20").parse()?);
    for profile in arg("--profiles", "small").split(',') {
        for backend in arg("--backends", "sqlite,postgres").split(',') {
            scenario(profile, backend, latency).await?;
        }
    }
    Ok(())
}

async fn scenario(profile: &str, backend: &str, latency: Duration) -> anyhow::Result<()> {
    let mut config = fake_graph::Config::new(
        match profile {
            "large" => fake_graph::Profile::Large,
            "tiny" => fake_graph::Profile::Tiny,
            _ => fake_graph::Profile::Small,
        },
        11,
    );
    config.throttling = true;
    config.latency = fake_graph::Latency {
        base: latency,
        per_item: Duration::ZERO,
        jitter: 0.2,
    };
    let server = fake_graph::start(config).await?;
    let info = server.info.clone();
    let dir = tempfile::tempdir()?;
    let db = database(backend, dir.path()).await?;
    let (path, name) = match backend {
        "sqlite" => ("cloudquery/sqlite", "sqlite"),
        _ => ("cloudquery/postgresql", "postgresql"),
    };
    let config_path = dir.path().join("bench.yml");
    std::fs::write(
        &config_path,
        format!(
            "kind: source\nspec:\n  name: entraid\n  path: cloudquery/entraid\n  tables: [\"*\"]\n  \
             destinations: [{name}]\n  backend_options:\n    table_name: cq_state_entraid\n    \
             connection: \"@@plugins.{name}.connection\"\n  spec:\n    tenant_id: {}\n    \
             client_id: {}\n    client_secret: {}\n    graph_url: {}\n    login_url: {}\n    \
             log_lookback_days: 1\n---\n\
             kind: destination\nspec:\n  name: {name}\n  path: {path}\n  spec:\n    \
             connection_string: \"{}\"\n",
            info.tenant_id,
            info.client_id,
            info.client_secret,
            info.graph_url,
            info.login_url,
            db.connection
        ),
    )?;
    let config = entrasync::config::load(&[config_path])?;
    let http = reqwest::Client::new();
    let url = server.url();
    let sync = async || -> anyhow::Result<(u64, f64, usize)> {
        let before = graph_traffic(&http, &url).await?.0;
        let started = Instant::now();
        let result = entrasync::run_sync(&config, false).await?;
        let requests = graph_traffic(&http, &url).await?.0 - before;
        Ok((requests, started.elapsed().as_secs_f64(), result.errors))
    };
    let (first, first_s, first_errors) = sync().await?;
    let (unchanged, unchanged_s, unchanged_errors) = sync().await?;
    let mutation: Value = http
        .post(format!("{url}/_fake/mutate"))
        .json(&json!({"fraction": 0.01, "seed": 5}))
        .send()
        .await?
        .json()
        .await?;
    let (changed, changed_s, changed_errors) = sync().await?;
    let pct = |n: u64| (n as f64 * 1000.0 / first.max(1) as f64).round() / 10.0;
    println!(
        "{}",
        json!({
            "profile": profile,
            "backend": backend,
            "latency_ms": latency.as_millis() as u64,
            "first_sync": {"requests": first, "seconds": first_s, "failed_tables": first_errors},
            "no_change": {"requests": unchanged, "percent_of_first": pct(unchanged),
                          "seconds": unchanged_s, "failed_tables": unchanged_errors, "target_percent": 5},
            "one_percent_changed": {"requests": changed, "percent_of_first": pct(changed),
                                    "seconds": changed_s, "failed_tables": changed_errors,
                                    "mutations": mutation["applied"], "target_percent": 10},
        })
    );
    server.shutdown().await;
    db.remove().await
}
