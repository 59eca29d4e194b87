//! Deterministic tenant mutations between syncs: create / update / soft-delete / hard-delete users,
//! groups, applications, service principals and devices; add and remove memberships and owners;
//! new sign-ins and audits. Every change is written to the collection's change log for delta.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;

use crate::fill::{DEPARTMENTS, Filler, TITLES};
use crate::tenant::directory::gen_user;
use crate::tenant::{Change, Item, RemovedReason, Tenant};

#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub seed: u64,
    pub applied: usize,
    /// operation -> count
    pub operations: BTreeMap<String, usize>,
    /// version of the tenant after the mutations
    pub version: u64,
    /// (collection, id, operation) of each change, in order
    pub changes: Vec<(String, String, String)>,
}

const OPS: &[&str] = &[
    "create_user",
    "update_user",
    "update_user",
    "soft_delete_user",
    "hard_delete_user",
    "restore_user",
    "create_group",
    "update_group",
    "delete_group",
    "add_member",
    "add_member",
    "remove_member",
    "add_owner",
    "remove_owner",
    "create_application",
    "update_application",
    "delete_application",
    "create_service_principal",
    "update_service_principal",
    "delete_service_principal",
    "create_device",
    "update_device",
    "delete_device",
    "new_signins",
    "new_audits",
];

fn pick_id(t: &Tenant, coll: &str, f: &mut Filler) -> Option<String> {
    let c = t.coll(coll);
    if c.is_empty() {
        return None;
    }
    let k = f.range(0, c.len() as u64) as usize;
    c.items.values().nth(k).map(|i| i.id.clone())
}

fn update(t: &mut Tenant, coll: &str, id: &str, props: Vec<(&str, serde_json::Value)>) {
    let v = t.bump();
    let c = t.coll_mut(coll);
    let Some(item) = c.get_mut(id) else { return };
    let mut names = Vec::new();
    for (k, val) in props {
        item.data.insert(k.to_string(), val);
        names.push(k.to_string());
    }
    c.log(Change {
        version: v,
        id: id.to_string(),
        props: names,
        ..Change::empty()
    });
}

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

/// Remove an object from every relationship list that holds it (hard delete).
fn unlink_everywhere(t: &mut Tenant, member: &str) {
    let holders: Vec<(&'static str, String, &'static str)> = [
        "groups",
        "directoryRoles",
        "administrativeUnits",
        "applications",
        "servicePrincipals",
        "devices",
    ]
    .iter()
    .flat_map(|k| {
        let c = t.coll(k);
        c.items
            .values()
            .flat_map(|i| {
                i.rels
                    .iter()
                    .filter(|(_, v)| v.iter().any(|m| m == member))
                    .map(|(r, _)| (*k, i.id.clone(), *r))
            })
            .collect::<Vec<_>>()
    })
    .collect();
    for (k, id, rel) in holders {
        link(t, k, &id, rel, member, false);
    }
}

fn create(t: &mut Tenant, coll: &'static str, id: String, data: crate::fill::Obj) {
    let v = t.bump();
    t.kinds.insert(id.clone(), coll);
    let c = t.coll_mut(coll);
    let mut item = Item::new(id.clone(), data);
    item.rels.insert("owners", vec![]);
    if coll == "groups" {
        item.rels.insert("members", vec![]);
    }
    c.push(item);
    c.log(Change {
        version: v,
        id,
        created: true,
        ..Change::empty()
    });
}

fn remove(t: &mut Tenant, coll: &str, id: &str, reason: RemovedReason) {
    if reason == RemovedReason::Deleted {
        unlink_everywhere(t, id);
    }
    let v = t.bump();
    t.coll_mut(coll).remove(id, reason, v);
    if reason == RemovedReason::Deleted {
        t.kinds.remove(id);
    }
}

pub fn apply(t: &mut Tenant, seed: u64, count: usize) -> Summary {
    let mut f = Filler {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x3A7E_0000 ^ t.seed),
        now: Utc::now(),
        domain: t.domain.clone(),
        density: 0.6,
    };
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
    let mut s = Summary {
        seed,
        ..Default::default()
    };
    for _ in 0..count {
        let op = *f.pick(OPS);
        let mut did: Option<(&str, String)> = None;
        match op {
            "create_user" => {
                let n = t.coll("users").next_seq as usize + 1000;
                let sk: Vec<&str> = skus.iter().map(String::as_str).collect();
                let domain = t.domain.clone();
                let o = gen_user(&mut f, n, &custom, &domain, &sk, false);
                let id = f.uuid();
                create(t, "users", id.clone(), o);
                did = Some(("users", id));
            }
            "update_user" => {
                if let Some(id) = pick_id(t, "users", &mut f) {
                    let title = *f.pick(TITLES);
                    let dept = *f.pick(DEPARTMENTS);
                    let props = match f.range(0, 3) {
                        0 => vec![("jobTitle", json!(title))],
                        1 => vec![
                            ("department", json!(dept)),
                            (
                                "officeLocation",
                                json!(format!("{}/{}", f.range(10, 40), f.range(1000, 3000))),
                            ),
                        ],
                        _ => vec![
                            ("accountEnabled", json!(f.chance(0.5))),
                            ("mobilePhone", serde_json::Value::Null),
                        ],
                    };
                    update(t, "users", &id, props);
                    did = Some(("users", id));
                }
            }
            "soft_delete_user" | "hard_delete_user" => {
                if t.coll("users").len() > 2
                    && let Some(id) = pick_id(t, "users", &mut f)
                {
                    let reason = if op == "soft_delete_user" {
                        RemovedReason::Changed
                    } else {
                        RemovedReason::Deleted
                    };
                    remove(t, "users", &id, reason);
                    did = Some(("users", id));
                }
            }
            "restore_user" => {
                let soft: Option<String> = t
                    .coll("users")
                    .removed
                    .iter()
                    .filter(|(_, (r, i))| *r == RemovedReason::Changed && i.is_some())
                    .map(|(k, _)| k.clone())
                    .min();
                if let Some(id) = soft {
                    let v = t.bump();
                    let c = t.coll_mut("users");
                    if let Some((_, Some(item))) = c.removed.remove(&id) {
                        c.push(item);
                        c.log(Change {
                            version: v,
                            id: id.clone(),
                            restored: true,
                            ..Change::empty()
                        });
                        did = Some(("users", id));
                    }
                }
            }
            "create_group" => {
                let mut o = f.resource("group");
                let dept = *f.pick(DEPARTMENTS);
                let n = t.coll("groups").next_seq;
                let name = format!("{dept} Project {n}");
                o.insert("displayName".into(), json!(name));
                o.insert("mailNickname".into(), json!(format!("{dept}Project{n}")));
                o.insert("groupTypes".into(), json!([]));
                o.insert("securityEnabled".into(), json!(true));
                o.insert("mailEnabled".into(), json!(false));
                o.insert("mail".into(), serde_json::Value::Null);
                o.insert("isAssignableToRole".into(), json!(false));
                o.insert("createdDateTime".into(), json!(crate::fill::ts(Utc::now())));
                let id = f.uuid();
                create(t, "groups", id.clone(), o);
                for _ in 0..f.range(1, 4) {
                    if let Some(u) = pick_id(t, "users", &mut f) {
                        link(t, "groups", &id, "members", &u, true);
                    }
                }
                did = Some(("groups", id));
            }
            "update_group" => {
                if let Some(id) = pick_id(t, "groups", &mut f) {
                    let d = format!("Updated {}", f.word());
                    update(t, "groups", &id, vec![("description", json!(d))]);
                    did = Some(("groups", id));
                }
            }
            "delete_group" => {
                if t.coll("groups").len() > 2
                    && let Some(id) = pick_id(t, "groups", &mut f)
                {
                    let reason = if f.chance(0.5) {
                        RemovedReason::Changed
                    } else {
                        RemovedReason::Deleted
                    };
                    remove(t, "groups", &id, reason);
                    did = Some(("groups", id));
                }
            }
            "add_member" | "remove_member" => {
                if let Some(g) = pick_id(t, "groups", &mut f) {
                    let member = if op == "add_member" {
                        pick_id(t, "users", &mut f)
                    } else {
                        let m = &t
                            .coll("groups")
                            .get(&g)
                            .unwrap()
                            .rels
                            .get("members")
                            .cloned()
                            .unwrap_or_default();
                        (!m.is_empty()).then(|| m[f.range(0, m.len() as u64) as usize].clone())
                    };
                    if let Some(m) = member
                        && link(t, "groups", &g, "members", &m, op == "add_member")
                    {
                        did = Some(("groups", g));
                    }
                }
            }
            "add_owner" | "remove_owner" => {
                let coll = *f.pick(&["groups", "applications", "servicePrincipals"]);
                if let Some(o) = pick_id(t, coll, &mut f) {
                    let member = if op == "add_owner" {
                        pick_id(t, "users", &mut f)
                    } else {
                        let m = t
                            .coll(coll)
                            .get(&o)
                            .unwrap()
                            .rels
                            .get("owners")
                            .cloned()
                            .unwrap_or_default();
                        (!m.is_empty()).then(|| m[f.range(0, m.len() as u64) as usize].clone())
                    };
                    if let Some(m) = member
                        && link(t, coll, &o, "owners", &m, op == "add_owner")
                    {
                        did = Some((coll, o));
                    }
                }
            }
            "create_application" | "create_service_principal" | "create_device" => {
                let (coll, res) = match op {
                    "create_application" => ("applications", "application"),
                    "create_service_principal" => ("servicePrincipals", "servicePrincipal"),
                    _ => ("devices", "device"),
                };
                let mut o = f.resource(res);
                let n = t.coll(coll).next_seq;
                let name = match coll {
                    "devices" => format!("DESKTOP-NEW{n:04}"),
                    _ => format!("New {} App {n}", crate::fill::capitalize(f.word())),
                };
                o.insert("displayName".into(), json!(name));
                if coll != "devices" {
                    o.insert("appId".into(), json!(f.uuid()));
                } else {
                    o.insert("deviceId".into(), json!(f.uuid()));
                    o.insert("operatingSystem".into(), json!("Windows"));
                }
                let id = f.uuid();
                create(t, coll, id.clone(), o);
                did = Some((coll, id));
            }
            "update_application" | "update_service_principal" | "update_device" => {
                let coll = match op {
                    "update_application" => "applications",
                    "update_service_principal" => "servicePrincipals",
                    _ => "devices",
                };
                if let Some(id) = pick_id(t, coll, &mut f) {
                    let props = match coll {
                        "devices" => vec![
                            (
                                "approximateLastSignInDateTime",
                                json!(crate::fill::ts(Utc::now())),
                            ),
                            ("isCompliant", json!(f.chance(0.5))),
                        ],
                        "applications" => vec![("notes", json!(format!("Reviewed {}", f.word())))],
                        _ => vec![("accountEnabled", json!(f.chance(0.7)))],
                    };
                    update(t, coll, &id, props);
                    did = Some((coll, id));
                }
            }
            "delete_application" | "delete_service_principal" | "delete_device" => {
                let coll = match op {
                    "delete_application" => "applications",
                    "delete_service_principal" => "servicePrincipals",
                    _ => "devices",
                };
                if t.coll(coll).len() > 3
                    && let Some(id) = pick_id(t, coll, &mut f)
                {
                    // keep the sync app and Microsoft Graph
                    let protected = t.coll(coll).items.values().take(1).any(|i| i.id == id)
                        || t.coll(coll).get(&id).and_then(|i| i.str("appId"))
                            == Some(crate::tenant::directory::GRAPH_APP_ID);
                    if !protected {
                        let reason = if coll == "devices" || f.chance(0.5) {
                            RemovedReason::Deleted
                        } else {
                            RemovedReason::Changed
                        };
                        remove(t, coll, &id, reason);
                        did = Some((coll, id));
                    }
                }
            }
            "new_signins" | "new_audits" => {
                let n = f.range(5, 50);
                let now = Utc::now();
                let store = if op == "new_signins" {
                    &mut t.signins
                } else {
                    &mut t.audits
                };
                let last = store.segments.last().map(|s| s.end_ms).unwrap_or(0);
                let start = chrono::DateTime::from_timestamp_millis(last)
                    .unwrap_or(now - Duration::minutes(5));
                let end = if now.timestamp_millis() > last + 1000 {
                    now
                } else {
                    start + Duration::seconds(60)
                };
                store.append(n, start, end);
                did = Some((
                    if op == "new_signins" {
                        "signIns"
                    } else {
                        "directoryAudits"
                    },
                    format!("+{n}"),
                ));
            }
            _ => {}
        }
        if let Some((coll, id)) = did {
            s.applied += 1;
            *s.operations.entry(op.to_string()).or_default() += 1;
            s.changes.push((coll.to_string(), id, op.to_string()));
        }
    }
    s.version = t.version;
    s
}
