//! Secrets stay secret: a sync at `--log-level trace`, on paths that succeed and paths that fail,
//! never prints or stores the client secret, the PostgreSQL password (in any connection-string
//! form) or an access token Graph issued.

use crate::hostile::{Action, Setup};
use crate::postgres::PgDb;

const TABLES: &str = r#"["entraid_users", "entraid_groups", "entraid_group_members"]"#;
const BACKEND: &str = "  backend_options:\n    table_name: cq_state_entraid\n    connection: \"@@plugins.postgresql.connection\"\n";

fn postgres_destination(connection: &str) -> String {
    format!(
        "  name: postgresql\n  path: cloudquery/postgresql\n  registry: cloudquery\n  version: \"v8.0.0\"\n  spec:\n    connection_string: \"{connection}\"\n"
    )
}

/// Every table of the database as text, state table included.
async fn dump(url: &str) -> String {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.len() >= 4, "the syncs wrote tables: {tables:?}");
    let mut out = String::new();
    for table in tables {
        let row = client
            .query_one(
                &format!("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{table}\" t"),
                &[],
            )
            .await
            .unwrap();
        out.push_str(&row.get::<_, String>(0));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_errors_state_or_the_postgres_database() {
    let setup = Setup::start(fake_graph::Profile::Tiny).await;
    let pg = PgDb::create().await;
    let secret = setup.tenant.info().client_secret.clone();
    let wrong_secret = format!("Wrong~{}", uuid::Uuid::new_v4().simple());
    let password = format!("Pw.{}", uuid::Uuid::new_v4().simple());
    let database = pg.url.rsplit('/').next().unwrap().to_string();
    // PostgreSQL trusts local connections here: a password is sent and ignored.
    let forms = [
        pg.url
            .replace("postgres@", &format!("postgres:{password}@")),
        format!("{}?password={password}&sslmode=disable", pg.url),
        format!("host=127.0.0.1 port=5432 user=postgres password={password} dbname={database}"),
        format!("host=127.0.0.1 port=5432 user=postgres password='{password}' dbname={database}"),
    ];
    let trace = [("ENTRASYNC_LOG_LEVEL", "trace")];
    let mut output = String::new();
    let run = |config: &std::path::Path, expected: i32, output: &mut String| {
        let config = config.to_str().unwrap().to_string();
        let (code, stdout, stderr) = crate::harness::run_cli(
            &["--log-level", "trace", "sync", "--no-progress", &config],
            &trace,
        );
        assert_eq!(code, expected, "{stderr}");
        output.push_str(&stdout);
        output.push_str(&stderr);
    };
    for form in &forms {
        let config = setup.config_to(TABLES, "", BACKEND, &secret, &postgres_destination(form));
        run(&config, 0, &mut output);
    }
    let config = setup.config_to(
        TABLES,
        "",
        BACKEND,
        &secret,
        &postgres_destination(&forms[0]),
    );
    // Failing paths: a 503 that outlasts the retries, a 401 Graph keeps sending, a wrong secret.
    let unavailable = Action::Respond {
        status: 503,
        headers: vec![],
        body: br#"{"error":{"code":"ServiceUnavailable","message":"down"}}"#.to_vec(),
    };
    setup.proxy.rule("/v1.0/groups", usize::MAX, unavailable);
    run(&config, 1, &mut output);
    setup.proxy.clear();
    let unauthorized = Action::Respond {
        status: 401,
        headers: vec![],
        body: br#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired."}}"#.to_vec(),
    };
    setup.proxy.rule("/v1.0/users", usize::MAX, unauthorized);
    run(&config, 1, &mut output);
    setup.proxy.clear();
    let wrong = setup.config_to(
        TABLES,
        "",
        BACKEND,
        &wrong_secret,
        &postgres_destination(&forms[2]),
    );
    run(&wrong, 2, &mut output);
    assert!(
        output.contains("AADSTS7000215"),
        "the wrong secret was refused"
    );

    let tokens = setup.proxy.issued_tokens();
    assert!(
        tokens.len() >= 5,
        "one token per successful sign-in: {}",
        tokens.len()
    );
    let stored = dump(&pg.url).await;
    assert!(
        stored.contains("/delta"),
        "the state table holds delta links"
    );
    let mut canaries = vec![
        ("client secret", secret.clone()),
        ("wrong client secret", wrong_secret),
        ("PostgreSQL password", password),
    ];
    canaries.extend(tokens.into_iter().map(|t| ("access token", t)));
    for (what, canary) in &canaries {
        assert!(
            !output.contains(canary.as_str()),
            "the {what} is in the output"
        );
        assert!(
            !stored.contains(canary.as_str()),
            "the {what} is in the database"
        );
    }
    // The trace log did run: it is not silent by accident.
    assert!(
        output.contains("TRACE") || output.contains("DEBUG"),
        "trace logging was on"
    );
    pg.drop().await;
}
