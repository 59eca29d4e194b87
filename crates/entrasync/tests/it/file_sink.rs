//! The file destination keeps every row: each written file is read back and its rows counted
//! against fake-graph's own tenant and a SQLite sync of it; `@removed` in an incremental sync goes
//! to deletions files; a state entry is stored only after every destination flushed.

use crate::harness::{Db, Tenant, write_config};
use entrasync_sinks::file::{DELETED_AT, read_rows};
use fake_graph::Profile;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Row = Map<String, Value>;

/// A source with `destinations` (name, destination YAML spec lines), optionally keeping its
/// state in the destination `backend`.
fn config(
    tenant: &Tenant,
    tables: &str,
    destinations: &[(&str, String)],
    backend: Option<&str>,
) -> String {
    let info = tenant.info();
    let names: Vec<String> = destinations.iter().map(|(n, _)| format!("{n:?}")).collect();
    let backend = backend
        .map(|b| {
            format!(
                "  backend_options:\n    table_name: cq_state_entraid\n    connection: \"@@plugins.{b}.connection\"\n"
            )
        })
        .unwrap_or_default();
    let mut text = format!(
        r#"kind: source
spec:
  name: entraid
  path: cloudquery/entraid
  registry: cloudquery
  version: "v1.4.1"
  tables: {tables}
  destinations: [{names}]
{backend}  spec:
    tenant_id: {tenant}
    client_id: {client}
    client_secret: {secret}
    graph_url: {graph}
    login_url: {login}
    max_retries: 4
    log_lookback_days: 0
"#,
        names = names.join(", "),
        tenant = info.tenant_id,
        client = info.client_id,
        secret = info.client_secret,
        graph = info.graph_url,
        login = info.login_url,
    );
    for (name, spec) in destinations {
        text.push_str(&format!(
            "---\nkind: destination\nspec:\n  name: {name}\n{spec}"
        ));
    }
    text
}

fn sqlite(db: &Path) -> String {
    format!(
        "  path: cloudquery/sqlite\n  registry: cloudquery\n  version: \"v2.4.0\"\n  spec:\n    connection_string: {}\n",
        db.display()
    )
}

fn file(dir: &Path, format: &str, compression: &str) -> String {
    format!(
        "  path: cloudquery/file\n  registry: cloudquery\n  version: \"v5.0.0\"\n  write_mode: append\n  spec:\n    path: {}/{{{{TABLE}}}}.{{{{FORMAT}}}}\n    format: {format}\n    compression: \"{compression}\"\n    no_rotate: true\n",
        dir.display()
    )
}

/// Every file under `dir`, by name.
fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn ids(rows: &[Row], column: &str) -> Vec<String> {
    rows.iter()
        .map(|r| r[column].as_str().expect("an id").to_string())
        .collect()
}

/// What fake-graph serves, from its own tenant: ids per table, and the group memberships.
fn truth(tenant: &Tenant) -> BTreeMap<&'static str, BTreeSet<String>> {
    let t = tenant.server.state.tenant.read().unwrap();
    let ids = |key: &str| -> BTreeSet<String> {
        t.coll(key).items.values().map(|i| i.id.clone()).collect()
    };
    let members: BTreeSet<String> = t
        .coll("groups")
        .items
        .values()
        .flat_map(|g| {
            g.rels
                .get("members")
                .into_iter()
                .flatten()
                .filter(|m| t.dir_object(m).is_some())
                .map(|m| format!("{}|{m}", g.id))
        })
        .collect();
    BTreeMap::from([
        ("entraid_users", ids("users")),
        ("entraid_groups", ids("groups")),
        ("entraid_applications", ids("applications")),
        ("entraid_serviceprincipals", ids("servicePrincipals")),
        ("entraid_devices", ids("devices")),
        ("entraid_group_members", members),
    ])
}

/// Several pages each for users, memberships and audits (sign-ins would add 40 s of Graph's
/// log pacing for nothing new).
const TABLES: [&str; 7] = [
    "entraid_users",
    "entraid_groups",
    "entraid_group_members",
    "entraid_applications",
    "entraid_serviceprincipals",
    "entraid_devices",
    "entraid_auditlogs_directoryaudits",
];

/// The quick-start tenant synced to `{{TABLE}}.{{FORMAT}}` in every format at once: each file
/// holds every row, as many as fake-graph serves and the SQLite destination of the same sync
/// holds; the next sync appends a second copy of every row to the same files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_reaches_one_file_per_table_in_every_format() {
    let tenant = Tenant::start(Profile::Small, 81).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("entraid.db");
    let formats = [
        ("json", "", "json"),
        ("csv", "gzip", "csv.gz"),
        ("parquet", "", "parquet"),
    ];
    let mut destinations = vec![("sqlite", sqlite(&db))];
    for (format, compression, _) in formats {
        destinations.push((format, file(&dir.path().join(format), format, compression)));
    }
    let tables = serde_json::to_string(&TABLES).unwrap();
    let cfg = write_config(dir.path(), &config(&tenant, &tables, &destinations, None));
    let truth = truth(&tenant);
    let audits = tenant.server.state.tenant.read().unwrap().audits.total() as usize;
    assert!(truth["entraid_users"].len() >= 1_000, "the small profile");
    assert!(audits >= 5_000, "several pages of audits: {audits}");

    for round in 1..=2usize {
        let result = crate::harness::sync(&cfg).await;
        assert_eq!(result.errors, 0, "round {round}");
        let sqlite = Db::open(&db);
        for (format, _, ext) in formats {
            let out = dir.path().join(format);
            let want: BTreeSet<String> = TABLES.iter().map(|t| format!("{t}.{ext}")).collect();
            assert_eq!(
                file_names(&out),
                want,
                "{format}: one complete file per table"
            );
            for table in TABLES {
                let rows = read_rows(&out.join(format!("{table}.{ext}"))).unwrap();
                let label = format!("round {round}, {format}, {table}");
                // Every sync appends its rows, as CloudQuery's file destination does.
                let per_sync = rows.len() / round;
                assert_eq!(rows.len(), per_sync * round, "{label}");
                assert_eq!(per_sync as i64, sqlite.count(table), "{label}: as SQLite");
                match table {
                    "entraid_auditlogs_directoryaudits" => {
                        assert_eq!(per_sync, audits, "{label}")
                    }
                    "entraid_group_members" => {
                        let got: Vec<String> = rows
                            .iter()
                            .map(|r| {
                                format!(
                                    "{}|{}",
                                    r["group_id"].as_str().unwrap(),
                                    r["id"].as_str().unwrap()
                                )
                            })
                            .collect();
                        let distinct: BTreeSet<String> = got.iter().cloned().collect();
                        assert_eq!(distinct, truth[table], "{label}");
                        assert_eq!(got.len(), distinct.len() * round, "{label}");
                    }
                    _ => {
                        let got = ids(&rows, "id");
                        let distinct: BTreeSet<String> = got.iter().cloned().collect();
                        assert_eq!(distinct, truth[table], "{label}: fake-graph's objects");
                        assert_eq!(got.len(), distinct.len() * round, "{label}");
                    }
                }
            }
        }
    }
}

/// Rows and deletions of a table's files replayed in time order: the ids that remain.
fn replay(rows: &[Row], deletions: &[Row]) -> BTreeSet<String> {
    let mut events: Vec<(String, bool, String)> = rows
        .iter()
        .map(|r| {
            let t = r["_cq_sync_time"].as_str().unwrap().to_string();
            (t, true, r["id"].as_str().unwrap().to_string())
        })
        .chain(deletions.iter().map(|d| {
            let t = d[DELETED_AT].as_str().unwrap().to_string();
            (t, false, d["id"].as_str().unwrap().to_string())
        }))
        .collect();
    // RFC 3339 in UTC with fixed µs sorts as text.
    events.sort();
    let mut live = BTreeSet::new();
    for (_, upsert, id) in events {
        if upsert {
            live.insert(id);
        } else {
            live.remove(&id);
        }
    }
    live
}

/// With `backend_options`, Graph's `@removed` no longer fails a sync to files: each removal is
/// appended to the table's deletions file, so the rows of the files with their deletions applied
/// are exactly the tenant's objects, in every format, round after round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_deletions_go_to_deletions_files() {
    let tenant = Tenant::start(Profile::Tiny, 82).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let formats = [("json", "json"), ("csv", "csv"), ("parquet", "parquet")];
    let mut destinations = vec![("sqlite", sqlite(&db))];
    for (format, _) in formats {
        destinations.push((format, file(&dir.path().join(format), format, "")));
    }
    let tables = r#"["entraid_users", "entraid_groups", "entraid_group_members", "entraid_applications", "entraid_devices"]"#;
    let cfg = write_config(
        dir.path(),
        &config(&tenant, tables, &destinations, Some("sqlite")),
    );
    assert_eq!(crate::harness::sync(&cfg).await.errors, 0, "first sync");
    let mut deleted = 0;
    for round in 1..=2u64 {
        let summary = tenant
            .admin("mutate", json!({"seed": 820 + round, "count": 40}))
            .await;
        assert_eq!(
            crate::harness::sync(&cfg).await.errors,
            0,
            "round {round} after {summary}"
        );
        let truth = truth(&tenant);
        for (format, ext) in formats {
            let out = dir.path().join(format);
            for table in [
                "entraid_users",
                "entraid_groups",
                "entraid_applications",
                "entraid_devices",
            ] {
                let rows = read_rows(&out.join(format!("{table}.{ext}"))).unwrap();
                let deletions_file = out.join(format!("{table}_deletions.{ext}"));
                let deletions = if deletions_file.exists() {
                    read_rows(&deletions_file).unwrap()
                } else {
                    Vec::new()
                };
                if let Some(d) = deletions.first() {
                    let columns: BTreeSet<&str> = d.keys().map(String::as_str).collect();
                    assert_eq!(
                        columns,
                        BTreeSet::from([DELETED_AT, "tenant_id", "id"]),
                        "{format} {table}"
                    );
                    assert_eq!(
                        d["tenant_id"].as_str(),
                        Some(tenant.info().tenant_id.as_str())
                    );
                }
                if format == "json" {
                    deleted += deletions.len();
                }
                assert_eq!(
                    replay(&rows, &deletions),
                    truth[table],
                    "round {round}, {format}, {table}: files with deletions applied"
                );
            }
        }
    }
    assert!(deleted > 0, "the mutations removed objects");
    let state = Db::open(&db).strings("SELECT key FROM cq_state_entraid ORDER BY key");
    assert!(
        state.iter().any(|k| k.starts_with("entraid_users|")),
        "{state:?}"
    );
}

/// A state entry is stored only after every destination has flushed the rows it covers: here
/// the second destination (PostgreSQL, buffering every row until a flush) refuses the rows when
/// they are flushed, and the state kept in the SQLite destination must stay unwritten — else the
/// next incremental sync would skip rows that PostgreSQL never received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_waits_for_every_destination_to_flush_postgres_included() {
    let tenant = Tenant::start(Profile::Tiny, 83).await;
    let pg = crate::postgres::PgDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let postgres = format!(
        "  path: cloudquery/postgresql\n  registry: cloudquery\n  version: \"v8.0.0\"\n  write_mode: overwrite\n  spec:\n    connection_string: {}\n    batch_size: 1000000\n    batch_size_bytes: 1000000000\n",
        pg.url
    );
    let tables = r#"["entraid_users"]"#;
    // A first sync creates the PostgreSQL table; then every insert into it fails.
    let setup = write_config(
        dir.path(),
        &config(&tenant, tables, &[("postgresql", postgres.clone())], None),
    );
    assert_eq!(crate::harness::sync(&setup).await.errors, 0);
    let (client, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON entraid_users \
             FOR EACH STATEMENT EXECUTE FUNCTION refuse();",
        )
        .await
        .unwrap();

    let db = dir.path().join("state.db");
    let cfg = write_config(
        dir.path(),
        &config(
            &tenant,
            tables,
            &[("sqlite", sqlite(&db)), ("postgresql", postgres)],
            Some("sqlite"),
        ),
    );
    let config = entrasync::config::load(&[cfg]).unwrap();
    let error = entrasync::run_sync(&config, false)
        .await
        .expect_err("PostgreSQL refuses the rows");
    assert!(
        format!("{error:#}").contains("refused by the test"),
        "{error:#}"
    );
    let users = truth(&tenant)["entraid_users"].len() as i64;
    let sqlite = Db::open(&db);
    assert_eq!(sqlite.count("entraid_users"), users, "SQLite has the rows");
    let stored = if sqlite.tables().contains(&"cq_state_entraid".to_string()) {
        sqlite.count("cq_state_entraid")
    } else {
        0
    };
    assert_eq!(stored, 0, "no state entry before PostgreSQL has the rows");

    // Once PostgreSQL takes the rows, the state is stored.
    client
        .batch_execute("DROP TRIGGER refuse ON entraid_users")
        .await
        .unwrap();
    entrasync::run_sync(&config, false).await.unwrap();
    assert!(Db::open(&db).count("cq_state_entraid") > 0);
    assert_eq!(pg.count("entraid_users").await, users);
    pg.drop().await;
}
