//! Certificate credentials and the file destination, end to end.

use crate::harness::{Db, Tenant, run_cli, sync, write_config};
use fake_graph::Profile;
use serde_json::json;

fn rsa_cert() -> (String, String) {
    let kp = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let params = rcgen::CertificateParams::new(vec!["entrasync-test".to_string()]).unwrap();
    let cert = params.self_signed(&kp).unwrap();
    (cert.pem(), kp.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_with_a_certificate_credential() {
    let tenant = Tenant::start(Profile::Tiny, 61).await;
    let (cert, key) = rsa_cert();
    let app = tenant
        .admin(
            "apps",
            json!({"permissions": ["User.Read.All"], "certificate_pem": cert}),
        )
        .await;
    let client_id = app["client_id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // As `az ad sp create-for-rbac --create-cert` writes it: key and certificate in one PEM.
    let pem = dir.path().join("app.pem");
    std::fs::write(&pem, format!("{key}{cert}")).unwrap();
    let db = dir.path().join("c.db");
    let cfg = write_config(
        dir.path(),
        &tenant.config_with_credentials(
            &db,
            r#"["entraid_users"]"#,
            &format!(
                "    client_id: {client_id}\n    client_certificate_path: {}\n",
                pem.display()
            ),
        ),
    );
    assert_eq!(sync(&cfg).await.errors, 0);
    assert!(Db::open(&db).count("entraid_users") > 0);

    // A certificate the app does not know is refused with Entra's reason.
    let (other_cert, other_key) = rsa_cert();
    std::fs::write(&pem, format!("{other_key}{other_cert}")).unwrap();
    let (code, _, err) = run_cli(&["sync", "--no-progress", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("AADSTS"), "{err}");
    assert!(
        !err.contains("PRIVATE KEY"),
        "the key never reaches an error: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_parquet_and_json_files() {
    let tenant = Tenant::start(Profile::Tiny, 62).await;
    let dir = tempfile::tempdir().unwrap();
    for format in ["parquet", "json", "csv"] {
        let out = dir.path().join(format);
        let text = tenant
            .sqlite_config(
                &dir.path().join("unused.db"),
                r#"["entraid_users", "entraid_groups"]"#,
                "",
            )
            .replace("path: cloudquery/sqlite", "path: cloudquery/file")
            .replace(
                &format!(
                    "connection_string: {}",
                    dir.path().join("unused.db").display()
                ),
                &format!(
                    "path: {}/{{{{TABLE}}}}/{{{{UUID}}}}.{format}\n    format: {format}",
                    out.display()
                ),
            );
        let cfg = write_config(dir.path(), &text);
        assert_eq!(sync(&cfg).await.errors, 0, "{format}");
        for table in ["entraid_users", "entraid_groups"] {
            let files: Vec<_> = std::fs::read_dir(out.join(table))
                .unwrap_or_else(|e| panic!("{format} {table}: {e}"))
                .map(|e| e.unwrap().path())
                .collect();
            assert!(!files.is_empty(), "{format}: {table} written");
            assert!(
                files
                    .iter()
                    .all(|f| f.extension().is_some_and(|e| e == format)),
                "{format}: only complete files remain: {files:?}"
            );
        }
    }
    let lines = std::fs::read_dir(dir.path().join("json/entraid_users"))
        .unwrap()
        .map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum::<usize>();
    assert!(lines > 10, "one JSON line per user: {lines}");
}
