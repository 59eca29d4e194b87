//! Walk every endpoint of the route table with a `$select` of every documented property, and check
//! that in the tiny tenant every property is non-null in at least one object.

use std::collections::{BTreeMap, BTreeSet};

use fake_graph::routes::{Kind, ROUTES};
use fake_graph::schema::Schema;
use fake_graph::tenant::logs::LogKind;
use serde_json::Value;

use crate::common::tiny;

fn resource(coll: &str) -> &'static str {
    fake_graph::registry::get(coll).unwrap().schema
}

/// Properties that are legitimately null on every live object.
const ALWAYS_NULL: &[&str] = &["deletedDateTime"];

#[tokio::test]
async fn walk_every_endpoint_with_every_property() {
    let t = tiny().await;
    let schema = Schema::get();
    let mut report: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut walked = 0;
    for version in ["v1.0", "beta"] {
        for r in ROUTES.iter() {
            let (resources, parent): (Vec<&str>, Option<String>) = match r.kind {
                // Their objects are groups, roles, apps and devices: checked against the
                // relationships in `reverse_relationships_agree_with_the_forward_ones`.
                Kind::Delta(_) | Kind::MemberOf { .. } | Kind::Holders(..) => continue,
                Kind::List(c) | Kind::Entity(c) | Kind::PimGroup(c) => {
                    let res = resource(c);
                    let v = if res == "namedLocation" {
                        vec![res, "ipNamedLocation", "countryNamedLocation"]
                    } else {
                        vec![res]
                    };
                    (
                        v,
                        if matches!(r.kind, Kind::Entity(_)) {
                            Some(r.pattern.trim_end_matches("/{id}").to_string())
                        } else {
                            None
                        },
                    )
                }
                Kind::Child(c, _) => (
                    vec![resource(c)],
                    Some(r.pattern.split("/{id}").next().unwrap().to_string()),
                ),
                Kind::Rel(..) | Kind::Transitive => (
                    vec!["directoryObject"],
                    Some(r.pattern.split("/{id}").next().unwrap().to_string()),
                ),
                Kind::GroupLifecycle => (vec!["groupLifecyclePolicy"], Some("groups".into())),
                Kind::Singleton(n) => (vec![n], None),
                Kind::Log(LogKind::SignIn) => (vec!["signIn"], None),
                Kind::Log(LogKind::Audit) => (vec!["directoryAudit"], None),
            };
            let mut props: Vec<String> = Vec::new();
            for res in &resources {
                for p in schema.props(res) {
                    let list_only_user = *res == "user"
                        && !matches!(r.kind, Kind::Entity(_))
                        && fake_graph::graph::USER_SINGLE_ONLY.contains(&p.name.as_str());
                    if !props.contains(&p.name) && !list_only_user {
                        props.push(p.name.clone());
                    }
                }
            }
            let select = props.join(",");
            // the paths to call
            let mut paths = Vec::new();
            match (&parent, r.kind) {
                (Some(pp), _) => {
                    let parent_path = pp.clone();
                    let mut ids: Vec<String> = t
                        .all(&format!("/{version}/{parent_path}?$select=id"))
                        .await
                        .iter()
                        .map(|v| v["id"].as_str().unwrap().to_string())
                        .collect();
                    if matches!(r.kind, Kind::Entity(_)) && !pp.ends_with("users") {
                        ids.truncate(3);
                    }
                    for id in ids {
                        paths.push(format!(
                            "/{version}/{}?$select={select}",
                            r.pattern.replace("{id}", &id)
                        ));
                    }
                }
                (None, Kind::PimGroup(_)) => {
                    for g in t
                        .all(&format!("/{version}/groups?$select=id,isAssignableToRole"))
                        .await
                    {
                        if g["isAssignableToRole"] == true {
                            paths.push(format!(
                                "/{version}/{}?$select={select}&$filter=groupId eq '{}'",
                                r.pattern,
                                g["id"].as_str().unwrap()
                            ));
                        }
                    }
                }
                _ => paths.push(format!("/{version}/{}?$select={select}", r.pattern)),
            }
            assert!(!paths.is_empty(), "{}", r.pattern);
            let mut seen: BTreeSet<String> = BTreeSet::new();
            let mut objects = 0;
            for p in paths {
                let (s, _, body) = t.get(&p).await;
                assert_eq!(s, 200, "{p}: {body}");
                let items: Vec<Value> = if let Some(v) = body.get("value").and_then(Value::as_array)
                {
                    let mut all = v.clone();
                    let mut next = body["@odata.nextLink"].as_str().map(str::to_string);
                    while let Some(n) = next {
                        let (s, _, b) = t.get(&n).await;
                        assert_eq!(s, 200);
                        all.extend(b["value"].as_array().unwrap().iter().cloned());
                        next = b["@odata.nextLink"].as_str().map(str::to_string);
                    }
                    all
                } else {
                    vec![body]
                };
                for it in items {
                    objects += 1;
                    for (k, v) in it.as_object().unwrap() {
                        if !v.is_null() {
                            seen.insert(k.clone());
                        }
                    }
                }
            }
            assert!(objects > 0, "{} returned no data", r.pattern);
            walked += 1;
            let missing: Vec<String> = props
                .iter()
                .filter(|p| !seen.contains(*p) && !ALWAYS_NULL.contains(&p.as_str()))
                .filter(|_| resources[0] != "directoryObject")
                .cloned()
                .collect();
            if !missing.is_empty() {
                report.insert(format!("{version} {}", r.pattern), missing);
            }
        }
    }
    assert!(report.is_empty(), "properties never non-null: {report:#?}");
    assert!(walked > 100);
}

/// `memberOf`, `transitiveMemberOf`, `ownedObjects` and `ownedDevices` list exactly the objects
/// whose forward relationship (members, owners, registered owners) holds the object.
#[tokio::test]
async fn reverse_relationships_agree_with_the_forward_ones() {
    let t = tiny().await;
    let (status, _, truth) = t.get("/_fake/truth").await;
    assert_eq!(status, 200);
    let pairs = |coll: &str, rel: &str| -> Vec<(String, String)> {
        truth[coll]["rels"][rel]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
            .collect()
    };
    let ids = |objects: Vec<Value>| -> BTreeSet<String> {
        objects
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect()
    };
    let mut checked = 0;
    for user in truth["users"]["ids"].as_array().unwrap().iter().take(12) {
        let user = user.as_str().unwrap();
        let holding = |colls: &[&str], rel: &str| -> BTreeSet<String> {
            colls
                .iter()
                .flat_map(|c| pairs(c, rel))
                .filter(|(_, member)| member == user)
                .map(|(holder, _)| holder)
                .collect()
        };
        let member_of = ids(t.all(&format!("/v1.0/users/{user}/memberOf")).await);
        assert_eq!(
            member_of,
            holding(
                &["groups", "directoryRoles", "administrativeUnits"],
                "members"
            ),
            "memberOf of {user}"
        );
        let owned = ids(t.all(&format!("/v1.0/users/{user}/ownedObjects")).await);
        assert_eq!(
            owned,
            holding(&["groups", "applications", "servicePrincipals"], "owners")
        );
        let devices = ids(t.all(&format!("/v1.0/users/{user}/ownedDevices")).await);
        assert_eq!(devices, holding(&["devices"], "registeredOwners"));
        checked += member_of.len() + owned.len() + devices.len();
    }
    assert!(checked > 0, "the tiny tenant's users hold something");
    // transitiveMemberOf of a group: every group whose transitive members include it.
    for group in truth["groups"]["ids"].as_array().unwrap().iter().take(10) {
        let group = group.as_str().unwrap();
        let containers = ids(t
            .all(&format!("/v1.0/groups/{group}/transitiveMemberOf"))
            .await);
        for container in &containers {
            let members = ids(t
                .all(&format!("/v1.0/groups/{container}/transitiveMembers"))
                .await);
            assert!(members.contains(group), "{container} contains {group}");
        }
        for (holder, member) in pairs("groups", "members") {
            if member == group {
                assert!(
                    containers.contains(&holder),
                    "{holder} directly contains {group}"
                );
            }
        }
    }
}
