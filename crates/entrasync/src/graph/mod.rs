//! The Microsoft Graph client: authenticated GETs with retries, a throttle shared by every task,
//! and paging that follows `@odata.nextLink` verbatim.

pub mod auth;
pub mod error;
mod throttle;

pub use auth::{Credential, TokenProvider};
pub use error::{ApiError, GraphError};
pub use throttle::{Scope, Throttle};

use crate::config::EntraSpec;
use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::sync::Semaphore;
use url::Url;

/// Counters of one table's traffic, read by progress bars and the summary.
#[derive(Debug, Default)]
pub struct Traffic {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    /// Times this table waited for a throttle (its own 429 or another task's).
    pub throttle_waits: AtomicU64,
    pub throttle_wait_ms: AtomicU64,
}

/// Upper bound on simultaneous requests, whatever `concurrency` says: past this, Graph throttles
/// and the extra connections only cost memory.
const MAX_IN_FLIGHT: u64 = 256;
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

pub struct GraphClient {
    http: reqwest::Client,
    base: Url,
    tokens: TokenProvider,
    throttle: Throttle,
    in_flight: Semaphore,
    max_retries: u32,
    tenant_id: String,
}

/// Builds the HTTP client every Graph and token request shares.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("entrasync/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .expect("the HTTP client builds with static settings")
}

impl GraphClient {
    /// A client for the tenant and app of `spec`; fails when credentials are missing or unreadable.
    pub fn new(spec: &EntraSpec) -> Result<Arc<GraphClient>, GraphError> {
        let missing = |what: &str, env: &str| {
            GraphError::Setup(format!(
                "no {what}: set spec.{what} in the source spec or the {env} environment variable"
            ))
        };
        let tenant_id = spec
            .tenant_id
            .clone()
            .ok_or_else(|| missing("tenant_id", "AZURE_TENANT_ID"))?;
        let client_id = spec
            .client_id
            .clone()
            .ok_or_else(|| missing("client_id", "AZURE_CLIENT_ID"))?;
        let credential = match (&spec.client_secret, &spec.client_certificate_path) {
            (Some(secret), _) => Credential::Secret(secret.clone()),
            (None, Some(path)) => Credential::from_certificate_file(path)?,
            (None, None) => {
                return Err(GraphError::Setup(
                    "no credential: set spec.client_secret (or AZURE_CLIENT_SECRET) or \
                     spec.client_certificate_path (or AZURE_CLIENT_CERTIFICATE_PATH)"
                        .into(),
                ));
            }
        };
        let http = http_client();
        let tokens = TokenProvider::new(
            http.clone(),
            &spec.login_url,
            &spec.graph_url,
            &tenant_id,
            &client_id,
            credential,
        );
        Ok(Arc::new(GraphClient {
            http,
            base: spec.graph_url.clone(),
            tokens,
            throttle: Throttle::default(),
            in_flight: Semaphore::new(spec.concurrency.clamp(1, MAX_IN_FLIGHT) as usize),
            max_retries: spec.max_retries,
            tenant_id,
        }))
    }

    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    pub fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    /// An absolute URL for a Graph path such as `/v1.0/users?$top=999`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!(
            "{}{}",
            self.base.as_str().trim_end_matches('/'),
            path_and_query
        )
    }

    /// GETs a Graph URL (absolute, e.g. a next link) and returns its JSON body. Retries 429, 5xx
    /// and connection failures with capped exponential backoff and jitter, honouring Retry-After;
    /// a 429 pauses every task of the same throttle scope. A 401 refreshes the token once.
    pub async fn get(&self, url: &str, traffic: &Traffic) -> Result<serde_json::Value, GraphError> {
        let path = path_of(url);
        let scope = Scope::of(&path);
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            let waited = self.throttle.wait(scope).await;
            if !waited.is_zero() {
                traffic.throttle_waits.fetch_add(1, Relaxed);
                traffic
                    .throttle_wait_ms
                    .fetch_add(waited.as_millis() as u64, Relaxed);
            }
            let token = self.tokens.token().await?;
            let result = {
                let _permit = self.in_flight.acquire().await.expect("never closed");
                traffic.requests.fetch_add(1, Relaxed);
                self.send(url, &path, &token).await
            };
            let err = match result {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if err.status() == Some(401) && !refreshed {
                // The token expired or was revoked mid-sync: fetch a new one and try again.
                self.tokens.invalidate(&token).await;
                refreshed = true;
                continue;
            }
            if !err.is_retryable() || attempt >= self.max_retries {
                return Err(err);
            }
            let retry_after = match &err {
                GraphError::Api(e) => e.retry_after,
                _ => None,
            };
            let delay = retry_after.unwrap_or_else(|| backoff(attempt));
            if err.status() == Some(429) {
                self.throttle.pause(scope, delay);
            }
            tracing::warn!(
                path = %path,
                attempt = attempt + 1,
                wait_ms = delay.as_millis() as u64,
                "retrying after: {err}"
            );
            traffic.retries.fetch_add(1, Relaxed);
            if err.status() != Some(429) {
                tokio::time::sleep(delay).await;
            }
            attempt += 1;
        }
    }

    async fn send(
        &self,
        url: &str,
        path: &str,
        token: &crate::config::Secret,
    ) -> Result<serde_json::Value, GraphError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose())
            .header("client-request-id", &request_id)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| {
                GraphError::Transport(format!("GET {path}: {}", describe_reqwest_error(&e)))
            })?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after").and_then(|v| error::parse_retry_after(&v));
        let location = header("location");
        let body = response.bytes().await.map_err(|e| {
            GraphError::Transport(format!(
                "GET {path}: body cut short: {}",
                describe_reqwest_error(&e)
            ))
        })?;
        if status == 200 {
            return serde_json::from_slice(&body).map_err(|e| {
                GraphError::Transport(format!(
                    "GET {path}: unreadable JSON body (truncated?): {e}"
                ))
            });
        }
        let mut api = error::parse_api_error(status, &body, path, retry_after, location);
        if api.request_id.is_none() {
            api.request_id = Some(request_id);
        }
        Err(GraphError::Api(Box::new(api)))
    }
}

/// Exponential backoff with ±25 % jitter: 0.5 s, 1 s, 2 s … capped at 30 s.
fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << attempt.min(16));
    let capped = exp.min(BACKOFF_CAP);
    let jitter = rand::rng().random_range(0.75..1.25);
    capped.mul_f64(jitter)
}

/// The path of a URL without scheme, host and query: safe to print (no tokens live there).
fn path_of(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => u.path().to_string(),
        Err(_) => url.split('?').next().unwrap_or(url).to_string(),
    }
}

/// A short reason for a transport failure, without the URL (which `reqwest` would repeat).
pub(crate) fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert!(backoff(0) <= Duration::from_millis(625));
        assert!(backoff(3) >= Duration::from_secs(3));
        assert!(backoff(30) <= Duration::from_millis(37_500));
    }

    #[test]
    fn path_of_drops_host_and_query() {
        assert_eq!(
            path_of("https://graph.microsoft.com/v1.0/users?$skiptoken=secretish"),
            "/v1.0/users"
        );
    }
}
