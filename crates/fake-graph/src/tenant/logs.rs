//! Lazily generated log streams. Entry `i` is a pure function of (seed, i) and the context captured
//! when the stream was created, and timestamps are monotonic in `i`, so a time-window `$filter` is a
//! binary search and a million sign-ins take no memory.
//!
//! A stream can also hold explicit entries (the directory audit events that mutations write): each is
//! a one-entry segment holding the stored object, appended at a timestamp no earlier than the end of
//! the stream, so the whole stream stays ordered by time and indexes stay stable.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::fill::{CITIES, Filler, Obj};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    SignIn,
    Audit,
}

#[derive(Debug, Clone)]
pub struct Segment {
    pub first: u64,
    pub count: u64,
    pub start_ms: i64,
    pub end_ms: i64,
    /// An explicit entry (count 1, timestamp `start_ms`) instead of generated ones.
    pub fixed: Option<Box<Obj>>,
}

/// Who and what log entries refer to.
#[derive(Debug, Default)]
pub struct LogContext {
    pub tenant_id: String,
    pub domain: String,
    /// (id, displayName, userPrincipalName)
    pub users: Vec<(String, String, String)>,
    /// (appId, displayName, servicePrincipalId)
    pub apps: Vec<(String, String, String)>,
    /// (id, displayName)
    pub ca_policies: Vec<(String, String)>,
    /// (id, displayName) of groups, for audit targets
    pub groups: Vec<(String, String)>,
}

pub struct LogStore {
    pub kind: LogKind,
    pub seed: u64,
    pub segments: Vec<Segment>,
    pub ctx: Arc<LogContext>,
    /// Fill every property (tiny profile) or leave some optional ones unset.
    pub dense: bool,
    /// Number of explicit entries (see [`LogStore::push`]).
    pub fixed: u64,
}

fn mix(a: u64, b: u64) -> u64 {
    // splitmix64 of a^b: a cheap, well-distributed per-entry hash.
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A log timestamp as Graph writes sign-ins' and audits' times: 7 fractional digits. The store keeps
/// milliseconds; the digits below them are drawn from the millisecond, so that entries of one
/// millisecond share one instant and the stream stays ordered.
pub fn log_ts(ms: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    let below_ms = mix(ms as u64, 7) % 10_000;
    format!("{}{below_ms:04}Z", t.format("%Y-%m-%dT%H:%M:%S%.3f"))
}

impl LogStore {
    pub fn new(kind: LogKind, seed: u64, ctx: Arc<LogContext>, dense: bool) -> Self {
        LogStore {
            kind,
            seed,
            segments: Vec::new(),
            ctx,
            dense,
            fixed: 0,
        }
    }

    pub fn total(&self) -> u64 {
        self.segments.last().map(|s| s.first + s.count).unwrap_or(0)
    }

    pub fn append(&mut self, count: u64, start: DateTime<Utc>, end: DateTime<Utc>) {
        if count == 0 {
            return;
        }
        let first = self.total();
        let start_ms = self
            .segments
            .last()
            .map(|s| s.end_ms)
            .unwrap_or(i64::MIN)
            .max(start.timestamp_millis());
        let end_ms = end.timestamp_millis().max(start_ms + 1);
        self.segments.push(Segment {
            first,
            count,
            start_ms,
            end_ms,
            fixed: None,
        });
    }

    /// The timestamp an entry written now gets: the wall clock, or the end of the stream if that is
    /// later, so that the stream stays ordered.
    pub fn next_ts_ms(&self, now_ms: i64) -> i64 {
        self.segments
            .last()
            .map(|s| s.end_ms)
            .unwrap_or(i64::MIN)
            .max(now_ms)
    }

    /// Append an explicit entry at `ts_ms` (clamped to [`LogStore::next_ts_ms`]); returns its index.
    pub fn push(&mut self, ts_ms: i64, entry: Obj) -> u64 {
        let first = self.total();
        let ts_ms = self.next_ts_ms(ts_ms);
        self.segments.push(Segment {
            first,
            count: 1,
            start_ms: ts_ms,
            end_ms: ts_ms,
            fixed: Some(Box::new(entry)),
        });
        self.fixed += 1;
        first
    }

    fn segment(&self, i: u64) -> &Segment {
        let idx = self.segments.partition_point(|s| s.first + s.count <= i);
        &self.segments[idx.min(self.segments.len() - 1)]
    }

    pub fn ts_ms(&self, i: u64) -> i64 {
        let s = self.segment(i);
        if s.fixed.is_some() {
            return s.start_ms;
        }
        let k = (i - s.first) as i128;
        let span = (s.end_ms - s.start_ms) as i128;
        let base = s.start_ms as i128 + span * k / s.count as i128;
        let slot = (span / s.count as i128) as u64;
        let jitter = if slot > 1 {
            mix(self.seed, i) % slot
        } else {
            0
        };
        base as i64 + jitter as i64
    }

    /// Index range `[lo, hi)` of entries whose timestamp satisfies the bounds (ms, inclusive flags).
    pub fn range(&self, from: Option<(i64, bool)>, to: Option<(i64, bool)>) -> (u64, u64) {
        let total = self.total();
        let pp = |pred: &dyn Fn(i64) -> bool| {
            // first index where pred(ts) is false, pred monotone true→false
            let (mut lo, mut hi) = (0u64, total);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if pred(self.ts_ms(mid)) {
                    lo = mid + 1
                } else {
                    hi = mid
                }
            }
            lo
        };
        let lo = match from {
            Some((f, true)) => pp(&|t| t < f),
            Some((f, false)) => pp(&|t| t <= f),
            None => 0,
        };
        let hi = match to {
            Some((t0, true)) => pp(&|t| t <= t0),
            Some((t0, false)) => pp(&|t| t < t0),
            None => total,
        };
        (lo, hi.max(lo))
    }

    pub fn get(&self, i: u64) -> Obj {
        if let Some(o) = &self.segment(i).fixed {
            return (**o).clone();
        }
        let t = Utc
            .timestamp_millis_opt(self.ts_ms(i))
            .single()
            .unwrap_or_else(Utc::now);
        let mut f = Filler {
            rng: ChaCha8Rng::seed_from_u64(mix(self.seed, i)),
            now: t,
            domain: self.ctx.domain.clone(),
            density: if self.dense { 1.0 } else { 0.5 },
        };
        match self.kind {
            LogKind::SignIn => self.signin(&mut f, t, i),
            LogKind::Audit => self.audit(&mut f, t, i),
        }
    }

    fn signin(&self, f: &mut Filler, t: DateTime<Utc>, i: u64) -> Obj {
        let c = &self.ctx;
        let (uid, uname, upn) =
            c.users[(mix(self.seed ^ 1, i) % c.users.len() as u64) as usize].clone();
        let (app_id, app_name, sp_id) =
            c.apps[(mix(self.seed ^ 2, i) % c.apps.len() as u64) as usize].clone();
        let failed = f.chance(0.12);
        let (city, state, country, lat, lon) = *f.pick(CITIES);
        let risky = self.dense && i % 7 == 3 || f.chance(0.03);
        let interactive = f.chance(0.6);
        let os = f
            .pick(&[
                "Windows 10",
                "Windows 11",
                "MacOs",
                "Ios",
                "Android",
                "Linux",
            ])
            .to_string();
        let browser = f.pick(&[
            "Edge 120.0.0",
            "Chrome 121.0.0",
            "Safari 17.2",
            "Firefox 122.0",
            "Rich Client 4.61.0.0",
        ]);
        let mut policies = Vec::new();
        for (pid, pname) in c.ca_policies.iter().take(2) {
            policies.push(json!({
                "id": pid, "displayName": pname,
                "enforcedGrantControls": ["Mfa"], "enforcedSessionControls": ["SignInFrequency"],
                "result": if failed { "failure" } else { *f.pick(&["success", "notApplied", "notEnabled"]) }
            }));
        }
        let mut o = Obj::new();
        o.insert("id".into(), Value::String(f.uuid()));
        o.insert(
            "createdDateTime".into(),
            Value::String(log_ts(t.timestamp_millis())),
        );
        o.insert("userDisplayName".into(), Value::String(uname));
        o.insert("userPrincipalName".into(), Value::String(upn));
        o.insert("userId".into(), Value::String(uid));
        o.insert("appId".into(), Value::String(app_id));
        o.insert("appDisplayName".into(), Value::String(app_name.clone()));
        o.insert("ipAddress".into(), Value::String(f.ip()));
        o.insert(
            "clientAppUsed".into(),
            json!(if interactive {
                "Browser"
            } else {
                "Mobile Apps and Desktop clients"
            }),
        );
        o.insert("correlationId".into(), Value::String(f.uuid()));
        o.insert(
            "conditionalAccessStatus".into(),
            json!(if failed {
                "failure"
            } else if policies.is_empty() {
                "notApplied"
            } else {
                "success"
            }),
        );
        o.insert("isInteractive".into(), json!(interactive));
        o.insert(
            "riskDetail".into(),
            json!(if risky {
                "adminConfirmedSigninSafe"
            } else {
                "none"
            }),
        );
        o.insert(
            "riskLevelAggregated".into(),
            json!(if risky { "medium" } else { "none" }),
        );
        o.insert(
            "riskLevelDuringSignIn".into(),
            json!(if risky { "low" } else { "none" }),
        );
        o.insert(
            "riskState".into(),
            json!(if risky { "atRisk" } else { "none" }),
        );
        o.insert(
            "riskEventTypes".into(),
            if risky {
                json!(["unfamiliarFeatures"])
            } else {
                json!([])
            },
        );
        o.insert(
            "riskEventTypes_v2".into(),
            if risky {
                json!(["unfamiliarFeatures"])
            } else {
                json!([])
            },
        );
        o.insert("resourceDisplayName".into(), json!("Microsoft Graph"));
        o.insert(
            "resourceId".into(),
            json!("00000003-0000-0000-c000-000000000000"),
        );
        o.insert("resourceTenantId".into(), json!(c.tenant_id));
        o.insert("homeTenantId".into(), json!(c.tenant_id));
        o.insert(
            "servicePrincipalId".into(),
            if interactive {
                Value::Null
            } else {
                json!(sp_id)
            },
        );
        o.insert(
            "servicePrincipalName".into(),
            if interactive {
                Value::Null
            } else {
                json!(app_name)
            },
        );
        if self.dense && i.is_multiple_of(5) {
            o.insert("servicePrincipalId".into(), json!(sp_id));
            o.insert("servicePrincipalName".into(), json!(app_name));
        }
        o.insert(
            "status".into(),
            if failed {
                json!({"errorCode": 50126, "failureReason": "Error validating credentials due to invalid username or password.", "additionalDetails": "The user didn't enter the right credentials."})
            } else {
                json!({"errorCode": 0, "failureReason": "Other.", "additionalDetails": "MFA requirement satisfied by claim in the token"})
            },
        );
        let device_id = if f.chance(0.5) || self.dense {
            f.uuid()
        } else {
            String::new()
        };
        o.insert(
            "deviceDetail".into(),
            json!({"deviceId": device_id, "displayName": format!("DESKTOP-{:05}", f.range(0, 99999)), "operatingSystem": os,
                   "browser": browser, "isCompliant": f.chance(0.7), "isManaged": f.chance(0.7),
                   "trustType": f.pick(&["Azure AD joined", "Hybrid Azure AD joined", "Azure AD registered"])}),
        );
        o.insert(
            "location".into(),
            json!({"city": city, "state": state, "countryOrRegion": country,
                   "geoCoordinates": {"altitude": null, "latitude": lat, "longitude": lon}}),
        );
        if self.dense
            && let Some(g) = o
                .get_mut("location")
                .and_then(|l| l.get_mut("geoCoordinates"))
        {
            g["altitude"] = json!(f.range(0, 300) as f64);
        }
        o.insert(
            "appliedConditionalAccessPolicies".into(),
            Value::Array(policies),
        );
        o.insert(
            "authenticationAppDeviceDetails".into(),
            if self.dense || f.chance(0.1) {
                json!({"appVersion": "6.2401.0119", "clientApp": "Microsoft Authenticator", "deviceId": f.uuid(), "operatingSystem": "iOS 17.2"})
            } else {
                Value::Null
            },
        );
        o.insert(
            "userAgent".into(),
            json!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36"),
        );
        let _ = f.rng.random::<u8>();
        o
    }

    fn audit(&self, f: &mut Filler, t: DateTime<Utc>, i: u64) -> Obj {
        const ACTS: &[(&str, &str, &str, &str)] = &[
            ("Add user", "UserManagement", "Add", "User"),
            ("Update user", "UserManagement", "Update", "User"),
            ("Delete user", "UserManagement", "Delete", "User"),
            ("Add member to group", "GroupManagement", "Assign", "Group"),
            (
                "Remove member from group",
                "GroupManagement",
                "Unassign",
                "Group",
            ),
            (
                "Update application",
                "ApplicationManagement",
                "Update",
                "Application",
            ),
            (
                "Add service principal",
                "ApplicationManagement",
                "Add",
                "ServicePrincipal",
            ),
            ("Update policy", "Policy", "Update", "Policy"),
            ("Add member to role", "RoleManagement", "Assign", "Role"),
            ("Reset user password", "UserManagement", "Update", "User"),
        ];
        let c = &self.ctx;
        let (act, cat, op, ttype) = ACTS[(mix(self.seed ^ 3, i) % ACTS.len() as u64) as usize];
        let (uid, uname, upn) =
            c.users[(mix(self.seed ^ 4, i) % c.users.len() as u64) as usize].clone();
        let (aid, aname, spid) =
            c.apps[(mix(self.seed ^ 5, i) % c.apps.len() as u64) as usize].clone();
        let by_app = f.chance(0.3);
        let failed = f.chance(0.05);
        let target = if ttype == "Group" && !c.groups.is_empty() {
            let (gid, gname) = &c.groups[(mix(self.seed ^ 6, i) % c.groups.len() as u64) as usize];
            json!({"id": gid, "displayName": gname, "type": "Group", "userPrincipalName": null, "groupType": "unifiedGroups",
                   "modifiedProperties": [{"displayName": "Group.DisplayName", "oldValue": null, "newValue": format!("[\"{gname}\"]")}]})
        } else {
            json!({"id": uid, "displayName": uname, "type": ttype, "userPrincipalName": upn,
                   "groupType": if self.dense { json!("azureAD") } else { Value::Null },
                   "modifiedProperties": [{"displayName": "AccountEnabled", "oldValue": "[false]", "newValue": "[true]"},
                                          {"displayName": "Included Updated Properties", "oldValue": null, "newValue": "\"AccountEnabled\""}]})
        };
        let ip = f.ip();
        let mut o = Obj::new();
        // Audit ids are opaque strings, not GUIDs.
        o.insert(
            "id".into(),
            json!(format!("Directory_{}_{:08X}", f.uuid().to_uppercase(), i)),
        );
        o.insert("category".into(), json!(cat));
        o.insert("correlationId".into(), json!(f.uuid()));
        o.insert(
            "result".into(),
            json!(if failed { "failure" } else { "success" }),
        );
        o.insert(
            "resultReason".into(),
            json!(if failed {
                "Microsoft.Online.Workflows.ObjectAlreadyExistsException"
            } else {
                ""
            }),
        );
        o.insert("activityDisplayName".into(), json!(act));
        o.insert(
            "activityDateTime".into(),
            json!(log_ts(t.timestamp_millis())),
        );
        o.insert("loggedByService".into(), json!("Core Directory"));
        o.insert("operationType".into(), json!(op));
        let (app, user) = if by_app || (self.dense && i.is_multiple_of(4)) {
            (
                json!({"appId": aid, "displayName": aname, "servicePrincipalId": spid, "servicePrincipalName": aname}),
                Value::Null,
            )
        } else {
            (
                Value::Null,
                json!({"id": uid, "displayName": null, "userPrincipalName": upn, "ipAddress": ip}),
            )
        };
        let (app, user) = if self.dense && i % 4 == 1 {
            (
                json!({"appId": aid, "displayName": aname, "servicePrincipalId": spid, "servicePrincipalName": aname}),
                json!({"id": uid, "displayName": "Admin", "userPrincipalName": upn, "ipAddress": ip}),
            )
        } else {
            (app, user)
        };
        o.insert("initiatedBy".into(), json!({"app": app, "user": user}));
        o.insert("targetResources".into(), json!([target]));
        o.insert(
            "additionalDetails".into(),
            json!([{"key": "User-Agent", "value": "Microsoft Azure Graph Client Library 1.0"}]),
        );
        o
    }
}
