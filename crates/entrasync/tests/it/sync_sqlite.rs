//! Full syncs into SQLite: completeness, paging, recovery, permissions, deletions.

use crate::harness::{Db, Tenant, run_cli, sync, write_config};
use fake_graph::Profile;
use serde_json::json;

/// The tables of the foundation: the core directory.
const CORE_TABLES: &str = r#"["entraid_users", "entraid_groups", "entraid_group_members", "entraid_group_owners", "entraid_applications", "entraid_application_owners", "entraid_serviceprincipals", "entraid_directoryroles", "entraid_directoryrole_members", "entraid_devices", "entraid_domains", "entraid_organization", "entraid_subscribedskus"]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_tables_are_complete() {
    let tenant = Tenant::start(Profile::Tiny, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("entraid.db");
    let config = write_config(dir.path(), &tenant.sqlite_config(&db, CORE_TABLES, ""));
    let result = sync(&config).await;
    assert_eq!(result.errors, 0);
    let db = Db::open(&db);
    let tables: Vec<String> = serde_json::from_str(CORE_TABLES).unwrap();
    for table in &tables {
        assert!(db.count(table) > 0, "{table} is empty");
        let mut nulls = db.all_null_columns(table);
        // Top-level rows have no parent, and Graph lists only live objects, whose
        // deletedDateTime is always null (deleted ones live under /directory/deletedItems).
        nulls.retain(|c| c != "_cq_parent_id" && c != "deleted_date_time");
        assert!(
            nulls.is_empty(),
            "{table}: columns null in every row: {nulls:?}"
        );
        let cols = db.columns(table);
        assert_eq!(
            &cols[..2],
            ["_cq_sync_time", "_cq_source_name"],
            "{table}: sync columns first"
        );
    }
    // Child rows point at their parents.
    let orphans = db.strings(
        "SELECT m.id FROM entraid_group_members m LEFT JOIN entraid_groups g \
         ON g._cq_id = m._cq_parent_id AND g.id = m.group_id WHERE g.id IS NULL",
    );
    assert!(
        orphans.is_empty(),
        "members without their group: {orphans:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_next_links_across_pages() {
    let tenant = Tenant::start(Profile::Small, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("entraid.db");
    let config = write_config(
        dir.path(),
        &tenant.sqlite_config(&db, r#"["entraid_users", "entraid_devices"]"#, ""),
    );
    assert_eq!(sync(&config).await.errors, 0);
    let db = Db::open(&db);
    let users = db.count("entraid_users");
    assert!(
        users > 999,
        "small has more users than one page holds: {users}"
    );
    // Ids are unique: no page was read twice.
    let distinct = db.count_where("entraid_users", "1 GROUP BY id HAVING count(*) > 1");
    assert_eq!(distinct, 0, "no user is stored twice");
    let stats = tenant.stats().await;
    assert!(
        stats.to_string().contains("users"),
        "stats list the users endpoint: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_from_throttling_outages_and_resets() {
    let tenant = Tenant::start(Profile::Tiny, 3).await;
    let baseline_dir = tempfile::tempdir().unwrap();
    let baseline_db = baseline_dir.path().join("a.db");
    let tables = r#"["entraid_users", "entraid_groups", "entraid_group_members"]"#;
    let config = write_config(
        baseline_dir.path(),
        &tenant.sqlite_config(&baseline_db, tables, ""),
    );
    assert_eq!(sync(&config).await.errors, 0);

    for fault in [
        json!({"path_prefix": "/v1.0/users", "status": 429, "retry_after": "0.5", "count": 2}),
        json!({"path_prefix": "/v1.0/groups", "status": 429, "retry_after": null, "count": 1}),
        json!({"path_prefix": "/v1.0/users", "status": 503, "count": 2}),
        json!({"path_prefix": "/v1.0/groups", "reset": true, "count": 1}),
    ] {
        tenant.admin("faults", fault.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("b.db");
        let config = write_config(dir.path(), &tenant.sqlite_config(&db, tables, ""));
        let result = sync(&config).await;
        assert_eq!(result.errors, 0, "after fault {fault}");
        let (a, b) = (Db::open(&baseline_db), Db::open(&db));
        for table in ["entraid_users", "entraid_groups", "entraid_group_members"] {
            assert_eq!(
                a.count(table),
                b.count(table),
                "{table} after fault {fault}"
            );
        }
    }
    let stats = tenant.stats().await.to_string();
    assert!(stats.contains("429"), "the faults were served: {stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_table_fails_alone() {
    let tenant = Tenant::start(Profile::Tiny, 4).await;
    // Everything the core tables need except Device.Read.All.
    let (client_id, secret) = tenant
        .app_with(&[
            "User.Read.All",
            "Group.Read.All",
            "GroupMember.Read.All",
            "Application.Read.All",
            "RoleManagement.Read.Directory",
            "Domain.Read.All",
            "Organization.Read.All",
        ])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("entraid.db");
    let config = write_config(
        dir.path(),
        &tenant.config_with_credentials(
            &db,
            r#"["entraid_users", "entraid_devices", "entraid_domains"]"#,
            &format!("    client_id: {client_id}\n    client_secret: {secret}\n"),
        ),
    );
    let (code, _out, err) = run_cli(&["sync", "--no-progress", config.to_str().unwrap()], &[]);
    assert_eq!(
        code, 1,
        "an explicitly named table that fails is an error: {err}"
    );
    assert!(
        err.contains("grant the application permission Device.Read.All"),
        "names the permission to grant: {err}"
    );
    assert!(err.contains("Authorization_RequestDenied"), "{err}");
    let db = Db::open(&db);
    assert!(db.count("entraid_users") > 0);
    assert!(db.count("entraid_domains") > 0);
    assert_eq!(db.count("entraid_devices"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_removes_deleted_objects() {
    let tenant = Tenant::start(Profile::Tiny, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("entraid.db");
    let config_core = write_config(dir.path(), &tenant.sqlite_config(&db_path, CORE_TABLES, ""));
    assert_eq!(sync(&config_core).await.errors, 0);
    let before: Vec<String> =
        Db::open(&db_path).strings("SELECT id FROM entraid_users ORDER BY id");
    tenant
        .admin("mutate", json!({"seed": 9, "count": 40}))
        .await;
    assert_eq!(sync(&config_core).await.errors, 0);
    let after: Vec<String> = Db::open(&db_path).strings("SELECT id FROM entraid_users ORDER BY id");
    assert_ne!(before, after, "the mutations changed the user set");
    // What Graph lists now is exactly what the table holds.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh_db = fresh_dir.path().join("fresh.db");
    let fresh = write_config(
        fresh_dir.path(),
        &tenant.sqlite_config(&fresh_db, CORE_TABLES, ""),
    );
    assert_eq!(sync(&fresh).await.errors, 0);
    let (a, b) = (Db::open(&db_path), Db::open(&fresh_db));
    for table in [
        "entraid_users",
        "entraid_groups",
        "entraid_group_members",
        "entraid_devices",
    ] {
        let q = format!("SELECT id FROM {table} ORDER BY id");
        assert_eq!(a.strings(&q), b.strings(&q), "{table} equals a fresh sync");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_and_column_has_data() {
    let tenant = Tenant::start(Profile::Tiny, 6).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("entraid.db");
    let config = write_config(
        dir.path(),
        &tenant.sqlite_config(&db_path, r#"["*"]"#, "    log_lookback_days: 0\n"),
    );
    let result = sync(&config).await;
    assert_eq!((result.errors, result.warnings), (0, 0));
    let db = Db::open(&db_path);
    let mut problems = Vec::new();
    for table in entrasync::tables::all() {
        let name = table.name;
        if db.count(name) == 0 {
            problems.push(format!("{name}: no rows"));
            continue;
        }
        let top_level = table.parent().is_none();
        let nulls: Vec<String> = db
            .all_null_columns(name)
            .into_iter()
            .filter(|c| !(c == "_cq_parent_id" && top_level || c == "deleted_date_time"))
            .collect();
        if !nulls.is_empty() {
            problems.push(format!("{name}: null in every row: {nulls:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The catalog's tables, plus the change log `check --since` reads, and nothing else.
    use entrasync::posture::watch::{CHANGES_TABLE, SNAPSHOT_TABLE};
    let mut expected: Vec<String> = entrasync::tables::all()
        .iter()
        .map(|t| t.name.to_string())
        .chain([SNAPSHOT_TABLE.to_string(), CHANGES_TABLE.to_string()])
        .collect();
    expected.sort();
    assert_eq!(db.tables(), expected);
}

#[test]
fn quick_start_runs_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart.yml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_entrasync"))
        .args(["sync", "--no-progress", config.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let db = Db::open(&dir.path().join("entraid.db"));
    assert!(
        db.count("entraid_users") > 900,
        "the small profile has about 1,000 users"
    );
    assert!(db.count("entraid_group_members") > 0);
}

/// Every user's `signInActivity` as fake-graph serves it (null when Graph sends none).
async fn graph_sign_in_activity(tenant: &Tenant) -> Vec<serde_json::Value> {
    let info = tenant.info();
    let token: serde_json::Value = tenant
        .http
        .post(&info.token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", info.client_id.as_str()),
            ("client_secret", info.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let mut users = Vec::new();
    let mut next = Some(format!(
        "{}/v1.0/users?$select=id,userType,accountEnabled,createdDateTime,signInActivity",
        info.graph_url
    ));
    while let Some(url) = next {
        let page: serde_json::Value = tenant
            .http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        users.extend(page["value"].as_array().unwrap().iter().cloned());
        next = page["@odata.nextLink"].as_str().map(str::to_string);
    }
    users
}

/// Graph writes `0001-01-01T00:00:00Z` for "never signed in": entrasync stores it as sent, and the
/// posture controls read it as never, not as a sign-in 2,000 years ago.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_signed_in_sentinel_is_stored_as_sent_and_read_as_never() {
    use entrasync::posture::{self, controls::CONTROLS};
    use std::collections::BTreeSet;
    const NEVER: &str = "0001-01-01T00:00:00Z";
    let tenant = Tenant::start(Profile::Small, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("entraid.db");
    let config = write_config(
        dir.path(),
        &tenant.sqlite_config(
            &db_path,
            r#"["entraid_users", "entraid_user_signin_activity"]"#,
            "",
        ),
    );
    assert_eq!(sync(&config).await.errors, 0);
    let users = graph_sign_in_activity(&tenant).await;
    let never = |u: &serde_json::Value, k: &str| {
        let a = &u["signInActivity"];
        a.is_null() || a[k].is_null() || a[k] == NEVER
    };
    let sentinel: BTreeSet<&str> = users
        .iter()
        .filter(|u| u["signInActivity"]["lastSignInDateTime"] == NEVER)
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(
        !sentinel.is_empty(),
        "the seed gives no never-signed-in user"
    );
    // stored as sent, sentinel included
    let db = Db::open(&db_path);
    let stored: std::collections::BTreeMap<String, serde_json::Value> = db
        .strings(
            "SELECT id || char(9) || COALESCE(sign_in_activity, 'null') FROM entraid_user_signin_activity",
        )
        .into_iter()
        .map(|row| {
            let (id, json) = row.split_once('\t').unwrap();
            (id.to_string(), serde_json::from_str(json).unwrap())
        })
        .collect();
    for u in &users {
        let id = u["id"].as_str().unwrap();
        if let Some(s) = stored.get(id) {
            assert_eq!(s, &u["signInActivity"], "{id}");
        }
    }
    assert!(sentinel.iter().all(|id| stored.contains_key(*id)));
    // the controls: "never signed in" includes them, "inactive for 90 days" does not
    let lite = posture::Db::sqlite(&db_path).unwrap();
    let findings = |id: &str| {
        let control = CONTROLS.iter().find(|c| c.id == id).unwrap();
        let lite = &lite;
        async move {
            posture::evaluate(lite, control)
                .await
                .findings
                .into_iter()
                .map(|f| f.object_id)
                .collect::<BTreeSet<String>>()
        }
    };
    let month_ago = (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339();
    let enabled_members = || {
        users.iter().filter(|u| {
            u["userType"] == "Member"
                && u["accountEnabled"] == true
                && stored.contains_key(u["id"].as_str().unwrap())
        })
    };
    let never_signed_in: BTreeSet<String> = enabled_members()
        .filter(|u| u["createdDateTime"].as_str().unwrap() < month_ago.as_str())
        .filter(|u| never(u, "lastSignInDateTime") && never(u, "lastNonInteractiveSignInDateTime"))
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        never_signed_in
            .iter()
            .any(|id| sentinel.contains(id.as_str())),
        "no enabled member with the sentinel created a month ago"
    );
    assert_eq!(findings("ES-HYG-04").await, never_signed_in);
    let three_months_ago = (chrono::Utc::now() - chrono::Duration::days(90)).to_rfc3339();
    let inactive: BTreeSet<String> = enabled_members()
        .filter(|u| {
            !never(u, "lastSignInDateTime")
                && u["signInActivity"]["lastSignInDateTime"].as_str().unwrap()
                    < three_months_ago.as_str()
        })
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(findings("ES-HYG-01").await, inactive);
}

/// Owners come with their applications, service principals and devices (`$expand`, at most 20
/// a parent): a full sync reads them one request per parent only for a parent with 20 or more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_come_with_their_parents_and_long_lists_are_read_in_full() {
    let tenant = Tenant::start(Profile::Tiny, 4).await;
    let url = tenant.info().graph_url.clone();
    let http = reqwest::Client::new();
    let truth: serde_json::Value = http
        .get(format!("{url}/_fake/truth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // One application gets every user as owner: 20, as many as an expanded list holds, so the
    // list may be cut short and is read in full.
    let app = truth["applications"]["ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let users: Vec<&str> = truth["users"]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(users.len(), 20, "tiny has 20 users to make owners");
    let links: Vec<serde_json::Value> = users
        .iter()
        .map(|u| json!({"link": {"collection": "applications", "id": app, "rel": "owners", "member": u}}))
        .collect();
    tenant.admin("edit", json!(links)).await;
    let truth: serde_json::Value = http
        .get(format!("{url}/_fake/truth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("entraid.db");
    let tables = r#"["entraid_applications", "entraid_application_owners", "entraid_serviceprincipals", "entraid_serviceprincipal_owners", "entraid_devices", "entraid_device_registeredowners"]"#;
    let config = write_config(dir.path(), &tenant.sqlite_config(&db_path, tables, ""));
    let before = tenant.stats().await;
    assert_eq!(sync(&config).await.errors, 0);
    let after = tenant.stats().await;
    let db = Db::open(&db_path);
    for (table, parent_key, collection, rel) in [
        (
            "entraid_application_owners",
            "application_id",
            "applications",
            "owners",
        ),
        (
            "entraid_serviceprincipal_owners",
            "service_principal_id",
            "servicePrincipals",
            "owners",
        ),
        (
            "entraid_device_registeredowners",
            "device_id",
            "devices",
            "registeredOwners",
        ),
    ] {
        let mut got = db.strings(&format!("SELECT {parent_key} || ' ' || id FROM {table}"));
        got.sort();
        let mut want: Vec<String> = truth[collection]["rels"][rel]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{} {}", p[0].as_str().unwrap(), p[1].as_str().unwrap()))
            .collect();
        want.sort();
        // As sets: a relationship lists an object once.
        want.dedup();
        assert!(!want.is_empty(), "{table}: the tenant has some");
        assert_eq!(got, want, "{table} equals fake-graph's relationships");
        let orphans = db.count_where(
            table,
            &format!("_cq_parent_id IS NULL OR {parent_key} IS NULL"),
        );
        assert_eq!(orphans, 0, "{table}: every row points at its parent");
    }
    // Per-parent reads: only the application with 20 owners.
    let reads = |stats: &serde_json::Value, endpoint: &str| -> u64 {
        stats["by_endpoint"][endpoint]
            .as_object()
            .map(|m| m.values().filter_map(|n| n.as_u64()).sum())
            .unwrap_or(0)
    };
    for (endpoint, expected) in [
        ("GET /v1.0/applications/{id}/owners", 1),
        ("GET /v1.0/servicePrincipals/{id}/owners", 0),
        ("GET /v1.0/devices/{id}/registeredOwners", 0),
    ] {
        assert_eq!(
            reads(&after, endpoint) - reads(&before, endpoint),
            expected,
            "{endpoint}: {after}"
        );
    }
}
