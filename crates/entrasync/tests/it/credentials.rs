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

/// A PKCS#12/PFX fixture of tests/data/pfx (see its README for how they were made).
fn pfx(name: &str) -> String {
    format!("{}/tests/data/pfx/{name}", env!("CARGO_MANIFEST_DIR"))
}

const PFX_PASSWORD: &str = "entrasync-test";

/// An app of `tenant` that trusts the fixtures' certificate `crt`; its client id.
async fn app_with_fixture_cert(tenant: &Tenant, crt: &str) -> String {
    let cert = std::fs::read_to_string(pfx(crt)).unwrap();
    let app = tenant
        .admin(
            "apps",
            json!({"permissions": ["User.Read.All"], "certificate_pem": cert}),
        )
        .await;
    app["client_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pfx_certificates_sign_in_modern_legacy_and_without_password() {
    let tenant = Tenant::start(Profile::Tiny, 63).await;
    let client_id = app_with_fixture_cert(&tenant, "app.crt").await;
    // AES-256 (PBES2), 3DES and OpenSSL's -legacy RC2-40, the password in the spec.
    for file in ["app-aes.pfx", "app-3des.pfx", "app-rc2.pfx"] {
        let err = sync_users(
            &tenant,
            &format!(
                "    client_id: {client_id}\n    client_certificate_path: {}\n    \
                 client_certificate_password: {PFX_PASSWORD}\n",
                pfx(file)
            ),
            &[],
        )
        .await;
        assert!(!err.contains(PFX_PASSWORD), "{file}: {err}");
    }
    // Azure's environment variables, as azure-identity reads them.
    sync_users(
        &tenant,
        &format!("    client_id: {client_id}\n"),
        &[
            ("AZURE_CLIENT_CERTIFICATE_PATH", &pfx("app-aes.pfx")),
            ("AZURE_CLIENT_CERTIFICATE_PASSWORD", PFX_PASSWORD),
        ],
    )
    .await;
    // Exported without a password (the empty one), and not encrypted at all.
    for file in ["app-empty-password.pfx", "app-unencrypted.pfx"] {
        sync_users(
            &tenant,
            &format!(
                "    client_id: {client_id}\n    client_certificate_path: {}\n",
                pfx(file)
            ),
            &[],
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_pfx_files_are_refused_naming_the_file_and_the_fix() {
    let tenant = Tenant::start(Profile::Tiny, 64).await;
    let client_id = app_with_fixture_cert(&tenant, "app.crt").await;
    let cases = [
        ("app-aes.pfx", Some("not-the-password"), "password is wrong"),
        ("app-aes.pfx", None, "set client_certificate_password"),
        ("cert-only.pfx", Some(PFX_PASSWORD), "holds no private key"),
        ("ec.pfx", Some(PFX_PASSWORD), "must be RSA"),
        (
            "app-md5-des.pfx",
            Some(PFX_PASSWORD),
            "export it again with AES-256 or 3DES",
        ),
        ("truncated.pfx", None, "not a readable PKCS#12/PFX file"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.pfx");
    std::fs::write(
        &truncated,
        &std::fs::read(pfx("app-aes.pfx")).unwrap()[..200],
    )
    .unwrap();
    let pfx = |file: &str| match file {
        "truncated.pfx" => truncated.display().to_string(),
        _ => pfx(file),
    };
    for (file, password, expected) in cases {
        let mut spec = format!(
            "    client_id: {client_id}\n    client_certificate_path: {}\n",
            pfx(file)
        );
        if let Some(p) = password {
            spec.push_str(&format!("    client_certificate_password: {p}\n"));
        }
        let (code, out) = test_connection(&tenant, &spec, &[]);
        assert_ne!(code, 0, "{file}: {out}");
        assert!(out.contains(&pfx(file)), "{file}: names the file: {out}");
        assert!(out.contains(expected), "{file}: {expected:?} in {out}");
        if let Some(p) = password {
            assert!(!out.contains(p), "{file}: the password never shows: {out}");
        }
    }
}

/// Subject name + issuer authentication: the app trusts `CN=sni.entrasync.test` issued by the
/// test CA, and registers no certificate; only an assertion carrying the chain (`x5c`) signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_name_and_issuer_sign_in_needs_the_certificate_chain() {
    let tenant = Tenant::start(Profile::Tiny, 65).await;
    let ca = std::fs::read_to_string(pfx("ca.crt")).unwrap();
    let app = tenant
        .admin(
            "apps",
            json!({
                "permissions": ["User.Read.All"],
                "trusted_subject": {"subject": "CN=sni.entrasync.test", "issuer_certificate_pem": ca},
            }),
        )
        .await;
    let client_id = app["client_id"].as_str().unwrap();
    let spec = |file: &str| {
        format!(
            "    client_id: {client_id}\n    client_certificate_path: {}\n    \
             client_certificate_password: {PFX_PASSWORD}\n",
            pfx(file)
        )
    };
    sync_users(
        &tenant,
        &format!("{}    send_certificate_chain: true\n", spec("chain.pfx")),
        &[],
    )
    .await;
    // Azure's variable turns it on as well.
    let (code, out) = test_connection(
        &tenant,
        &spec("chain.pfx"),
        &[("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true")],
    );
    assert_eq!(code, 0, "{out}");
    // Without the chain Entra looks the thumbprint up among the app's keys and fails.
    let (code, out) = test_connection(&tenant, &spec("chain.pfx"), &[]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("AADSTS700027") && out.contains("The key was not found"),
        "{out}"
    );
    // A chain of another subject (the self-signed app certificate) is not trusted.
    let (code, out) = test_connection(
        &tenant,
        &format!("{}    send_certificate_chain: true\n", spec("app-aes.pfx")),
        &[],
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("AADSTS700027") && out.contains("is not the trusted subject"),
        "{out}"
    );
    // The trusted subject under a CA that only borrows the trusted CA's name: refused.
    let forged = forged_chain_pem("sni.entrasync.test", "Entrasync Test CA", "Entrasync Tests");
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("forged.pem");
    std::fs::write(&pem, forged).unwrap();
    let (code, out) = test_connection(
        &tenant,
        &format!(
            "    client_id: {client_id}\n    client_certificate_path: {}\n    \
             send_certificate_chain: true\n",
            pem.display()
        ),
        &[],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("not signed by the trusted issuer"), "{out}");
}

/// Key, leaf `CN={cn}` and a CA `CN={ca_cn}, O={ca_o}` that signed it, in one PEM, leaf first.
fn forged_chain_pem(cn: &str, ca_cn: &str, ca_o: &str) -> String {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, PKCS_RSA_SHA256};
    let rsa = || KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let (ca_key, leaf_key) = (rsa(), rsa());
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name.push(DnType::CommonName, ca_cn);
    ca.distinguished_name.push(DnType::OrganizationName, ca_o);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    leaf.distinguished_name.push(DnType::CommonName, cn);
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    format!(
        "{}{}{}",
        leaf_key.serialize_pem(),
        leaf_cert.pem(),
        ca_cert.pem()
    )
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

// ---- Every other way an Azure workload signs in, each against fake-graph over HTTP. ----

/// The ids fake-graph holds for a collection (`/_fake/truth`).
async fn truth_ids(tenant: &Tenant, collection: &str) -> std::collections::BTreeSet<String> {
    let url = format!("{}/_fake/truth", tenant.server.url());
    let truth: serde_json::Value = tenant
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    truth[collection]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Signs in with `credentials` (spec lines) and `envs`, syncs the users through the CLI and
/// checks they are exactly fake-graph's; returns the CLI's stderr.
async fn sync_users(tenant: &Tenant, credentials: &str, envs: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("u.db");
    let cfg = write_config(
        dir.path(),
        &tenant.config_with_credentials(&db, r#"["entraid_users"]"#, credentials),
    );
    let (code, out, err) = run_cli(&["sync", "--no-progress", cfg.to_str().unwrap()], envs);
    assert_eq!(code, 0, "{out}\n{err}");
    let ids: std::collections::BTreeSet<String> = Db::open(&db)
        .strings("SELECT id FROM entraid_users")
        .into_iter()
        .collect();
    assert_eq!(ids, truth_ids(tenant, "users").await);
    err
}

/// `entrasync test-connection` with `credentials` and `envs`: (exit code, stdout + stderr).
fn test_connection(tenant: &Tenant, credentials: &str, envs: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &tenant.config_with_credentials(
            &dir.path().join("t.db"),
            r#"["entraid_users"]"#,
            credentials,
        ),
    );
    let (code, out, err) = run_cli(&["test-connection", cfg.to_str().unwrap()], envs);
    (code, format!("{out}{err}"))
}

/// An access token of the tenant's default app, straight from fake-graph's token endpoint.
async fn default_app_token(tenant: &Tenant) -> String {
    let info = tenant.info();
    let v: serde_json::Value = tenant
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
    v["access_token"].as_str().unwrap().to_string()
}

/// A token of fake-graph's local OIDC issuer, as a Kubernetes service-account token file holds.
async fn issue(tenant: &Tenant, subject: &str, lifetime_secs: i64) -> String {
    let v = tenant
        .admin(
            "identity/issue",
            json!({"subject": subject, "lifetime_secs": lifetime_secs}),
        )
        .await;
    v["token"].as_str().unwrap().to_string()
}

const K8S_SUBJECT: &str = "system:serviceaccount:sync:entrasync";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_identity_rereads_the_rotated_token_file_on_every_token_request() {
    let tenant = Tenant::start(Profile::Tiny, 71).await;
    let (client_id, _) = tenant.app_with(&["User.Read.All"]).await;
    tenant
        .admin(
            "identity/federated",
            json!({"client_id": client_id, "subject": K8S_SUBJECT}),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, issue(&tenant, K8S_SUBJECT, 3600).await).unwrap();
    let spec = format!(
        "    client_id: {client_id}\n    auth: workload_identity\n    federated_token_file: {}\n",
        file.display()
    );
    sync_users(&tenant, &spec, &[]).await;

    // In one process: each token request reads the file again, as Kubernetes rotates it.
    let cfg = write_config(
        dir.path(),
        &tenant.config_with_credentials(&dir.path().join("x.db"), r#"["entraid_users"]"#, &spec),
    );
    let config = entrasync::config::load(&[cfg]).unwrap();
    let client = entrasync::graph::GraphClient::new(&config.sources[0].spec).unwrap();
    let first = client.tokens().token().await.unwrap();
    // Rotated to a token of a subject the app does not trust: the next request must present it.
    std::fs::write(
        &file,
        issue(&tenant, "system:serviceaccount:other:intruder", 3600).await,
    )
    .unwrap();
    client.tokens().invalidate(&first).await;
    let err = client.tokens().token().await.unwrap_err().to_string();
    assert!(
        err.contains("AADSTS70021") && err.contains("other:intruder"),
        "{err}"
    );
    // Rotated again to a good token: signed in again.
    std::fs::write(&file, issue(&tenant, K8S_SUBJECT, 3600).await).unwrap();
    let second = client.tokens().token().await.unwrap();
    assert_ne!(first, second);
    assert!(client.tokens().describe().contains("federated token file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_expired_federated_assertions_are_refused_clearly() {
    let tenant = Tenant::start(Profile::Tiny, 72).await;
    let (client_id, _) = tenant.app_with(&["User.Read.All"]).await;
    tenant
        .admin(
            "identity/federated",
            json!({"client_id": client_id, "subject": K8S_SUBJECT}),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let spec = format!(
        "    client_id: {client_id}\n    federated_token_file: {}\n",
        file.display()
    );
    // A token signed by a key the issuer never published, with the issuer's name.
    let kp = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iss": format!("{}/_identity/issuer", tenant.server.url()), "sub": K8S_SUBJECT,
                "aud": "api://AzureADTokenExchange", "iat": now, "nbf": now, "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(kp.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    for (token, expected) in [
        (issue(&tenant, K8S_SUBJECT, -600).await, "AADSTS700024"),
        (
            issue(&tenant, "system:serviceaccount:sync:other", 600).await,
            "AADSTS70021",
        ),
        (forged, "AADSTS50013"),
    ] {
        std::fs::write(&file, &token).unwrap();
        let (code, out) = test_connection(&tenant, &spec, &[]);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains(expected), "{expected}: {out}");
        assert!(
            !out.contains(&token),
            "the assertion never reaches the output: {out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_actions_oidc_token_is_exchanged_when_the_job_provides_one() {
    let tenant = Tenant::start(Profile::Tiny, 73).await;
    let (client_id, _) = tenant.app_with(&["User.Read.All"]).await;
    let subject = "repo:contoso/entrasync:ref:refs/heads/main";
    tenant
        .admin(
            "identity/federated",
            json!({"client_id": client_id, "subject": subject}),
        )
        .await;
    let gh = tenant
        .admin("identity/github", json!({"subject": subject}))
        .await;
    let (url, request_token) = (
        gh["request_url"].as_str().unwrap(),
        gh["request_token"].as_str().unwrap(),
    );
    let envs = [
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", request_token),
    ];
    // No `auth`: inferred from the job's environment, as azure-identity does.
    let spec = format!("    client_id: {client_id}\n");
    let err = sync_users(&tenant, &spec, &envs).await;
    assert!(!err.contains(request_token), "{err}");
    let (code, out) = test_connection(&tenant, &spec, &envs);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("workload identity (GitHub Actions OIDC)"),
        "{out}"
    );
    assert!(out.contains(&format!("app id {client_id}")), "{out}");
    assert!(!out.contains(request_token), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_identity_on_imds_retries_410_and_503_then_signs_in() {
    let tenant = Tenant::start(Profile::Tiny, 74).await;
    let mi = tenant
        .admin("identity/managed", json!({"fail_first": [410, 503]}))
        .await;
    let host = mi["imds_host"].as_str().unwrap();
    let envs = [("AZURE_POD_IDENTITY_AUTHORITY_HOST", host)];
    sync_users(&tenant, "    auth: managed_identity\n", &envs).await;
    let url = format!("{}/_fake/identity/requests", tenant.server.url());
    let requests: Vec<serde_json::Value> = tenant
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(requests.len(), 3, "410, 503, then the token: {requests:?}");
    for r in &requests {
        assert_eq!(r["path"], "/metadata/identity/oauth2/token");
        assert_eq!(r["metadata"], "true");
        let q = r["query"].as_str().unwrap();
        assert!(
            q.contains("api-version=2018-02-01")
                && q.contains("resource=https%3A%2F%2Fgraph.microsoft.com"),
            "{q}"
        );
        assert!(!q.contains("client_id"), "system-assigned: {q}");
    }
    let (code, out) = test_connection(&tenant, "    auth: managed_identity\n", &envs);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("managed identity (IMDS, system-assigned)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("app id {}", tenant.info().client_id)),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_identity_on_app_service_with_a_user_assigned_identity() {
    let tenant = Tenant::start(Profile::Tiny, 75).await;
    let (uami, _) = tenant.app_with(&["User.Read.All"]).await;
    let mi = tenant
        .admin("identity/managed", json!({"user_assigned": [uami]}))
        .await;
    let endpoint = mi["identity_endpoint"].as_str().unwrap();
    let header = mi["identity_header"].as_str().unwrap();
    let envs = [("IDENTITY_ENDPOINT", endpoint), ("IDENTITY_HEADER", header)];
    // No `auth`: IDENTITY_ENDPOINT and IDENTITY_HEADER say App Service; client_id picks the
    // user-assigned identity.
    let spec = format!("    client_id: {uami}\n");
    let err = sync_users(&tenant, &spec, &envs).await;
    assert!(!err.contains(header), "{err}");
    let (code, out) = test_connection(&tenant, &spec, &envs);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("managed identity (App Service)"), "{out}");
    assert!(out.contains(&format!("app id {uami}")), "{out}");

    // A wrong IDENTITY_HEADER is refused, and not repeated in the error.
    let wrong = "fgh-not-the-header";
    let (code, out) = test_connection(
        &tenant,
        &spec,
        &[("IDENTITY_ENDPOINT", endpoint), ("IDENTITY_HEADER", wrong)],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("App Service") && out.contains("401"), "{out}");
    assert!(!out.contains(wrong), "{out}");
}

/// A stub `az` that answers `az account get-access-token` as the real CLI does, and records
/// its arguments.
fn stub_az(dir: &std::path::Path, token: &str, tenant_id: &str) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let expires_on = chrono::Utc::now().timestamp() + 3600;
    let local = chrono::Local::now() + chrono::Duration::hours(1);
    let script = format!(
        r#"#!/bin/sh
echo "$@" >> "{log}"
case "$*" in
  "account get-access-token --resource https://graph.microsoft.com --output json --tenant {tenant_id}") ;;
  *) echo "ERROR: unexpected arguments: $*" >&2; exit 2 ;;
esac
if [ -f "{logged_out}" ]; then
  echo "ERROR: Please run 'az login' to setup account." >&2; exit 1
fi
cat <<JSON
{{
  "accessToken": "{token}",
  "expiresOn": "{local}",
  "expires_on": {expires_on},
  "subscription": "00000000-0000-0000-0000-000000000000",
  "tenant": "{tenant_id}",
  "tokenType": "Bearer"
}}
JSON
"#,
        log = dir.join("az.log").display(),
        logged_out = dir.join("logged-out").display(),
        local = local.format("%Y-%m-%d %H:%M:%S%.6f"),
    );
    let az = bin.join("az");
    std::fs::write(&az, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_cli_signs_in_through_az_on_path() {
    let tenant = Tenant::start(Profile::Tiny, 76).await;
    let token = default_app_token(&tenant).await;
    let dir = tempfile::tempdir().unwrap();
    let bin = stub_az(dir.path(), &token, &tenant.info().tenant_id);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let envs = [("PATH", path.as_str())];
    let err = sync_users(&tenant, "    auth: azure_cli\n", &envs).await;
    assert!(!err.contains(&token), "{err}");
    let (code, out) = test_connection(&tenant, "    auth: azure_cli\n", &envs);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Azure CLI") && out.contains(&tenant.info().client_id),
        "{out}"
    );
    assert!(!out.contains(&token), "{out}");
    let log = std::fs::read_to_string(dir.path().join("az.log")).unwrap();
    assert!(log.lines().count() >= 2, "{log}");

    // Logged out: the CLI's own advice comes through.
    std::fs::write(dir.path().join("logged-out"), "").unwrap();
    let (code, out) = test_connection(&tenant, "    auth: azure_cli\n", &envs);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("az login"), "{out}");
    // Not installed at all.
    let (code, out) = test_connection(
        &tenant,
        "    auth: azure_cli\n",
        &[("PATH", "/nonexistent")],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("not on PATH"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_file_is_used_as_given_and_never_printed() {
    let tenant = Tenant::start(Profile::Tiny, 77).await;
    let token = default_app_token(&tenant).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("graph-token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let spec = format!("    access_token_file: {}\n", file.display());
    let err = sync_users(&tenant, &spec, &[]).await;
    assert!(!err.contains(&token), "{err}");
    let (code, out) = test_connection(&tenant, &spec, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("access token (file"), "{out}");
    // A token Graph refuses fails the sync, without the token in the message.
    std::fs::write(&file, "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln").unwrap();
    let cfg = write_config(
        dir.path(),
        &tenant.config_with_credentials(&dir.path().join("r.db"), r#"["entraid_users"]"#, &spec),
    );
    let (code, out, err) = run_cli(&["sync", "--no-progress", cfg.to_str().unwrap()], &[]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("eyJleHAiOjF9"), "{err}");
}

/// A proxy that records the host of every CONNECT and refuses it: where a national cloud's
/// requests really go, without leaving the machine.
async fn recording_proxy() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut stream = tokio::io::BufReader::new(stream);
                let mut line = String::new();
                if stream.read_line(&mut line).await.is_ok() {
                    record.lock().unwrap().push(line.trim().to_string());
                }
                let _ = stream
                    .get_mut()
                    .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn national_clouds_sign_in_and_call_graph_on_their_own_hosts() {
    let (proxy, seen) = recording_proxy().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.").unwrap();
    let cases = [
        ("public", "login.microsoftonline.com", "graph.microsoft.com"),
        ("usgov", "login.microsoftonline.us", "graph.microsoft.us"),
        (
            "usgov-dod",
            "login.microsoftonline.us",
            "dod-graph.microsoft.us",
        ),
        (
            "china",
            "login.chinacloudapi.cn",
            "microsoftgraph.chinacloudapi.cn",
        ),
    ];
    for (cloud, login, graph) in cases {
        for (credential, host) in [
            (
                "client_id: 11111111-1111-1111-1111-111111111111\n    client_secret: s3cret-value",
                login,
            ),
            (
                &*format!("access_token_file: {}", token_file.display()),
                graph,
            ),
        ] {
            seen.lock().unwrap().clear();
            let cfg = write_config(
                dir.path(),
                &format!(
                    "kind: source\nspec:\n  name: entraid\n  path: cloudquery/entraid\n  registry: cloudquery\n  version: v1.4.1\n  tables: [entraid_users]\n  destinations: [sqlite]\n  spec:\n    tenant_id: 22222222-2222-2222-2222-222222222222\n    cloud: {cloud}\n    max_retries: 0\n    {credential}\n---\nkind: destination\nspec:\n  name: sqlite\n  path: cloudquery/sqlite\n  registry: cloudquery\n  version: v2.4.0\n  spec:\n    connection_string: {}\n",
                    dir.path().join("n.db").display()
                ),
            );
            let (code, out, err) = run_cli(
                &["sync", "--no-progress", cfg.to_str().unwrap()],
                &[
                    ("HTTPS_PROXY", proxy.as_str()),
                    ("NO_PROXY", ""),
                    ("ENTRASYNC_GRAPH_URL", ""),
                    ("AZURE_AUTHORITY_HOST", ""),
                ],
            );
            assert_ne!(code, 0, "{out}{err}");
            let seen = seen.lock().unwrap().clone();
            assert_eq!(
                seen.first().map(String::as_str),
                Some(&*format!("CONNECT {host}:443 HTTP/1.1")),
                "{cloud}: {seen:?}\n{err}"
            );
            assert!(!err.contains("s3cret-value"), "{err}");
        }
    }
}
