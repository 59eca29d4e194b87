//! Deterministic tenant mutations between syncs: create / update / soft-delete / hard-delete users,
//! groups, applications, service principals and devices; add and remove memberships, owners,
//! device registered owners, app role assignments and federated identity credentials; new sign-ins
//! and audits. Every change is written to the collection's change log (for delta) and, as Entra
//! does, to the directory audit log (see `audit.rs`).

use std::collections::{BTreeMap, HashSet};

use chrono::{Duration, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audit::{self, Writer};
use crate::fill::{DEPARTMENTS, Filler, TITLES};
use crate::tenant::directory::{app_role_assignment, gen_user};
use crate::tenant::{Change, Item, RemovedReason, Tenant};

#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub seed: u64,
    /// Operations asked for (`count`, or `fraction` × objects).
    pub requested: usize,
    pub applied: usize,
    /// operation -> count
    pub operations: BTreeMap<String, usize>,
    /// version of the tenant after the mutations
    pub version: u64,
    /// (collection, id, operation) of each change, in order. Relationship operations name the
    /// object holding the relationship (the group, application, service principal or device);
    /// app role assignments and federated identity credentials name the child object itself
    /// (collection `appRoleAssignments` / `federatedIdentityCredentials`).
    pub changes: Vec<(String, String, String)>,
    /// Directory audit events written.
    pub audit_events: usize,
}

/// What to mutate.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Options {
    /// Seed of the mutation stream (same tenant + same options = same changes).
    pub seed: u64,
    /// Number of operations to apply (default 10).
    pub count: Option<usize>,
    /// Instead of `count`: this fraction of the tenant's users, groups, applications, service
    /// principals and devices (0.01 = about 1 %), at least one operation.
    pub fraction: Option<f64>,
    /// Restrict to these operations (names of [`OPS`]); picked uniformly, repeat a name to weigh it.
    pub ops: Option<Vec<String>>,
}

/// The operation mix (repeated names weigh more): the registry's `mutations` of every resource.
pub use crate::registry::OPS;

/// Every operation name, once.
pub fn op_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for op in OPS.iter() {
        if !v.contains(op) {
            v.push(op);
        }
    }
    v
}

/// A random live object of a collection: a random sequence number, then the first object at or
/// after it (O(log n), where `nth` was O(n) on 100,000 users; objects after a gap of removed ones
/// are a little likelier).
fn pick_item<'t>(t: &'t Tenant, coll: &str, f: &mut Filler) -> Option<&'t Item> {
    let c = t.coll(coll);
    let (&lo, _) = c.items.first_key_value()?;
    let k = f.range(lo, c.next_seq);
    c.items
        .range(k..)
        .next()
        .or_else(|| c.items.range(..k).next_back())
        .map(|(_, i)| i)
}

fn pick_id(t: &Tenant, coll: &str, f: &mut Filler) -> Option<String> {
    pick_item(t, coll, f).map(|i| i.id.clone())
}

fn pick<T: Clone>(xs: &[T], f: &mut Filler) -> Option<T> {
    (!xs.is_empty()).then(|| xs[f.range(0, xs.len() as u64) as usize].clone())
}

fn update(
    t: &mut Tenant,
    w: &mut Writer,
    coll: &str,
    id: &str,
    props: Vec<(&str, serde_json::Value)>,
) {
    let v = t.bump();
    let c = t.coll_mut(coll);
    let Some(item) = c.get_mut(id) else { return };
    let mut names = Vec::new();
    let mut audited = Vec::new();
    for (k, val) in props {
        let old = item.data.insert(k.to_string(), val.clone());
        audited.push(audit::updated(k, old.as_ref(), &val));
        names.push(k.to_string());
    }
    c.log(Change {
        version: v,
        id: id.to_string(),
        props: names,
        ..Change::empty()
    });
    w.object(t, coll, id, audit::Change::Update(audited));
}

/// Change a relationship list and its change log (no audit event).
fn link(t: &mut Tenant, coll: &str, id: &str, rel: &'static str, member: &str, add: bool) -> bool {
    let v = t.bump();
    let c = t.coll_mut(coll);
    let Some(item) = c.get_mut(id) else {
        return false;
    };
    let list = item.rels.entry(rel).or_default();
    let has = list.iter().any(|m| m == member);
    if add == has {
        return false;
    }
    if add {
        list.push(member.to_string());
    } else {
        list.retain(|m| m != member);
    }
    c.log(Change {
        version: v,
        id: id.to_string(),
        links: vec![(rel, member.to_string(), add)],
        ..Change::empty()
    });
    true
}

/// A relationship change with the audit event Entra writes for it.
fn link_audited(
    t: &mut Tenant,
    w: &mut Writer,
    coll: &str,
    id: &str,
    rel: &'static str,
    member: &str,
    add: bool,
) -> bool {
    if !link(t, coll, id, rel, member, add) {
        return false;
    }
    w.link(t, coll, id, rel, member, add);
    true
}

/// Remove hard-deleted objects from every relationship list that holds them: one scan at the end
/// of a batch (a scan per deletion cost 30 ms on the large profile). Entra writes no
/// per-relationship audit event for this: the deletion event names the object.
fn unlink_everywhere(t: &mut Tenant, gone: &HashSet<String>) {
    if gone.is_empty() {
        return;
    }
    // ~10 million relationship entries on the large profile: a sorted list of 8-byte prefixes
    // rejects nearly all of them without hashing
    let prefix = |s: &str| {
        let b = s.as_bytes();
        let mut p = [0u8; 8];
        let n = b.len().min(8);
        p[..n].copy_from_slice(&b[..n]);
        u64::from_le_bytes(p)
    };
    let mut prefixes: Vec<u64> = gone.iter().map(|g| prefix(g)).collect();
    prefixes.sort_unstable();
    let hit = |m: &str| prefixes.binary_search(&prefix(m)).is_ok() && gone.contains(m);
    let holders: Vec<(&'static str, String, &'static str, String)> = crate::registry::collections()
        .filter(|r| !r.rels.is_empty())
        .map(|r| r.key)
        .flat_map(|k| {
            let c = t.coll(k);
            c.items
                .values()
                .flat_map(|i| {
                    i.rels.iter().flat_map(|(r, v)| {
                        v.iter()
                            .filter(|m| hit(m))
                            .map(|m| (k, i.id.clone(), *r, m.clone()))
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for (k, id, rel, member) in holders {
        link(t, k, &id, rel, &member, false);
    }
}

/// Hard delete: the children the registry says the object owns go with it (its app role
/// assignments, as principal or, for a service principal, as resource; an application's federated
/// identity credentials).
fn drop_children(t: &mut Tenant, coll: &str, id: &str) {
    let v = t.bump();
    let owns = crate::registry::get(coll).map_or(&[][..], |r| r.owns);
    for &(child, by_resource) in owns {
        let c = t.coll_mut(child);
        let mut gone: Vec<String> = c.children(id).iter().map(|i| i.id.clone()).collect();
        if by_resource {
            gone.extend(c.granting(id).iter().map(|i| i.id.clone()));
        }
        for cid in gone {
            c.remove(&cid, RemovedReason::Deleted, v);
        }
    }
}

fn create(t: &mut Tenant, w: &mut Writer, coll: &'static str, id: String, data: crate::fill::Obj) {
    let v = t.bump();
    t.kinds.insert(id.clone(), coll);
    let c = t.coll_mut(coll);
    let mut item = Item::new(id.clone(), data);
    for r in crate::registry::get(coll).map_or(&[][..], |r| r.rels) {
        item.rels.insert(r, vec![]);
    }
    c.push(item);
    c.log(Change {
        version: v,
        id: id.clone(),
        created: true,
        ..Change::empty()
    });
    w.object(t, coll, &id, audit::Change::Add);
}

/// Soft or hard delete; a hard-deleted id joins `gone` (unlinked at the end of the batch).
fn remove(
    t: &mut Tenant,
    w: &mut Writer,
    gone: &mut HashSet<String>,
    coll: &str,
    id: &str,
    reason: RemovedReason,
) {
    // the event names the object, so it is written while the object still exists
    w.object(
        t,
        coll,
        id,
        audit::Change::Delete {
            hard: reason == RemovedReason::Deleted,
        },
    );
    if reason == RemovedReason::Deleted {
        gone.insert(id.to_string());
        drop_children(t, coll, id);
    }
    let v = t.bump();
    t.coll_mut(coll).remove(id, reason, v);
    if reason == RemovedReason::Deleted {
        t.kinds.remove(id);
    }
}

/// The first service principal (the sync app's) and Microsoft Graph are never deleted and keep
/// their app role assignments, so a sync keeps working.
fn protected_sp(t: &Tenant, id: &str) -> bool {
    t.coll("servicePrincipals")
        .items
        .values()
        .next()
        .is_some_and(|i| i.id == id)
        || t.coll("servicePrincipals")
            .get(id)
            .and_then(|i| i.str("appId"))
            == Some(crate::tenant::directory::GRAPH_APP_ID)
}

/// Resource service principals and their app roles a principal type may be assigned
/// (`allowedMemberTypes` "Application" for service principals, "User" for users and groups).
fn role_candidates(t: &Tenant, member_type: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for sp in t.coll("servicePrincipals").items.values() {
        for r in sp
            .data
            .get("appRoles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let allowed = r["allowedMemberTypes"]
                .as_array()
                .is_some_and(|a| a.iter().any(|m| m == member_type));
            if allowed && let Some(rid) = r["id"].as_str() {
                out.push((sp.id.clone(), rid.to_string()));
            }
        }
    }
    out
}

/// Add an app role assignment of `principal` (a live object of `principal_coll`).
fn add_assignment(
    t: &mut Tenant,
    w: &mut Writer,
    f: &mut Filler,
    principal_coll: &str,
    candidates: &[(String, String)],
) -> Option<String> {
    let principal = pick_id(t, principal_coll, f)?;
    let (resource, role) = pick(candidates, f)?;
    if principal == resource {
        return None;
    }
    let res = t.coll("servicePrincipals").get(&resource)?;
    let res_name = res.str("displayName").unwrap_or("").to_string();
    let p = t.coll(principal_coll).get(&principal)?;
    let p_name = p.str("displayName").unwrap_or("").to_string();
    let duplicate = t
        .coll("appRoleAssignments")
        .children(&principal)
        .iter()
        .any(|a| a.str("resourceId") == Some(&resource) && a.str("appRoleId") == Some(&role));
    if duplicate {
        return None;
    }
    let ptype = match principal_coll {
        "servicePrincipals" => "ServicePrincipal",
        "groups" => "Group",
        _ => "User",
    };
    let mut item = app_role_assignment(f, &role, &principal, &p_name, ptype, &resource, &res_name);
    item.data
        .insert("createdDateTime".into(), json!(crate::fill::ts(Utc::now())));
    let id = item.id.clone();
    let v = t.bump();
    let c = t.coll_mut("appRoleAssignments");
    c.push(item.clone());
    c.log(Change {
        version: v,
        id: id.clone(),
        created: true,
        ..Change::empty()
    });
    w.app_role(t, &item, true);
    Some(id)
}

/// Remove a served app role assignment whose principal is of `principal_type`.
fn remove_assignment(
    t: &mut Tenant,
    w: &mut Writer,
    f: &mut Filler,
    principal_type: &str,
) -> Option<String> {
    let live = |id: Option<&str>| id.is_some_and(|i| t.dir_object(i).is_some());
    let eligible = |a: &Item| {
        a.str("principalType") == Some(principal_type)
            && live(a.str("principalId"))
            && live(a.str("resourceId"))
            && !a.str("principalId").is_some_and(|p| protected_sp(t, p))
    };
    // rejection sampling (uniform over the eligible ones), then a full scan if they are rare
    let sampled = (0..64)
        .filter_map(|_| pick_item(t, "appRoleAssignments", f))
        .find(|a| eligible(a))
        .map(|a| a.id.clone());
    let id = match sampled {
        Some(id) => id,
        None => {
            let ids: Vec<String> = t
                .coll("appRoleAssignments")
                .items
                .values()
                .filter(|a| eligible(a))
                .map(|a| a.id.clone())
                .collect();
            pick(&ids, f)?
        }
    };
    let v = t.bump();
    let item = t
        .coll_mut("appRoleAssignments")
        .remove(&id, RemovedReason::Deleted, v)?;
    w.app_role(t, &item, false);
    Some(id)
}

const FIC_ISSUERS: &[(&str, &str)] = &[
    (
        "https://token.actions.githubusercontent.com",
        "repo:contoso/{w}:environment:production",
    ),
    (
        "https://gitlab.com",
        "project_path:contoso/{w}:ref_type:branch:ref:main",
    ),
    (
        "https://app.terraform.io",
        "organization:contoso:project:{w}:workspace:prod:run_phase:apply",
    ),
];

fn fic_data(t: &Tenant, app: &str) -> Vec<crate::fill::Obj> {
    t.coll("federatedIdentityCredentials")
        .children(app)
        .iter()
        .map(|i| i.data.clone())
        .collect()
}

pub fn apply(t: &mut Tenant, seed: u64, count: usize) -> Summary {
    apply_with(
        t,
        &Options {
            seed,
            count: Some(count),
            ..Default::default()
        },
    )
    .unwrap_or_default()
}

/// Apply mutations; an unknown operation name or a fraction outside (0, 1] is an error.
pub fn apply_with(t: &mut Tenant, opts: &Options) -> Result<Summary, String> {
    let names = op_names();
    let ops: Vec<&'static str> = match &opts.ops {
        None => OPS.to_vec(),
        Some(list) if list.is_empty() => return Err("ops: empty list".into()),
        Some(list) => {
            list.iter()
                .map(|o| {
                    names.iter().copied().find(|n| n == o).ok_or_else(|| {
                        format!("unknown operation '{o}'; known: {}", names.join(", "))
                    })
                })
                .collect::<Result<_, _>>()?
        }
    };
    let count = match opts.fraction {
        Some(fr) if !(fr > 0.0 && fr <= 1.0) => {
            return Err(format!("fraction must be in (0, 1], got {fr}"));
        }
        Some(fr) => {
            let objects: usize = crate::registry::collections()
                .filter(|r| r.counted)
                .map(|r| t.coll(r.key).len())
                .sum();
            ((objects as f64 * fr).round() as usize).max(1)
        }
        None => opts.count.unwrap_or(10),
    };
    let seed = opts.seed;
    let f = Filler {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x3A7E_0000 ^ t.seed),
        now: Utc::now(),
        domain: t.domain.clone(),
        density: 0.6,
    };
    let w = Writer::new(seed ^ t.seed, &t.domain);
    let custom = t
        .coll("domains")
        .items
        .values()
        .find(|d| d.data.get("isDefault") == Some(&json!(true)))
        .map(|d| d.id.clone())
        .unwrap_or(t.domain.clone());
    let skus: Vec<String> = t
        .coll("subscribedSkus")
        .items
        .values()
        .filter_map(|s| s.str("skuId").map(str::to_string))
        .collect();
    let uses = |prefix: &str| ops.iter().any(|o| o.contains(prefix));
    let app_roles = if uses("app_role_assignment_sp") {
        role_candidates(t, "Application")
    } else {
        vec![]
    };
    let user_roles = if uses("app_role_assignment_user") || uses("app_role_assignment_group") {
        role_candidates(t, "User")
    } else {
        vec![]
    };
    let mut s = Summary {
        seed,
        requested: count,
        ..Default::default()
    };
    // Operations that find nothing to do (no owner to remove, ...) are retried with the next
    // pick, within a bound.
    let mut b = Batch {
        t,
        w,
        f,
        gone: HashSet::new(),
        custom,
        skus,
        app_roles,
        user_roles,
    };
    let mut attempts = 0usize;
    let max_attempts = count.saturating_mul(20).saturating_add(100);
    while s.applied < count && attempts < max_attempts {
        attempts += 1;
        let op = *b.f.pick(&ops);
        let did = crate::registry::mutation(op).and_then(|m| m(&mut b, op));
        if let Some((coll, id)) = did {
            s.applied += 1;
            *s.operations.entry(op.to_string()).or_default() += 1;
            s.changes.push((coll.to_string(), id, op.to_string()));
        }
    }
    unlink_everywhere(b.t, &b.gone);
    s.version = b.t.version;
    s.audit_events = b.w.written;
    Ok(s)
}

/// What the random operations of one batch share.
pub struct Batch<'t> {
    t: &'t mut Tenant,
    w: Writer,
    f: Filler,
    /// Objects hard-deleted in this batch: unlinked from every relationship at its end.
    gone: HashSet<String>,
    /// The tenant's default domain.
    custom: String,
    /// skuId of each subscribed SKU.
    skus: Vec<String>,
    /// (resource service principal, app role id) assignable to service principals, and to users
    /// and groups (computed only when the batch may use them).
    app_roles: Vec<(String, String)>,
    user_roles: Vec<(String, String)>,
}

/// One random operation (named in a registry entry's `mutations`, called with that name): what it
/// changed, (collection, id), or `None` when it found nothing to do.
pub type Mutation = fn(&mut Batch<'_>, &'static str) -> Option<(&'static str, String)>;

/// A new user.
pub fn create_user(b: &mut Batch, _op: &'static str) -> Option<(&'static str, String)> {
    let n = b.t.coll("users").next_seq as usize + 1000;
    let sk: Vec<&str> = b.skus.iter().map(String::as_str).collect();
    let domain = b.t.domain.clone();
    let o = gen_user(&mut b.f, n, &b.custom, &domain, &sk, false);
    let id = b.f.uuid();
    create(b.t, &mut b.w, "users", id.clone(), o);
    Some(("users", id))
}

/// A user's job title, department and office, or account state.
pub fn update_user(b: &mut Batch, _op: &'static str) -> Option<(&'static str, String)> {
    if let Some(id) = pick_id(b.t, "users", &mut b.f) {
        let title = *b.f.pick(TITLES);
        let dept = *b.f.pick(DEPARTMENTS);
        let props = match b.f.range(0, 3) {
            0 => vec![("jobTitle", json!(title))],
            1 => vec![
                ("department", json!(dept)),
                (
                    "officeLocation",
                    json!(format!("{}/{}", b.f.range(10, 40), b.f.range(1000, 3000))),
                ),
            ],
            _ => vec![
                ("accountEnabled", json!(b.f.chance(0.5))),
                ("mobilePhone", serde_json::Value::Null),
            ],
        };
        update(b.t, &mut b.w, "users", &id, props);
        return Some(("users", id));
    }
    None
}

/// `soft_delete_user` (restorable) or `hard_delete_user`.
pub fn delete_user(b: &mut Batch, op: &'static str) -> Option<(&'static str, String)> {
    if b.t.coll("users").len() > 2
        && let Some(id) = pick_id(b.t, "users", &mut b.f)
    {
        let reason = if op == "soft_delete_user" {
            RemovedReason::Changed
        } else {
            RemovedReason::Deleted
        };
        remove(b.t, &mut b.w, &mut b.gone, "users", &id, reason);
        return Some(("users", id));
    }
    None
}

/// The soft-deleted user with the smallest id back.
pub fn restore_user(b: &mut Batch, _op: &'static str) -> Option<(&'static str, String)> {
    let soft: Option<String> =
        b.t.coll("users")
            .removed
            .iter()
            .filter(|(_, (r, i))| *r == RemovedReason::Changed && i.is_some())
            .map(|(k, _)| k.clone())
            .min();
    if let Some(id) = soft {
        let v = b.t.bump();
        let c = b.t.coll_mut("users");
        if let Some((_, Some(item))) = c.removed.remove(&id) {
            c.push(item);
            c.log(Change {
                version: v,
                id: id.clone(),
                restored: true,
                ..Change::empty()
            });
            b.w.object(b.t, "users", &id, audit::Change::Restore);
            return Some(("users", id));
        }
    }
    None
}

/// A new security group with a few members.
pub fn create_group(b: &mut Batch, _op: &'static str) -> Option<(&'static str, String)> {
    let mut o = b.f.resource("group");
    let dept = *b.f.pick(DEPARTMENTS);
    let n = b.t.coll("groups").next_seq;
    let name = format!("{dept} Project {n}");
    o.insert("displayName".into(), json!(name));
    o.insert("mailNickname".into(), json!(format!("{dept}Project{n}")));
    o.insert("groupTypes".into(), json!([]));
    o.insert("securityEnabled".into(), json!(true));
    o.insert("mailEnabled".into(), json!(false));
    o.insert("mail".into(), serde_json::Value::Null);
    o.insert("isAssignableToRole".into(), json!(false));
    o.insert("createdDateTime".into(), json!(crate::fill::ts(Utc::now())));
    let id = b.f.uuid();
    create(b.t, &mut b.w, "groups", id.clone(), o);
    for _ in 0..b.f.range(1, 4) {
        if let Some(u) = pick_id(b.t, "users", &mut b.f) {
            link_audited(b.t, &mut b.w, "groups", &id, "members", &u, true);
        }
    }
    Some(("groups", id))
}

/// A group's description.
pub fn update_group(b: &mut Batch, _op: &'static str) -> Option<(&'static str, String)> {
    if let Some(id) = pick_id(b.t, "groups", &mut b.f) {
        let d = format!("Updated {}", b.f.word());
        update(
            b.t,
            &mut b.w,
            "groups",
            &id,
            vec![("description", json!(d))],
        );
        return Some(("groups", id));
    }
    None
}

/// A group, soft or hard deleted.
pub fn delete_group(b: &mut Batch, _op: &'static str) -> Option<(&'static str, String)> {
    if b.t.coll("groups").len() > 2
        && let Some(id) = pick_id(b.t, "groups", &mut b.f)
    {
        let reason = if b.f.chance(0.5) {
            RemovedReason::Changed
        } else {
            RemovedReason::Deleted
        };
        remove(b.t, &mut b.w, &mut b.gone, "groups", &id, reason);
        return Some(("groups", id));
    }
    None
}

/// `add_member` (a user) or `remove_member` of a group.
pub fn member(b: &mut Batch, op: &'static str) -> Option<(&'static str, String)> {
    if let Some(g) = pick_id(b.t, "groups", &mut b.f) {
        let member = if op == "add_member" {
            pick_id(b.t, "users", &mut b.f)
        } else {
            let m =
                b.t.coll("groups")
                    .get(&g)
                    .and_then(|i| i.rels.get("members"))
                    .cloned()
                    .unwrap_or_default();
            // not an object hard-deleted earlier in this batch
            let m: Vec<String> = m.into_iter().filter(|x| !b.gone.contains(x)).collect();
            pick(&m, &mut b.f)
        };
        if let Some(m) = member
            && link_audited(
                b.t,
                &mut b.w,
                "groups",
                &g,
                "members",
                &m,
                op == "add_member",
            )
        {
            return Some(("groups", g));
        }
    }
    None
}

/// `add_owner`, `remove_owner` (of a group, application or service principal),
/// `add_registered_owner`, `remove_registered_owner` (of a device).
pub fn owner(b: &mut Batch, op: &'static str) -> Option<(&'static str, String)> {
    let (coll, rel) = if op.ends_with("registered_owner") {
        ("devices", "registeredOwners")
    } else {
        (
            *b.f.pick(&["groups", "applications", "servicePrincipals"]),
            "owners",
        )
    };
    let add = op.starts_with("add");
    if let Some(o) = pick_id(b.t, coll, &mut b.f) {
        let member = if add {
            pick_id(b.t, "users", &mut b.f)
        } else {
            let m =
                b.t.coll(coll)
                    .get(&o)
                    .and_then(|i| i.rels.get(rel))
                    .cloned()
                    .unwrap_or_default();
            // not an object hard-deleted earlier in this batch
            let m: Vec<String> = m.into_iter().filter(|x| !b.gone.contains(x)).collect();
            pick(&m, &mut b.f)
        };
        if let Some(m) = member
            && link_audited(b.t, &mut b.w, coll, &o, rel, &m, add)
        {
            return Some((coll, o));
        }
    }
    None
}

/// `add_app_role_assignment_{sp,user,group}`.
pub fn add_assignment_op(b: &mut Batch, op: &'static str) -> Option<(&'static str, String)> {
    let (coll, cands) = match op {
        "add_app_role_assignment_sp" => ("servicePrincipals", &b.app_roles),
        "add_app_role_assignment_user" => ("users", &b.user_roles),
        _ => ("groups", &b.user_roles),
    };
    if let Some(id) = add_assignment(b.t, &mut b.w, &mut b.f, coll, cands) {
        return Some(("appRoleAssignments", id));
    }
    None
}

/// `remove_app_role_assignment_{sp,user,group}`.
pub fn remove_assignment_op(b: &mut Batch, op: &'static str) -> Option<(&'static str, String)> {
    let ptype = match op {
        "remove_app_role_assignment_sp" => "ServicePrincipal",
        "remove_app_role_assignment_user" => "User",
        _ => "Group",
    };
    if let Some(id) = remove_assignment(b.t, &mut b.w, &mut b.f, ptype) {
        return Some(("appRoleAssignments", id));
    }
    None
}

/// A federated identity credential on an application (at most 20 each).
pub fn add_federated_credential(
    b: &mut Batch,
    _op: &'static str,
) -> Option<(&'static str, String)> {
    // Entra allows at most 20 federated identity credentials per application
    if let Some(app) = pick_id(b.t, "applications", &mut b.f)
        && b.t
            .coll("federatedIdentityCredentials")
            .children(&app)
            .len()
            < 20
    {
        let before = fic_data(b.t, &app);
        let n = b.t.coll("federatedIdentityCredentials").next_seq;
        let (issuer, subject) = *b.f.pick(FIC_ISSUERS);
        let word = b.f.word();
        let mut o = b.f.resource("federatedIdentityCredential");
        o.insert("name".into(), json!(format!("deploy-{word}-{n}")));
        o.insert("issuer".into(), json!(issuer));
        o.insert("subject".into(), json!(subject.replace("{w}", word)));
        o.insert("audiences".into(), json!(["api://AzureADTokenExchange"]));
        o.insert(
            "description".into(),
            json!(format!("Deployments of {word}")),
        );
        let mut item = Item::new(b.f.uuid(), o);
        item.parent = Some(app.clone());
        let id = item.id.clone();
        let v = b.t.bump();
        let c = b.t.coll_mut("federatedIdentityCredentials");
        c.push(item);
        c.log(Change {
            version: v,
            id: id.clone(),
            created: true,
            ..Change::empty()
        });
        let after = fic_data(b.t, &app);
        b.w.federated_credentials(b.t, &app, &before, &after);
        return Some(("federatedIdentityCredentials", id));
    }
    None
}

/// A federated identity credential of a live application.
pub fn remove_federated_credential(
    b: &mut Batch,
    _op: &'static str,
) -> Option<(&'static str, String)> {
    let ids: Vec<(String, String)> =
        b.t.coll("federatedIdentityCredentials")
            .items
            .values()
            .filter_map(|i| {
                let p = i.parent.as_deref()?;
                b.t.coll("applications")
                    .get(p)
                    .map(|_| (i.id.clone(), p.to_string()))
            })
            .collect();
    if let Some((id, app)) = pick(&ids, &mut b.f) {
        let before = fic_data(b.t, &app);
        let v = b.t.bump();
        b.t.coll_mut("federatedIdentityCredentials")
            .remove(&id, RemovedReason::Deleted, v);
        let after = fic_data(b.t, &app);
        b.w.federated_credentials(b.t, &app, &before, &after);
        return Some(("federatedIdentityCredentials", id));
    }
    None
}

/// `create_application`, `create_service_principal`, `create_device`.
pub fn create_object(b: &mut Batch, op: &'static str) -> Option<(&'static str, String)> {
    let (coll, res) = match op {
        "create_application" => ("applications", "application"),
        "create_service_principal" => ("servicePrincipals", "servicePrincipal"),
        _ => ("devices", "device"),
    };
    let mut o = b.f.resource(res);
    let n = b.t.coll(coll).next_seq;
    let name = match coll {
        "devices" => format!("DESKTOP-NEW{n:04}"),
        _ => format!("New {} App {n}", crate::fill::capitalize(b.f.word())),
    };
    o.insert("displayName".into(), json!(name));
    if coll != "devices" {
        o.insert("appId".into(), json!(b.f.uuid()));
    } else {
        o.insert("deviceId".into(), json!(b.f.uuid()));
        o.insert("operatingSystem".into(), json!("Windows"));
    }
    let id = b.f.uuid();
    create(b.t, &mut b.w, coll, id.clone(), o);
    Some((coll, id))
}

/// `update_application`, `update_service_principal`, `update_device`.
pub fn update_object(b: &mut Batch, op: &'static str) -> Option<(&'static str, String)> {
    let coll = match op {
        "update_application" => "applications",
        "update_service_principal" => "servicePrincipals",
        _ => "devices",
    };
    if let Some(id) = pick_id(b.t, coll, &mut b.f) {
        let props = match coll {
            "devices" => vec![
                (
                    "approximateLastSignInDateTime",
                    json!(crate::fill::ts(Utc::now())),
                ),
                ("isCompliant", json!(b.f.chance(0.5))),
            ],
            "applications" => vec![("notes", json!(format!("Reviewed {}", b.f.word())))],
            _ => vec![("accountEnabled", json!(b.f.chance(0.7)))],
        };
        update(b.t, &mut b.w, coll, &id, props);
        return Some((coll, id));
    }
    None
}

/// `delete_application`, `delete_service_principal` (soft or hard), `delete_device`
/// (hard); never the sync app or Microsoft Graph.
pub fn delete_object(b: &mut Batch, op: &'static str) -> Option<(&'static str, String)> {
    let coll = match op {
        "delete_application" => "applications",
        "delete_service_principal" => "servicePrincipals",
        _ => "devices",
    };
    if b.t.coll(coll).len() > 3
        && let Some(id) = pick_id(b.t, coll, &mut b.f)
    {
        // keep the sync app and Microsoft Graph
        let protected = b.t.coll(coll).items.values().take(1).any(|i| i.id == id)
            || b.t.coll(coll).get(&id).and_then(|i| i.str("appId"))
                == Some(crate::tenant::directory::GRAPH_APP_ID);
        if !protected {
            let reason = if coll == "devices" || b.f.chance(0.5) {
                RemovedReason::Deleted
            } else {
                RemovedReason::Changed
            };
            remove(b.t, &mut b.w, &mut b.gone, coll, &id, reason);
            return Some((coll, id));
        }
    }
    None
}

/// `new_signins`, `new_audits`: 5 to 50 entries up to now.
pub fn new_logs(b: &mut Batch, op: &'static str) -> Option<(&'static str, String)> {
    let n = b.f.range(5, 50);
    let now = Utc::now();
    let store = if op == "new_signins" {
        &mut b.t.signins
    } else {
        &mut b.t.audits
    };
    let last = store.segments.last().map(|s| s.end_ms).unwrap_or(0);
    let start = chrono::DateTime::from_timestamp_millis(last).unwrap_or(now - Duration::minutes(5));
    // never in the future: entries are spread up to now (or share the last instant)
    store.append(n, start, now.max(start));
    Some((
        if op == "new_signins" {
            "signIns"
        } else {
            "directoryAudits"
        },
        format!("+{n}"),
    ))
}

/// One precise edit of the operator API (`POST /_fake/edit`, a JSON list of them): what a test
/// plants before a sync and fixes before the next, where `/_fake/mutate` changes at random. Each
/// edit is change-logged (delta sees it) and audited like the random operations.
///
/// `collection` is a collection key of [`crate::registry::RESOURCES`] or, for `set` without `id`
/// and `where`, a singleton (`authorizationPolicy`, `identitySecurityDefaultsEnforcementPolicy`,
/// ...). `where` selects every object whose properties equal the given values (`{}`: all).
/// `set`'s `append` adds items to array properties (an app role to a resource's `appRoles`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Edit {
    Set {
        collection: String,
        id: Option<String>,
        #[serde(rename = "where")]
        filter: Option<crate::fill::Obj>,
        #[serde(default)]
        props: crate::fill::Obj,
        #[serde(default)]
        append: crate::fill::Obj,
    },
    /// A new object; `parent` for child collections (app role assignments of a principal,
    /// federated credentials of an application).
    Create {
        collection: String,
        id: String,
        parent: Option<String>,
        #[serde(default)]
        props: crate::fill::Obj,
    },
    /// Hard delete.
    Delete {
        collection: String,
        id: Option<String>,
        #[serde(rename = "where")]
        filter: Option<crate::fill::Obj>,
    },
    Link {
        collection: String,
        id: String,
        rel: String,
        member: String,
    },
    Unlink {
        collection: String,
        id: String,
        rel: String,
        member: String,
    },
    /// A sign-in log entry written now (`props` needs an `id`), e.g. a legacy-authentication or
    /// risky sign-in; a log is history, so there is no edit or delete of it.
    SignIn { props: crate::fill::Obj },
}

/// The collection key as the tenant stores it (a `&'static str`), or an error naming the known ones.
fn coll_key(t: &Tenant, name: &str) -> Result<&'static str, String> {
    t.colls.keys().copied().find(|k| *k == name).ok_or_else(|| {
        let mut known: Vec<&str> = t.colls.keys().copied().collect();
        known.sort_unstable();
        format!("unknown collection '{name}'; known: {}", known.join(", "))
    })
}

/// Ids an edit applies to: `id`, or every object matching `where`; neither is an error.
fn targets(
    t: &Tenant,
    coll: &str,
    id: &Option<String>,
    filter: &Option<crate::fill::Obj>,
) -> Result<Vec<String>, String> {
    match (id, filter) {
        (Some(id), None) => match t.coll(coll).get(id) {
            Some(_) => Ok(vec![id.clone()]),
            None => Err(format!("{coll}/{id}: no such object")),
        },
        (None, Some(w)) => Ok(t
            .coll(coll)
            .items
            .values()
            .filter(|i| {
                w.iter()
                    .all(|(k, v)| i.data.get(k).unwrap_or(&Value::Null) == v)
            })
            .map(|i| i.id.clone())
            .collect()),
        _ => Err(format!("{coll}: give exactly one of `id` and `where`")),
    }
}

/// `props` plus, for each array property of `append`, the object's current items and the new ones.
fn appended(
    data: &crate::fill::Obj,
    props: &crate::fill::Obj,
    append: &crate::fill::Obj,
) -> Result<crate::fill::Obj, String> {
    let mut out = props.clone();
    for (k, more) in append {
        let mut items = match data.get(k) {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(format!("append: '{k}' is not an array")),
        };
        let Value::Array(more) = more else {
            return Err(format!("append: give '{k}' an array of items to add"));
        };
        items.extend(more.iter().cloned());
        out.insert(k.clone(), Value::Array(items));
    }
    Ok(out)
}

/// Properties Graph maintains itself on the objects an edit creates or changes, set to now unless
/// the edit gives them (an operator planting history): a Conditional Access policy's or named
/// location's `createdDateTime` (on create; `modifiedDateTime` stays null until a change) and
/// `modifiedDateTime` (on change), a risky user's or risky service principal's
/// `riskLastUpdatedDateTime` when its risk (`riskState`, `riskLevel`, `riskDetail`) is set, as
/// dismissing, confirming or remediating the risk does.
fn stamp(coll: &str, props: &mut crate::fill::Obj, created: bool) {
    let now = || json!(crate::fill::ts(Utc::now()));
    match coll {
        "conditionalAccessPolicies" | "namedLocations" => {
            let key = if created {
                "createdDateTime"
            } else {
                "modifiedDateTime"
            };
            if !props.contains_key(key) {
                props.insert(key.into(), now());
            }
        }
        "riskyUsers" | "riskyServicePrincipals" => {
            let risk = ["riskState", "riskLevel", "riskDetail"];
            if risk.iter().any(|k| props.contains_key(*k))
                && !props.contains_key("riskLastUpdatedDateTime")
            {
                props.insert("riskLastUpdatedDateTime".into(), now());
            }
        }
        _ => {}
    }
}

/// Apply edits in order; the first invalid one stops the batch with an error saying which.
/// Returns (collection, id, operation) of each change.
pub fn edit(t: &mut Tenant, edits: &[Edit]) -> Result<Vec<(String, String, String)>, String> {
    let mut w = Writer::new(t.seed ^ t.version, &t.domain);
    let mut gone = HashSet::new();
    let mut done = Vec::new();
    for (n, e) in edits.iter().enumerate() {
        let at = |m: String| format!("edit {n}: {m}");
        match e {
            Edit::Set {
                collection,
                id: None,
                filter: None,
                props,
                append,
            } if t.singletons.contains_key(collection.as_str()) => {
                let s = t.singletons.get_mut(collection.as_str()).unwrap();
                let props = appended(s, props, append).map_err(at)?;
                s.extend(props);
                done.push((collection.clone(), String::new(), "set".into()));
            }
            Edit::Set {
                collection,
                id,
                filter,
                props,
                append,
            } => {
                let key = coll_key(t, collection).map_err(at)?;
                for id in targets(t, key, id, filter).map_err(at)? {
                    let data = &t.coll(key).get(&id).expect("a target exists").data;
                    let mut props = appended(data, props, append).map_err(at)?;
                    stamp(key, &mut props, false);
                    let props = props.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                    update(t, &mut w, key, &id, props);
                    done.push((collection.clone(), id, "set".into()));
                }
            }
            Edit::Create {
                collection,
                id,
                parent,
                props,
            } => {
                let key = coll_key(t, collection).map_err(at)?;
                if t.coll(key).get(id).is_some() {
                    return Err(at(format!("{collection}/{id} exists already")));
                }
                let mut data = props.clone();
                data.insert("id".into(), json!(id));
                stamp(key, &mut data, true);
                match parent {
                    None => create(t, &mut w, key, id.clone(), data),
                    Some(p) => {
                        let mut item = Item::new(id.clone(), data);
                        item.parent = Some(p.clone());
                        let before = fic_data(t, p);
                        let v = t.bump();
                        let c = t.coll_mut(key);
                        c.push(item.clone());
                        c.log(Change {
                            version: v,
                            id: id.clone(),
                            created: true,
                            ..Change::empty()
                        });
                        // the audit events Entra writes, as the random operations do
                        match key {
                            "appRoleAssignments" => w.app_role(t, &item, true),
                            "federatedIdentityCredentials" => {
                                let after = fic_data(t, p);
                                w.federated_credentials(t, p, &before, &after);
                            }
                            _ => {}
                        }
                    }
                }
                done.push((collection.clone(), id.clone(), "create".into()));
            }
            Edit::Delete {
                collection,
                id,
                filter,
            } => {
                let key = coll_key(t, collection).map_err(at)?;
                for id in targets(t, key, id, filter).map_err(at)? {
                    if key == "appRoleAssignments" {
                        let v = t.bump();
                        if let Some(item) = t.coll_mut(key).remove(&id, RemovedReason::Deleted, v) {
                            w.app_role(t, &item, false);
                        }
                    } else {
                        remove(t, &mut w, &mut gone, key, &id, RemovedReason::Deleted);
                    }
                    done.push((collection.clone(), id, "delete".into()));
                }
            }
            Edit::Link {
                collection,
                id,
                rel,
                member,
            }
            | Edit::Unlink {
                collection,
                id,
                rel,
                member,
            } => {
                let key = coll_key(t, collection).map_err(at)?;
                let rel = t
                    .coll(key)
                    .get(id)
                    .ok_or_else(|| at(format!("{collection}/{id}: no such object")))?
                    .rels
                    .keys()
                    .copied()
                    .find(|r| r == rel)
                    .ok_or_else(|| at(format!("{collection}/{id} has no relationship '{rel}'")))?;
                let add = matches!(e, Edit::Link { .. });
                if link_audited(t, &mut w, key, id, rel, member, add) {
                    let op = if add { "link" } else { "unlink" };
                    done.push((collection.clone(), id.clone(), op.into()));
                }
            }
            Edit::SignIn { props } => {
                let Some(id) = props.get("id").and_then(Value::as_str).map(str::to_string) else {
                    return Err(at("sign_in: props need an \"id\"".into()));
                };
                let ts = t.signins.next_ts_ms(Utc::now().timestamp_millis());
                let at_ts = chrono::DateTime::from_timestamp_millis(ts).unwrap_or_else(Utc::now);
                let mut entry = props.clone();
                entry.insert("createdDateTime".into(), json!(crate::fill::ts(at_ts)));
                t.signins.push(ts, entry);
                done.push(("signIns".into(), id, "sign_in".into()));
            }
        }
    }
    unlink_everywhere(t, &gone);
    Ok(done)
}
