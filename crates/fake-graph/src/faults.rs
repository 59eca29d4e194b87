//! Injected faults: deterministic rules ("the next N requests under this prefix get X") and random
//! faults at given rates drawn from the seed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Random fault rates (0.0..=1.0 per request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultRates {
    /// 500/502/503/504 with Graph bodies.
    pub server_error: f64,
    /// Connection dropped without a response.
    pub reset: f64,
    /// Body cut in the middle.
    pub truncate: f64,
    /// Response delayed by `slow_ms`.
    pub slow: f64,
    pub slow_ms: u64,
}

/// A deterministic rule, as posted to `POST /_fake/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultRule {
    /// Matches request paths starting with this (e.g. `/v1.0/users`); empty = all Graph paths.
    pub path_prefix: String,
    /// HTTP status to answer (429, 500, 502, 503, 504, ...).
    pub status: Option<u16>,
    /// `Retry-After` value for 429/503 (string, may be fractional); null = no header.
    pub retry_after: Option<String>,
    /// Drop the connection without a response.
    pub reset: bool,
    /// Send only part of the body.
    pub truncate: bool,
    /// Delay the response by this many milliseconds.
    pub delay_ms: Option<u64>,
    /// How many matching requests get the fault (default 1).
    pub count: Option<u64>,
    /// Alternatively a rate in 0..=1 applied forever (deterministic from the seed).
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Status(u16),
    Reset,
    Truncate,
}

#[derive(Debug, Default)]
pub struct Faults {
    pub rules: Vec<(FaultRule, u64)>,
    pub rates: FaultRates,
}

/// What to do to one request.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    pub action: Option<Action>,
    pub retry_after: Option<String>,
    pub delay: Duration,
}

pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(r: u64) -> f64 {
    (r >> 11) as f64 / (1u64 << 53) as f64
}

impl Faults {
    pub fn decide(&mut self, path: &str, rand: u64) -> Decision {
        let mut d = Decision::default();
        for (rule, left) in self.rules.iter_mut() {
            if !path.starts_with(&rule.path_prefix) {
                continue;
            }
            let fire = match rule.rate {
                Some(rate) => unit(mix(rand, 1)) < rate,
                None => *left > 0,
            };
            if !fire {
                continue;
            }
            if rule.rate.is_none() {
                *left -= 1;
            }
            if let Some(ms) = rule.delay_ms {
                d.delay += Duration::from_millis(ms);
            }
            d.action = if rule.reset {
                Some(Action::Reset)
            } else if rule.truncate {
                Some(Action::Truncate)
            } else {
                rule.status.map(Action::Status)
            };
            d.retry_after = rule.retry_after.clone();
            return d;
        }
        self.rules.retain(|(r, left)| r.rate.is_some() || *left > 0);
        let r = self.rates;
        if r.slow > 0.0 && unit(mix(rand, 2)) < r.slow {
            d.delay += Duration::from_millis(r.slow_ms.max(1));
        }
        if r.server_error > 0.0 && unit(mix(rand, 3)) < r.server_error {
            d.action = Some(Action::Status(
                [500, 502, 503, 504][(mix(rand, 4) % 4) as usize],
            ));
        } else if r.reset > 0.0 && unit(mix(rand, 5)) < r.reset {
            d.action = Some(Action::Reset);
        } else if r.truncate > 0.0 && unit(mix(rand, 6)) < r.truncate {
            d.action = Some(Action::Truncate);
        }
        d
    }
}

/// Graph bodies for injected statuses; a 429 carries `throttle` (scope, information) as a natural
/// one would, or a generic scope when the request names no caller.
pub fn status_response(
    status: u16,
    retry_after: Option<&str>,
    throttle: Option<(String, &str)>,
) -> crate::state::Resp {
    use crate::errors;
    let mut r = match status {
        429 => {
            let (scope, info) = throttle.unwrap_or_else(|| {
                (
                    "Tenant_Application/Read".to_string(),
                    "ResourceUnitLimitExceeded",
                )
            });
            errors::throttled(None, &scope, info)
        }
        500 => errors::graph(
            500,
            "generalException",
            "General exception while processing.",
        ),
        502 => errors::graph(502, "BadGateway", "Bad Gateway"),
        503 => errors::graph(
            503,
            "serviceNotAvailable",
            "The service is temporarily unavailable for maintenance or is overloaded. You may repeat the request after a delay, the length of which may be specified in a Retry-After header.",
        ),
        504 => errors::graph(
            504,
            "GatewayTimeout",
            "The gateway did not receive a timely response from the upstream server.",
        ),
        s => errors::graph(s, "UnknownError", "Injected fault."),
    };
    if let Some(ra) = retry_after {
        r = r.header("retry-after", ra);
    }
    r
}
