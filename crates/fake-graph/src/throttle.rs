//! Graph's published throttling (reference §4): identity resource units per 10 s per app+tenant by
//! tenant size, reports 5 requests / 10 s, identity protection + conditional access 1 request / s
//! per tenant (429 without Retry-After), Intune 2,000 requests / 20 s.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Identity and access: resource units.
    Identity,
    /// Sign-ins, audits, registration reports.
    Reports,
    /// Identity protection and conditional access.
    IpCa,
    Intune,
    None,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    used: u64,
}

#[derive(Debug, Default)]
pub struct Throttle {
    windows: HashMap<(String, Class), Window>,
}

pub struct Verdict {
    /// None = allowed; Some(retry_after) = throttled (retry_after None = no header).
    pub throttled: Option<Option<f64>>,
    pub scope: String,
    pub info: &'static str,
    /// Percentage of the budget used after this request (for x-ms-throttle-limit-percentage).
    pub used_ratio: f64,
}

/// RU quota per 10 s for the app+tenant pair by tenant size.
pub fn ru_quota(users: usize) -> u64 {
    if users < 50 {
        3_500
    } else if users <= 500 {
        5_000
    } else {
        8_000
    }
}

/// `x-ms-throttle-scope` and `x-ms-throttle-information` of a 429 in this class for an app in a
/// tenant (identity-protection and conditional-access limits are per tenant, for all apps).
pub fn detail(class: Class, app: &str, tenant: &str) -> (String, &'static str) {
    let scope = match class {
        Class::IpCa => format!("Tenant/Read/{app}/{tenant}"),
        _ => format!("Tenant_Application/Read/{app}/{tenant}"),
    };
    let info = if class == Class::Identity {
        "ResourceUnitLimitExceeded"
    } else {
        "RequestLimitExceeded"
    };
    (scope, info)
}

impl Throttle {
    pub fn check(
        &mut self,
        app: &str,
        tenant: &str,
        class: Class,
        cost: u64,
        users: usize,
    ) -> Verdict {
        let (limit, period, key_app) = match class {
            Class::Identity => (ru_quota(users), Duration::from_secs(10), app.to_string()),
            Class::Reports => (5, Duration::from_secs(10), app.to_string()),
            // per tenant, all apps
            Class::IpCa => (1, Duration::from_secs(1), String::new()),
            Class::Intune => (2_000, Duration::from_secs(20), app.to_string()),
            Class::None => {
                return Verdict {
                    throttled: None,
                    scope: String::new(),
                    info: "",
                    used_ratio: 0.0,
                };
            }
        };
        let units = if class == Class::Identity { cost } else { 1 };
        let now = Instant::now();
        let w = self.windows.entry((key_app, class)).or_insert(Window {
            start: now,
            used: 0,
        });
        if now.duration_since(w.start) >= period {
            w.start = now;
            w.used = 0;
        }
        let (scope, info) = detail(class, app, tenant);
        if w.used + units > limit {
            let left = period
                .saturating_sub(now.duration_since(w.start))
                .as_secs_f64();
            let retry = (left * 1000.0).ceil() / 1000.0;
            let ra = if class == Class::IpCa {
                None
            } else {
                Some(retry.max(0.001))
            };
            return Verdict {
                throttled: Some(ra),
                scope,
                info,
                used_ratio: 1.0,
            };
        }
        w.used += units;
        Verdict {
            throttled: None,
            scope,
            info,
            used_ratio: w.used as f64 / limit as f64,
        }
    }
}
