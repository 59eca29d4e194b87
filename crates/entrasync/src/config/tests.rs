use super::*;

const GOOD: &str = r#"
kind: source
spec:
  name: entraid
  path: cloudquery/entraid
  registry: cloudquery
  version: "v1.4.1"
  tables: ["*"]
  skip_tables: ["entraid_auditlogs_*"]
  destinations: ["sqlite"]
  spec:
    concurrency: 100
    tenant_id: 00000000-0000-0000-0000-000000000001
    client_id: app
    client_secret: hunter2
    graph_url: http://127.0.0.1:9999
    login_url: http://127.0.0.1:9999
---
kind: destination
spec:
  name: sqlite
  path: cloudquery/sqlite
  registry: cloudquery
  version: "v2.4.0"
  spec:
    connection_string: ./entraid.db
"#;

fn parse_err(text: &str) -> String {
    parse(text, Path::new("config.yml"))
        .unwrap_err()
        .to_string()
}

#[test]
fn parses_a_cloudquery_config() {
    let config = parse(GOOD, Path::new("config.yml")).unwrap();
    let source = &config.sources[0];
    assert_eq!(source.name, "entraid");
    assert_eq!(source.tables, vec!["*"]);
    assert!(
        source.skip_dependent_tables,
        "CloudQuery v6 defaults it to true"
    );
    assert_eq!(source.spec.concurrency, 100);
    assert_eq!(
        source.spec.client_secret.as_ref().unwrap().expose(),
        "hunter2"
    );
    assert!(
        !format!("{source:?}").contains("hunter2"),
        "Debug must redact the secret"
    );
    let dest = &config.destinations[0];
    assert_eq!(dest.kind, DestinationKind::Sqlite);
    assert_eq!(dest.write_mode, WriteMode::OverwriteDeleteStale);
    assert_eq!(dest.connection_string().unwrap(), "./entraid.db");
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = GOOD.replace("  skip_tables:", "  skip_tabels:");
    insta::assert_snapshot!(parse_err(&text), @"config.yml:9: unknown key `skip_tabels`, expected one of `name`, `path`, `registry`, `version`, `tables`, `skip_tables`, `skip_dependent_tables`, `destinations`, `backend_options`, `deterministic_cq_id`, `otel_endpoint`, `otel_endpoint_insecure`, `spec`");
}

#[test]
fn unknown_plugin_spec_key_names_key_and_line() {
    let text = GOOD.replace("    concurrency: 100", "    concurency: 100");
    insta::assert_snapshot!(parse_err(&text), @"config.yml:12: spec: unknown key `concurency`, expected one of `concurrency`, `tenant_id`, `client_id`, `client_secret`, `client_certificate_path`, `cloud`, `graph_url`, `login_url`, `max_retries`, `log_lookback_days`, `simulator`");
}

#[test]
fn wrong_type_names_key_and_line() {
    let text = GOOD.replace("    concurrency: 100", "    concurrency: lots");
    insta::assert_snapshot!(parse_err(&text), @"config.yml:11: spec: invalid type: string \"lots\", expected u64");
}

#[test]
fn missing_destination_names_it() {
    let text = GOOD.replace(
        "destinations: [\"sqlite\"]",
        "destinations: [\"postgresql\"]",
    );
    insta::assert_snapshot!(parse_err(&text), @"config.yml:10: source \"entraid\": `destinations` names \"postgresql\", but no `kind: destination` document has that name (defined: sqlite)");
}

#[test]
fn missing_required_key() {
    let text = GOOD.replace("  tables: [\"*\"]\n", "");
    insta::assert_snapshot!(parse_err(&text), @"config.yml:4: missing required key `tables`");
}

#[test]
fn plain_http_only_for_loopback() {
    let text = GOOD.replace(
        "graph_url: http://127.0.0.1:9999",
        "graph_url: http://graph.example.com",
    );
    insta::assert_snapshot!(parse_err(&text), @"config.yml:16: spec.graph_url: plain http is only allowed for loopback hosts (localhost, 127.0.0.1); use https for graph.example.com");
}

#[test]
fn unsupported_destination_path() {
    let text = GOOD.replace("path: cloudquery/sqlite", "path: cloudquery/bigquery");
    insta::assert_snapshot!(parse_err(&text), @"config.yml:22: destination \"sqlite\": unsupported `path: cloudquery/bigquery`; entrasync writes to cloudquery/sqlite, cloudquery/postgresql and cloudquery/file");
}

#[test]
fn cloud_selects_hosts() {
    let text = GOOD
        .replace("    graph_url: http://127.0.0.1:9999\n", "")
        .replace(
            "    login_url: http://127.0.0.1:9999\n",
            "    cloud: usgov-dod\n",
        );
    let config = parse(&text, Path::new("config.yml")).unwrap();
    let spec = &config.sources[0].spec;
    assert_eq!(spec.graph_url.as_str(), "https://dod-graph.microsoft.us/");
    assert_eq!(spec.login_url.as_str(), "https://login.microsoftonline.us/");
}

#[test]
fn expansion_errors_carry_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yml");
    std::fs::write(
        &path,
        GOOD.replace("hunter2", "${ENTRASYNC_UNSET_SECRET_X}"),
    )
    .unwrap();
    let err = load(std::slice::from_ref(&path)).unwrap_err();
    assert_eq!(err.line, Some(15));
    assert!(
        err.to_string()
            .contains("ENTRASYNC_UNSET_SECRET_X is not set"),
        "{err}"
    );
}
