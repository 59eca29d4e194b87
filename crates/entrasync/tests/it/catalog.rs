//! Missing permissions and licences: skip messages, the summary, exit codes, test-connection.

use crate::harness::{Tenant, run_cli, write_config};
use fake_graph::{Licences, Profile};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_licences_skip_tables_with_one_warning_each() {
    let mut config = fake_graph::Config::new(Profile::Tiny, 51);
    config.licences = Licences {
        p1: false,
        p2: false,
        intune: true,
    };
    let tenant = Tenant::start_with(config).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.db");
    let cfg = write_config(
        dir.path(),
        &tenant.sqlite_config(
            &db,
            r#"["entraid_users", "entraid_auditlogs_*", "entraid_identityprotection_riskyusers"]"#,
            "",
        ),
    );
    let (code, _, err) = run_cli(&["sync", "--no-progress", cfg.to_str().unwrap()], &[]);
    // Sign-ins matched only by a glob: a warning. Risky users named explicitly: an error.
    assert_eq!(code, 1, "{err}");
    let summary = &err[err
        .find("Skipped (missing permission or licence)")
        .expect("a skipped section")..];
    assert!(
        summary.contains("entraid_auditlogs_signins: ")
            && summary
                .contains("the tenant needs Microsoft Entra ID P1 for entraid_auditlogs_signins"),
        "{summary}"
    );
    assert!(
        summary.contains("entraid_identityprotection_riskyusers: "),
        "{summary}"
    );
    assert_eq!(
        err.matches("table skipped").count(),
        2,
        "one warning per skipped table: {err}"
    );
    // Directory audits need no licence and synced.
    assert!(
        !summary.contains("entraid_auditlogs_directoryaudits:"),
        "{summary}"
    );

    // Without the explicitly named table, glob-only skips leave the exit code at 0.
    let cfg = write_config(
        dir.path(),
        &tenant.sqlite_config(&db, r#"["entraid_users", "entraid_auditlogs_*"]"#, ""),
    );
    let (code, _, err) = run_cli(&["sync", "--no-progress", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("entraid_auditlogs_signins"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_names_what_to_grant() {
    let mut config = fake_graph::Config::new(Profile::Tiny, 52);
    config.licences = Licences {
        p1: false,
        p2: false,
        intune: true,
    };
    let tenant = Tenant::start_with(config).await;
    let (client_id, secret) = tenant
        .app_with(&[
            "User.Read.All",
            "Group.Read.All",
            "AuditLog.Read.All",
            "Directory.Read.All",
        ])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &tenant.config_with_credentials(
            &dir.path().join("x.db"),
            r#"["entraid_users", "entraid_groups", "entraid_devices", "entraid_auditlogs_signins", "entraid_identity_conditional_access_policies"]"#,
            &format!("    client_id: {client_id}\n    client_secret: {secret}\n"),
        ),
    );
    let (code, out, err) = run_cli(&["test-connection", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    let out = out.replace(&tenant.info().tenant_id, "<tenant>");
    insta::assert_snapshot!(out);

    let bad = write_config(
        dir.path(),
        &tenant.config_with_credentials(
            &dir.path().join("x.db"),
            r#"["entraid_users"]"#,
            &format!("    client_id: {client_id}\n    client_secret: wrong-secret\n"),
        ),
    );
    let (code, _, err) = run_cli(&["test-connection", bad.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("AADSTS7000215"), "{err}");
    assert!(
        !err.contains("wrong-secret"),
        "the secret is never printed: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_writes_nothing() {
    let tenant = Tenant::start(Profile::Tiny, 53).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.db");
    let text = tenant
        .sqlite_config(&db, r#"["entraid_users"]"#, "")
        .replace("  destinations:", "  destinatons:");
    let cfg = write_config(dir.path(), &text);
    let (code, _, err) = run_cli(&["sync", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("config.yml:8: unknown key `destinatons`"),
        "{err}"
    );
    assert!(!db.exists(), "nothing was written");
    assert_eq!(tenant.stats().await["requests"], 0, "no Graph traffic");
}
