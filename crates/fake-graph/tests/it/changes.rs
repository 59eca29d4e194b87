//! The change signals a client can rely on: `owners@delta` on groups, the directory audit events
//! that mutations write (with their ingestion delay), the mutate options, and the ground truth of
//! every child endpoint.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use fake_graph::{Config, Profile};
use serde_json::{Value, json};

use crate::common::{self, tiny};

/// Follow a delta round: (values, deltaLink).
async fn round(t: &common::T, start: &str) -> (Vec<Value>, String) {
    let mut out = Vec::new();
    let mut url = start.to_string();
    loop {
        let (s, _, b) = t.get(&url).await;
        assert_eq!(s, 200, "{url}: {b}");
        out.extend(b["value"].as_array().unwrap().iter().cloned());
        match b["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => return (out, b["@odata.deltaLink"].as_str().unwrap().to_string()),
        }
    }
}

type Rels = HashMap<String, BTreeSet<String>>;

/// Merge `<rel>@delta` entries of a round into per-object sets (removals remove).
fn merge(into: &mut Rels, round: &[Value], rel: &str) {
    for o in round {
        let id = o["id"].as_str().unwrap().to_string();
        for m in o[format!("{rel}@delta")].as_array().into_iter().flatten() {
            assert!(
                m["@odata.type"]
                    .as_str()
                    .unwrap()
                    .starts_with("#microsoft.graph.")
            );
            let mid = m["id"].as_str().unwrap().to_string();
            let set = into.entry(id.clone()).or_default();
            if m.get("@removed").is_some() {
                assert_eq!(m["@removed"]["reason"], "deleted");
                set.remove(&mid);
            } else {
                set.insert(mid);
            }
        }
    }
}

async fn ids(t: &common::T, path: &str) -> BTreeSet<String> {
    t.all(path)
        .await
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

async fn admin_get(t: &common::T, path: &str) -> Value {
    t.client
        .get(t.url(&format!("/_fake{path}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn mutate(t: &common::T, body: Value) -> Value {
    let s = t.admin("/mutate", body).await;
    assert!(s["applied"].as_u64().unwrap() > 0, "{s}");
    s
}

/// Every group's merged `members@delta` / `owners@delta` equals its `/members` / `/owners`.
async fn assert_rels_match(t: &common::T, members: &Rels, owners: &Rels) {
    for g in ids(t, "/v1.0/groups").await {
        let m = members.get(&g).cloned().unwrap_or_default();
        assert_eq!(m, ids(t, &format!("/v1.0/groups/{g}/members")).await, "{g}");
        let o = owners.get(&g).cloned().unwrap_or_default();
        assert_eq!(o, ids(t, &format!("/v1.0/groups/{g}/owners")).await, "{g}");
    }
}

#[tokio::test]
async fn groups_delta_tracks_owners() {
    let mut cfg = Config::new(Profile::Tiny, 4);
    // small pages: a group's members and owners split over several pages
    cfg.delta_members_per_page = 3;
    let t = common::start(cfg).await;
    // without owners in $select: no owners@delta
    let (v, _) = round(&t, "/v1.0/groups/delta").await;
    assert!(v.iter().all(|g| g.get("owners@delta").is_none()));
    assert!(v.iter().any(|g| g.get("members@delta").is_some()));
    let (v, _) = round(&t, "/v1.0/groups/delta?$select=displayName,owners").await;
    assert!(v.iter().all(|g| g.get("members@delta").is_none()));
    assert!(v.iter().all(|g| g.get("owners").is_none()));
    let (v, link) = round(&t, "/v1.0/groups/delta?$select=displayName,members,owners").await;
    let (mut members, mut owners) = (Rels::new(), Rels::new());
    merge(&mut members, &v, "members");
    merge(&mut owners, &v, "owners");
    assert!(owners.values().any(|o| !o.is_empty()));
    // a group whose members and owners exceed a page appears on consecutive pages
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for g in &v {
        *seen.entry(g["id"].as_str().unwrap()).or_default() += 1;
    }
    assert!(seen.values().any(|n| *n > 1));
    assert_rels_match(&t, &members, &owners).await;

    // owner additions and removals (and membership changes) come back in the next round
    let s = mutate(
        &t,
        json!({"seed": 21, "count": 40, "ops": ["add_owner", "remove_owner", "add_member", "remove_member"]}),
    )
    .await;
    let group_owner_changes: HashSet<&str> = s["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c[0] == "groups" && c[2].as_str().unwrap().ends_with("_owner"))
        .map(|c| c[1].as_str().unwrap())
        .collect();
    assert!(!group_owner_changes.is_empty(), "{s}");
    let (v2, link2) = round(&t, &link).await;
    for g in &group_owner_changes {
        assert!(
            v2.iter()
                .any(|o| o["id"] == *g && o.get("owners@delta").is_some()),
            "{g}"
        );
    }
    assert!(v2.iter().any(|o| {
        o["owners@delta"]
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m.get("@removed").is_some()))
    }));
    merge(&mut members, &v2, "members");
    merge(&mut owners, &v2, "owners");
    assert_rels_match(&t, &members, &owners).await;
    // applications and service principals do not report owner changes
    let (apps, app_link) = round(&t, "/v1.0/applications/delta").await;
    assert!(apps.iter().all(|a| a.get("owners@delta").is_none()));
    mutate(&t, json!({"seed": 5, "count": 10, "ops": ["add_owner"]})).await;
    let (apps, _) = round(&t, &app_link).await;
    assert!(apps.is_empty(), "{apps:?}");
    // a later round of the groups link stays consistent
    let (v3, _) = round(&t, &link2).await;
    merge(&mut members, &v3, "members");
    merge(&mut owners, &v3, "owners");
    assert_rels_match(&t, &members, &owners).await;
}

fn now_ms() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Unquote a modifiedProperties value (`"\"abc\""` → `abc`).
fn unq(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    serde_json::from_str::<String>(s).ok()
}

/// The objects an event names, per the contract a change-feed client relies on: targetResources
/// by `type`, and `<Type>.ObjectID` modified properties (new value, or old value for removals).
fn named(ev: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for tr in ev["targetResources"].as_array().unwrap() {
        out.insert((
            tr["type"].as_str().unwrap().to_string(),
            tr["id"].as_str().unwrap().to_string(),
        ));
        for p in tr["modifiedProperties"].as_array().unwrap() {
            let name = p["displayName"].as_str().unwrap();
            if let Some(ty) = name.strip_suffix(".ObjectID")
                && let Some(id) = unq(&p["newValue"]).or_else(|| unq(&p["oldValue"]))
            {
                out.insert((ty.to_string(), id));
            }
        }
    }
    out
}

fn prop_value(ev: &Value, target: usize, name: &str) -> Option<String> {
    ev["targetResources"][target]["modifiedProperties"]
        .as_array()?
        .iter()
        .find(|p| p["displayName"] == name)
        .and_then(|p| unq(&p["newValue"]).or_else(|| unq(&p["oldValue"])))
}

/// Audit events not seen before, read with the activityDateTime filter (and small pages).
async fn new_events(t: &common::T, since: &str, seen: &mut HashSet<String>) -> Vec<Value> {
    let evs = t
        .all(&format!(
            "/v1.0/auditLogs/directoryAudits?$filter=activityDateTime ge {since}&$top=3"
        ))
        .await;
    // newest first
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = evs
        .iter()
        .map(|e| {
            chrono::DateTime::parse_from_rfc3339(e["activityDateTime"].as_str().unwrap()).unwrap()
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let mut out: Vec<Value> = evs
        .into_iter()
        .filter(|e| seen.insert(e["id"].as_str().unwrap().to_string()))
        .collect();
    out.reverse();
    out
}

fn pairs(truth: &Value, coll: &str, key: &str, seg: &str) -> BTreeSet<(String, String)> {
    truth[coll][key][seg]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn children_of(pairs: &BTreeSet<(String, String)>, parent: &str) -> BTreeSet<String> {
    pairs
        .iter()
        .filter(|(p, _)| p == parent)
        .map(|(_, c)| c.clone())
        .collect()
}

#[tokio::test]
async fn every_mutation_writes_its_audit_event() {
    let t = tiny().await;
    // after the generated log (which ends when the server starts)
    let since = now_ms();
    let mut seen: HashSet<String> = HashSet::new();
    new_events(&t, &since, &mut seen).await;
    let before_stats = admin_get(&t, "/stats").await["audit_events"]
        .as_u64()
        .unwrap();
    assert_eq!(before_stats, 0);
    let mut written = 0;
    // (operation, activity, category) — one operation at a time, each seen through its endpoint
    let cases: &[(&str, &str)] = &[
        ("add_registered_owner", "Add registered owner to device"),
        (
            "remove_registered_owner",
            "Remove registered owner from device",
        ),
        ("add_owner", "Add owner to "),
        ("remove_owner", "Remove owner from "),
        ("add_member", "Add member to group"),
        ("remove_member", "Remove member from group"),
        (
            "add_app_role_assignment_sp",
            "Add app role assignment to service principal",
        ),
        (
            "remove_app_role_assignment_sp",
            "Remove app role assignment from service principal",
        ),
        (
            "add_app_role_assignment_user",
            "Add app role assignment grant to user",
        ),
        (
            "remove_app_role_assignment_user",
            "Remove app role assignment from user",
        ),
        (
            "add_app_role_assignment_group",
            "Add app role assignment to group",
        ),
        (
            "remove_app_role_assignment_group",
            "Remove app role assignment from group",
        ),
        ("add_federated_credential", "Update application"),
        ("remove_federated_credential", "Update application"),
        ("create_user", "Add user"),
        ("update_user", "Update user"),
        ("soft_delete_user", "Delete user"),
        ("restore_user", "Restore user"),
        ("hard_delete_user", "Hard Delete user"),
        ("create_group", "Add group"),
        ("update_group", "Update group"),
        ("delete_group", "Delete group"),
        ("create_application", "Add application"),
        ("update_application", "Update application"),
        ("delete_application", "Delete application"),
        ("create_service_principal", "Add service principal"),
        ("update_service_principal", "Update service principal"),
        ("delete_service_principal", "Remove service principal"),
        ("create_device", "Add device"),
        ("update_device", "Update device"),
        ("delete_device", "Delete device"),
    ];
    for (k, (op, activity)) in cases.iter().enumerate() {
        let before = admin_get(&t, "/truth").await;
        let s = mutate(&t, json!({"seed": 300 + k, "count": 1, "ops": [op]})).await;
        let change = &s["changes"][0];
        let (coll, id) = (change[0].as_str().unwrap(), change[1].as_str().unwrap());
        written += s["audit_events"].as_u64().unwrap();
        let evs = new_events(&t, &since, &mut seen).await;
        let evs: Vec<&Value> = evs
            .iter()
            .filter(|e| {
                e["activityDisplayName"]
                    .as_str()
                    .unwrap()
                    .starts_with(activity)
            })
            .collect();
        assert_eq!(evs.len(), 1, "{op}: {evs:?}");
        let ev = evs[0];
        for k in [
            "id",
            "category",
            "correlationId",
            "activityDateTime",
            "operationType",
        ] {
            assert!(ev[k].is_string(), "{op}: {k}");
        }
        assert_eq!(ev["result"], "success");
        assert_eq!(ev["loggedByService"], "Core Directory");
        assert!(ev["initiatedBy"]["app"].is_object() || ev["initiatedBy"]["user"].is_object());
        assert!(ev["additionalDetails"].is_array());
        let names = named(ev);
        let has = |ty: &str, id: &str| names.contains(&(ty.to_string(), id.to_string()));
        let after = admin_get(&t, "/truth").await;
        match *op {
            "add_registered_owner"
            | "remove_registered_owner"
            | "add_owner"
            | "remove_owner"
            | "add_member"
            | "remove_member" => {
                let (rel, ty) = match (coll, *op) {
                    ("devices", _) => ("registeredOwners", "Device"),
                    ("groups", o) if o.ends_with("member") => ("members", "Group"),
                    ("groups", _) => ("owners", "Group"),
                    ("applications", _) => ("owners", "Application"),
                    _ => ("owners", "ServicePrincipal"),
                };
                let noun = match ty {
                    "Group" => "group",
                    "Application" => "application",
                    "ServicePrincipal" => "service principal",
                    _ => "device",
                };
                assert!(ev["activityDisplayName"].as_str().unwrap().ends_with(noun));
                let seg = if coll == "devices" {
                    "registeredOwners"
                } else {
                    rel
                };
                let served = ids(&t, &format!("/v1.0/{coll}/{id}/{seg}")).await;
                let was = children_of(&pairs(&before, coll, "rels", rel), id);
                let now = children_of(&pairs(&after, coll, "rels", rel), id);
                assert_eq!(served, now, "{op}");
                let diff: Vec<&String> = was.symmetric_difference(&now).collect();
                assert_eq!(diff.len(), 1, "{op}: {was:?} → {now:?}");
                // the holder is named by type and as <Type>.ObjectID; the member as a target
                assert!(has(ty, id), "{op}: {ev}");
                assert_eq!(
                    prop_value(ev, 0, &format!("{ty}.ObjectID")).as_deref(),
                    Some(id)
                );
                assert_eq!(ev["targetResources"][0]["id"], *diff[0]);
                assert_eq!(ev["targetResources"][1]["id"], id);
                assert_eq!(ev["targetResources"][1]["type"], ty);
                let key = if op.starts_with("add") {
                    "newValue"
                } else {
                    "oldValue"
                };
                assert!(ev["targetResources"][0]["modifiedProperties"][0][key].is_string());
                if coll == "applications" {
                    assert!(prop_value(ev, 0, "Application.AppId").is_some());
                    assert!(prop_value(ev, 0, "Application.DisplayName").is_some());
                }
            }
            o if o.contains("app_role_assignment") => {
                assert_eq!(coll, "appRoleAssignments");
                let resource = ev["targetResources"][0]["id"].as_str().unwrap();
                assert_eq!(ev["targetResources"][0]["type"], "ServicePrincipal");
                let (pty, pcoll) = if o.ends_with("_sp") {
                    ("ServicePrincipal", "servicePrincipals")
                } else if o.ends_with("_user") {
                    ("User", "users")
                } else {
                    ("Group", "groups")
                };
                let principal = prop_value(ev, 0, &format!("{pty}.ObjectID")).unwrap();
                assert!(has(pty, &principal) && has("ServicePrincipal", resource));
                assert!(prop_value(ev, 0, "AppRole.Id").is_some());
                assert!(prop_value(ev, 0, "AppRoleAssignment.CreatedDateTime").is_some());
                let added = o.starts_with("add");
                let assigned_to = ids(
                    &t,
                    &format!("/v1.0/servicePrincipals/{resource}/appRoleAssignedTo"),
                )
                .await;
                assert_eq!(assigned_to.contains(id), added, "{op}");
                let was = pairs(
                    &before,
                    "servicePrincipals",
                    "children",
                    "appRoleAssignedTo",
                );
                assert_eq!(
                    was.contains(&(resource.to_string(), id.to_string())),
                    !added
                );
                if pcoll != "users" {
                    let mine = t
                        .all(&format!("/v1.0/{pcoll}/{principal}/appRoleAssignments"))
                        .await;
                    let got = mine.iter().find(|a| a["id"] == id);
                    assert_eq!(got.is_some(), added, "{op}");
                    if let Some(a) = got {
                        assert_eq!(a["resourceId"], resource);
                        assert_eq!(a["principalId"], principal.as_str());
                        assert_eq!(a["principalType"], pty);
                    }
                }
            }
            o if o.ends_with("federated_credential") => {
                assert_eq!(coll, "federatedIdentityCredentials");
                let app = ev["targetResources"][0]["id"].as_str().unwrap();
                assert!(has("Application", app));
                let p = &ev["targetResources"][0]["modifiedProperties"][0];
                assert_eq!(p["displayName"], "FederatedIdentityCredentials");
                let old: Value = serde_json::from_str(p["oldValue"].as_str().unwrap()).unwrap();
                let new: Value = serde_json::from_str(p["newValue"].as_str().unwrap()).unwrap();
                let served = ids(
                    &t,
                    &format!("/v1.0/applications/{app}/federatedIdentityCredentials"),
                )
                .await;
                let added = o.starts_with("add");
                assert_eq!(served.contains(id), added);
                let delta =
                    new.as_array().unwrap().len() as i64 - old.as_array().unwrap().len() as i64;
                assert_eq!(delta, if added { 1 } else { -1 });
                assert_eq!(
                    served,
                    children_of(
                        &pairs(
                            &after,
                            "applications",
                            "children",
                            "federatedIdentityCredentials"
                        ),
                        app
                    )
                );
            }
            _ => {
                // object lifecycle: the object is the first target, with its type
                let ty = match coll {
                    "users" => "User",
                    "groups" => "Group",
                    "applications" => "Application",
                    "servicePrincipals" => "ServicePrincipal",
                    _ => "Device",
                };
                assert_eq!(ev["targetResources"][0]["id"], id, "{op}");
                assert_eq!(ev["targetResources"][0]["type"], ty, "{op}");
                let live = after[coll]["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == id);
                assert_eq!(live, !op.contains("delete"), "{op}");
            }
        }
    }
    assert_eq!(
        admin_get(&t, "/stats").await["audit_events"]
            .as_u64()
            .unwrap(),
        written
    );
    // a window filter on a later time sees none of them
    let later = (chrono::Utc::now() + chrono::Duration::seconds(5))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (s, _, b) = t
        .get(&format!(
            "/v1.0/auditLogs/directoryAudits?$filter=activityDateTime ge {later}"
        ))
        .await;
    assert_eq!(s, 200);
    assert!(b["value"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn audit_delay_hides_then_shows_events() {
    let mut cfg = Config::new(Profile::Tiny, 6);
    cfg.audit_delay = Duration::from_millis(1500);
    let t = common::start(cfg).await;
    let since = now_ms();
    let path = format!("/v1.0/auditLogs/directoryAudits?$filter=activityDateTime ge {since}");
    let s = mutate(&t, json!({"seed": 1, "count": 1, "ops": ["add_member"]})).await;
    assert_eq!(s["audit_events"], 1);
    assert!(t.all(&path).await.is_empty());
    assert_eq!(admin_get(&t, "/stats").await["audit_events"], 1);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let evs = t.all(&path).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0]["activityDisplayName"], "Add member to group");
    // the delay can be changed at runtime (and applies to sign-ins too)
    let d = t.admin("/log_delay", json!({"audit_ms": 60_000})).await;
    assert_eq!(d, json!({"audit_ms": 60_000, "signin_ms": 0}));
    assert!(t.all(&path).await.is_empty());
    t.admin("/log_delay", json!({"audit_ms": 0})).await;
    assert_eq!(t.all(&path).await.len(), 1);
    let recent = (chrono::Utc::now() - chrono::Duration::days(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let signins = format!("/v1.0/auditLogs/signIns?$filter=createdDateTime ge {recent}");
    assert!(!t.all(&signins).await.is_empty());
    t.admin("/log_delay", json!({"signin_ms": 3 * 86_400_000u64}))
        .await;
    assert!(t.all(&signins).await.is_empty());
}

#[tokio::test]
async fn mutate_options() {
    let t = tiny().await;
    let ops: Vec<String> = serde_json::from_value(admin_get(&t, "/mutate/ops").await).unwrap();
    for op in [
        "add_registered_owner",
        "add_app_role_assignment_sp",
        "remove_federated_credential",
        "add_owner",
    ] {
        assert!(ops.iter().any(|o| o == op), "{op}");
    }
    // 5 % of 52 objects (20 users, 8 groups, 5 apps, 9 service principals, 10 devices) → 3
    let s = mutate(&t, json!({"seed": 2, "fraction": 0.05})).await;
    assert_eq!(
        (s["requested"].as_u64(), s["applied"].as_u64()),
        (Some(3), Some(3))
    );
    let only = ["add_owner", "remove_owner", "add_app_role_assignment_group"];
    let s = mutate(&t, json!({"seed": 3, "count": 12, "ops": only})).await;
    assert_eq!(s["applied"], 12);
    let used: BTreeMap<String, Value> = serde_json::from_value(s["operations"].clone()).unwrap();
    assert!(used.keys().all(|k| only.contains(&k.as_str())), "{used:?}");
    // same options on the same tenant → same changes
    let a = common::start(Config::new(Profile::Tiny, 9)).await;
    let b = common::start(Config::new(Profile::Tiny, 9)).await;
    let body = json!({"seed": 4, "fraction": 0.5, "ops": ops});
    assert_eq!(
        a.admin("/mutate", body.clone()).await["changes"],
        b.admin("/mutate", body).await["changes"]
    );
    for bad in [
        json!({"ops": ["nope"]}),
        json!({"fraction": 0.0}),
        json!({"fraction": 2.0}),
        json!({"ops": []}),
    ] {
        let r = t
            .client
            .post(t.url("/_fake/mutate"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn truth_equals_what_child_endpoints_serve() {
    let t = tiny().await;
    // every kind of change, soft and hard deletes included
    mutate(&t, json!({"seed": 12, "count": 80})).await;
    let all: Vec<String> = serde_json::from_value(admin_get(&t, "/mutate/ops").await).unwrap();
    let relational: Vec<&String> = all
        .iter()
        .filter(|o| o.contains("owner") || o.contains("app_role") || o.contains("federated"))
        .collect();
    mutate(&t, json!({"seed": 13, "count": 40, "ops": relational})).await;
    let truth = admin_get(&t, "/truth?transitive=true").await;
    assert!(truth["users"]["ids"].as_array().unwrap().len() > 10);
    let checks: &[(&str, &str, &str, &str)] = &[
        // (collection, path prefix, key, segment)
        ("groups", "groups", "rels", "members"),
        ("groups", "groups", "rels", "owners"),
        ("groups", "groups", "rels", "transitiveMembers"),
        ("groups", "groups", "children", "appRoleAssignments"),
        ("groups", "groups", "children", "groupLifecyclePolicies"),
        ("applications", "applications", "rels", "owners"),
        (
            "applications",
            "applications",
            "children",
            "federatedIdentityCredentials",
        ),
        ("servicePrincipals", "servicePrincipals", "rels", "owners"),
        (
            "servicePrincipals",
            "servicePrincipals",
            "children",
            "appRoleAssignments",
        ),
        (
            "servicePrincipals",
            "servicePrincipals",
            "children",
            "appRoleAssignedTo",
        ),
        ("devices", "devices", "rels", "registeredOwners"),
        ("devices", "devices", "rels", "registeredUsers"),
        ("directoryRoles", "directoryRoles", "rels", "members"),
        (
            "directoryRoles",
            "directoryRoles",
            "children",
            "scopedMembers",
        ),
        (
            "administrativeUnits",
            "directory/administrativeUnits",
            "rels",
            "members",
        ),
    ];
    for (coll, prefix, key, seg) in checks {
        let want = pairs(&truth, coll, key, seg);
        assert!(!want.is_empty(), "{coll} {seg}");
        let mut got = BTreeSet::new();
        for p in truth[*coll]["ids"].as_array().unwrap() {
            let p = p.as_str().unwrap();
            for c in ids(&t, &format!("/v1.0/{prefix}/{p}/{seg}")).await {
                got.insert((p.to_string(), c));
            }
        }
        assert_eq!(got, want, "{coll} {seg}");
    }
    // child collections list the children some endpoint serves
    for (child, sources) in [
        (
            "appRoleAssignments",
            vec![
                ("groups", "appRoleAssignments"),
                ("servicePrincipals", "appRoleAssignments"),
                ("servicePrincipals", "appRoleAssignedTo"),
            ],
        ),
        (
            "federatedIdentityCredentials",
            vec![("applications", "federatedIdentityCredentials")],
        ),
    ] {
        let served: BTreeSet<String> = sources
            .iter()
            .flat_map(|(c, s)| pairs(&truth, c, "children", s))
            .map(|(_, c)| c)
            .collect();
        let listed: BTreeSet<String> = truth[child]["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(served, listed, "{child}");
    }
    // children of a deleted parent are not served
    let s = mutate(&t, json!({"seed": 5, "count": 1, "ops": ["delete_group"]})).await;
    let g = s["changes"][0][1].as_str().unwrap();
    assert_eq!(
        t.get(&format!("/v1.0/groups/{g}/appRoleAssignments"))
            .await
            .0,
        404
    );
}
