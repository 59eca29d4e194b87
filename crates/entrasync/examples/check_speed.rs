//! How long `entrasync check` takes on a large tenant's database (issue 13: "finishes in
//! seconds"). Syncs fake-graph's tenant of `--profile` (default `large`: 100,000 users) into SQLite
//! without simulated latency or throttling (one day of logs), then evaluates every control and
//! the charts as `entrasync check` does, and prints one JSON line: the sync's and the check's seconds, the database's rows and
//! size, and the pass/fail counts; and the change log's cost (`watch`): the time to record the
//! baseline of the watched facts, the time of a sync's recording when nothing changed (compute,
//! diff, no write) and the snapshot's rows per kind. `--db FILE` reuses a database an earlier run kept (`--keep`).
//!
//! `cargo run --release -p entrasync --example check_speed [-- --profile large --keep /tmp/l.db]`

use serde_json::json;
use std::time::Instant;

fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let profile = arg("--profile").unwrap_or_else(|| "large".into());
    let dir = tempfile::tempdir()?;
    let (db, sync_seconds) = match arg("--db") {
        Some(db) => (std::path::PathBuf::from(db), None),
        None => {
            let db = arg("--keep")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| dir.path().join("check.db"));
            (db.clone(), Some(sync(&profile, &db, dir.path()).await?))
        }
    };
    let watch = watch_cost(&db).await?;
    let started = Instant::now();
    let report = entrasync::posture::run(
        &entrasync::posture::Db::sqlite(&db)?,
        "bench",
        &Default::default(),
    )
    .await?;
    let check_seconds = started.elapsed().as_secs_f64();
    let count =
        |s: entrasync::posture::Status| report.outcomes.iter().filter(|o| o.status == s).count();
    println!(
        "{}",
        json!({
            "profile": profile,
            "backend": "sqlite",
            "sync_seconds": sync_seconds,
            "check_seconds": check_seconds,
            "controls": report.outcomes.len(),
            "fail": count(entrasync::posture::Status::Fail),
            "pass": count(entrasync::posture::Status::Pass),
            "not_evaluated": count(entrasync::posture::Status::NotEvaluated),
            "database_bytes": std::fs::metadata(&db)?.len(),
            "watch": watch,
        })
    );
    Ok(())
}

async fn sync(profile: &str, db: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<f64> {
    let profile = fake_graph::Profile::parse(profile)
        .ok_or_else(|| anyhow::anyhow!("--profile: tiny, small or large"))?;
    // This times `check`, not the sync: fake-graph unthrottled, and one day of logs, since
    // entrasync paces log reads at Graph's budget (5 requests per 10 s) by itself and the
    // large tenant's whole sign-in history would take most of an hour.
    let mut config = fake_graph::Config::new(profile, 11);
    config.throttling = false;
    let server = fake_graph::start(config).await?;
    let info = server.info.clone();
    let config_path = dir.join("check.yml");
    std::fs::write(
        &config_path,
        format!(
            "kind: source\nspec:\n  name: entraid\n  path: cloudquery/entraid\n  tables: [\"*\"]\n  \
             destinations: [sqlite]\n  spec:\n    tenant_id: {}\n    client_id: {}\n    \
             client_secret: {}\n    graph_url: {}\n    login_url: {}\n    \
             log_lookback_days: 1\n---\n\
             kind: destination\nspec:\n  name: sqlite\n  path: cloudquery/sqlite\n  spec:\n    \
             connection_string: \"{}\"\n",
            info.tenant_id,
            info.client_id,
            info.client_secret,
            info.graph_url,
            info.login_url,
            db.display()
        ),
    )?;
    let config = entrasync::config::load(&[config_path])?;
    let started = Instant::now();
    let result = entrasync::run_sync(&config, false).await?;
    anyhow::ensure!(
        result.errors == 0,
        "the sync failed {} tables",
        result.errors
    );
    server.shutdown().await;
    Ok(started.elapsed().as_secs_f64())
}

/// Records the watched facts twice, from scratch (the baseline) and again (what every later
/// sync pays when nothing changed), as `entrasync sync` does after a sync.
async fn watch_cost(db: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    use entrasync::posture::{Db, watch};
    let conn = Db::sqlite_writable(db)?;
    let tenant = conn
        .text_rows("SELECT min(tenant_id) FROM entraid_users")
        .await?
        .remove(0)
        .remove(0);
    for table in [watch::SNAPSHOT_TABLE, watch::CHANGES_TABLE] {
        conn.execute(&format!("DROP TABLE IF EXISTS {table}"), &[])
            .await?;
    }
    let all = |_: &str| true;
    let baseline = watch::record(&conn, &tenant, chrono::Utc::now(), &all).await?;
    let again = watch::record(&conn, &tenant, chrono::Utc::now(), &all).await?;
    let kinds: serde_json::Map<String, serde_json::Value> = conn
        .text_rows(
            "SELECT kind, CAST(count(*) AS TEXT) FROM entrasync_watch GROUP BY kind ORDER BY kind",
        )
        .await?
        .into_iter()
        .map(|r| (r[0].clone(), json!(r[1].parse::<u64>().unwrap_or(0))))
        .collect();
    Ok(json!({
        "baseline_seconds": baseline.millis as f64 / 1000.0,
        "unchanged_sync_seconds": again.millis as f64 / 1000.0,
        "snapshot_rows": baseline.facts,
        "snapshot_rows_by_kind": kinds,
        "changes_after_unchanged_sync": again.added + again.removed,
    }))
}
