//! Size profiles.

use serde::{Deserialize, Serialize};

/// Object counts of a generated tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub users: usize,
    pub groups: usize,
    pub applications: usize,
    /// Service principals in all (one per application, the rest are first-party / gallery apps).
    pub service_principals: usize,
    pub devices: usize,
    pub signins: u64,
    pub audits: u64,
    pub ca_policies: usize,
    pub admin_units: usize,
    pub contacts: usize,
    pub managed_devices: usize,
    /// Days of log history.
    pub log_days: i64,
}

/// Size profile of the generated tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// About 20 users, yet every endpoint returns data and every documented property is set somewhere.
    Tiny,
    /// About 1,000 users.
    Small,
    /// 100,000 users, 20,000 groups, 1,000,000 sign-ins...
    Large,
    /// Explicit counts.
    Custom(Counts),
}

impl Profile {
    pub fn counts(&self) -> Counts {
        match *self {
            Profile::Tiny => Counts {
                users: 20,
                groups: 8,
                applications: 5,
                service_principals: 9,
                devices: 10,
                signins: 300,
                audits: 120,
                ca_policies: 5,
                admin_units: 2,
                contacts: 3,
                managed_devices: 6,
                log_days: 7,
            },
            Profile::Small => Counts {
                users: 1_000,
                groups: 200,
                applications: 60,
                service_principals: 100,
                devices: 400,
                signins: 20_000,
                audits: 5_000,
                ca_policies: 20,
                admin_units: 10,
                contacts: 50,
                managed_devices: 300,
                log_days: 7,
            },
            Profile::Large => Counts {
                users: 100_000,
                groups: 20_000,
                applications: 5_000,
                service_principals: 8_000,
                devices: 30_000,
                signins: 1_000_000,
                audits: 200_000,
                ca_policies: 50,
                admin_units: 100,
                contacts: 2_000,
                managed_devices: 20_000,
                log_days: 7,
            },
            Profile::Custom(c) => c,
        }
    }

    /// Probability that an optional property carries a value. Tiny fills everything so that every
    /// documented property is non-null somewhere; bigger tenants are sparser (and lighter).
    pub fn density(&self) -> f64 {
        match self {
            Profile::Tiny => 1.0,
            Profile::Small => 0.7,
            Profile::Large => 0.35,
            Profile::Custom(c) if c.users <= 50 => 1.0,
            Profile::Custom(_) => 0.6,
        }
    }

    pub fn parse(s: &str) -> Option<Profile> {
        match s.to_ascii_lowercase().as_str() {
            "tiny" => Some(Profile::Tiny),
            "small" => Some(Profile::Small),
            "large" => Some(Profile::Large),
            _ => None,
        }
    }
}
