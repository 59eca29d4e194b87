//! Counters served at `GET /_fake/stats`.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub requests: u64,
    /// "GET /v1.0/users" -> status -> count (ids replaced by `{id}`).
    pub by_endpoint: BTreeMap<String, BTreeMap<u16, u64>>,
    pub by_status: BTreeMap<u16, u64>,
    pub resource_units: u64,
    pub throttled_429: u64,
    pub bytes_sent: u64,
    pub objects_served: u64,
    pub tokens_issued: u64,
    pub faults_injected: u64,
}

impl Stats {
    pub fn record(&mut self, endpoint: String, status: u16, bytes: u64, items: u64, ru: u32) {
        self.requests += 1;
        *self
            .by_endpoint
            .entry(endpoint)
            .or_default()
            .entry(status)
            .or_default() += 1;
        *self.by_status.entry(status).or_default() += 1;
        self.bytes_sent += bytes;
        self.objects_served += items;
        self.resource_units += ru as u64;
        if status == 429 {
            self.throttled_429 += 1;
        }
    }
}

/// Replace id-like path segments by `{id}` so that stats group by endpoint.
pub fn endpoint_key(method: &str, path: &str) -> String {
    let segs: Vec<String> = path
        .split('/')
        .map(|s| {
            let looks_id = s.len() >= 20 && s.chars().any(|c| c.is_ascii_digit())
                || s.contains('@')
                || (s.contains('.')
                    && s.len() > 12
                    && !s.starts_with("v1")
                    && !s.contains("microsoft.graph"));
            if looks_id {
                "{id}".to_string()
            } else {
                s.to_string()
            }
        })
        .collect();
    format!("{method} {}", segs.join("/"))
}
