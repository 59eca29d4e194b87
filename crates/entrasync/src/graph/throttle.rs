//! One throttle shared by every task: a 429 with Retry-After pauses every request that would hit
//! the same Graph limit, and the scopes with tiny published limits are paced up front.

use std::sync::Mutex;
use std::time::{Duration, Instant};

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

    /// The least spacing between two requests of this scope that stays within its limit.
    fn min_interval(self) -> Duration {
        match self {
            Scope::Reports => Duration::from_millis(2000),
            Scope::IdentityProtection => Duration::from_millis(1000),
            Scope::Intune => Duration::from_millis(10),
            Scope::Identity => Duration::ZERO,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Default)]
pub struct Throttle {
    /// Per scope: the instant before which nobody may send.
    next_slot: Mutex<[Option<Instant>; 4]>,
}

impl Throttle {
    /// Waits for this scope's turn and claims it; returns how long it waited.
    pub async fn wait(&self, scope: Scope) -> Duration {
        let start = Instant::now();
        let at = {
            let mut slots = self.next_slot.lock().expect("not poisoned");
            let slot = &mut slots[scope.index()];
            let at = slot.map_or(start, |s| s.max(start));
            let interval = scope.min_interval();
            if !interval.is_zero() {
                *slot = Some(at + interval);
            }
            at
        };
        if at > start {
            tokio::time::sleep_until(at.into()).await;
        }
        start.elapsed()
    }

    /// After a 429: nobody in this scope sends again before `delay` has passed.
    pub fn pause(&self, scope: Scope, delay: Duration) {
        let until = Instant::now() + delay;
        let mut slots = self.next_slot.lock().expect("not poisoned");
        let slot = &mut slots[scope.index()];
        if slot.is_none_or(|s| s < until) {
            *slot = Some(until);
        }
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

    #[tokio::test]
    async fn a_pause_holds_every_task_of_the_scope() {
        let t = Throttle::default();
        t.pause(Scope::Identity, Duration::from_millis(150));
        let waited = t.wait(Scope::Identity).await;
        assert!(waited >= Duration::from_millis(140), "{waited:?}");
        // Another scope is not held.
        assert!(t.wait(Scope::Intune).await < Duration::from_millis(50));
    }
}
