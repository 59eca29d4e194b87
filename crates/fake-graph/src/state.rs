//! Shared server state and the internal request/response types (used by HTTP and `$batch` alike).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::auth::AppReg;
use crate::faults::Faults;
use crate::stats::Stats;
use crate::tenant::Tenant;
use crate::throttle::Throttle;
use crate::{Config, Licences};

pub struct State {
    pub config: Config,
    pub tenant: RwLock<Tenant>,
    pub apps: RwLock<HashMap<String, AppReg>>,
    pub licences: RwLock<Licences>,
    pub token_lifetime_secs: AtomicU64,
    pub throttling: AtomicBool,
    /// Secret for token signing and page-token sealing (random per process).
    pub key: [u8; 32],
    pub faults: Mutex<Faults>,
    pub throttle: Mutex<Throttle>,
    pub stats: Mutex<Stats>,
    pub base_url: String,
    /// Page tokens issued before this epoch are expired (admin: expire page tokens).
    pub page_epoch: AtomicU64,
    /// Delta tokens issued at a version below this are expired (syncStateNotFound).
    pub delta_min_version: AtomicU64,
    /// Operator-forced sync reset: delta tokens issued before this version answer 410 Gone.
    pub delta_reset_version: AtomicU64,
    pub latency: Mutex<crate::Latency>,
    /// Ingestion delay (ms) of directory audits and sign-ins: entries newer than now − delay are
    /// not served yet.
    pub audit_delay_ms: AtomicU64,
    pub signin_delay_ms: AtomicU64,
    /// Whether ids/seeds are deterministic for the latency/fault random streams.
    pub rng_counter: AtomicU64,
    /// Verified bearer tokens → (caller, exp): skips the JWT check on every page of a sync.
    pub token_cache: Mutex<HashMap<String, (crate::auth::Caller, u64)>>,
    /// Managed identities and federated credentials.
    pub identity: Mutex<crate::identity::Identity>,
}

impl State {
    pub fn token_lifetime(&self) -> Duration {
        Duration::from_secs(self.token_lifetime_secs.load(Ordering::Relaxed))
    }
    pub fn licences(&self) -> Licences {
        *self.licences.read().unwrap()
    }
    pub fn next_rand(&self) -> u64 {
        let n = self.rng_counter.fetch_add(1, Ordering::Relaxed);
        crate::faults::mix(self.config.seed ^ 0xFA17, n)
    }
}

/// A request as the Graph router sees it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Decoded path, e.g. `/v1.0/users`.
    pub path: String,
    /// Raw query string (without `?`).
    pub raw_query: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Header names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn parse(
        method: &str,
        path_and_query: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Req {
        let (path, raw_query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (path_and_query.to_string(), String::new()),
        };
        let query = url::form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect();
        let path = percent_decode(&path);
        Req {
            method: method.to_ascii_uppercase(),
            path,
            raw_query,
            query,
            headers,
            body,
        }
    }
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response before it is put on the wire (or into a `$batch` item).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Objects in the body (latency model, stats).
    pub items: usize,
    /// Identity resource units charged.
    pub ru: u32,
}

impl Resp {
    pub fn json(status: u16, v: &Value) -> Resp {
        let body = serde_json::to_vec(v).unwrap_or_default();
        Resp {
            status,
            headers: vec![("content-type".into(), "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8".into())],
            body: Bytes::from(body),
            items: 0,
            ru: 0,
        }
    }
    pub fn bytes(status: u16, body: Vec<u8>) -> Resp {
        let mut r = Resp::json(status, &Value::Null);
        r.body = Bytes::from(body);
        r
    }
    pub fn header(mut self, k: &str, v: impl Into<String>) -> Resp {
        self.headers.push((k.to_string(), v.into()));
        self
    }
    pub fn get_header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
}
