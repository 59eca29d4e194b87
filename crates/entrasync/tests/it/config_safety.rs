//! Config mistakes cannot destroy data: `entrasync sync` refuses them at load, with the file, the
//! line and the key, before any database file is created and before any Graph request.

use crate::harness::{Tenant, run_cli, write_config};
use fake_graph::Profile;
use std::path::Path;

/// The 1-based line of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} is not in the config:\n{text}"))
        + 1
}

/// Runs `entrasync sync` on `text`; asserts exit code 2, an error at `config.yml:<line>: ` that
/// says `says`, and that `db` was not created. Returns stderr.
fn refused(dir: &Path, db: &Path, text: &str, line: usize, says: &[&str]) -> String {
    let cfg = write_config(dir, text);
    let (code, out, err) = run_cli(&["sync", "--no-progress", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{out}{err}");
    let located = format!("config.yml:{line}: ");
    assert!(err.contains(&located), "expected {located:?} in: {err}");
    for part in says {
        assert!(err.contains(part), "expected {part:?} in: {err}");
    }
    assert!(!db.exists(), "{} was created: {err}", db.display());
    err
}

/// A second source document with its own destination, for the same tenant.
fn second_source(tenant: &Tenant, name: &str, db: &Path) -> String {
    let info = tenant.info();
    format!(
        r#"---
kind: source
spec:
  name: {name}
  path: cloudquery/entraid
  tables: ["entraid_groups"]
  destinations: ["sqlite2"]
  spec:
    tenant_id: {tenant_id}
    client_id: {client_id}
    client_secret: {secret}
    graph_url: {graph}
    login_url: {login}
---
kind: destination
spec:
  name: sqlite2
  path: cloudquery/sqlite
  spec:
    connection_string: {db}
"#,
        tenant_id = info.tenant_id,
        client_id = info.client_id,
        secret = info.client_secret,
        graph = info.graph_url,
        login = info.login_url,
        db = db.display(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sources_with_one_name_are_refused() {
    let tenant = Tenant::start(Profile::Tiny, 91).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("one.db");
    let other = dir.path().join("two.db");
    let text = format!(
        "{}{}",
        tenant.sqlite_config(&db, r#"["entraid_users"]"#, ""),
        second_source(&tenant, "entraid", &other)
    );
    refused(
        dir.path(),
        &db,
        &text,
        text.lines()
            .collect::<Vec<_>>()
            .iter()
            .rposition(|l| l.contains("name: entraid"))
            .unwrap()
            + 1,
        &[
            "two sources are named \"entraid\" (the first at ",
            "config.yml:3)",
        ],
    );
    assert!(!other.exists());
    assert_eq!(tenant.stats().await["requests"], 0, "no Graph traffic");

    // With distinct names both sources sync, each into its own file.
    let text = format!(
        "{}{}",
        tenant.sqlite_config(&db, r#"["entraid_users"]"#, ""),
        second_source(&tenant, "entraid-b", &other)
    );
    let cfg = write_config(dir.path(), &text);
    let (code, _, err) = run_cli(&["sync", "--no-progress", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(db.exists() && other.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_is_not_entraid_is_refused() {
    let tenant = Tenant::start(Profile::Tiny, 92).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let good = tenant.sqlite_config(&db, r#"["entraid_users"]"#, "");
    let text = good.replace("path: cloudquery/entraid", "path: cloudquery/aws");
    refused(
        dir.path(),
        &db,
        &text,
        line_of(&text, "path: cloudquery/aws"),
        &["`path: cloudquery/aws` is not the entraid plugin"],
    );
    let text = good.replacen("registry: cloudquery", "registry: grpc", 1);
    refused(
        dir.path(),
        &db,
        &text,
        line_of(&text, "registry: grpc"),
        &["`registry: grpc` is not supported by entrasync sync"],
    );
    assert_eq!(tenant.stats().await["requests"], 0, "no Graph traffic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_and_ranges_name_their_line_and_key() {
    let tenant = Tenant::start(Profile::Tiny, 93).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let with_option = |option: &str| tenant.sqlite_config(&db, r#"["entraid_users"]"#, option);
    for (option, at, says) in [
        (
            "    concurrency: \"abc\"\n",
            "concurrency:",
            "spec.concurrency: expected an integer from 1 to 1000000, found a string",
        ),
        (
            "    log_lookback_days: true\n",
            "log_lookback_days:",
            "spec.log_lookback_days: expected an integer from 0 to 3650",
        ),
        (
            "    log_lookback_days: 100000000000\n",
            "log_lookback_days:",
            "spec.log_lookback_days: must be an integer from 0 to 3650 (days; 0 reads everything), not 100000000000",
        ),
        (
            "    max_retry_after: 0\n",
            "max_retry_after:",
            "spec.max_retry_after: must be an integer from 1 to 3600 (seconds), not 0",
        ),
        (
            "    max_retries: -3\n",
            "max_retries:",
            "spec.max_retries: must be an integer from 0 to 100, not -3",
        ),
        (
            "    cloud: mars\n",
            "cloud:",
            "spec.cloud: unknown value \"mars\", expected one of `public`, `usgov`, `usgov-dod`, `china`",
        ),
    ] {
        // The harness's config sets max_retries already.
        let text = match option.strip_prefix("    max_retries:") {
            Some(_) => with_option("").replace("    max_retries: 4\n", option),
            None => with_option(option),
        };
        refused(dir.path(), &db, &text, line_of(&text, at), &[says]);
    }
    let text = with_option("").replace("  tables: [\"entraid_users\"]", "  tables: 5");
    refused(
        dir.path(),
        &db,
        &text,
        line_of(&text, "tables: 5"),
        &["tables: expected a list, found an integer"],
    );
    let text = with_option("").replace(
        "    connection_string:",
        "    batch_size: 0\n    connection_string:",
    );
    refused(
        dir.path(),
        &db,
        &text,
        line_of(&text, "batch_size: 0"),
        &["spec.batch_size: must be an integer from 1 to 1000000 (rows), not 0"],
    );
    assert_eq!(tenant.stats().await["requests"], 0, "no Graph traffic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_numeric_secret_is_named_but_never_shown() {
    let tenant = Tenant::start(Profile::Tiny, 94).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let text = tenant
        .sqlite_config(&db, r#"["entraid_users"]"#, "")
        .replace(
            &format!("client_secret: {}", tenant.info().client_secret),
            "client_secret: 8675309123",
        );
    let err = refused(
        dir.path(),
        &db,
        &text,
        line_of(&text, "client_secret:"),
        &["spec.client_secret: expected a string, found an integer; put the value in quotes"],
    );
    assert!(!err.contains("8675309123"), "the secret is shown: {err}");
}

/// Mistakes that used to surface only when a sink opened or the source started, after an earlier
/// destination had created its file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_mistakes_are_found_before_any_file_is_created() {
    let tenant = Tenant::start(Profile::Tiny, 95).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("first.db");
    let good = tenant.sqlite_config(&db, r#"["entraid_users"]"#, "");
    let two_destinations = |second: &str| {
        format!(
            "{}---\nkind: destination\nspec:\n  name: files\n  path: cloudquery/file\n  spec:\n{second}",
            good.replace(
                "destinations: [\"sqlite\"]",
                "destinations: [\"sqlite\", \"files\"]"
            )
        )
    };
    // The second destination's own spec is wrong.
    let text = two_destinations("    path: \"out/{{TABLE}}.xml\"\n    format: xml\n");
    refused(
        dir.path(),
        &db,
        &text,
        line_of(&text, "format: xml"),
        &["spec.format: unknown value \"xml\""],
    );
    let text =
        two_destinations("    path: \"out/{{TABLE}}.json\"\n    format: json\n    colour: blue\n");
    refused(
        dir.path(),
        &db,
        &text,
        line_of(&text, "colour: blue"),
        &["spec: unknown key `colour`"],
    );
    // A SQLite file in a folder that does not exist.
    let text = format!(
        "{}---\nkind: destination\nspec:\n  name: files\n  path: cloudquery/sqlite\n  spec:\n    connection_string: {}\n",
        good.replace(
            "destinations: [\"sqlite\"]",
            "destinations: [\"sqlite\", \"files\"]"
        ),
        dir.path().join("missing-folder/x.db").display()
    );
    refused(
        dir.path(),
        &db,
        &text,
        line_of(&text, "missing-folder"),
        &["spec.connection_string: the folder", "does not exist"],
    );
    // The state backend names a destination the source does not write to.
    let text = good.replace(
        "  destinations: [\"sqlite\"]",
        "  destinations: [\"sqlite\"]\n  backend_options:\n    table_name: cq_state_entraid\n    connection: \"@@plugins.postgresql.connection\"",
    );
    refused(
        dir.path(),
        &db,
        &text,
        line_of(&text, "connection: \"@@plugins"),
        &["backend_options.connection names destination \"postgresql\""],
    );
    // A client secret without the app's id. (No credential at all is not a config error: as
    // with Azure's SDKs, the sync then tries managed identity and the Azure CLI.)
    let text = good
        .lines()
        .filter(|l| !l.contains("client_id:"))
        .collect::<Vec<_>>()
        .join("\n");
    refused(
        dir.path(),
        &db,
        &text,
        // The source's own `spec:` key, the first one nested two spaces deep.
        line_of(&text, "  spec:"),
        &["no client_id: a client secret needs the app's client id; set spec.client_id"],
    );
    // A certificate file that is not a certificate.
    let pem = dir.path().join("app.pem");
    std::fs::write(&pem, "not a certificate").unwrap();
    let text = good.replace(
        &format!("client_secret: {}", tenant.info().client_secret),
        &format!("client_certificate_path: {}", pem.display()),
    );
    refused(
        dir.path(),
        &db,
        &text,
        line_of(&text, "client_certificate_path:"),
        &["no CERTIFICATE block found"],
    );
    // A table name that matches nothing.
    let text = good.replace("[\"entraid_users\"]", "[\"entraid_usres\"]");
    refused(
        dir.path(),
        &db,
        &text,
        line_of(&text, "entraid_usres"),
        &["tables[0]: \"entraid_usres\" matches no table"],
    );
    assert_eq!(tenant.stats().await["requests"], 0, "no Graph traffic");
}
