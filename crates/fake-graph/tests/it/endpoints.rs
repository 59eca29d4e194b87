//! Walk every endpoint of the route table with a `$select` of every documented property, and check
//! that in the tiny tenant every property is non-null in at least one object.

use std::collections::{BTreeMap, BTreeSet};

use fake_graph::routes::{Kind, ROUTES};
use fake_graph::schema::Schema;
use fake_graph::tenant::COLLECTIONS;
use fake_graph::tenant::logs::LogKind;
use serde_json::Value;

use crate::common::tiny;

fn resource(coll: &str) -> &'static str {
    COLLECTIONS
        .iter()
        .find(|(k, _)| *k == coll)
        .map(|(_, r)| *r)
        .unwrap()
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
        for r in ROUTES {
            let (resources, parent): (Vec<&str>, Option<String>) = match r.kind {
                Kind::Delta(_) => continue,
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
