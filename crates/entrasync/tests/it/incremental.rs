//! Incremental sync with state in the destination: after every round of random tenant
//! mutations, the incrementally synced database equals a fresh full sync of the same tenant.

use crate::harness::{Db, Tenant, sync, write_config};
use fake_graph::Profile;
use serde_json::json;
use std::path::Path;

/// The delta tables, and the child tables their delta pages carry (`members@delta`).
const DELTA_TABLES: &str = r#"["entraid_users", "entraid_groups", "entraid_group_members", "entraid_applications", "entraid_serviceprincipals", "entraid_directoryroles", "entraid_directoryrole_members", "entraid_devices", "entraid_administrativeunits", "entraid_oauth2permissiongrants", "entraid_contacts"]"#;

pub fn with_backend(config: String) -> String {
    config.replacen(
        "  destinations: [\"sqlite\"]\n",
        "  destinations: [\"sqlite\"]\n  backend_options:\n    table_name: cq_state_entraid\n    connection: \"@@plugins.sqlite.connection\"\n",
        1,
    )
}

/// Every row of every table of `db`, without the columns that legitimately differ between two
/// syncs (`_cq_sync_time`; `_cq_id` and `_cq_parent_id`, random in a full sync), sorted.
pub fn snapshot(db: &Db, tables: &[String]) -> Vec<(String, Vec<String>)> {
    tables
        .iter()
        .map(|t| {
            let cols: Vec<String> = db
                .columns(t)
                .into_iter()
                .filter(|c| !matches!(c.as_str(), "_cq_sync_time" | "_cq_id" | "_cq_parent_id"))
                .map(|c| format!("coalesce(quote(\"{c}\"), 'NULL')"))
                .collect();
            let rows = db.strings(&format!(
                "SELECT {} AS r FROM \"{t}\" ORDER BY r",
                cols.join(" || '|' || ")
            ));
            (t.clone(), rows)
        })
        .collect()
}

fn graph_gets(stats: &serde_json::Value) -> u64 {
    stats["by_endpoint"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("GET /v1.0") || k.starts_with("GET /beta"))
        .flat_map(|(_, by_status)| by_status.as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum()
}

pub async fn full_sync_snapshot(tenant: &Tenant, tables_json: &str) -> Vec<(String, Vec<String>)> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    let config = write_config(dir.path(), &tenant.sqlite_config(&db, tables_json, ""));
    assert_eq!(sync(&config).await.errors, 0);
    let tables: Vec<String> = serde_json::from_str(tables_json).unwrap();
    snapshot(&Db::open(&db), &tables)
}

pub fn assert_same(label: &str, a: &[(String, Vec<String>)], b: &[(String, Vec<String>)]) {
    for ((table, rows_a), (_, rows_b)) in a.iter().zip(b) {
        if rows_a != rows_b {
            let only_a: Vec<_> = rows_a
                .iter()
                .filter(|r| !rows_b.contains(r))
                .take(3)
                .collect();
            let only_b: Vec<_> = rows_b
                .iter()
                .filter(|r| !rows_a.contains(r))
                .take(3)
                .collect();
            panic!(
                "{label}: {table} differs ({} vs {} rows)\nonly incremental: {only_a:#?}\nonly full: {only_b:#?}",
                rows_a.len(),
                rows_b.len()
            );
        }
    }
}

async fn equivalence_rounds(tenant: &Tenant, dir: &Path, tables_json: &str, rounds: u64) {
    let db_path = dir.join("incremental.db");
    let config = write_config(
        dir,
        &with_backend(tenant.sqlite_config(&db_path, tables_json, "")),
    );
    let tables: Vec<String> = serde_json::from_str(tables_json).unwrap();
    assert_eq!(sync(&config).await.errors, 0, "first (full) round");
    for round in 1..=rounds {
        let summary = tenant
            .admin("mutate", json!({"seed": 100 + round, "count": 40}))
            .await;
        assert_eq!(sync(&config).await.errors, 0, "incremental round {round}");
        let incremental = snapshot(&Db::open(&db_path), &tables);
        let full = full_sync_snapshot(tenant, tables_json).await;
        assert_same(
            &format!("round {round} after {summary}"),
            &incremental,
            &full,
        );
    }
    let state = Db::open(&db_path).strings("SELECT key FROM cq_state_entraid ORDER BY key");
    assert!(
        state.iter().any(|k| k.starts_with("entraid_users|")),
        "the state table holds the users delta link: {state:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_rounds_equal_a_full_sync_sqlite() {
    let tenant = Tenant::start(Profile::Tiny, 21).await;
    let dir = tempfile::tempdir().unwrap();
    equivalence_rounds(&tenant, dir.path(), DELTA_TABLES, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_rounds_with_children_and_logs_equal_a_full_sync() {
    let tenant = Tenant::start(Profile::Tiny, 22).await;
    let dir = tempfile::tempdir().unwrap();
    // Users are in: a soft-deleted user leaves its groups without a members@delta entry, so
    // only the users delta tells that its membership rows must go.
    let tables = r#"["entraid_users", "entraid_groups", "entraid_group_members", "entraid_group_owners", "entraid_group_transitive_members", "entraid_applications", "entraid_application_owners", "entraid_serviceprincipals", "entraid_serviceprincipal_approleassignments", "entraid_devices", "entraid_device_registeredowners", "entraid_auditlogs_directoryaudits", "entraid_domains"]"#;
    equivalence_rounds(&tenant, dir.path(), tables, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_tenant_costs_one_request_per_delta_table() {
    let tenant = Tenant::start(Profile::Tiny, 23).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("i.db");
    let config = write_config(
        dir.path(),
        &with_backend(tenant.sqlite_config(&db, DELTA_TABLES, "")),
    );
    assert_eq!(sync(&config).await.errors, 0);
    let before = graph_gets(&tenant.stats().await);
    assert_eq!(sync(&config).await.errors, 0);
    let requests = graph_gets(&tenant.stats().await) - before;
    // Ten delta tables; group and role members come inside their parents' delta pages.
    assert_eq!(requests, 9, "one delta request per delta table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_or_reset_delta_link_falls_back_to_a_full_sync() {
    let tenant = Tenant::start(Profile::Tiny, 24).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("i.db");
    let tables = r#"["entraid_users", "entraid_groups", "entraid_group_members"]"#;
    let config = write_config(
        dir.path(),
        &with_backend(tenant.sqlite_config(&db_path, tables, "")),
    );
    assert_eq!(sync(&config).await.errors, 0);
    let names: Vec<String> = serde_json::from_str(tables).unwrap();
    // 400 syncStateNotFound (a link older than 7 days), then 410 Gone with Location (a reset).
    for (i, admin) in ["delta/expire", "delta/reset"].into_iter().enumerate() {
        tenant
            .admin("mutate", json!({"seed": 50 + i, "count": 20}))
            .await;
        tenant.admin(admin, json!({})).await;
        assert_eq!(sync(&config).await.errors, 0, "after {admin}");
        let full = full_sync_snapshot(&tenant, tables).await;
        assert_same(admin, &snapshot(&Db::open(&db_path), &names), &full);
        // The new link works: the next round is incremental again.
        assert_eq!(sync(&config).await.errors, 0, "the round after {admin}");
    }
}

/// Every directory table (logs and reports aside) with the fake-graph truth it must equal: the
/// ids of a collection, or `[parent id, id]` pairs of a relationship or child collection.
const TRUTH: &[(&str, &str, &str)] = &[
    ("entraid_users", "users", "ids"),
    ("entraid_groups", "groups", "ids"),
    ("entraid_applications", "applications", "ids"),
    ("entraid_serviceprincipals", "servicePrincipals", "ids"),
    ("entraid_devices", "devices", "ids"),
    ("entraid_directoryroles", "directoryRoles", "ids"),
    ("entraid_administrativeunits", "administrativeUnits", "ids"),
    ("entraid_group_members", "groups", "rels/members"),
    ("entraid_group_owners", "groups", "rels/owners"),
    (
        "entraid_group_transitive_members",
        "groups",
        "rels/transitiveMembers",
    ),
    (
        "entraid_group_approleassignments",
        "groups",
        "children/appRoleAssignments",
    ),
    ("entraid_application_owners", "applications", "rels/owners"),
    (
        "entraid_application_federatedidentitycredentials",
        "applications",
        "children/federatedIdentityCredentials",
    ),
    (
        "entraid_serviceprincipal_owners",
        "servicePrincipals",
        "rels/owners",
    ),
    (
        "entraid_serviceprincipal_approleassignments",
        "servicePrincipals",
        "children/appRoleAssignments",
    ),
    (
        "entraid_serviceprincipal_approleassignedto",
        "servicePrincipals",
        "children/appRoleAssignedTo",
    ),
    (
        "entraid_device_registeredowners",
        "devices",
        "rels/registeredOwners",
    ),
    (
        "entraid_directoryrole_members",
        "directoryRoles",
        "rels/members",
    ),
    (
        "entraid_administrativeunit_members",
        "administrativeUnits",
        "rels/members",
    ),
];

/// The true ids (or `parent|id` pairs) of every table of `TRUTH`, from fake-graph itself.
async fn truth_sets(tenant: &Tenant) -> Vec<(String, Vec<String>)> {
    let url = format!("{}/_fake/truth?transitive=true", tenant.server.url());
    let truth: serde_json::Value = tenant
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    TRUTH
        .iter()
        .map(|(table, collection, path)| {
            let mut node = &truth[*collection];
            for part in path.split('/') {
                node = &node[part];
            }
            let items = node
                .as_array()
                .unwrap_or_else(|| panic!("truth has {collection}/{path}"));
            let mut rows: Vec<String> = items
                .iter()
                .map(|v| match v {
                    serde_json::Value::Array(pair) => format!(
                        "{}|{}",
                        pair[0].as_str().unwrap(),
                        pair[1].as_str().unwrap()
                    ),
                    id => id.as_str().unwrap().to_string(),
                })
                .collect();
            rows.sort();
            rows.dedup();
            (table.to_string(), rows)
        })
        .collect()
}

/// The same sets read from a synced database.
fn db_sets(db: &Db) -> Vec<(String, Vec<String>)> {
    TRUTH
        .iter()
        .map(|(table, _, path)| {
            let sql = if *path == "ids" {
                format!("SELECT DISTINCT id FROM {table} ORDER BY 1")
            } else {
                let parent = db
                    .columns(table)
                    .into_iter()
                    .find(|c| {
                        c.ends_with("_id")
                            && !matches!(c.as_str(), "tenant_id" | "_cq_id" | "_cq_parent_id")
                    })
                    .unwrap();
                format!("SELECT DISTINCT {parent} || '|' || id FROM {table} ORDER BY 1")
            };
            (table.to_string(), db.strings(&sql))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_rounds_equal_fake_graph_truth_and_a_full_sync() {
    let tenant = Tenant::start(Profile::Small, 25).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("incremental.db");
    let tables: Vec<&str> = TRUTH.iter().map(|(t, _, _)| *t).collect();
    let tables_json = serde_json::to_string(&tables).unwrap();
    let config = write_config(
        dir.path(),
        &with_backend(tenant.sqlite_config(&db_path, &tables_json, "")),
    );
    let first = graph_gets(&tenant.stats().await);
    assert_eq!(sync(&config).await.errors, 0, "first (full) sync");
    let first = graph_gets(&tenant.stats().await) - first;
    assert_same(
        "first sync against the truth",
        &db_sets(&Db::open(&db_path)),
        &truth_sets(&tenant).await,
    );
    let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    for round in 1..=3u64 {
        let before = graph_gets(&tenant.stats().await);
        let summary = tenant
            .admin("mutate", json!({"seed": 300 + round, "count": 60}))
            .await;
        assert_eq!(sync(&config).await.errors, 0, "incremental round {round}");
        let requests = graph_gets(&tenant.stats().await) - before;
        let label = format!("round {round} ({requests} requests) after {summary}");
        // A round that re-read every parent's children would cost about as much as the first
        // sync; what changed is a few percent of the tenant.
        assert!(
            requests * 4 < first,
            "{label}: {requests} requests against {first} for the first sync"
        );
        assert_same(
            &label,
            &db_sets(&Db::open(&db_path)),
            &truth_sets(&tenant).await,
        );
        let full = full_sync_snapshot(&tenant, &tables_json).await;
        assert_same(&label, &snapshot(&Db::open(&db_path), &names), &full);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_skipped_for_a_licence_does_not_stop_its_parent_going_incremental() {
    let mut config = fake_graph::Config::new(Profile::Tiny, 26);
    // PIM for groups needs Entra ID P2, which many real tenants lack.
    config.licences.p2 = false;
    let tenant = Tenant::start_with(config).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("i.db");
    let tables = r#"["entraid_groups", "entraid_group_members", "entraid_privilegedaccess_*"]"#;
    let config = write_config(
        dir.path(),
        &with_backend(tenant.sqlite_config(&db, tables, "")),
    );
    let first = sync(&config).await;
    assert_eq!(
        (first.errors, first.warnings),
        (0, 2),
        "the PIM tables are skipped"
    );
    let state = Db::open(&db).strings("SELECT key FROM cq_state_entraid ORDER BY key");
    assert!(
        state.iter().any(|k| k.starts_with("entraid_groups|")),
        "the groups delta link is stored despite the skipped children: {state:?}"
    );
    let before = graph_gets(&tenant.stats().await);
    assert_eq!(sync(&config).await.errors, 0);
    let requests = graph_gets(&tenant.stats().await) - before;
    // One groups delta request, and a retry of each skipped table that stops at its first
    // refusal (a page of group ids and one PIM request each), never a full re-read of groups.
    assert!(requests <= 5, "{requests} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_split_across_delta_pages_is_emitted_once() {
    let mut config = fake_graph::Config::new(Profile::Tiny, 27);
    // Small pages: the members of most groups continue on the next page.
    config.delta_page_size = 4;
    config.delta_members_per_page = 2;
    let tenant = Tenant::start_with(config).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("i.db");
    let tables = r#"["entraid_groups", "entraid_group_members"]"#;
    let cfg = write_config(
        dir.path(),
        &with_backend(tenant.sqlite_config(&db, tables, "")),
    );
    let url = format!("{}/_fake/truth", tenant.server.url());
    let truth: serde_json::Value = tenant
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let groups = truth["groups"]["ids"].as_array().unwrap().len();
    let members = truth["groups"]["rels"]["members"].as_array().unwrap().len();
    let (code, _, stderr) =
        crate::harness::run_cli(&["sync", "--no-progress", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{stderr}");
    // The summary's rows column counts every row emitted, repeats included.
    let rows = |name: &str| -> usize {
        crate::harness::summary_row(&stderr, name)[1]
            .parse()
            .unwrap()
    };
    assert_eq!(rows("entraid_groups"), groups, "each group emitted once");
    assert_eq!(
        rows("entraid_group_members"),
        members,
        "each membership emitted once"
    );
}
