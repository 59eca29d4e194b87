use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use fake_graph::{Config, Licences, Profile};
use serde_json::{Value, json};
use sha1::Digest;

use crate::common::{self, err_code, tiny};

async fn post_token(t: &common::T, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = t.client.post(url).form(form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn claims(tok: &str) -> Value {
    let p = tok.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

#[tokio::test]
async fn secret_token_shape_and_claims() {
    let t = tiny().await;
    let i = &t.server.info;
    let (s, v) = post_token(
        &t,
        &i.token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &i.client_id),
            ("client_secret", &i.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3599);
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], i.tenant_id.as_str());
    assert_eq!(c["appid"], i.client_id.as_str());
    let roles: Vec<&str> = c["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for p in [
        "User.Read.All",
        "AuditLog.Read.All",
        "Policy.Read.All",
        "RoleManagement.Read.Directory",
    ] {
        assert!(roles.contains(&p), "{p}");
    }
    // HTTP Basic works too, and the tenant may be given by domain
    let url = format!("{}/{}/oauth2/v2.0/token", i.login_url, i.tenant_domain);
    let r = t
        .client
        .post(&url)
        .basic_auth(&i.client_id, Some(&i.client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn aadsts_errors() {
    let t = tiny().await;
    let i = &t.server.info;
    let scope = "https://graph.microsoft.com/.default";
    let (s, v) = post_token(
        &t,
        &i.token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &i.client_id),
            ("client_secret", "wrong"),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(v["error"], "invalid_client");
    assert_eq!(v["error_codes"], json!([7000215]));
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215:")
    );
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(v[k].is_string(), "{k}");
    }
    let (s, v) = post_token(
        &t,
        &i.token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "00000000-1111-2222-3333-444444444444"),
            ("client_secret", "x"),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!((s, v["error_codes"][0].as_u64()), (400, Some(700016)));
    let bad_tenant = format!("{}/nosuch.onmicrosoft.com/oauth2/v2.0/token", i.login_url);
    let (s, v) = post_token(
        &t,
        &bad_tenant,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &i.client_id),
            ("client_secret", &i.client_secret),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!((s, v["error_codes"][0].as_u64()), (400, Some(90002)));
    let (s, v) = post_token(
        &t,
        &i.token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &i.client_id),
            ("client_secret", &i.client_secret),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str(), v["error_codes"][0].as_u64()),
        (400, Some("invalid_scope"), Some(70011))
    );
}

#[tokio::test]
async fn bearer_checks() {
    let t = tiny().await;
    let r = t.client.get(t.url("/v1.0/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(err_code(&v), "InvalidAuthenticationToken");
    assert!(v["error"]["innerError"]["request-id"].is_string());
    assert!(v["error"]["innerError"]["date"].is_string());
    let r = t
        .client
        .get(t.url("/v1.0/users"))
        .bearer_auth("garbage.token.here")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // expired token
    let mut cfg = Config::new(Profile::Tiny, 2);
    cfg.token_lifetime = Duration::from_secs(1);
    let t2 = common::start(cfg).await;
    assert_eq!(t2.get("/v1.0/users").await.0, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, _, v) = t2.get("/v1.0/users").await;
    assert_eq!(s, 401);
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"));
    // admin can change the lifetime at run time
    t2.admin("/token_lifetime", json!({"seconds": 5})).await;
    let i = &t2.server.info;
    let (_, v) = post_token(
        &t2,
        &i.token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &i.client_id),
            ("client_secret", &i.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(v["expires_in"], 5);
}

#[tokio::test]
async fn limited_app_gets_403() {
    let t = tiny().await;
    let creds = t
        .admin("/apps", json!({"permissions": ["User.Read.All"]}))
        .await;
    let tok = common::token(
        &t.client,
        &t.server.info.token_url,
        creds["client_id"].as_str().unwrap(),
        creds["client_secret"].as_str().unwrap(),
    )
    .await;
    let get = |p: &str| t.client.get(t.url(p)).bearer_auth(&tok).send();
    assert_eq!(get("/v1.0/users").await.unwrap().status(), 200);
    let r = get("/v1.0/groups").await.unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(err_code(&v), "Authorization_RequestDenied");
    assert_eq!(
        v["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    // signInActivity needs AuditLog.Read.All
    assert_eq!(
        get("/v1.0/users?$select=id,signInActivity")
            .await
            .unwrap()
            .status(),
        403
    );
    let c = claims(&tok);
    assert_eq!(c["roles"], json!(["User.Read.All"]));
}

#[tokio::test]
async fn licence_errors() {
    let t = tiny().await;
    t.admin(
        "/licences",
        json!({"p1": false, "p2": false, "intune": false}),
    )
    .await;
    for p in [
        "/v1.0/auditLogs/signIns",
        "/v1.0/users?$select=id,signInActivity",
        "/v1.0/identityProtection/riskyUsers",
        "/v1.0/identityProtection/riskDetections",
    ] {
        let (s, _, v) = t.get(p).await;
        assert_eq!(s, 403, "{p}");
        assert_eq!(
            err_code(&v),
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "{p}"
        );
    }
    let (s, _, v) = t
        .get("/v1.0/roleManagement/directory/roleEligibilitySchedules")
        .await;
    assert_eq!((s, err_code(&v)), (403, "AadPremiumLicenseRequired"));
    assert_eq!(t.get("/v1.0/deviceManagement/managedDevices").await.0, 403);
    assert_eq!(t.get("/v1.0/users").await.0, 200);
    t.server.set_licences(Licences::default());
    assert_eq!(t.get("/v1.0/auditLogs/signIns").await.0, 200);
}

fn rsa_cert() -> (String, String, Vec<u8>) {
    let kp = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let params = rcgen::CertificateParams::new(vec!["entrasync-test".to_string()]).unwrap();
    let cert = params.self_signed(&kp).unwrap();
    (cert.pem(), kp.serialize_pem(), cert.der().to_vec())
}

fn assertion(
    client_id: &str,
    aud: &str,
    key_pem: &str,
    x5t: Option<String>,
    s256: Option<String>,
    exp_offset: i64,
) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.x5t = x5t;
    h.x5t_s256 = s256;
    let now = fake_graph::auth::now_secs() as i64;
    let claims = json!({"aud": aud, "iss": client_id, "sub": client_id, "jti": "b3f5f2f4-0000-4000-8000-000000000001", "nbf": now, "exp": now + exp_offset});
    jsonwebtoken::encode(
        &h,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn certificate_assertion() {
    let t = tiny().await;
    let (cert_pem, key_pem, der) = rsa_cert();
    let creds = t
        .admin(
            "/apps",
            json!({"permissions": ["Directory.Read.All"], "certificate_pem": cert_pem}),
        )
        .await;
    let cid = creds["client_id"].as_str().unwrap();
    let sha1 = sha1::Sha1::digest(&der).to_vec();
    let sha256 = sha2::Sha256::digest(&der).to_vec();
    let url = &t.server.info.token_url;
    let send = |a: String| {
        t.client
            .post(url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", cid),
                ("scope", "https://graph.microsoft.com/.default"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", a.as_str()),
            ])
            .send()
    };
    // x5t base64url, standard base64 (Azure SDK style), and x5t#S256
    for (x5t, s256) in [
        (Some(URL_SAFE_NO_PAD.encode(&sha1)), None),
        (Some(STANDARD.encode(&sha1)), None),
        (None, Some(URL_SAFE_NO_PAD.encode(&sha256))),
    ] {
        let r = send(assertion(cid, url, &key_pem, x5t, s256, 300))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(claims(v["access_token"].as_str().unwrap())["appidacr"], "2");
    }
    let x5t = Some(URL_SAFE_NO_PAD.encode(&sha1));
    // wrong audience, expired, unknown thumbprint, wrong key
    let r = send(assertion(
        cid,
        "https://example.com/token",
        &key_pem,
        x5t.clone(),
        None,
        300,
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
    let r = send(assertion(cid, url, &key_pem, x5t.clone(), None, -600))
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error_codes"][0], 700024);
    let r = send(assertion(
        cid,
        url,
        &key_pem,
        Some(URL_SAFE_NO_PAD.encode([1u8; 20])),
        None,
        300,
    ))
    .await
    .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error_codes"][0], 700027);
    let (_, other_key, _) = rsa_cert();
    let r = send(assertion(cid, url, &other_key, x5t, None, 300))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
