//! The operator API under `/_fake/...` (a path Graph never uses). JSON in and out, no auth. Each
//! operation is also a plain function on [`State`] so that in-process tests can call it directly.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::{AppReg, CertInfo, TrustedSubject};
use crate::faults::{FaultRates, FaultRule};
use crate::state::{Req, Resp, State};
use crate::{Latency, Licences, mutate};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewApp {
    pub permissions: Vec<String>,
    pub certificate_pem: Option<String>,
    pub display_name: Option<String>,
    /// Subject name + issuer authentication (see [`TrustedSubject`]).
    pub trusted_subject: Option<NewTrustedSubject>,
}

#[derive(Debug, Deserialize)]
pub struct NewTrustedSubject {
    /// e.g. `CN=app.contoso.com`, as X.509 prints the certificate's subject.
    pub subject: String,
    pub issuer_certificate_pem: String,
}

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct AppCredentials {
    pub client_id: String,
    pub client_secret: String,
}

pub fn register_app(state: &State, app: NewApp) -> anyhow::Result<AppCredentials> {
    let cert = match &app.certificate_pem {
        Some(p) => Some(CertInfo::from_pem(p)?),
        None => None,
    };
    let trusted_subject = match &app.trusted_subject {
        Some(t) => Some(TrustedSubject::new(&t.subject, &t.issuer_certificate_pem)?),
        None => None,
    };
    let r = state.next_rand();
    let client_id =
        uuid::Builder::from_random_bytes(r.to_le_bytes().repeat(2).try_into().unwrap_or([7u8; 16]))
            .into_uuid()
            .to_string();
    let secret = format!(
        "fg~{}",
        crate::token::seal(&state.key, r, &client_id)
            .chars()
            .take(34)
            .collect::<String>()
    );
    let reg = AppReg {
        client_id: client_id.clone(),
        client_secret: secret.clone(),
        display_name: app
            .display_name
            .unwrap_or_else(|| format!("test-app-{}", &client_id[..8])),
        permissions: app.permissions,
        cert,
        trusted_subject,
    };
    state.apps.write().unwrap().insert(client_id.clone(), reg);
    Ok(AppCredentials {
        client_id,
        client_secret: secret,
    })
}

/// Register a certificate on an existing app (e.g. the default one).
pub fn set_certificate(state: &State, client_id: &str, pem: &str) -> anyhow::Result<()> {
    let cert = CertInfo::from_pem(pem)?;
    let mut apps = state.apps.write().unwrap();
    let app = apps
        .get_mut(client_id)
        .ok_or_else(|| anyhow::anyhow!("unknown client_id {client_id}"))?;
    app.cert = Some(cert);
    Ok(())
}

pub fn add_fault(state: &State, rule: FaultRule) {
    let n = rule.count.unwrap_or(1);
    state.faults.lock().unwrap().rules.push((rule, n));
}

pub fn set_fault_rates(state: &State, rates: FaultRates) {
    state.faults.lock().unwrap().rates = rates;
}

pub fn clear_faults(state: &State) {
    let mut f = state.faults.lock().unwrap();
    f.rules.clear();
    f.rates = FaultRates::default();
}

pub fn mutate(state: &State, seed: u64, count: usize) -> mutate::Summary {
    let mut t = state.tenant.write().unwrap();
    mutate::apply(&mut t, seed, count)
}

/// Mutations with options (operations, fraction); an invalid option is an error message.
pub fn mutate_with(state: &State, opts: &mutate::Options) -> Result<mutate::Summary, String> {
    let mut t = state.tenant.write().unwrap();
    mutate::apply_with(&mut t, opts)
}

/// Ingestion delay of the audit and sign-in logs.
pub fn set_log_delay(state: &State, audit: Duration, signin: Duration) {
    state
        .audit_delay_ms
        .store(audit.as_millis() as u64, Ordering::Relaxed);
    state
        .signin_delay_ms
        .store(signin.as_millis() as u64, Ordering::Relaxed);
}

pub fn set_licences(state: &State, lic: Licences) {
    *state.licences.write().unwrap() = lic;
}

pub fn set_token_lifetime(state: &State, d: Duration) {
    state
        .token_lifetime_secs
        .store(d.as_secs().max(1), Ordering::Relaxed);
}

pub fn expire_page_tokens(state: &State) {
    state.page_epoch.fetch_add(1, Ordering::Relaxed);
}

/// Every delta token issued so far gives 400 syncStateNotFound.
pub fn expire_delta_tokens(state: &State) {
    let mut t = state.tenant.write().unwrap();
    let v = t.bump();
    state.delta_min_version.store(v, Ordering::Relaxed);
}

/// Every delta token issued so far gives 410 Gone + Location (a service-side sync reset).
pub fn reset_delta(state: &State) {
    let mut t = state.tenant.write().unwrap();
    let v = t.bump();
    state.delta_reset_version.store(v, Ordering::Relaxed);
}

pub fn stats(state: &State) -> Value {
    let s = state.stats.lock().unwrap().clone();
    let t = state.tenant.read().unwrap();
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    v["tenant_version"] = json!(t.version);
    v["objects"] = json!(t.object_count());
    // directory audit events written by mutations (served with the generated ones)
    v["audit_events"] = json!(t.audits.fixed);
    v
}

/// Child endpoints of the route table: (parent collection, path segment, child collection, by
/// resource), from `{parent}/{id}/{segment}` routes.
fn child_endpoints() -> impl Iterator<Item = (&'static str, &'static str, &'static str, bool)> {
    crate::routes::ROUTES.iter().filter_map(|r| match r.kind {
        crate::routes::Kind::Child(child, by_resource) => {
            let (parent, segment) = r.pattern.split_once("/{id}/")?;
            Some((parent, segment, child, by_resource))
        }
        _ => None,
    })
}

/// The ground truth tests compare a sync with, per collection:
/// - `ids`: its live objects (for a child collection: the children some endpoint serves);
/// - `rels`: each relationship as `[object id, related id]` pairs, exactly what
///   `/{collection}/{id}/{relationship}` serves (live related objects; `transitiveMembers` of
///   groups only with `transitive`, as it can be large);
/// - `children`: each child endpoint as `[parent id, child id]` pairs, exactly what
///   `/{collection}/{id}/{segment}` serves (appRoleAssignments, appRoleAssignedTo,
///   federatedIdentityCredentials, scopedMembers, groupLifecyclePolicies).
pub fn truth(state: &State, transitive: bool) -> Value {
    use std::collections::BTreeMap;
    let t = state.tenant.read().unwrap();
    let mut out = serde_json::Map::new();
    let mut served_children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut children: BTreeMap<&str, BTreeMap<&str, Vec<[&str; 2]>>> = BTreeMap::new();
    for (parent_coll, segment, child_coll, by_resource) in child_endpoints() {
        let pairs = children
            .entry(parent_coll)
            .or_default()
            .entry(segment)
            .or_default();
        let parents = t.coll(parent_coll);
        if by_resource {
            // one pass over the assignments rather than one scan per resource
            for a in t.coll(child_coll).items.values() {
                let Some(res) = a.str("resourceId") else {
                    continue;
                };
                if parents.get(res).is_some() && crate::graph::assignment_served(&t, a) {
                    pairs.push([res, a.id.as_str()]);
                    served_children.entry(child_coll).or_default().push(&a.id);
                }
            }
        } else {
            for parent in parents.items.values() {
                for c in crate::graph::served_children(&t, child_coll, &parent.id, false) {
                    pairs.push([parent.id.as_str(), c.id.as_str()]);
                    served_children.entry(child_coll).or_default().push(&c.id);
                }
            }
        }
        pairs.sort_unstable();
    }
    // /groups/{id}/groupLifecyclePolicies: every policy, for Microsoft 365 (Unified) groups
    let policies: Vec<&str> = t
        .coll("groupLifecyclePolicies")
        .items
        .values()
        .map(|i| i.id.as_str())
        .collect();
    let lifecycle = children
        .entry("groups")
        .or_default()
        .entry("groupLifecyclePolicies")
        .or_default();
    for g in t.coll("groups").items.values() {
        let unified = g
            .data
            .get("groupTypes")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "Unified"));
        if unified {
            lifecycle.extend(policies.iter().map(|p| [g.id.as_str(), *p]));
        }
    }
    lifecycle.sort_unstable();
    for (key, coll) in &t.colls {
        let mut ids: Vec<&str> = match served_children.remove(key) {
            Some(v) => v,
            None => coll.items.values().map(|i| i.id.as_str()).collect(),
        };
        ids.sort_unstable();
        ids.dedup();
        let mut rels: BTreeMap<String, Vec<[String; 2]>> = Default::default();
        for item in coll.items.values() {
            for (rel, related) in &item.rels {
                let pairs = rels.entry(rel.to_string()).or_default();
                for r in related {
                    if t.dir_object(r).is_some() {
                        pairs.push([item.id.clone(), r.clone()]);
                    }
                }
            }
            if transitive && *key == "groups" {
                let pairs = rels.entry("transitiveMembers".into()).or_default();
                for r in crate::graph::transitive_ids(&t, &item.id) {
                    if t.dir_object(&r).is_some() {
                        pairs.push([item.id.clone(), r]);
                    }
                }
            }
        }
        for pairs in rels.values_mut() {
            pairs.sort_unstable();
        }
        let mut entry = json!({ "ids": ids, "rels": rels });
        if let Some(c) = children.get(key) {
            entry["children"] = json!(c);
        }
        out.insert(key.to_string(), entry);
    }
    Value::Object(out)
}

fn ok(v: Value) -> Resp {
    Resp::json(200, &v)
}

fn err(status: u16, msg: &str) -> Resp {
    Resp::json(status, &json!({"error": msg}))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LogDelayReq {
    audit_ms: Option<u64>,
    signin_ms: Option<u64>,
}

#[derive(Deserialize)]
struct FaultsReq {
    #[serde(flatten)]
    rule: FaultRule,
    rates: Option<FaultRates>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LatencyReq {
    base_ms: u64,
    per_item_ms: f64,
    jitter: f64,
}

pub fn handle(state: &State, info: &crate::ServerInfo, req: &Req) -> Resp {
    let path = req.path.trim_start_matches("/_fake").trim_end_matches('/');
    let body = &req.body;
    macro_rules! parse {
        ($t:ty) => {
            match serde_json::from_slice::<$t>(if body.is_empty() { b"{}" } else { body }) {
                Ok(v) => v,
                Err(e) => return err(400, &format!("invalid JSON body: {e}")),
            }
        };
    }
    match (req.method.as_str(), path) {
        ("GET", "" | "/info") => ok(serde_json::to_value(info).unwrap_or_default()),
        ("GET", "/stats") => ok(stats(state)),
        ("GET", "/truth") => {
            let transitive = req
                .q("transitive")
                .is_some_and(|v| matches!(v, "1" | "true"));
            ok(truth(state, transitive))
        }
        ("DELETE", "/stats") => {
            *state.stats.lock().unwrap() = Default::default();
            ok(json!({"ok": true}))
        }
        ("POST", "/apps") => match register_app(state, parse!(NewApp)) {
            Ok(c) => ok(serde_json::to_value(c).unwrap_or_default()),
            Err(e) => err(400, &e.to_string()),
        },
        ("POST", "/faults") => {
            let f = parse!(FaultsReq);
            if let Some(r) = f.rates {
                set_fault_rates(state, r);
            }
            if f.rule.status.is_some()
                || f.rule.reset
                || f.rule.truncate
                || f.rule.delay_ms.is_some()
            {
                add_fault(state, f.rule);
            }
            ok(json!({"ok": true}))
        }
        ("DELETE", "/faults") => {
            clear_faults(state);
            ok(json!({"ok": true}))
        }
        ("POST", "/mutate") => match mutate_with(state, &parse!(mutate::Options)) {
            Ok(s) => ok(serde_json::to_value(s).unwrap_or_default()),
            Err(e) => err(400, &e),
        },
        ("GET", "/mutate/ops") => ok(json!(mutate::op_names())),
        ("POST", "/edit") => {
            let edits = parse!(Vec<mutate::Edit>);
            match mutate::edit(&mut state.tenant.write().unwrap(), &edits) {
                Ok(done) => ok(json!({"changes": done})),
                Err(e) => err(400, &e),
            }
        }
        ("POST", "/log_delay") => {
            let d = parse!(LogDelayReq);
            let cur = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            let audit = d.audit_ms.unwrap_or(cur(&state.audit_delay_ms));
            let signin = d.signin_ms.unwrap_or(cur(&state.signin_delay_ms));
            set_log_delay(
                state,
                Duration::from_millis(audit),
                Duration::from_millis(signin),
            );
            ok(json!({"audit_ms": audit, "signin_ms": signin}))
        }
        ("POST", "/licences" | "/licenses") => {
            let cur = state.licences();
            let mut v = serde_json::to_value(cur).unwrap_or_default();
            let patch: Value = parse!(Value);
            if let (Some(o), Some(p)) = (v.as_object_mut(), patch.as_object()) {
                for (k, val) in p {
                    o.insert(k.clone(), val.clone());
                }
            }
            match serde_json::from_value::<Licences>(v) {
                Ok(l) => {
                    set_licences(state, l);
                    ok(serde_json::to_value(l).unwrap_or_default())
                }
                Err(e) => err(400, &e.to_string()),
            }
        }
        ("POST", "/token_lifetime") => {
            let v: Value = parse!(Value);
            let Some(s) = v.get("seconds").and_then(Value::as_u64) else {
                return err(400, "expected {\"seconds\": N}");
            };
            set_token_lifetime(state, Duration::from_secs(s));
            ok(json!({"seconds": s}))
        }
        ("POST", "/throttling") => {
            let v: Value = parse!(Value);
            let on = v.get("enabled").and_then(Value::as_bool).unwrap_or(true);
            state.throttling.store(on, Ordering::Relaxed);
            ok(json!({"enabled": on}))
        }
        ("POST", "/latency") => {
            let l = parse!(LatencyReq);
            *state.latency.lock().unwrap() = Latency {
                base: Duration::from_millis(l.base_ms),
                per_item: Duration::from_secs_f64(l.per_item_ms.max(0.0) / 1000.0),
                jitter: l.jitter,
            };
            ok(json!({"ok": true}))
        }
        ("POST", "/page_tokens/expire") => {
            expire_page_tokens(state);
            ok(json!({"ok": true}))
        }
        ("POST", "/delta/expire") => {
            expire_delta_tokens(state);
            ok(json!({"ok": true}))
        }
        ("POST", "/delta/reset") => {
            reset_delta(state);
            ok(json!({"ok": true}))
        }
        _ => err(
            404,
            &format!("unknown admin endpoint {} /_fake{path}", req.method),
        ),
    }
}
