//! Access tokens by the OAuth client-credentials flow: a client secret or a certificate assertion
//! (RS256 JWT). Tokens are cached and refreshed before they expire, and on demand after a 401.

use super::error::GraphError;
use crate::config::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha1::{Digest, Sha1};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How the app proves who it is.
pub enum Credential {
    Secret(Secret),
    Certificate {
        /// SHA-1 thumbprint of the DER certificate, base64url (`x5t`).
        thumbprint: String,
        key: jsonwebtoken::EncodingKey,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Credential::Secret(<redacted>)"),
            Credential::Certificate { thumbprint, .. } => {
                write!(f, "Credential::Certificate(x5t={thumbprint})")
            }
        }
    }
}

impl Credential {
    /// Reads a PEM file holding the certificate and its RSA private key (as `az ad sp create-for-rbac
    /// --create-cert` writes it).
    pub fn from_certificate_file(path: &str) -> Result<Credential, GraphError> {
        let pem = std::fs::read_to_string(path).map_err(|e| {
            GraphError::Setup(format!("cannot read client_certificate_path {path}: {e}"))
        })?;
        Self::from_certificate_pem(&pem)
            .map_err(|m| GraphError::Setup(format!("client_certificate_path {path}: {m}")))
    }

    pub fn from_certificate_pem(pem: &str) -> Result<Credential, String> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let cert = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| "no CERTIFICATE block found; the file must hold the certificate and its private key in PEM".to_string())?;
        let key_block = pem_block(pem, &["PRIVATE KEY", "RSA PRIVATE KEY"]).ok_or(
            "no PRIVATE KEY block found; the file must hold the certificate and its private key in PEM",
        )?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_block.as_bytes())
            .map_err(|e| format!("the private key is not a usable RSA key ({e})"))?;
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha1::digest(cert.as_ref()));
        Ok(Credential::Certificate { thumbprint, key })
    }
}

/// The first PEM block with one of the given labels, armour included.
fn pem_block<'a>(pem: &'a str, labels: &[&str]) -> Option<&'a str> {
    labels.iter().find_map(|label| {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let start = pem.find(&begin)?;
        let stop = start + pem[start..].find(&end)? + end.len();
        Some(&pem[start..stop])
    })
}

struct Cached {
    token: Secret,
    refresh_at: Instant,
}

/// Fetches and caches tokens for one app in one tenant.
pub struct TokenProvider {
    http: reqwest::Client,
    token_url: String,
    scope: String,
    client_id: String,
    credential: Credential,
    retry: super::RetryPolicy,
    cached: Mutex<Option<Cached>>,
}

/// A token is never trusted for longer than this, whatever `expires_in` says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: serde_json::Value,
}

impl TokenProvider {
    pub fn new(
        http: reqwest::Client,
        login_url: &url::Url,
        graph_url: &url::Url,
        tenant_id: &str,
        client_id: &str,
        credential: Credential,
        retry: super::RetryPolicy,
    ) -> TokenProvider {
        let login = login_url.as_str().trim_end_matches('/');
        let graph = graph_url.as_str().trim_end_matches('/');
        TokenProvider {
            http,
            token_url: format!("{login}/{tenant_id}/oauth2/v2.0/token"),
            scope: format!("{graph}/.default"),
            client_id: client_id.to_string(),
            credential,
            retry,
            cached: Mutex::new(None),
        }
    }

    /// A valid token, from the cache when it is not close to expiry.
    pub async fn token(&self) -> Result<Secret, GraphError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Drops the cached token if it is still `rejected`, so the next call fetches a new one.
    pub async fn invalidate(&self, rejected: &Secret) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == rejected) {
            *cached = None;
        }
    }

    /// Fetches a token, retrying throttling, server errors and lost connections as Graph
    /// requests are; a refusal of the credentials (4xx) is final.
    async fn fetch(&self) -> Result<Cached, GraphError> {
        let mut attempt = 0;
        loop {
            let (err, retry_after) = match self.fetch_once().await {
                Ok(cached) => return Ok(cached),
                Err(e) => e,
            };
            let retryable = match &err {
                GraphError::Auth { status, .. } => matches!(status, 429 | 500..=599),
                other => other.is_retryable(),
            };
            if !retryable || attempt >= self.retry.max_retries {
                return Err(err);
            }
            let delay = self.retry.delay(attempt, retry_after);
            tracing::warn!(
                attempt = attempt + 1,
                wait_ms = delay.as_millis() as u64,
                "retrying the token request after: {err}"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One token request; on failure, the error and the server's Retry-After.
    async fn fetch_once(&self) -> Result<Cached, (GraphError, Option<Duration>)> {
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
        ];
        match &self.credential {
            Credential::Secret(secret) => {
                form.push(("client_secret", secret.expose().to_string()));
            }
            Credential::Certificate { thumbprint, key } => {
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                let assertion = self.assertion(thumbprint, key).map_err(|e| (e, None))?;
                form.push(("client_assertion", assertion));
            }
        }
        let started = Instant::now();
        let what = format!("token endpoint {}", self.token_url);
        let mut response = self
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                let e =
                    GraphError::Transport(format!("{what}: {}", super::describe_reqwest_error(&e)));
                (e, None)
            })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(super::error::parse_retry_after);
        let body = super::read_body(&mut response, &what)
            .await
            .map_err(|e| (e, None))?;
        if status != 200 {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let text = |key: &str, default: &str| {
                super::error::printable(v[key].as_str().unwrap_or(default))
            };
            let e = GraphError::Auth {
                status,
                error: text("error", "unknown_error"),
                description: text(
                    "error_description",
                    "the token endpoint gave no description",
                ),
            };
            return Err((e, retry_after));
        }
        // serde's message would quote the offending value, which may be the token itself.
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            let e = GraphError::Malformed(format!(
                "{what} answered 200 without an access_token string"
            ));
            (e, None)
        })?;
        // `expires_in` is a number on Entra's v2 endpoint, a string on some others.
        let lifetime = parsed
            .expires_in
            .as_u64()
            .or_else(|| parsed.expires_in.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(3599);
        let lifetime = Duration::from_secs(lifetime).min(MAX_TOKEN_LIFETIME);
        // Refresh five minutes early, or at half-life for short-lived tokens.
        let margin = Duration::from_secs(300).min(lifetime / 2);
        Ok(Cached {
            token: Secret::new(parsed.access_token),
            refresh_at: started + lifetime - margin,
        })
    }

    fn assertion(
        &self,
        thumbprint: &str,
        key: &jsonwebtoken::EncodingKey,
    ) -> Result<String, GraphError> {
        entrasync_crypto::install();
        let now = chrono::Utc::now().timestamp();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.x5t = Some(thumbprint.to_string());
        let claims = serde_json::json!({
            "aud": self.token_url,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        jsonwebtoken::encode(&header, &claims, key)
            .map_err(|e| GraphError::Setup(format!("cannot sign the client assertion: {e}")))
    }
}

/// The application permissions (`roles`) and tenant (`tid`) a Graph access token carries.
/// Reads the payload only; Graph, not us, validates the signature.
pub fn token_claims(token: &str) -> Option<(Vec<String>, Option<String>)> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let roles = v["roles"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some((roles, v["tid"].as_str().map(str::to_string)))
}
