//! The entraid plugin's own `spec`: credentials, cloud, endpoints and tuning.

use super::node::{De, LocError, Node, Value, ranged};
use serde::de;
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;
use url::Url;

/// A secret value: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The Microsoft cloud the tenant lives in; decides the login and Graph hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    #[default]
    Public,
    Usgov,
    UsgovDod,
    China,
}

impl Cloud {
    pub fn login_url(self) -> &'static str {
        match self {
            Cloud::Public => "https://login.microsoftonline.com",
            Cloud::Usgov | Cloud::UsgovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }
    pub fn graph_url(self) -> &'static str {
        match self {
            Cloud::Public => "https://graph.microsoft.com",
            Cloud::Usgov => "https://graph.microsoft.us",
            Cloud::UsgovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }
}

/// How the source signs in (`auth`); without it, inferred as Azure's SDKs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    ClientSecret,
    ClientCertificate,
    WorkloadIdentity,
    ManagedIdentity,
    AzureCli,
    AccessToken,
}

/// The first sync of a log table reads a week: enough to be useful, bounded on large tenants.
pub const DEFAULT_LOG_LOOKBACK_DAYS: u32 = 7;
/// Ten years: more than Graph keeps, and far from any date arithmetic limit.
pub const MAX_LOG_LOOKBACK_DAYS: u64 = 3650;

/// CloudQuery documents 50000 as the default concurrency of its plugins.
pub const DEFAULT_CONCURRENCY: u64 = 50_000;
pub const MAX_CONCURRENCY: u64 = 1_000_000;

pub const DEFAULT_MAX_RETRIES: u32 = 8;
pub const MAX_MAX_RETRIES: u64 = 100;

/// The longest a `Retry-After` is honoured by default, in seconds.
pub const DEFAULT_MAX_RETRY_AFTER_SECS: u64 = 300;
pub const MAX_MAX_RETRY_AFTER_SECS: u64 = 3600;

fn concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, 1, MAX_CONCURRENCY, "")
}

fn max_retries<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, 0, MAX_MAX_RETRIES, "")
}

fn log_lookback_days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, 0, MAX_LOG_LOOKBACK_DAYS, "days; 0 reads everything")
}

fn max_retry_after<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, 1, MAX_MAX_RETRY_AFTER_SECS, "seconds")
}

/// Every child table is re-read whole at least this often by default (24 hours).
pub const DEFAULT_CHILD_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// Log cursors restart this early by default: Microsoft documents minutes for most entries
/// and up to two hours for risk data and multi-factor sign-in details.
pub const DEFAULT_LOG_OVERLAP: Duration = Duration::from_secs(2 * 3600);
/// Pages one listing may have before it is taken for a server that never ends it.
pub const DEFAULT_MAX_PAGES: u64 = 1_000_000;

fn child_refresh_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d, Duration::from_secs(60), Duration::from_secs(90 * 86_400))
}

fn log_overlap<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d, Duration::ZERO, Duration::from_secs(7 * 86_400))
}

fn max_pages<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, 10, 1_000_000_000, "pages per listing")
}

/// A duration as `90s`, `30m`, `24h` or `7d` (or a bare number of seconds), within bounds.
fn duration<'de, D: Deserializer<'de>>(
    d: D,
    min: Duration,
    max: Duration,
) -> Result<Option<Duration>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    let Some(value) = value else {
        return Ok(None);
    };
    let wanted = || {
        format!(
            "a duration such as 90s, 30m, 24h or 7d, from {}s to {}s",
            min.as_secs(),
            max.as_secs()
        )
    };
    let secs = match &value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(text) => parse_duration(text),
        _ => None,
    }
    .ok_or_else(|| de::Error::custom(format!("must be {}", wanted())))?;
    let parsed = Duration::from_secs(secs);
    if parsed < min || parsed > max {
        return Err(de::Error::custom(format!("must be {}", wanted())));
    }
    Ok(Some(parsed))
}

fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
}

fn url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => parse_url(&text).map(Some).map_err(de::Error::custom),
    }
}

fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text)
        .map_err(|e| format!("{:?} is not a URL: {e}", super::node::short(text, 100)))?;
    check_scheme(&url)?;
    Ok(url)
}

fn simulator<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SimulatorSpec>, D::Error> {
    let spec = Option::<SimulatorSpec>::deserialize(d)?;
    if spec.is_some() && !cfg!(feature = "simulator") {
        return Err(de::Error::custom(
            "needs entrasync built with the `simulator` feature (on by default)",
        ));
    }
    Ok(spec)
}

fn profile<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let profile = String::deserialize(d)?;
    match profile.as_str() {
        "tiny" | "small" | "large" => Ok(profile),
        other => Err(de::Error::custom(format!(
            "unknown profile {:?}; use tiny, small or large",
            super::node::short(other, 40)
        ))),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpec {
    #[serde(default, deserialize_with = "concurrency")]
    concurrency: Option<u64>,
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_certificate_path: Option<String>,
    client_certificate_password: Option<String>,
    send_certificate_chain: Option<bool>,
    auth: Option<AuthKind>,
    federated_token_file: Option<String>,
    access_token: Option<String>,
    access_token_file: Option<String>,
    cloud: Option<Cloud>,
    #[serde(default, deserialize_with = "url")]
    graph_url: Option<Url>,
    #[serde(default, deserialize_with = "url")]
    login_url: Option<Url>,
    #[serde(default, deserialize_with = "max_retries")]
    max_retries: Option<u64>,
    #[serde(default, deserialize_with = "log_lookback_days")]
    log_lookback_days: Option<u64>,
    #[serde(default, deserialize_with = "max_retry_after")]
    max_retry_after: Option<u64>,
    #[serde(default, deserialize_with = "child_refresh_interval")]
    child_refresh_interval: Option<Duration>,
    #[serde(default, deserialize_with = "log_overlap")]
    log_overlap: Option<Duration>,
    #[serde(default, deserialize_with = "max_pages")]
    max_pages: Option<u64>,
    #[serde(default, deserialize_with = "simulator")]
    simulator: Option<SimulatorSpec>,
}

/// A built-in simulated tenant (fake-graph in-process) instead of a real one: the zero-credential
/// quick start and demos.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSpec {
    /// `tiny` (about 20 users), `small` (about 1,000) or `large` (100,000).
    #[serde(default = "default_profile", deserialize_with = "profile")]
    pub profile: String,
    #[serde(default = "default_seed", deserialize_with = "seed")]
    pub seed: u64,
}

fn default_profile() -> String {
    "small".into()
}

fn default_seed() -> u64 {
    1
}

fn seed<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(ranged(d, 0, u64::MAX, "")?.unwrap_or_else(default_seed))
}

/// The validated source spec, with environment fallbacks applied.
#[derive(Debug, Clone)]
pub struct EntraSpec {
    pub concurrency: u64,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_certificate_path: Option<String>,
    pub client_certificate_password: Option<Secret>,
    /// Send the certificate chain (`x5c`) for subject-name/issuer authentication.
    pub send_certificate_chain: bool,
    /// The credential named by `auth`; `None` infers it.
    pub auth: Option<AuthKind>,
    pub federated_token_file: Option<String>,
    pub access_token: Option<Secret>,
    pub access_token_file: Option<String>,
    pub cloud: Cloud,
    pub graph_url: Url,
    pub login_url: Url,
    /// Attempts per request for retryable failures (429, 5xx, connection errors).
    pub max_retries: u32,
    /// How many days of sign-ins, audits and risk detections the first sync reads (later syncs
    /// with a backend read only what is new). 0 reads everything Graph keeps. At most 3650.
    pub log_lookback_days: u32,
    /// The longest wait a `Retry-After` can impose (`max_retry_after`, seconds, 1..=3600,
    /// default 300); a longer one is treated as this.
    pub max_retry_after: Duration,
    /// Every child table is re-read whole at least this often (`child_refresh_interval`),
    /// spread across syncs; in between, only parents a change signal names are re-read.
    pub child_refresh_interval: Duration,
    /// How far before the newest entry seen a log cursor restarts (`log_overlap`), for entries
    /// Graph indexes late; the overlap is de-duplicated by id.
    pub log_overlap: Duration,
    /// Pages one listing may have (`max_pages`) before it is stopped as endless.
    pub max_pages: u64,
    /// When set, sync a simulated tenant instead of a real one.
    pub simulator: Option<SimulatorSpec>,
}

impl EntraSpec {
    /// Reads the spec from JSON (the plugin protocol's form); `line` is where its `spec:` key
    /// is, for error messages.
    pub(crate) fn from_value(
        value: serde_json::Value,
        _text: &str,
        line: u32,
    ) -> Result<EntraSpec, (u32, String)> {
        let node = Node::from_json(&value, line);
        EntraSpec::from_node(&node, "spec", line)
            .map_err(|e| (e.line.unwrap_or(line), e.to_string()))
    }

    /// Reads the spec from the config tree; `path` and `line` name its `spec` key.
    pub(crate) fn from_node(node: &Node, path: &str, line: u32) -> Result<EntraSpec, LocError> {
        let raw = if node.value == Value::Null {
            RawSpec::default()
        } else {
            RawSpec::deserialize(De::new(node, path, line))?
        };
        EntraSpec::from_raw(raw, path, line)
    }

    pub(crate) fn from_raw(raw: RawSpec, path: &str, line: u32) -> Result<EntraSpec, LocError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        // An empty value (often an empty `${VAR}`) counts as unset.
        let given = |v: Option<String>| v.filter(|v| !v.is_empty());
        let cloud = raw.cloud.unwrap_or_default();
        // The environment fallbacks let a config written for a real tenant run unchanged
        // against another endpoint (fake-graph in tests, a sovereign proxy).
        let url_of = |key: &str, given: Option<Url>, var: &str, default: &str| match given {
            Some(url) => Ok(url),
            None => match env(var) {
                Some(text) => parse_url(&text).map_err(|m| {
                    LocError::new(Some(line), format!("{path}.{key}"), format!("{var}: {m}"))
                }),
                None => Ok(Url::parse(default).expect("the clouds' URLs are valid")),
            },
        };
        let as_u32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(EntraSpec {
            concurrency: raw.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            tenant_id: given(raw.tenant_id).or_else(|| env("AZURE_TENANT_ID")),
            client_id: given(raw.client_id).or_else(|| env("AZURE_CLIENT_ID")),
            client_secret: given(raw.client_secret)
                .or_else(|| env("AZURE_CLIENT_SECRET"))
                .map(Secret::new),
            client_certificate_path: given(raw.client_certificate_path)
                .or_else(|| env("AZURE_CLIENT_CERTIFICATE_PATH")),
            client_certificate_password: given(raw.client_certificate_password)
                .or_else(|| env("AZURE_CLIENT_CERTIFICATE_PASSWORD"))
                .map(Secret::new),
            send_certificate_chain: raw.send_certificate_chain.unwrap_or_else(|| {
                env("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")
                    .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
            }),
            auth: raw.auth,
            federated_token_file: given(raw.federated_token_file)
                .or_else(|| env("AZURE_FEDERATED_TOKEN_FILE")),
            access_token: given(raw.access_token).map(Secret::new),
            access_token_file: given(raw.access_token_file),
            cloud,
            graph_url: url_of(
                "graph_url",
                raw.graph_url,
                "ENTRASYNC_GRAPH_URL",
                cloud.graph_url(),
            )?,
            login_url: url_of(
                "login_url",
                raw.login_url,
                "AZURE_AUTHORITY_HOST",
                cloud.login_url(),
            )?,
            max_retries: raw.max_retries.map_or(DEFAULT_MAX_RETRIES, as_u32),
            log_lookback_days: raw
                .log_lookback_days
                .map_or(DEFAULT_LOG_LOOKBACK_DAYS, as_u32),
            max_retry_after: Duration::from_secs(
                raw.max_retry_after.unwrap_or(DEFAULT_MAX_RETRY_AFTER_SECS),
            ),
            child_refresh_interval: raw.child_refresh_interval.unwrap_or(DEFAULT_CHILD_REFRESH),
            log_overlap: raw.log_overlap.unwrap_or(DEFAULT_LOG_OVERLAP),
            max_pages: raw.max_pages.unwrap_or(DEFAULT_MAX_PAGES),
            simulator: raw.simulator,
        })
    }
}

/// Plain `http` is allowed only to this machine (fake-graph, a local proxy): tokens and secrets
/// must never cross a network unencrypted.
fn check_scheme(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(format!(
                    "plain http is only allowed for loopback hosts (localhost, 127.0.0.1); use https for {}",
                    url.host_str().unwrap_or("")
                ))
            }
        }
        other => Err(format!("unsupported scheme {other:?}; use https")),
    }
}
