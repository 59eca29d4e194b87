//! Tokens that expire mid-sync and a sync process killed at random points.

use crate::harness::{Db, Tenant, sync, write_config};
use fake_graph::{Latency, Profile};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expiring_mid_sync_are_refreshed() {
    let mut config = fake_graph::Config::new(Profile::Small, 31);
    config.token_lifetime = Duration::from_secs(1);
    config.latency = Latency {
        base: Duration::from_millis(60),
        per_item: Duration::ZERO,
        jitter: 0.0,
    };
    let tenant = Tenant::start_with(config).await;
    // A token rejected as expired before its time is up: the client must refresh and retry.
    tenant
        .admin(
            "faults",
            json!({"path_prefix": "/v1.0/groups", "status": 401, "count": 1}),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let tables =
        r#"["entraid_users", "entraid_groups", "entraid_group_members", "entraid_group_owners"]"#;
    let cfg = write_config(dir.path(), &tenant.sqlite_config(&db, tables, ""));
    let started = std::time::Instant::now();
    assert_eq!(sync(&cfg).await.errors, 0);
    let stats = tenant.stats().await;
    let tokens = stats["tokens_issued"].as_u64().unwrap();
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "the sync outlived a token, so the test means something"
    );
    assert!(tokens >= 2, "a new token was fetched mid-sync: {tokens}");
    assert!(Db::open(&db).count("entraid_group_members") > 0);
}

/// A tiny deterministic generator for kill points.
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_random_points_converges() {
    let mut config = fake_graph::Config::new(Profile::Tiny, 32);
    // Slow, small pages: many points where a kill can land.
    config.latency = Latency {
        base: Duration::from_millis(15),
        per_item: Duration::ZERO,
        jitter: 0.5,
    };
    config.delta_page_size = 5;
    config.delta_members_per_page = 3;
    let tenant = Tenant::start_with(config).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("crash.db");
    let tables = r#"["entraid_users", "entraid_groups", "entraid_group_members", "entraid_group_owners", "entraid_applications", "entraid_application_owners", "entraid_devices"]"#;
    let cfg = write_config(
        dir.path(),
        &crate::incremental::with_backend(tenant.sqlite_config(&db_path, tables, "")),
    );
    let mut seed = 7u64;
    for round in 0..4u64 {
        if round > 0 {
            tenant
                .admin("mutate", json!({"seed": 300 + round, "count": 30}))
                .await;
        }
        // Killed partway, possibly more than once, then run to the end.
        for _ in 0..2 {
            let delay = Duration::from_millis(50 + lcg(&mut seed) % 900);
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_entrasync"))
                .args([
                    "sync",
                    "--no-progress",
                    "--log-level",
                    "error",
                    cfg.to_str().unwrap(),
                ])
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            tokio::time::sleep(delay).await;
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
        let (code, _, err) =
            crate::harness::run_cli(&["sync", "--no-progress", cfg.to_str().unwrap()], &[]);
        assert_eq!(code, 0, "round {round}: the rerun succeeds: {err}");
        let names: Vec<String> = serde_json::from_str(tables).unwrap();
        let incremental = crate::incremental::snapshot(&Db::open(&db_path), &names);
        let full = crate::incremental::full_sync_snapshot(&tenant, tables).await;
        crate::incremental::assert_same(&format!("round {round}"), &incremental, &full);
    }
}
