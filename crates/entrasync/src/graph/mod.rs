//! The Microsoft Graph client: authenticated GETs with retries, a throttle shared by every task,
//! and paging that follows `@odata.nextLink` verbatim — but only to the configured Graph origin,
//! so a hostile link can never receive the token.

pub mod auth;
pub mod credential;
pub mod error;
mod throttle;

pub use auth::TokenProvider;
pub use credential::Credential;
pub use error::{ApiError, GraphError};
pub use throttle::{Scope, Throttle};

use crate::config::EntraSpec;
use rand::Rng;
use serde_json::Value;
use std::collections::HashSet;
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
    /// Set for a top-level table, whose chain of pages is a sync's critical path: its requests
    /// go ahead of per-parent reads in the throttle.
    pub leading: bool,
    /// Resource units Graph reported (`x-ms-resource-unit`), or the documented cost where it
    /// reported none.
    pub resource_units: AtomicU64,
}

/// Upper bound on simultaneous requests, whatever `concurrency` says: past this, Graph throttles
/// and the extra connections only cost memory.
const MAX_IN_FLIGHT: u64 = 256;
/// Idle connections kept per host: enough for the steady state of a sync paced at Graph's
/// budget (a few dozen requests in flight at 100 ms), so that only bursts open new ones.
const IDLE_CONNECTIONS: usize = 64;
const MAX_UNITS_PER_REQUEST: u32 = 100;
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// The largest response body accepted, after decompression: Graph's biggest pages are a few MB,
/// and a compressed bomb must not grow past this in memory.
pub const MAX_RESPONSE_BYTES: usize = 128 << 20;

pub struct GraphClient {
    http: reqwest::Client,
    base: Url,
    tokens: TokenProvider,
    throttle: Throttle,
    in_flight: Semaphore,
    retry: RetryPolicy,
    max_pages: u64,
    /// The tenant as configured: a GUID or a domain.
    tenant_id: String,
    /// The tenant's GUID (the token's `tid`), once [`GraphClient::sign_in`] has run.
    tid: std::sync::OnceLock<String>,
}

/// One page of a Graph collection: its objects as JSON values, or as their text
/// ([`GraphClient::get_raw_page`]).
#[derive(Debug)]
pub struct Page<T = Value> {
    pub objects: Vec<T>,
    pub next: Option<String>,
    pub delta: Option<String>,
}

/// A page's objects as their JSON text: about the size of the response, where a tree of values
/// takes several times that.
pub type RawObject = Box<serde_json::value::RawValue>;

/// What a 200 response must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A JSON object (a singleton resource).
    Object,
    /// A collection page: an object with a `value` array.
    Page,
}

/// A collection page as `get_raw_page` reads it; other members (`@odata.context`) are ignored.
#[derive(serde::Deserialize)]
struct RawPageBody {
    value: Vec<RawObject>,
    #[serde(rename = "@odata.nextLink", default)]
    next: Option<Value>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta: Option<Value>,
}

/// Builds the HTTP client every Graph and token request shares.
pub fn http_client() -> reqwest::Client {
    entrasync_crypto::install();
    reqwest::Client::builder()
        .user_agent(concat!("entrasync/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .pool_idle_timeout(Duration::from_secs(60))
        // Each idle connection keeps its read buffer: the first burst of child reads opens ~300
        // connections, and hyper's read buffers were the largest allocation site (heaptrack).
        .pool_max_idle_per_host(IDLE_CONNECTIONS)
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
        let credential = Credential::from_spec(spec)?;
        let http = http_client();
        let retry = RetryPolicy {
            max_retries: spec.max_retries,
            max_retry_after: spec.max_retry_after,
        };
        let tokens = TokenProvider::new(
            http.clone(),
            &spec.login_url,
            spec.cloud,
            &tenant_id,
            spec.client_id.as_deref(),
            credential,
            retry,
        );
        Ok(Arc::new(GraphClient {
            http,
            base: spec.graph_url.clone(),
            tokens,
            throttle: Throttle::default(),
            in_flight: Semaphore::new(spec.concurrency.clamp(1, MAX_IN_FLIGHT) as usize),
            retry,
            max_pages: spec.max_pages,
            tenant_id,
            tid: std::sync::OnceLock::new(),
        }))
    }

    /// The tenant's GUID once signed in (what rows and state keys carry, however the config
    /// names the tenant); before that, the tenant as configured.
    pub fn tenant_id(&self) -> &str {
        self.tid.get().unwrap_or(&self.tenant_id)
    }

    /// Gets a first token, which proves the credential, and learns the tenant's GUID from it.
    pub async fn sign_in(&self) -> Result<(), GraphError> {
        let token = self.tokens.token().await?;
        if let Some((_, Some(tid))) = auth::token_claims(token.expose()) {
            let _ = self.tid.set(tid);
        }
        Ok(())
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

    /// A guard for one chain of next links, against links that repeat or never end.
    pub fn chain(&self) -> Chain {
        Chain {
            seen: HashSet::new(),
            pages: 0,
            max_pages: self.max_pages,
        }
    }

    /// GETs a single resource (absolute URL) and returns its JSON object.
    pub async fn get(&self, url: &str, traffic: &Traffic) -> Result<Value, GraphError> {
        self.request(url, traffic, |body, path| {
            decode(body, Expect::Object, path)
        })
        .await
    }

    /// GETs one page of a collection: its objects and its next or delta link. A 200 that is not
    /// a page (no `value` array) is retried like a 5xx, then fails: never an empty table.
    pub async fn get_page(&self, url: &str, traffic: &Traffic) -> Result<Page, GraphError> {
        self.request(url, traffic, |body, path| {
            decode(body, Expect::Page, path).map(page_of)
        })
        .await
    }

    /// As `get_page`, with each object left as its JSON text, for a reader that converts a page
    /// a few objects at a time.
    pub async fn get_raw_page(
        &self,
        url: &str,
        traffic: &Traffic,
    ) -> Result<Page<RawObject>, GraphError> {
        self.request(url, traffic, |body, path| {
            match serde_json::from_slice::<RawPageBody>(body) {
                Ok(page) => Ok(Page {
                    objects: page.value,
                    next: link(page.next.as_ref()),
                    delta: link(page.delta.as_ref()),
                }),
                // Not a page: the tree says precisely what it is instead.
                Err(e) => decode(body, Expect::Page, path).and_then(|_| {
                    Err(GraphError::Malformed(format!(
                        "GET {path}: status 200 with a page that cannot be read: {e}"
                    )))
                }),
            }
        })
        .await
    }

    /// Retries 429, 5xx, malformed 200s and connection failures with capped exponential backoff
    /// and jitter, honouring Retry-After up to `max_retry_after`; a 429 pauses every task of the
    /// same throttle scope. A 401 refreshes the token once.
    async fn request<T>(
        &self,
        url: &str,
        traffic: &Traffic,
        decode: impl Fn(&[u8], &str) -> Result<T, GraphError>,
    ) -> Result<T, GraphError> {
        // Before anything else, and before a token is fetched: a link to another origin gets
        // nothing from us.
        self.check_origin(url)?;
        let (path, units) = path_and_units(url);
        let scope = Scope::of(&path);
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            let (claim, waited) = self.throttle.wait(scope, units, traffic.leading).await;
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
            let err = match result.and_then(|(body, reported)| {
                // Documented costs are a handful of units: a larger figure is not believed.
                let spent = reported.unwrap_or(units).clamp(1, MAX_UNITS_PER_REQUEST);
                self.throttle.settle(claim, spent);
                if scope == Scope::Identity {
                    traffic.resource_units.fetch_add(spent.into(), Relaxed);
                }
                decode(&body, &path)
            }) {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if err.status() == Some(401) && !refreshed {
                // The token expired or was revoked mid-sync: fetch a new one and try again.
                self.tokens.invalidate(&token).await;
                refreshed = true;
                continue;
            }
            if !err.is_retryable() || attempt >= self.retry.max_retries {
                return Err(err);
            }
            let retry_after = match &err {
                GraphError::Api(e) => e.retry_after,
                _ => None,
            };
            let delay = self.retry.delay(attempt, retry_after);
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

    /// Refuses a URL whose scheme, host or port differ from the configured Graph origin.
    fn check_origin(&self, url: &str) -> Result<(), GraphError> {
        let parsed = Url::parse(url)
            .map_err(|_| GraphError::Refused("Graph sent a link that is not a URL".into()))?;
        if parsed.origin() == self.base.origin() {
            return Ok(());
        }
        Err(GraphError::Refused(format!(
            "refusing to follow a link to {}, which is not the Graph origin {}: nothing was sent \
             to it (a next or delta link from Graph, or a stored delta link, points elsewhere)",
            printable_origin(&parsed),
            self.base.origin().ascii_serialization()
        )))
    }

    async fn send(
        &self,
        url: &str,
        path: &str,
        token: &crate::config::Secret,
    ) -> Result<(Vec<u8>, Option<u32>), GraphError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut response = self
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
        let units = header("x-ms-resource-unit").and_then(|v| v.trim().parse::<u32>().ok());
        let body = read_body(&mut response, &format!("GET {path}")).await?;
        if status == 200 {
            return Ok((body, units));
        }
        let mut api = error::parse_api_error(status, &body, path, retry_after, location);
        if api.request_id.is_none() {
            api.request_id = Some(request_id);
        }
        Err(GraphError::Api(Box::new(api)))
    }
}

/// Follows one chain of next links: refuses a link seen before in the chain (a server looping
/// forever) and more than `max_pages` pages.
pub struct Chain {
    seen: HashSet<u64>,
    pages: u64,
    max_pages: u64,
}

impl Chain {
    /// Records that `next` is about to be followed; an error when it would never end.
    pub fn follow(&mut self, next: &str) -> Result<(), GraphError> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        self.pages += 1;
        if self.pages >= self.max_pages {
            return Err(GraphError::Refused(format!(
                "more than {} pages in one listing: stopping, as no tenant has that many \
                 (raise the source spec's max_pages if this is real)",
                self.max_pages
            )));
        }
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(next);
        if !self.seen.insert(hash) {
            return Err(GraphError::Refused(format!(
                "Graph sent a next link it had already sent in this listing (after {} pages): \
                 following it would never end",
                self.pages
            )));
        }
        Ok(())
    }
}

/// Reads a response body, decompressed, up to `MAX_RESPONSE_BYTES`.
pub(crate) async fn read_body(
    response: &mut reqwest::Response,
    what: &str,
) -> Result<Vec<u8>, GraphError> {
    // Sized from Content-Length when there is one (no doubling copies of a large page), but
    // a header cannot make us allocate much before the body shows up.
    let expected = response.content_length().unwrap_or(0).min(8 << 20) as usize;
    let mut body = Vec::with_capacity(expected);
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            GraphError::Transport(format!(
                "{what}: body cut short: {}",
                describe_reqwest_error(&e)
            ))
        })?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(GraphError::Refused(format!(
                "{what}: the response is larger than {} MiB once decompressed: refusing it",
                MAX_RESPONSE_BYTES >> 20
            )));
        }
        body.extend_from_slice(&chunk);
    }
}

/// A 200's body as JSON values.
fn decode(body: &[u8], expect: Expect, path: &str) -> Result<Value, GraphError> {
    let value = serde_json::from_slice(body).map_err(|e| {
        GraphError::Malformed(format!(
            "GET {path}: the body is not JSON (truncated?): {e}"
        ))
    })?;
    check_shape(value, expect, path)
}

/// A checked page's objects and links.
fn page_of(mut body: Value) -> Page {
    let objects = match body.get_mut("value").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => unreachable!("check_shape checked the page shape"),
    };
    Page {
        objects,
        next: link(body.get("@odata.nextLink")),
        delta: link(body.get("@odata.deltaLink")),
    }
}

/// A page's next or delta link; one that is not a string is no link.
fn link(member: Option<&Value>) -> Option<String> {
    member.and_then(Value::as_str).map(str::to_string)
}

/// A 200's body must be what was asked for; an error envelope or other JSON sent with status
/// 200 is treated as a server fault.
fn check_shape(value: Value, expect: Expect, path: &str) -> Result<Value, GraphError> {
    let ok = match expect {
        Expect::Page => value.get("value").is_some_and(Value::is_array),
        Expect::Object => value.is_object() && value.get("error").is_none(),
    };
    if ok {
        return Ok(value);
    }
    let shape = match &value {
        Value::Object(map) if map.contains_key("error") => "an error envelope".to_string(),
        Value::Object(map) if map.contains_key("value") => "a `value` that is not an array".into(),
        Value::Object(_) => "an object without a `value` array".into(),
        other => format!("JSON {}", json_kind(other)),
    };
    let wanted = match expect {
        Expect::Page => "a page of results",
        Expect::Object => "an object",
    };
    Err(GraphError::Malformed(format!(
        "GET {path}: status 200 with {shape} instead of {wanted}"
    )))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `scheme://host[:port]` of a foreign link, for the error: no path or query.
fn printable_origin(url: &Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    out
}

/// How often and how long a failed request is retried; shared by Graph and the token endpoint.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// The wait before retry `attempt` (0-based): the server's Retry-After when it sent one,
    /// else backoff; never more than `max_retry_after`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        retry_after
            .unwrap_or_else(|| backoff(attempt))
            .min(self.max_retry_after)
    }
}

/// Exponential backoff with ±25 % jitter: 0.5 s, 1 s, 2 s … capped at 30 s.
fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << attempt.min(16));
    let capped = exp.min(BACKOFF_CAP);
    let jitter = rand::rng().random_range(0.75..1.25);
    capped.mul_f64(jitter)
}

/// The path of a URL without scheme, host and query, safe to print (no tokens live there), and the resource units Graph documents for a GET of it (which
/// depend on the query's `$select`, `$expand` and `$top`): one parse for both.
fn path_and_units(url: &str) -> (String, u32) {
    match Url::parse(url) {
        Ok(u) => {
            let query: Vec<String> = u.query_pairs().map(|(k, v)| format!("{k}={v}")).collect();
            let units = throttle::estimated_units(&format!("{}?{}", u.path(), query.join("&")));
            (u.path().to_string(), units)
        }
        Err(_) => {
            let path = url.split('?').next().unwrap_or(url);
            (path.to_string(), throttle::estimated_units(url))
        }
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
            path_and_units("https://graph.microsoft.com/v1.0/users?$skiptoken=secretish").0,
            "/v1.0/users"
        );
    }
}
