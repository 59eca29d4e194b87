//! Access tokens for Graph from any [`Credential`]: client credentials (secret, certificate
//! assertion, federated assertion) by the OAuth token endpoint, the others by their own source.
//! Tokens are cached and refreshed before they expire, and on demand after a 401.

use super::credential::{Acquired, Certificate, Credential, Failed, azure_cli};
use super::error::GraphError;
use crate::config::{Cloud, Secret};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

struct Cached {
    token: Secret,
    refresh_at: Instant,
}

/// Fetches and caches tokens for one app in one tenant.
pub struct TokenProvider {
    http: reqwest::Client,
    token_url: String,
    /// The cloud's Graph resource (`https://graph.microsoft.com`); the scope is `{resource}/.default`.
    resource: String,
    tenant_id: String,
    client_id: String,
    cloud: Cloud,
    credential: Credential,
    /// The member of a `Credential::Chain` that answered first, kept from then on.
    chosen: std::sync::OnceLock<usize>,
    retry: super::RetryPolicy,
    cached: Mutex<Option<Cached>>,
}

/// How long each member of an inferred chain may take to answer its first request.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A token is never trusted for longer than this, whatever `expires_in` says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: serde_json::Value,
}

impl TokenProvider {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        http: reqwest::Client,
        login_url: &url::Url,
        cloud: Cloud,
        tenant_id: &str,
        client_id: Option<&str>,
        credential: Credential,
        retry: super::RetryPolicy,
    ) -> TokenProvider {
        let login = login_url.as_str().trim_end_matches('/');
        TokenProvider {
            http,
            token_url: format!("{login}/{tenant_id}/oauth2/v2.0/token"),
            // The cloud's resource, not `graph_url`: a proxy in front of Graph changes where
            // requests go, not which API the token is for.
            resource: cloud.graph_url().to_string(),
            tenant_id: tenant_id.to_string(),
            client_id: client_id.unwrap_or_default().to_string(),
            cloud,
            credential,
            chosen: std::sync::OnceLock::new(),
            retry,
            cached: Mutex::new(None),
        }
    }

    /// The credential in use: the chain member that answered, once one has.
    pub fn describe(&self) -> String {
        match (&self.credential, self.chosen.get()) {
            (Credential::Chain(members), Some(&i)) => members[i].describe(),
            (credential, _) => credential.describe(),
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
        let credential = match (&self.credential, self.chosen.get()) {
            (Credential::Chain(members), Some(&i)) => &members[i],
            (Credential::Chain(members), None) => return self.probe(members).await,
            (credential, _) => credential,
        };
        // IMDS also answers 404 while the identity is being assigned and 410 while it updates;
        // Microsoft asks clients to retry both.
        let managed = matches!(credential, Credential::ManagedIdentity(_));
        let mut attempt = 0;
        loop {
            let (err, retry_after) = match self.fetch_once(credential).await {
                Ok(cached) => return Ok(cached),
                Err(e) => e,
            };
            let retryable = match &err {
                GraphError::Auth { status, .. } => {
                    matches!(status, 429 | 500..=599) || (managed && matches!(status, 404 | 410))
                }
                GraphError::Setup(_) => false,
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

    /// Tries each member of an inferred chain once, as DefaultAzureCredential does, and keeps
    /// the first that answers; the error names what each member said.
    async fn probe(&self, members: &[Credential]) -> Result<Cached, GraphError> {
        let mut reasons = Vec::new();
        for (i, member) in members.iter().enumerate() {
            // Off Azure, 169.254.169.254 may never answer: the probe gives it two seconds.
            let attempt = tokio::time::timeout(PROBE_TIMEOUT, self.fetch_once(member));
            let result = attempt.await.unwrap_or_else(|_| {
                let e = GraphError::Transport(format!("no answer within {PROBE_TIMEOUT:?}"));
                Err((e, None))
            });
            match result {
                Ok(cached) => {
                    let _ = self.chosen.set(i);
                    tracing::info!("signed in with {}", member.describe());
                    return Ok(cached);
                }
                Err((e, _)) => reasons.push(format!("{}: {e}", member.describe())),
            }
        }
        Err(GraphError::Setup(format!(
            "no credential found: spec.auth is not set and the environment holds no client \
             secret, certificate, federated token or managed-identity endpoint; tried {}",
            reasons.join("; ")
        )))
    }

    /// One token request; on failure, the error and the server's Retry-After.
    async fn fetch_once(&self, credential: &Credential) -> Result<Cached, Failed> {
        let started = Instant::now();
        let acquired = match credential {
            Credential::ManagedIdentity(mi) => mi.fetch(&self.http, &self.resource).await?,
            Credential::AzureCli => azure_cli(&self.resource, &self.tenant_id).await?,
            Credential::AccessToken(given) => given.fetch().await?,
            Credential::Chain(_) => unreachable!("fetch() resolves the chain"),
            client => self.client_credentials(client).await?,
        };
        let lifetime = acquired
            .lifetime
            .unwrap_or(Duration::from_secs(3599))
            .min(MAX_TOKEN_LIFETIME);
        // Refresh five minutes early, or at half-life for short-lived tokens.
        let margin = Duration::from_secs(300).min(lifetime / 2);
        Ok(Cached {
            token: acquired.token,
            refresh_at: started + lifetime - margin,
        })
    }

    /// The OAuth client-credentials request with a secret or an assertion.
    async fn client_credentials(&self, credential: &Credential) -> Result<Acquired, Failed> {
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", self.client_id.clone()),
            ("scope", format!("{}/.default", self.resource)),
        ];
        let assertion = match credential {
            Credential::Secret(secret) => {
                form.push(("client_secret", secret.expose().to_string()));
                None
            }
            Credential::Certificate(cert) => Some(self.assertion(cert).map_err(|e| (e, None))?),
            Credential::Federated(source) => Some(source.fetch(&self.http, self.cloud).await?),
            _ => unreachable!("only client credentials come here"),
        };
        if let Some(assertion) = assertion {
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push(("client_assertion", assertion));
        }
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
            .map(Duration::from_secs);
        Ok(Acquired {
            token: Secret::new(parsed.access_token),
            lifetime,
        })
    }

    fn assertion(&self, cert: &Certificate) -> Result<String, GraphError> {
        entrasync_crypto::install();
        let now = chrono::Utc::now().timestamp();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.x5t = Some(cert.thumbprint.clone());
        header.x5c = cert.chain.clone();
        let claims = serde_json::json!({
            "aud": self.token_url,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        jsonwebtoken::encode(&header, &claims, &cert.key)
            .map_err(|e| GraphError::Setup(format!("cannot sign the client assertion: {e}")))
    }
}

/// The payload of a JWT access token, unverified: Graph, not us, validates the signature.
fn token_payload(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// One claim of a JWT access token.
pub fn token_claim(token: &str, name: &str) -> Option<serde_json::Value> {
    token_payload(token)?.get(name).cloned()
}

/// Who a token stands for: the app id (`appid`, or `azp` in v2 tokens) and the object id of
/// its service principal or managed identity (`oid`).
pub fn token_identity(token: &str) -> (Option<String>, Option<String>) {
    let v = token_payload(token).unwrap_or_default();
    let text = |k: &str| v[k].as_str().map(str::to_string);
    (text("appid").or_else(|| text("azp")), text("oid"))
}

/// The application permissions (`roles`) and tenant (`tid`) a Graph access token carries.
pub fn token_claims(token: &str) -> Option<(Vec<String>, Option<String>)> {
    let v = token_payload(token)?;
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
