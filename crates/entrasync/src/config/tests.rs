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
    insta::assert_snapshot!(parse_err(&text), @"config.yml:12: spec: unknown key `concurency`, expected one of `concurrency`, `tenant_id`, `client_id`, `client_secret`, `client_certificate_path`, `client_certificate_password`, `send_certificate_chain`, `auth`, `federated_token_file`, `access_token`, `access_token_file`, `cloud`, `graph_url`, `login_url`, `max_retries`, `log_lookback_days`, `max_retry_after`, `child_refresh_interval`, `log_overlap`, `max_pages`, `simulator`");
}

#[test]
fn wrong_type_names_key_and_line() {
    let text = GOOD.replace("    concurrency: 100", "    concurrency: lots");
    insta::assert_snapshot!(parse_err(&text), @"config.yml:12: spec.concurrency: expected an integer from 1 to 1000000, found a string");
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
    insta::assert_snapshot!(parse_err(&text), @"config.yml:3: missing required key `tables`");
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

/// The 1-based line of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> u32 {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i as u32 + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in the config"))
}

fn err_of(text: &str) -> ConfigError {
    parse(text, Path::new("config.yml")).unwrap_err()
}

#[test]
fn wrong_types_name_their_own_line_and_key() {
    for (from, to, key) in [
        (
            "    concurrency: 100",
            "    concurrency: \"abc\"",
            "spec.concurrency",
        ),
        ("  tables: [\"*\"]", "  tables: 5", "tables"),
        (
            "    concurrency: 100",
            "    log_lookback_days: true",
            "spec.log_lookback_days",
        ),
        ("    concurrency: 100", "    cloud: [public]", "spec.cloud"),
        (
            "    concurrency: 100",
            "    max_retries: 1.5",
            "spec.max_retries",
        ),
        (
            "  skip_tables:",
            "  skip_dependent_tables: \"yes\"\n  skip_tables:",
            "skip_dependent_tables",
        ),
        (
            "  destinations: [\"sqlite\"]",
            "  destinations: {a: 1}",
            "destinations",
        ),
        (
            "    connection_string: ./entraid.db",
            "    connection_string: [a]",
            "spec.connection_string",
        ),
        ("  version: \"v2.4.0\"", "  write_mode: 7", "write_mode"),
    ] {
        let text = GOOD.replacen(from, to, 1);
        let key_line = line_of(&text, to.trim().lines().next().unwrap());
        let err = err_of(&text);
        assert_eq!(err.line, Some(key_line), "{to}: {err}");
        assert!(
            err.message.starts_with(&format!("{key}: expected ")),
            "{to}: {err}"
        );
    }
}

#[test]
fn a_numeric_secret_is_never_echoed() {
    let text = GOOD.replace("client_secret: hunter2", "client_secret: 12345678");
    let err = err_of(&text);
    insta::assert_snapshot!(err.to_string(), @"config.yml:15: spec.client_secret: expected a string, found an integer; put the value in quotes");
    let text = GOOD.replace("client_secret: hunter2", "client_secret: 0x5eC7e7");
    assert!(!err_of(&text).to_string().contains("5eC7e7"));
    let text = GOOD.replace(
        "client_secret: hunter2",
        "client_secret: [s3cr3t-in-a-list]",
    );
    assert!(!err_of(&text).to_string().contains("s3cr3t"));
    let text = GOOD.replace(
        "connection_string: ./entraid.db",
        "connection_string: 987654321",
    );
    assert!(!err_of(&text).to_string().contains("987654321"));
}

#[test]
fn numeric_options_are_range_checked_with_their_line() {
    for (option, value, message) in [
        (
            "log_lookback_days",
            "3651",
            "spec.log_lookback_days: must be an integer from 0 to 3650 (days; 0 reads everything), not 3651",
        ),
        (
            "log_lookback_days",
            "99999999999999999999999999999999999999999999",
            "spec.log_lookback_days: must be an integer from 0 to 3650 (days; 0 reads everything), not 1e44",
        ),
        (
            "log_lookback_days",
            "-1",
            "spec.log_lookback_days: must be an integer from 0 to 3650 (days; 0 reads everything), not -1",
        ),
        (
            "concurrency",
            "0",
            "spec.concurrency: must be an integer from 1 to 1000000, not 0",
        ),
        (
            "max_retries",
            "101",
            "spec.max_retries: must be an integer from 0 to 100, not 101",
        ),
        (
            "max_retry_after",
            "0",
            "spec.max_retry_after: must be an integer from 1 to 3600 (seconds), not 0",
        ),
        (
            "max_retry_after",
            "3601",
            "spec.max_retry_after: must be an integer from 1 to 3600 (seconds), not 3601",
        ),
        (
            "simulator",
            "{seed: -5}",
            "spec.simulator.seed: must be an integer from 0 to 18446744073709551615, not -5",
        ),
    ] {
        let text = GOOD.replace("    concurrency: 100", &format!("    {option}: {value}"));
        let err = err_of(&text);
        assert_eq!(err.line, Some(12), "{option}: {err}");
        assert_eq!(err.message, message);
    }
    for (key, value, message) in [
        (
            "  batch_size",
            "0",
            "batch_size: must be an integer from 1 to 1000000 (rows), not 0",
        ),
        (
            "  batch_size_bytes",
            "18446744073709551616",
            "batch_size_bytes: must be an integer from 1 to 4294967296 (bytes), not 1.8446744073709552e19",
        ),
        (
            "    batch_size",
            "1000001",
            "spec.batch_size: must be an integer from 1 to 1000000 (rows), not 1000001",
        ),
    ] {
        let text = GOOD.replace(
            "    connection_string: ./entraid.db",
            &format!("    connection_string: ./entraid.db\n{key}: {value}"),
        );
        let text = if key.len() - key.trim_start().len() == 2 {
            // A destination-level option: before the nested spec.
            GOOD.replace("  version: \"v2.4.0\"", &format!("{key}: {value}"))
        } else {
            text
        };
        let err = err_of(&text);
        assert_eq!(err.line, Some(line_of(&text, key.trim())), "{err}");
        assert_eq!(err.message, message);
    }
}

#[test]
fn options_in_range_are_read() {
    let text = GOOD.replace(
        "    concurrency: 100",
        "    concurrency: 1000000\n    log_lookback_days: 3650\n    max_retries: 0\n    max_retry_after: 60",
    );
    let spec = &parse(&text, Path::new("config.yml")).unwrap().sources[0].spec;
    assert_eq!(spec.concurrency, 1_000_000);
    assert_eq!(spec.log_lookback_days, 3650);
    assert_eq!(spec.max_retries, 0);
    assert_eq!(spec.max_retry_after, std::time::Duration::from_secs(60));
    let spec = &parse(GOOD, Path::new("config.yml")).unwrap().sources[0].spec;
    assert_eq!(spec.max_retry_after, std::time::Duration::from_secs(300));
    assert_eq!(spec.log_lookback_days, DEFAULT_LOG_LOOKBACK_DAYS);
    assert_eq!(spec.max_retries, DEFAULT_MAX_RETRIES);
}

/// A second source document for GOOD, named `name`.
fn second_source(name: &str) -> String {
    format!(
        "---\nkind: source\nspec:\n  name: {name}\n  path: cloudquery/entraid\n  tables: [\"entraid_users\"]\n  destinations: [\"sqlite\"]\n  spec:\n    tenant_id: t2\n    client_id: c2\n    client_secret: s2\n"
    )
}

#[test]
fn two_sources_with_one_name_are_refused() {
    let text = format!("{GOOD}{}", second_source("entraid"));
    let err = err_of(&text);
    let second_name = text
        .lines()
        .collect::<Vec<_>>()
        .iter()
        .rposition(|l| *l == "  name: entraid")
        .unwrap() as u32
        + 1;
    assert_eq!(err.line, Some(second_name));
    insta::assert_snapshot!(err.message, @r#"two sources are named "entraid" (the first at config.yml:4); source names must be unique, or one source's sync would delete the other's rows"#);
    let config = parse(
        &format!("{GOOD}{}", second_source("entraid-2")),
        Path::new("config.yml"),
    )
    .unwrap();
    assert_eq!(config.sources.len(), 2);
}

#[test]
fn a_source_that_is_not_entraid_is_refused() {
    let text = GOOD.replace("path: cloudquery/entraid", "path: cloudquery/aws");
    insta::assert_snapshot!(parse_err(&text), @r#"config.yml:5: source "entraid": `path: cloudquery/aws` is not the entraid plugin; entrasync syncs only Microsoft Entra ID: use `path: cloudquery/entraid` (registry cloudquery), or the path of the entrasync binary with `registry: local`"#);
    let text = GOOD.replace(
        "registry: cloudquery\n  version: \"v1.4.1\"",
        "registry: grpc",
    );
    insta::assert_snapshot!(parse_err(&text), @r#"config.yml:6: source "entraid": `registry: grpc` is not supported by entrasync sync; use `path: cloudquery/entraid` (registry cloudquery), or the path of the entrasync binary with `registry: local`"#);
    let text = GOOD
        .replace("path: cloudquery/entraid", "path: /usr/bin/cloudquery")
        .replacen("registry: cloudquery", "registry: local", 1);
    assert!(err_of(&text).to_string().contains(
        "config.yml:5: source \"entraid\": `path: /usr/bin/cloudquery` is not the entraid plugin"
    ));
    for (path, registry) in [
        ("cloudquery/entraid", "github"),
        ("/usr/local/bin/entrasync", "local"),
        ("C:\\\\tools\\\\entrasync.exe", "local"),
        ("./target/release/entrasync", "local"),
    ] {
        let text = GOOD
            .replace("path: cloudquery/entraid", &format!("path: \"{path}\""))
            .replacen("registry: cloudquery", &format!("registry: {registry}"), 1);
        parse(&text, Path::new("config.yml")).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

#[test]
fn a_local_entrasync_destination_picks_its_sink_from_the_spec() {
    for (spec, kind) in [
        ("connection_string: ./x.db", DestinationKind::Sqlite),
        (
            "connection_string: \"postgres://u@h/db\"",
            DestinationKind::Postgres,
        ),
        (
            "connection_string: \"host=h dbname=d\"",
            DestinationKind::Postgres,
        ),
        (
            "{path: \"out/{{TABLE}}.json\", format: json}",
            DestinationKind::File,
        ),
    ] {
        let text = GOOD
            .replace("path: cloudquery/sqlite", "path: /opt/entrasync")
            .replace(
                "registry: cloudquery\n  version: \"v2.4.0\"",
                "registry: local",
            )
            .replace(
                "    connection_string: ./entraid.db",
                &format!("    {spec}"),
            );
        let text = if spec.starts_with('{') {
            text.replace(&format!("  spec:\n    {spec}"), &format!("  spec: {spec}"))
        } else {
            text
        };
        let config = parse(&text, Path::new("config.yml")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.destinations[0].kind, kind, "{spec}");
    }
}

#[test]
fn destination_specs_are_checked_at_load() {
    for (from, to, message) in [
        (
            "    connection_string: ./entraid.db",
            "    conection_string: ./entraid.db",
            "spec: unknown key `conection_string`, expected one of `connection_string`, `batch_size`, `batch_size_bytes`, `batch_timeout`, `create_performance_indexes`",
        ),
        (
            "    connection_string: ./entraid.db",
            "    connection_string: \"\"",
            "spec.connection_string: must not be empty",
        ),
        (
            "    connection_string: ./entraid.db",
            "    connection_string: /surely/not/a/folder/x.db",
            "spec.connection_string: the folder /surely/not/a/folder of the SQLite file does not exist; create it first",
        ),
        (
            "path: cloudquery/sqlite",
            "path: cloudquery/file",
            "spec: unknown key `connection_string`, expected one of `path`, `format`, `format_spec`, `compression`, `no_rotate`, `batch_size`, `batch_size_bytes`, `batch_timeout`",
        ),
        (
            "  version: \"v2.4.0\"",
            "  write_mode: delete-everything",
            "write_mode: unknown value \"delete-everything\", expected one of `overwrite-delete-stale`, `overwrite`, `append`",
        ),
    ] {
        let text = GOOD.replace(from, to);
        let err = err_of(&text);
        assert_eq!(err.message, message, "{to}");
        let key = message.split([':', ' ']).next().unwrap();
        let needle = match key.rsplit('.').next().unwrap() {
            "spec" => format!("    {}", message.split('`').nth(1).unwrap()),
            key => format!("{key}:"),
        };
        assert_eq!(err.line, Some(line_of(&text, &needle)), "{to}");
    }
    let file = |spec: &str| {
        GOOD.replace("path: cloudquery/sqlite", "path: cloudquery/file")
            .replace("    connection_string: ./entraid.db", spec)
    };
    let text = file("    path: \"out/{{TABLE}}.parquet\"\n    format: xml");
    assert_eq!(
        err_of(&text).to_string(),
        "config.yml:27: spec.format: unknown value \"xml\", expected one of `parquet`, `json`, `csv`"
    );
    let text =
        file("    path: \"out/{{TABLE}}.parquet\"\n    format: parquet\n    compression: gzip");
    assert_eq!(
        err_of(&text).to_string(),
        "config.yml:28: spec.compression: compression applies to json and csv files only; parquet files are compressed internally"
    );
    let text = file("    format: json");
    assert_eq!(
        err_of(&text).to_string(),
        "config.yml:25: spec: missing required key `path`"
    );
    let text =
        file("    path: \"out/{{TABLE}}/{{UUID}}.json\"\n    format: json\n    no_rotate: true");
    assert_eq!(
        err_of(&text).to_string(),
        "config.yml:26: spec.path: must not contain {{UUID}} when spec.no_rotate is true (one file per table)"
    );
    let text = file("    path: \"out/{{TABLE}}.json\"\n    format: json\n    no_rotate: \"yes\"");
    assert_eq!(
        err_of(&text).to_string(),
        "config.yml:28: spec.no_rotate: expected true or false, found a string"
    );
    let text = file(
        "    path: \"out/{{TABLE}}.json\"\n    format: json\n    compression: gzip\n    no_rotate: true",
    );
    parse(&text, Path::new("config.yml")).unwrap();
}

#[test]
fn backend_options_are_checked_at_load() {
    let with = |backend: &str| {
        GOOD.replace(
            "  destinations: [\"sqlite\"]",
            &format!("  destinations: [\"sqlite\"]\n  backend_options:\n{backend}"),
        )
    };
    let ok =
        with("    table_name: cq_state_entraid\n    connection: \"@@plugins.sqlite.connection\"");
    parse(&ok, Path::new("config.yml")).unwrap();
    for (backend, line, message) in [
        (
            "    table_name: cq_state_entraid\n    connection: \"localhost:7777\"",
            13,
            "source \"entraid\": backend_options.connection must be \"@@plugins.<destination name>.connection\" for entrasync sync",
        ),
        (
            "    table_name: cq_state_entraid\n    connection: \"@@plugins.postgresql.connection\"",
            13,
            "source \"entraid\": backend_options.connection names destination \"postgresql\", which is not one of this source's destinations (sqlite)",
        ),
        (
            "    table_name: \"state; DROP TABLE x\"\n    connection: \"@@plugins.sqlite.connection\"",
            12,
            "source \"entraid\": backend_options.table_name \"state; DROP TABLE x\" must be a plain table name: letters, digits and _, at most 63 characters",
        ),
        (
            "    table_name: \"\"\n    connection: \"@@plugins.sqlite.connection\"",
            11,
            "source \"entraid\": backend_options must contain both connection and table_name",
        ),
        (
            "    table_name: x",
            11,
            "backend_options: missing required key `connection`",
        ),
    ] {
        let err = err_of(&with(backend));
        assert_eq!((err.line, err.message.as_str()), (Some(line), message));
    }
}

#[test]
fn a_table_pattern_that_matches_nothing_names_its_line() {
    let text = GOOD.replace(
        "  tables: [\"*\"]",
        "  tables:\n    - entraid_users\n    - entraid_usrs",
    );
    insta::assert_snapshot!(parse_err(&text), @r#"config.yml:10: tables[1]: "entraid_usrs" matches no table; run `entrasync tables` for the list of table names"#);
}

#[test]
fn missing_credentials_are_a_config_error() {
    if std::env::var_os("AZURE_CLIENT_ID").is_some() {
        return; // the environment would supply it
    }
    let text = GOOD.replace("    client_id: app\n", "");
    insta::assert_snapshot!(parse_err(&text), @r#"config.yml:11: source "entraid": no client_id: a client secret needs the app's client id; set spec.client_id in the source spec or the AZURE_CLIENT_ID environment variable"#);
    if std::env::var_os("AZURE_CLIENT_SECRET").is_none() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("app.pem");
        std::fs::write(&pem, "not a pem").unwrap();
        let text = GOOD.replace(
            "client_secret: hunter2",
            &format!("client_certificate_path: {}", pem.display()),
        );
        let err = err_of(&text);
        assert_eq!(err.line, Some(15), "{err}");
        assert!(err.message.contains("no CERTIFICATE block"), "{err}");
    }
    // The simulated tenant needs none.
    let text = GOOD.replace("    client_id: app\n", "").replace(
        "    client_secret: hunter2\n",
        "    simulator: {profile: tiny}\n",
    );
    parse(&text, Path::new("config.yml")).unwrap();
    let text = GOOD.replace(
        "    client_secret: hunter2\n",
        "    simulator: {profile: huge}\n",
    );
    insta::assert_snapshot!(parse_err(&text), @r#"config.yml:15: spec.simulator.profile: unknown profile "huge"; use tiny, small or large"#);
}

#[test]
fn duplicate_yaml_keys_are_refused_with_their_line() {
    let text = GOOD.replace(
        "    client_id: app\n",
        "    client_id: app\n    client_id: other\n",
    );
    let err = err_of(&text);
    assert_eq!(err.to_string(), "config.yml:15: duplicate key `client_id`");
    let text = GOOD.replace("    concurrency: 100", "    concurrency: .inf");
    assert_eq!(
        err_of(&text).to_string(),
        "config.yml:12: a number that is not finite (.inf, .nan, or too large for a float)"
    );
}

#[test]
fn odd_documents_are_located() {
    for (text, line, message) in [
        (
            "kind: source\nspec: 5\n",
            2,
            "spec: a source spec must be a mapping with `name`, `path`, …",
        ),
        (
            "kind: sauce\nspec: {}\n",
            1,
            "unknown `kind: sauce`; expected `source` or `destination`",
        ),
        (
            "kind: source\nspek: {}\n",
            2,
            "unknown key `spek`, expected one of `kind`, `spec`",
        ),
        (
            "- kind: source\n",
            1,
            "a document must be a mapping with `kind` and `spec`",
        ),
        ("spec: {}\n", 1, "missing required key `kind`"),
    ] {
        let err = err_of(text);
        assert_eq!(
            (err.line, err.message.as_str()),
            (Some(line), message),
            "{text}"
        );
    }
    let err = err_of("kind: source\nspec:\n  name: [unclosed\n");
    assert!(err.line.is_some(), "{err}");
    let err = err_of("");
    assert_eq!(err.line, None);
    // A trailing `---` is not a document.
    parse(&format!("{GOOD}---\n"), Path::new("config.yml")).unwrap();
}

#[test]
fn the_connection_password_is_masked_in_debug() {
    let text = GOOD
        .replace("path: cloudquery/sqlite", "path: cloudquery/postgresql")
        .replace(
            "connection_string: ./entraid.db",
            "connection_string: \"postgres://u:pg-S3cret@h/db\"",
        );
    let config = parse(&text, Path::new("config.yml")).unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("pg-S3cret"), "{shown}");
    assert!(shown.contains("postgres://u:xxxxx@h/db"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn expanded_lines_are_reported_as_the_file_has_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("extra.yml"),
        "    max_retries: 1\n    cloud: nowhere",
    )
    .unwrap();
    let path = dir.path().join("c.yml");
    std::fs::write(
        &path,
        GOOD.replace(
            "    concurrency: 100",
            "${file:extra.yml}\n    concurrency: lots",
        ),
    )
    .unwrap();
    let err = load(std::slice::from_ref(&path)).unwrap_err();
    // The `cloud` error comes from the expanded file, the line that includes it is line 12.
    assert_eq!(err.line, Some(12), "{err}");
    assert!(
        err.message
            .starts_with("spec.cloud: unknown value \"nowhere\""),
        "{err}"
    );
}

/// The secret of the property test's configs: no error may show it.
const CANARY: &str = "Cq7canary-S3cret";

/// Valid configs the property test starts from.
fn fuzz_bases() -> Vec<String> {
    let good = GOOD.replace("hunter2", CANARY);
    let postgres = format!(
        "{}  backend_options:\n    table_name: cq_state_entraid\n    connection: \"@@plugins.pg.connection\"\n---\nkind: destination\nspec:\n  name: pg\n  path: cloudquery/postgresql\n  batch_size: 1000\n  spec:\n    connection_string: \"postgres://u:{CANARY}@h/db?sslmode=disable\"\n    batch_size_bytes: 1000000\n",
        good.replace(
            "destinations: [\"sqlite\"]",
            "destinations: [\"sqlite\", \"pg\"]"
        )
        .replacen("---\n", "", 0),
    );
    let postgres = {
        // The backend lines belong to the source: move them before its nested spec.
        let (source, rest) = postgres.split_once("---\nkind: destination").unwrap();
        let (rest_dest, backend) = rest.split_once("  backend_options:").unwrap();
        let source = source.replace(
            "  spec:\n    concurrency",
            &format!(
                "  backend_options:{}  spec:\n    concurrency",
                backend.split("---").next().unwrap()
            ),
        );
        format!(
            "{source}---\nkind: destination{rest_dest}{}",
            backend
                .split_once("---")
                .map(|(_, d)| format!("---{d}"))
                .unwrap_or_default()
        )
    };
    let file = GOOD
        .replace("hunter2", CANARY)
        .replace("path: cloudquery/sqlite", "path: cloudquery/file")
        .replace(
            "    connection_string: ./entraid.db",
            "    path: \"out/{{TABLE}}/{{UUID}}.{{FORMAT}}\"\n    format: json\n    compression: gzip",
        );
    let simulator = format!(
        "kind: source\nspec:\n  name: sim\n  path: cloudquery/entraid\n  tables: [\"entraid_users\", \"entraid_group*\"]\n  skip_dependent_tables: false\n  destinations: [\"lite\"]\n  spec:\n    simulator: {{profile: tiny, seed: 7}}\n    log_lookback_days: 0\n    max_retry_after: 60\n    client_secret: \"{CANARY}\"\n---\nkind: destination\nspec:\n  name: lite\n  path: cloudquery/sqlite\n  write_mode: append\n  migrate_mode: forced\n  spec: {{connection_string: ./x.db, batch_timeout: 20s}}\n"
    );
    vec![good, postgres, file, simulator]
}

const SNIPPETS: &[&str] = &[
    "abc",
    "\"abc\"",
    "5",
    "-1",
    "0",
    "3651",
    "99999999999999999999999",
    "-99999999999999999999999",
    "1e400",
    "1.5",
    "-0.0",
    ".inf",
    ".nan",
    "true",
    "no",
    "~",
    "null",
    "[]",
    "{}",
    "[1, 2]",
    "{a: 1}",
    "[\"*\"]",
    "\"\"",
    "''",
    "'it''s'",
    "ünïcødé ✓",
    "\u{202e}rtl",
    "\u{1F600}",
    "\u{0}",
    "\u{1b}[31m",
    "&anchor x",
    "*anchor",
    "*undefined",
    "!!str 5",
    "!!int abc",
    "!!binary aGVsbG8=",
    "!custom x",
    "|\n  block",
    ">-\n  folded",
    "\"\\u0000\"",
    "\"\\e[31m\"",
    "0x1F",
    "0o17",
    "1_000",
    "2024-01-01",
    "\"${NOT_EXPANDED}\"",
    "[",
    "{",
    "\"unterminated",
    "key: value",
    "- item",
    "# comment",
    "@",
    "`",
    "%",
    "?",
    "<<: *anchor",
    "cloudquery/entraid",
    "cloudquery/aws",
    "@@plugins.sqlite.connection",
    "http://graph.example.com",
    "https://",
    "postgres://u:pw@h/db",
    "\t",
];

const KEYS: &[&str] = &[
    "concurrency",
    "log_lookback_days",
    "max_retries",
    "max_retry_after",
    "tables",
    "skip_tables",
    "skip_dependent_tables",
    "destinations",
    "name",
    "path",
    "registry",
    "version",
    "spec",
    "kind",
    "backend_options",
    "table_name",
    "connection",
    "batch_size",
    "batch_size_bytes",
    "write_mode",
    "migrate_mode",
    "connection_string",
    "format",
    "compression",
    "no_rotate",
    "simulator",
    "profile",
    "seed",
    "cloud",
    "graph_url",
    "login_url",
    "tenant_id",
    "client_id",
    "client_certificate_path",
    "deterministic_cq_id",
    "unknown_key",
    "ключ",
    "<<",
    "\"quoted key\"",
    "1",
    "true",
    "~",
    "[a]",
    "{b: 1}",
    "? complex",
];

/// One random change to a config's text.
fn mutate(rng: &mut impl rand::Rng, text: &str) -> String {
    let pick = |rng: &mut dyn rand::RngCore, list: &[&str]| -> String {
        list[(rng.next_u32() as usize) % list.len()].to_string()
    };
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return pick(rng, SNIPPETS);
    }
    let n = lines.len();
    let i = rng.random_range(0..n);
    // The secret's own line keeps its key, so that an error never has a reason to show it.
    let secret_line = lines[i].contains(CANARY);
    match rng.random_range(0..11) {
        // A value of the wrong type, size or shape.
        0 | 1 => {
            if let Some((key, _)) = lines[i].split_once(": ") {
                lines[i] = format!("{key}: {}", pick(rng, SNIPPETS));
            }
        }
        // Another key, known elsewhere or not at all.
        2 if !secret_line => {
            let indent = lines[i].len() - lines[i].trim_start().len();
            if let Some((_, value)) = lines[i].split_once(':') {
                lines[i] = format!("{}{}:{value}", " ".repeat(indent), pick(rng, KEYS));
            }
        }
        // A duplicated key.
        3 => lines.insert(i, lines[i].clone()),
        4 => {
            lines.remove(i);
        }
        // Truncation at any character.
        5 => {
            let chars: Vec<char> = text.chars().collect();
            let at = rng.random_range(0..=chars.len());
            return chars[..at].iter().collect();
        }
        // A new key anywhere, at any indentation.
        6 => {
            let indent = " ".repeat(rng.random_range(0..3) * 2);
            let line = format!("{indent}{}: {}", pick(rng, KEYS), pick(rng, SNIPPETS));
            lines.insert(i, line);
        }
        7 if i + 1 < n => lines.swap(i, i + 1),
        // Indentation off by a level.
        8 => {
            if rng.random_bool(0.5) {
                lines[i] = format!("  {}", lines[i]);
            } else if let Some(rest) = lines[i].strip_prefix("  ") {
                lines[i] = rest.to_string();
            }
        }
        // Odd characters inside a line.
        9 if !secret_line => {
            let chars: Vec<char> = lines[i].chars().collect();
            let at = rng.random_range(0..=chars.len());
            let odd = pick(
                rng,
                &[
                    "\u{feff}",
                    "\u{202e}",
                    "é",
                    "\u{1F600}",
                    "\t",
                    "'",
                    "\"",
                    "#",
                    ": ",
                    "- ",
                    "&a ",
                    "*a",
                    "!",
                    "|",
                    "\\",
                ],
            );
            lines[i] = format!(
                "{}{odd}{}",
                chars[..at].iter().collect::<String>(),
                chars[at..].iter().collect::<String>()
            );
        }
        // Document markers.
        10 => lines.insert(i, pick(rng, &["---", "...", "--- !tag", "%YAML 1.2"])),
        _ => {}
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Property test of the loader over mutated configs: 2,000 cases from a fixed seed, each a valid
/// config with one to four random changes (values of the wrong type, huge and negative numbers,
/// odd unicode and control characters, unknown and duplicated keys, truncation, indentation
/// and document markers). The loader never panics; every error names a line or a key and
/// never shows the secret; every config it accepts has its options within their ranges.
#[test]
fn mutated_configs_never_panic_and_every_error_is_located() {
    use rand::SeedableRng;
    const CASES: usize = 2_000;
    let bases = fuzz_bases();
    for base in &bases {
        parse(base, Path::new("fuzz.yml")).unwrap_or_else(|e| panic!("base config: {e}\n{base}"));
    }
    // Another seed explores other cases: ENTRASYNC_FUZZ_SEED=7 cargo test -p entrasync --lib mutated
    let seed = std::env::var("ENTRASYNC_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00c0_f1ce);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..CASES {
        let mut text = bases[case % bases.len()].clone();
        for _ in 0..rand::Rng::random_range(&mut rng, 1..=4) {
            text = mutate(&mut rng, &text);
        }
        let result = std::panic::catch_unwind(|| parse(&text, Path::new("fuzz.yml")))
            .unwrap_or_else(|_| panic!("case {case}: the loader panicked on:\n{text}"));
        match result {
            Ok(config) => {
                accepted += 1;
                for s in &config.sources {
                    let spec = &s.spec;
                    assert!(
                        (1..=MAX_CONCURRENCY).contains(&spec.concurrency),
                        "case {case}"
                    );
                    assert!(u64::from(spec.log_lookback_days) <= MAX_LOG_LOOKBACK_DAYS);
                    assert!(u64::from(spec.max_retries) <= MAX_MAX_RETRIES);
                    assert!(
                        (1..=MAX_MAX_RETRY_AFTER_SECS).contains(&spec.max_retry_after.as_secs())
                    );
                    for d in &s.destinations {
                        assert!(config.destinations.iter().any(|c| &c.name == d));
                    }
                }
                for d in &config.destinations {
                    for size in [d.batch_size, d.spec["batch_size"].as_u64()]
                        .into_iter()
                        .flatten()
                    {
                        assert!((1..=MAX_BATCH_SIZE).contains(&size), "case {case}");
                    }
                }
                let shown = format!("{config:?}");
                assert!(!shown.contains(CANARY), "case {case}: {shown}");
            }
            Err(e) => {
                refused += 1;
                let shown = e.to_string();
                assert!(
                    e.line.is_some() || shown.contains('`'),
                    "case {case}: an error with neither a line nor a key: {shown}\n{text}"
                );
                if let Some(line) = e.line {
                    assert!(
                        line >= 1 && line as usize <= text.lines().count() + 1,
                        "case {case}: line {line} is not in the file: {shown}\n{text}"
                    );
                }
                assert!(
                    !shown.contains(CANARY),
                    "case {case}: the error shows the secret: {shown}\n{text}"
                );
                assert!(
                    !shown.chars().any(|c| c.is_control()),
                    "case {case}: control characters in {shown:?}"
                );
            }
        }
    }
    eprintln!("{CASES} cases (seed {seed}): {accepted} accepted, {refused} refused");
    // Both outcomes are exercised, not only one.
    assert!(
        accepted > 50 && refused > 500,
        "{accepted} accepted, {refused} refused"
    );
}
