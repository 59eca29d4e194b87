//! `entrasync init`: the config it writes syncs a tenant once credentials are set, and the
//! permissions it prints are exactly what the chosen tables need — by the catalog, and by
//! fake-graph, which answers 403 to an app that lacks one.

use crate::harness::{Db, Tenant, run_cli};
use fake_graph::Profile;
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// Users (User.Read.All or Directory.Read.All), the group tables and PIM for groups (with
/// permissions of their own) by globs, and directory audits (AuditLog.Read.All).
const TABLES: &str =
    "entraid_users,entraid_group*,entraid_privilegedaccess_*,entraid_auditlogs_directoryaudits";

/// The permissions `init` printed: the indented lines under the permissions heading.
fn printed_permissions(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("Microsoft Graph application permissions"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_string())
        .collect()
}

/// The permissions in the printed `az` loop: `for permission in A B C; do`.
fn az_loop_permissions(stdout: &str) -> Vec<String> {
    let line = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("for permission in "))
        .expect("an az loop over the permissions");
    let list = line.strip_suffix("; do").expect("the loop's `; do`");
    list.split(' ').map(str::to_string).collect()
}

/// `entrasync` with fake-graph's endpoints and the given app's credentials in the environment,
/// as a user exports AZURE_* after running the printed `az` commands.
fn with_app(
    tenant: &Tenant,
    client_id: &str,
    secret: &str,
    args: &[&str],
) -> (i32, String, String) {
    let info = tenant.info();
    run_cli(
        args,
        &[
            ("AZURE_TENANT_ID", &info.tenant_id),
            ("AZURE_CLIENT_ID", client_id),
            ("AZURE_CLIENT_SECRET", secret),
            ("AZURE_AUTHORITY_HOST", &info.login_url),
            ("ENTRASYNC_GRAPH_URL", &info.graph_url),
        ],
    )
}

fn ids(db: &Db, table: &str, column: &str) -> BTreeSet<String> {
    db.strings(&format!("SELECT {column} FROM \"{table}\""))
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_non_interactive_writes_a_config_that_syncs_with_exactly_the_printed_permissions() {
    let tenant = Tenant::start(Profile::Tiny, 15).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("conf/entraid.yml");
    let db = dir.path().join("entraid.db");
    let config_arg = config.to_str().unwrap();
    let (code, out, err) = run_cli(
        &[
            "init",
            "--non-interactive",
            "--destination",
            "sqlite",
            "--connection-string",
            db.to_str().unwrap(),
            "--tables",
            TABLES,
            "--output",
            config_arg,
        ],
        &[],
    );
    assert_eq!(code, 0, "init: {err}\n{out}");
    let permissions = printed_permissions(&out);
    assert!(!permissions.is_empty(), "permissions printed:\n{out}");
    assert_eq!(az_loop_permissions(&out), permissions, "{out}");
    let text = std::fs::read_to_string(&config).unwrap();
    let header: Vec<String> = text
        .lines()
        .skip_while(|l| !l.contains("application permissions"))
        .skip(2)
        .take_while(|l| l.starts_with("#   "))
        .flat_map(|l| l[4..].split(',').map(|p| p.trim().to_string()))
        .filter(|p| !p.is_empty())
        .collect();
    assert_eq!(header, permissions, "the config's header:\n{text}");
    assert!(
        !text.contains(&tenant.info().client_secret),
        "no secret in the config"
    );

    // The catalog's view: the written config selects these tables, and the printed set lets
    // every one of them sync and has nothing to spare.
    let loaded = load_with_credentials(&config);
    let source = &loaded.sources[0];
    assert_eq!(source.tables, TABLES.split(',').collect::<Vec<_>>());
    let selected = entrasync::tables::select(
        &entrasync::tables::all(),
        &source.tables,
        &source.skip_tables,
        source.skip_dependent_tables,
    )
    .unwrap();
    let names: Vec<&str> = selected.iter().map(|s| s.table.name).collect();
    assert!(
        names.contains(&"entraid_group_members")
            && names.contains(&"entraid_privilegedaccess_group_assignmentscheduleinstances"),
        "{names:?}"
    );
    let missing = |perms: &[String]| -> Vec<&str> {
        selected
            .iter()
            .filter(|s| entrasync::check::missing_permission(s.table, perms).is_some())
            .map(|s| s.table.name)
            .collect()
    };
    assert_eq!(missing(&permissions), Vec::<&str>::new());
    for p in &permissions {
        let fewer: Vec<String> = permissions.iter().filter(|q| *q != p).cloned().collect();
        assert!(!missing(&fewer).is_empty(), "{p} is needed by no table");
    }
    for s in &selected {
        // Least privilege: a table's broader alternative is printed only when another table
        // needs it anyway.
        if let [least, ..] = s.table.permissions
            && !permissions.iter().any(|p| p == least)
        {
            assert!(
                s.table
                    .permissions
                    .iter()
                    .any(|p| permissions.contains(&p.to_string())),
                "{}",
                s.table.name
            );
        }
    }

    // Before credentials are set, test-connection says what is missing.
    let (code, _, err) = run_cli(&["test-connection", config_arg], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("AZURE_TENANT_ID"), "{err}");

    // fake-graph's view: an app with exactly these permissions syncs every table.
    let perms: Vec<&str> = permissions.iter().map(String::as_str).collect();
    let (client_id, secret) = tenant.app_with(&perms).await;
    let (code, out, err) = with_app(
        &tenant,
        &client_id,
        &secret,
        &["test-connection", config_arg],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "{n} of {n} tables can be synced",
            n = selected.len()
        )),
        "{out}"
    );
    let (code, _, err) = with_app(
        &tenant,
        &client_id,
        &secret,
        &["sync", "--no-progress", config_arg],
    );
    assert_eq!(code, 0, "sync: {err}");
    assert!(!err.contains("table skipped"), "{err}");
    let db = Db::open(&db);
    let (users, groups) = {
        let state = tenant.server.state.tenant.read().unwrap();
        let truth = |key: &str| -> BTreeSet<String> {
            state
                .coll(key)
                .items
                .values()
                .map(|i| i.id.clone())
                .collect()
        };
        (truth("users"), truth("groups"))
    };
    assert_eq!(ids(&db, "entraid_users", "id"), users);
    assert_eq!(ids(&db, "entraid_groups", "id"), groups);
    assert!(db.count("entraid_group_members") > 0);
    assert!(db.count("entraid_auditlogs_directoryaudits") > 0);

    // Without any one of them, Graph refuses a table: the sync reports it and fails, and
    // test-connection names exactly that permission.
    for p in &permissions {
        let fewer: Vec<&str> = perms.iter().copied().filter(|q| q != p).collect();
        let (client_id, secret) = tenant.app_with(&fewer).await;
        let (_, out, err) = with_app(
            &tenant,
            &client_id,
            &secret,
            &["test-connection", config_arg],
        );
        assert!(
            out.contains(&format!("with admin consent, for the others: {p}\n")),
            "{err}\n{out}"
        );
        let (code, _, err) = with_app(
            &tenant,
            &client_id,
            &secret,
            &["sync", "--no-progress", config_arg],
        );
        assert!(
            code == 1 || err.contains("table skipped"),
            "without {p} every table still synced (exit {code}): {err}"
        );
    }
}

/// Answers typed at the prompts: a wrong one is asked again, Enter takes the default.
#[test]
fn init_asks_for_what_the_flags_do_not_say() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("entrasync.yml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_entrasync"))
        .args(["init", "--output", config.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // destination, connection string, tables (a wrong one first), incremental, credential.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"postgresql\n\nentraid_nothing\nentraid_applications\ny\ncertificate\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(
        stderr.contains("\"entraid_nothing\" matches no table"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Write the config to"),
        "--output was given: {stderr}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    for want in [
        "tables: [\"entraid_applications\"]",
        "connection_string: \"${PG_CONNECTION_STRING}\"",
        "connection: \"@@plugins.postgresql.connection\"",
        "# client_certificate_path: ${AZURE_CLIENT_CERTIFICATE_PATH}",
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }
    assert_eq!(printed_permissions(&stdout), ["Application.Read.All"]);
    assert!(stdout.contains("--create-cert"), "{stdout}");
    assert!(
        stdout.contains(
            "https://login.microsoftonline.com/<tenant-id>/adminconsent?client_id=<app-id>"
        ),
        "{stdout}"
    );

    // An existing file is kept unless --force.
    let (code, _, err) = run_cli(
        &[
            "init",
            "--non-interactive",
            "--output",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
}

/// Every destination's config loads; a known tenant and app go into the config and the
/// admin-consent URL of their cloud.
#[test]
fn init_configs_of_every_destination_load() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let app = "0b5f4c5e-3f1e-4f67-9d4c-5c1c6f1f7a11";
    for (destination, extra) in [
        ("sqlite", &[][..]),
        ("postgresql", &["--incremental"][..]),
        ("file", &["--format", "csv"][..]),
    ] {
        let config = dir.path().join(format!("{destination}.yml"));
        let mut args = vec![
            "init",
            "--non-interactive",
            "--destination",
            destination,
            "--tenant-id",
            tenant,
            "--client-id",
            app,
            "--cloud",
            "usgov",
            "--output",
            config.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = run_cli(&args, &[]);
        assert_eq!(code, 0, "{destination}: {err}");
        assert!(
            out.contains(&format!(
                "https://login.microsoftonline.us/{tenant}/adminconsent?client_id={app}"
            )),
            "{out}"
        );
        assert!(out.contains(&format!("app_id={app}")), "{out}");
        assert!(!out.contains("az ad app create"), "the app exists: {out}");
        let loaded = load_with_credentials(&config);
        let source = &loaded.sources[0];
        assert_eq!(source.spec.tenant_id.as_deref(), Some(tenant));
        assert_eq!(source.spec.client_id.as_deref(), Some(app));
        assert_eq!(source.spec.cloud, entrasync::config::Cloud::Usgov);
        assert_eq!(source.tables, ["*"]);
        assert_eq!(
            source.backend_options.is_some(),
            destination == "postgresql"
        );
        assert_eq!(loaded.destinations[0].name, destination);
    }
}

/// Loads a written config with the credentials filled in where its comments say, and
/// `PG_CONNECTION_STRING` replaced, as a user would set them.
fn load_with_credentials(config: &Path) -> entrasync::config::Config {
    let text = std::fs::read_to_string(config).unwrap();
    let mut filled = String::new();
    for line in text.lines() {
        let line = match line.trim_start() {
            "# tenant_id: ${AZURE_TENANT_ID}" => {
                "    tenant_id: 00000000-0000-0000-0000-00000000000a".to_string()
            }
            "# client_id: ${AZURE_CLIENT_ID}" => {
                "    client_id: 00000000-0000-0000-0000-00000000000b".to_string()
            }
            "# client_secret: ${AZURE_CLIENT_SECRET}" => "    client_secret: s3cret".to_string(),
            _ => line.replace("${PG_CONNECTION_STRING}", "postgres://u@127.0.0.1:1/db"),
        };
        filled.push_str(&line);
        filled.push('\n');
    }
    entrasync::config::parse(&filled, config)
        .unwrap_or_else(|e| panic!("the written config loads: {e}\n{filled}"))
}
