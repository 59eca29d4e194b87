//! One throttle shared by every task, pacing each Graph limit family from its published budget so
//! that a steady sync spends the budget without meeting 429s, and a 429 with Retry-After pauses
//! every request that would hit the same limit.
//!
//! Each family is paced by a sliding-window log: a request goes when the units sent in the last
//! window plus its own fit the budget. That never exceeds the budget over any window, whether
//! Graph counts in fixed windows or as a token bucket, and it spends the whole budget: a request
//! waits only for units to leave the window, never for a fixed slot.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Graph's throttling families (graph-api.md §4): each has its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Users, groups, apps, …: resource units per 10 s per app and tenant.
    Identity,
    /// Sign-ins, audits, reports: 5 requests per 10 s.
    Reports,
    /// Identity protection and conditional access: 1 request per second, no Retry-After.
    IdentityProtection,
    /// Intune: 2,000 requests per 20 s.
    Intune,
}

/// The published budget of a family.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// Units (resource units or requests) per window.
    units: f64,
    window: Duration,
    /// Share of `units` planned for: the rest absorbs what this process cannot see (another app
    /// of the tenant, Graph's own rounding).
    share: f64,
    /// Added to the window: a request sent a window after another may arrive a little less than
    /// a window after it, as latency varies.
    slack: Duration,
}

impl Scope {
    pub fn of(path: &str) -> Scope {
        let p = path.to_ascii_lowercase();
        if p.contains("/auditlogs/") || p.contains("/reports/") {
            Scope::Reports
        } else if p.contains("/identityprotection/") || p.contains("/identity/conditionalaccess/") {
            Scope::IdentityProtection
        } else if p.contains("/devicemanagement/") {
            Scope::Intune
        } else {
            Scope::Identity
        }
    }

    fn budget(self) -> Budget {
        let slack = Duration::from_millis(60);
        match self {
            // The L-size tenant's budget (over 500 users): the tenants worth pacing. A smaller
            // tenant's first 429 lowers the pace to what it allows (`Throttle::pause`).
            Scope::Identity => Budget {
                units: 8000.0,
                window: Duration::from_secs(10),
                share: 0.95,
                slack,
            },
            Scope::Reports => Budget {
                units: 5.0,
                window: Duration::from_secs(10),
                share: 1.0,
                slack,
            },
            Scope::IdentityProtection => Budget {
                units: 1.0,
                window: Duration::from_secs(1),
                share: 1.0,
                slack,
            },
            Scope::Intune => Budget {
                units: 2000.0,
                window: Duration::from_secs(20),
                share: 0.95,
                slack,
            },
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    const ALL: [Scope; 4] = [
        Scope::Identity,
        Scope::Reports,
        Scope::IdentityProtection,
        Scope::Intune,
    ];
}

/// The resource units Graph documents for a GET of `path_and_query` (graph-api.md §4): the base
/// cost of the endpoint with the `$select` (−1), `$expand` (+1) and `$top` < 20 (−1) modifiers,
/// at least 1. Requests outside the identity family count 1.
pub fn estimated_units(path_and_query: &str) -> u32 {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    if Scope::of(path) != Scope::Identity {
        return 1;
    }
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .skip(1) // the version
        .collect();
    let base: i64 = match segments.as_slice() {
        ["users"] | ["applications"] | ["oauth2PermissionGrants"] => 2,
        ["users", _, "memberOf" | "transitiveMemberOf"] => 2,
        ["applications", _, "extensionProperties"] => 2,
        ["servicePrincipals", _, "appRoleAssignments"] => 2,
        ["groups", _, "members"] => 3,
        ["groups", _, "transitiveMembers"] => 5,
        ["subscribedSkus"] | ["contracts"] => 3,
        ["domains", _, "domainNameReferences"] => 4,
        _ => 1,
    };
    let mut cost = base;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "$select" => cost -= 1,
            "$expand" => cost += 1,
            "$top" if value.parse::<u32>().is_ok_and(|top| top < 20) => cost -= 1,
            _ => {}
        }
    }
    cost.max(1) as u32
}

/// One family's pacing state.
struct Family {
    budget: Budget,
    /// Units planned per window: the budget's share, lowered by 429s and recovering after.
    planned: f64,
    /// Requests sent within the last window: (when, units, ticket).
    sent: VecDeque<(Instant, f64, u64)>,
    in_window: f64,
    /// Nobody sends before this (a 429's Retry-After).
    paused_until: Option<Instant>,
    /// When the plan was last lowered, so that one burst of 429s lowers it once.
    lowered_at: Option<Instant>,
    next_ticket: u64,
}

impl Family {
    fn new(budget: Budget) -> Family {
        Family {
            budget,
            planned: budget.units * budget.share,
            sent: VecDeque::new(),
            in_window: 0.0,
            paused_until: None,
            lowered_at: None,
            next_ticket: 0,
        }
    }

    fn span(&self) -> Duration {
        self.budget.window + self.budget.slack
    }

    fn expire(&mut self, now: Instant) {
        let span = self.span();
        while let Some(&(at, units, _)) = self.sent.front() {
            if now.duration_since(at) < span {
                break;
            }
            self.in_window -= units;
            self.sent.pop_front();
        }
        if self.sent.is_empty() {
            self.in_window = 0.0;
        }
    }

    /// Claims `units` now, or says when to ask again. Requests that do not lead a chain of pages
    /// leave a tenth of the plan to those that do.
    fn try_claim(&mut self, units: f64, leading: bool, now: Instant) -> Result<u64, Instant> {
        let planned = if leading {
            self.planned
        } else {
            self.planned * (1.0 - LEAD_RESERVE)
        };
        if let Some(until) = self.paused_until {
            if until > now {
                return Err(until);
            }
            self.paused_until = None;
        }
        self.expire(now);
        // A request larger than the whole plan still goes, alone in its window.
        if self.in_window + units <= planned || self.sent.is_empty() {
            let ticket = self.next_ticket;
            self.next_ticket += 1;
            self.sent.push_back((now, units, ticket));
            self.in_window += units;
            self.recover(now);
            return Ok(ticket);
        }
        // The earliest moment enough units have left the window.
        let mut left = self.in_window + units - planned;
        for &(at, sent, _) in &self.sent {
            left -= sent;
            if left <= 0.0 {
                return Err(at + self.span());
            }
        }
        Err(now + self.span())
    }

    /// A window without a 429 wins back a twentieth of the budget's share.
    fn recover(&mut self, now: Instant) {
        let full = self.budget.units * self.budget.share;
        if let Some(at) = self.lowered_at
            && now.duration_since(at) >= self.budget.window
            && self.planned < full
        {
            self.planned = (self.planned + full / 20.0).min(full);
            self.lowered_at = Some(now);
        }
    }
}

/// Share of a family's plan only requests that lead a chain of pages may use: a top-level
/// table's next page (a long delta chain is a sync's critical path) never queues behind the
/// thousands of per-parent reads.
const LEAD_RESERVE: f64 = 0.1;

pub struct Throttle {
    families: [tokio::sync::Mutex<()>; 4],
    state: std::sync::Mutex<Vec<Family>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::with_clock(1)
    }
}

/// A claim on a family's budget, to be corrected by what Graph says the request cost.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    scope: Scope,
    ticket: u64,
}

impl Throttle {
    /// The published budgets with windows `speedup` times shorter (tests run windows of
    /// seconds in milliseconds).
    fn with_clock(speedup: u32) -> Throttle {
        let budget = |scope: Scope| {
            let b = scope.budget();
            Budget {
                window: b.window / speedup,
                slack: b.slack / speedup,
                ..b
            }
        };
        Throttle {
            families: Default::default(),
            state: std::sync::Mutex::new(
                Scope::ALL.iter().map(|s| Family::new(budget(*s))).collect(),
            ),
        }
    }

    /// Waits until this family's budget has room for `units`, claims them, and returns the claim
    /// and how long it waited. Waiters of a family queue in order of arrival, except `leading`
    /// ones (the next page of a top-level table), which go ahead within their reserve.
    pub async fn wait(&self, scope: Scope, units: u32, leading: bool) -> (Claim, Duration) {
        let start = Instant::now();
        // One waiter per family looks at the budget at a time; the rest queue behind it.
        let _turn = match leading {
            true => None,
            false => Some(self.families[scope.index()].lock().await),
        };
        loop {
            let now = Instant::now();
            let next = {
                let mut families = self.state.lock().expect("not poisoned");
                families[scope.index()].try_claim(units as f64, leading, now)
            };
            match next {
                Ok(ticket) => return (Claim { scope, ticket }, start.elapsed()),
                Err(at) => tokio::time::sleep_until(at).await,
            }
        }
    }

    /// Corrects a claim with the units Graph reported (`x-ms-resource-unit`).
    pub fn settle(&self, claim: Claim, units: u32) {
        let mut families = self.state.lock().expect("not poisoned");
        let family = &mut families[claim.scope.index()];
        if let Some(entry) = family.sent.iter_mut().rev().find(|e| e.2 == claim.ticket) {
            family.in_window += units as f64 - entry.1;
            entry.1 = units as f64;
        }
    }

    /// After a 429: nobody in this family sends again before `delay` has passed, and the pace is
    /// lowered (once per window), since the budget is smaller than planned or shared.
    pub fn pause(&self, scope: Scope, delay: Duration) {
        let now = Instant::now();
        let until = now + delay;
        let mut families = self.state.lock().expect("not poisoned");
        let family = &mut families[scope.index()];
        if family.paused_until.is_none_or(|s| s < until) {
            family.paused_until = Some(until);
        }
        let recently = family
            .lowered_at
            .is_some_and(|at| now.duration_since(at) < family.budget.window);
        // Requests-per-window families are exact already: a 429 there is someone else's traffic
        // or latency, which the pause covers.
        if !recently && family.budget.units > 10.0 {
            family.planned = (family.planned * 0.7).max(family.budget.units / 100.0);
            family.lowered_at = Some(now);
        }
    }

    /// Units planned per window for a family now (for tests and the summary).
    pub fn planned(&self, scope: Scope) -> f64 {
        self.state.lock().expect("not poisoned")[scope.index()].planned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_the_published_families() {
        assert_eq!(Scope::of("/v1.0/users"), Scope::Identity);
        assert_eq!(Scope::of("/v1.0/auditLogs/signIns"), Scope::Reports);
        assert_eq!(
            Scope::of("/v1.0/identity/conditionalAccess/policies"),
            Scope::IdentityProtection
        );
        assert_eq!(
            Scope::of("/beta/deviceManagement/managedDevices"),
            Scope::Intune
        );
    }

    #[test]
    fn units_follow_the_documented_costs_and_modifiers() {
        assert_eq!(estimated_units("/v1.0/users?$top=999"), 2);
        assert_eq!(estimated_units("/v1.0/users?$select=id&$top=999"), 1);
        assert_eq!(estimated_units("/v1.0/groups/g1/members?$select=id"), 2);
        assert_eq!(estimated_units("/v1.0/groups/g1/transitiveMembers"), 5);
        assert_eq!(estimated_units("/v1.0/groups/g1/members?$top=5"), 2);
        assert_eq!(estimated_units("/v1.0/groups?$expand=members"), 2);
        assert_eq!(estimated_units("/v1.0/devices?$select=id"), 1);
        assert_eq!(estimated_units("/v1.0/auditLogs/signIns?$top=1000"), 1);
    }

    #[tokio::test]
    async fn log_requests_go_five_per_window() {
        let t = Throttle::with_clock(100);
        for _ in 0..5 {
            assert!(t.wait(Scope::Reports, 1, true).await.1 < Duration::from_millis(5));
        }
        // The sixth waits for the first to leave the window (10 s, here 100 ms).
        let waited = t.wait(Scope::Reports, 1, true).await.1;
        assert!(waited >= Duration::from_millis(95), "{waited:?}");
    }

    #[tokio::test]
    async fn identity_units_never_exceed_the_planned_share_of_any_window() {
        let t = Throttle::with_clock(100);
        let start = Instant::now();
        let mut sent: Vec<(Duration, u32)> = Vec::new();
        for i in 0..3000u32 {
            let units = 1 + i % 5;
            t.wait(Scope::Identity, units, false).await;
            sent.push((start.elapsed(), units));
        }
        let span = Duration::from_millis(100);
        for (i, &(at, _)) in sent.iter().enumerate() {
            let within: u32 = sent[i..]
                .iter()
                .take_while(|(t, _)| *t < at + span)
                .map(|(_, u)| u)
                .sum();
            assert!(
                within as f64 <= 8000.0 * 0.95,
                "{within} units in 10 s from {at:?}"
            );
        }
        // And the budget is spent: 9,000 units need just over one window.
        let total = sent.last().unwrap().0;
        assert!(total < Duration::from_millis(200), "{total:?}");
    }

    #[tokio::test]
    async fn a_leading_request_goes_ahead_of_queued_ones() {
        let t = std::sync::Arc::new(Throttle::with_clock(100));
        // Fill the share of requests that do not lead.
        let share = (8000.0 * 0.95 * 0.9) as u32;
        t.wait(Scope::Identity, share, false).await;
        let queued = tokio::spawn({
            let t = t.clone();
            async move { t.wait(Scope::Identity, 1, false).await.1 }
        });
        tokio::task::yield_now().await;
        let lead = t.wait(Scope::Identity, 1, true).await.1;
        assert!(lead < Duration::from_millis(5), "{lead:?}");
        assert!(queued.await.unwrap() >= Duration::from_millis(95));
    }

    #[tokio::test]
    async fn a_429_pauses_the_family_and_lowers_its_pace_once() {
        let t = Throttle::with_clock(100);
        let full = t.planned(Scope::Identity);
        t.pause(Scope::Identity, Duration::from_millis(150));
        t.pause(Scope::Identity, Duration::from_millis(150));
        assert_eq!(t.planned(Scope::Identity), full * 0.7);
        let waited = t.wait(Scope::Identity, 1, false).await.1;
        assert!(waited >= Duration::from_millis(140), "{waited:?}");
        // Another family is not held.
        assert!(t.wait(Scope::Intune, 1, false).await.1 < Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_claim_is_corrected_by_the_reported_units() {
        let t = Throttle::with_clock(100);
        let (claim, _) = t.wait(Scope::Identity, 1, false).await;
        t.settle(claim, 5);
        let families = t.state.lock().unwrap();
        assert_eq!(families[Scope::Identity.index()].in_window, 5.0);
    }
}
