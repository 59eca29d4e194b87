//! The entraid plugin's own `spec`: credentials, cloud, endpoints and tuning.

use serde::Deserialize;
use std::fmt;
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
            Cloud::China => "https://login.partner.microsoftonline.cn",
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

/// The first sync of a log table reads a week: enough to be useful, bounded on large tenants.
pub const DEFAULT_LOG_LOOKBACK_DAYS: u32 = 7;

/// CloudQuery documents 50000 as the default concurrency of its plugins.
pub const DEFAULT_CONCURRENCY: u64 = 50_000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    concurrency: Option<u64>,
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_certificate_path: Option<String>,
    cloud: Option<Cloud>,
    graph_url: Option<String>,
    login_url: Option<String>,
    max_retries: Option<u32>,
    log_lookback_days: Option<u32>,
    simulator: Option<SimulatorSpec>,
}

/// A built-in simulated tenant (fake-graph in-process) instead of a real one: the zero-credential
/// quick start and demos.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSpec {
    /// `tiny` (about 20 users), `small` (about 1,000) or `large` (100,000).
    #[serde(default = "default_profile")]
    pub profile: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_profile() -> String {
    "small".into()
}

fn default_seed() -> u64 {
    1
}

/// The validated source spec, with environment fallbacks applied.
#[derive(Debug, Clone)]
pub struct EntraSpec {
    pub concurrency: u64,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_certificate_path: Option<String>,
    pub cloud: Cloud,
    pub graph_url: Url,
    pub login_url: Url,
    /// Attempts per request for retryable failures (429, 5xx, connection errors).
    pub max_retries: u32,
    /// How many days of sign-ins, audits and risk detections the first sync reads (later syncs
    /// with a backend read only what is new). 0 reads everything Graph keeps.
    pub log_lookback_days: u32,
    /// When set, sync a simulated tenant instead of a real one.
    pub simulator: Option<SimulatorSpec>,
}

impl EntraSpec {
    /// Reads the spec; `line` is where its `spec:` key is, for error messages.
    pub(crate) fn from_value(
        value: serde_json::Value,
        text: &str,
        line: u32,
    ) -> Result<EntraSpec, (u32, String)> {
        let raw: RawSpec = if value.is_null() {
            RawSpec::default()
        } else {
            super::from_value(value, text, line).map_err(|(l, m)| (l, format!("spec: {m}")))?
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let cloud = raw.cloud.unwrap_or_default();
        let url_of = |key: &str, given: Option<String>, default: &str| {
            let key_line = super::find_key_line(text, line, key).unwrap_or(line);
            let text = given.unwrap_or_else(|| default.to_string());
            let url = Url::parse(&text)
                .map_err(|e| (key_line, format!("spec.{key}: {text:?} is not a URL: {e}")))?;
            check_scheme(&url).map_err(|m| (key_line, format!("spec.{key}: {m}")))?;
            Ok::<Url, (u32, String)>(url)
        };
        if raw.concurrency == Some(0) {
            let l = super::find_key_line(text, line, "concurrency").unwrap_or(line);
            return Err((l, "spec.concurrency must be at least 1".into()));
        }
        Ok(EntraSpec {
            concurrency: raw.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            tenant_id: raw.tenant_id.or_else(|| env("AZURE_TENANT_ID")),
            client_id: raw.client_id.or_else(|| env("AZURE_CLIENT_ID")),
            client_secret: raw
                .client_secret
                .or_else(|| env("AZURE_CLIENT_SECRET"))
                .map(Secret::new),
            client_certificate_path: raw
                .client_certificate_path
                .or_else(|| env("AZURE_CLIENT_CERTIFICATE_PATH")),
            cloud,
            // The environment fallbacks let a config written for a real tenant run unchanged
            // against another endpoint (fake-graph in tests, a sovereign proxy).
            graph_url: url_of(
                "graph_url",
                raw.graph_url.or_else(|| env("ENTRASYNC_GRAPH_URL")),
                cloud.graph_url(),
            )?,
            login_url: url_of(
                "login_url",
                raw.login_url.or_else(|| env("AZURE_AUTHORITY_HOST")),
                cloud.login_url(),
            )?,
            max_retries: raw.max_retries.unwrap_or(8),
            log_lookback_days: raw.log_lookback_days.unwrap_or(DEFAULT_LOG_LOOKBACK_DAYS),
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
