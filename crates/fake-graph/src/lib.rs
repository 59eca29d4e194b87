//! fake-graph: a synthetic Entra tenant served behind Microsoft Graph's API.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let server = fake_graph::start(fake_graph::Config::new(fake_graph::Profile::Tiny, 1)).await?;
//! println!("{}", server.info.graph_url); // GET {graph_url}/v1.0/users with a token from server.info.token_url
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout: `registry.rs` has one entry per resource (its endpoints, schema, relationships and
//! mutations), `tenant/` generates the data, `server.rs` accepts connections and applies latency and
//! faults, `graph.rs` routes Graph requests (with `odata.rs`, `delta.rs`, `batch.rs`), `auth.rs`
//! is the token endpoint and bearer check, `throttle.rs` the published limits, `admin.rs` the
//! `/_fake/...` operator API, `mutate.rs` the deterministic tenant changes and `audit.rs` the
//! directory audit events they write.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod delta;
pub mod errors;
pub mod faults;
pub mod fill;
pub mod graph;
pub mod identity;
pub mod mutate;
pub mod odata;
pub mod registry;
pub mod routes;
pub mod schema;
pub mod server;
pub mod state;
pub mod stats;
pub mod tenant;
pub mod throttle;
pub mod token;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use faults::{FaultRates, FaultRule};
pub use server::{Server, start};
pub use tenant::{Counts, Profile};

/// Tenant licences; a missing one makes Graph answer with its licence errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Licences {
    /// Entra ID P1: sign-in logs, signInActivity, risk detections.
    pub p1: bool,
    /// Entra ID P2: risky users / service principals, PIM.
    pub p2: bool,
    /// Intune: deviceManagement endpoints.
    pub intune: bool,
}

impl Default for Licences {
    fn default() -> Self {
        Licences {
            p1: true,
            p2: true,
            intune: true,
        }
    }
}

/// Latency model: every response goes out `base + per_item * items` after its request came in
/// (the time spent building it included), scaled by a jitter factor drawn (from the seed)
/// uniformly in `[1 - jitter, 1 + jitter]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub base: Duration,
    pub per_item: Duration,
    pub jitter: f64,
}

/// Configuration of a simulator instance.
#[derive(Debug, Clone)]
pub struct Config {
    pub profile: Profile,
    pub seed: u64,
    /// 0 = any free port. The server binds 127.0.0.1 only.
    pub port: u16,
    /// Lifetime of issued access tokens (`expires_in`); default 3599 s.
    pub token_lifetime: Duration,
    /// Graph's published throttling; default on only for `Large`.
    pub throttling: bool,
    pub latency: Latency,
    /// Random faults at given rates (deterministic from the seed).
    pub faults: FaultRates,
    pub licences: Licences,
    /// Anchor time of the generated data (logs span the days before it); default: now.
    pub now: Option<DateTime<Utc>>,
    /// How long an `@odata.nextLink` page token stays valid; default 1 hour.
    pub page_token_lifetime: Duration,
    /// Objects per delta page.
    pub delta_page_size: usize,
    /// Maximum `members@delta` entries per page; a bigger group is split over several pages.
    pub delta_members_per_page: usize,
    /// Delta tokens older than this give `syncStateNotFound` (Graph: 7 days).
    pub delta_token_lifetime: Duration,
    /// Ingestion delay of `/auditLogs/directoryAudits`: an entry is served only once this much time
    /// has passed since its `activityDateTime` (Microsoft documents minutes; default zero).
    pub audit_delay: Duration,
    /// The same for `/auditLogs/signIns` and `createdDateTime`.
    pub signin_delay: Duration,
    /// Tenants served by this one server (at least 1); tenant `i` is generated from
    /// `seed + i`, so each has its own ids, domain, app, data and throttle budget.
    pub tenants: usize,
}

impl Config {
    pub fn new(profile: Profile, seed: u64) -> Self {
        Config {
            profile,
            seed,
            port: 0,
            token_lifetime: Duration::from_secs(3599),
            throttling: matches!(profile, Profile::Large),
            latency: Latency::default(),
            faults: FaultRates::default(),
            licences: Licences::default(),
            now: None,
            page_token_lifetime: Duration::from_secs(3600),
            delta_page_size: 100,
            delta_members_per_page: 100,
            delta_token_lifetime: Duration::from_secs(7 * 86_400),
            audit_delay: Duration::ZERO,
            signin_delay: Duration::ZERO,
            tenants: 1,
        }
    }

    /// Serve `n` tenants (see [`Config::tenants`]); [`Server::tenants`] lists them.
    pub fn tenants(mut self, n: usize) -> Self {
        self.tenants = n.max(1);
        self
    }
}

/// What a client needs to connect; the CLI prints it as one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerInfo {
    /// e.g. `http://127.0.0.1:PORT`; Graph is under `{graph_url}/v1.0` and `{graph_url}/beta`.
    pub graph_url: String,
    /// Authority host; the token endpoint is `{login_url}/{tenant}/oauth2/v2.0/token`.
    pub login_url: String,
    pub token_url: String,
    pub tenant_id: String,
    pub tenant_domain: String,
    /// An application granted every application permission.
    pub client_id: String,
    pub client_secret: String,
    /// Operator API (`/_fake/...`).
    pub admin_url: String,
    pub profile: Profile,
    pub seed: u64,
}
