use std::collections::{HashMap, HashSet};

use fake_graph::{Config, Counts, Profile};

use crate::common;

#[tokio::test]
async fn small_and_custom_profiles() {
    let t = common::start(Config::new(Profile::Small, 5)).await;
    let (_, _, v) = t
        .get_h(
            "/v1.0/users?$count=true&$top=1",
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(v["@odata.count"], 1000);
    let users = t
        .all("/v1.0/users?$top=999&$select=id,userType,accountEnabled,userPrincipalName")
        .await;
    assert_eq!(users.len(), 1000);
    let guests = users.iter().filter(|u| u["userType"] == "Guest").count();
    let disabled = users
        .iter()
        .filter(|u| u["accountEnabled"] == false)
        .count();
    assert!(guests > 50 && disabled > 30, "{guests} {disabled}");
    assert!(
        users
            .iter()
            .filter(|u| u["userType"] == "Guest")
            .all(|u| u["userPrincipalName"].as_str().unwrap().contains("#EXT#"))
    );
    // nested groups: depth at most 3
    let groups = t.all("/v1.0/groups?$top=999&$select=id").await;
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    for g in &groups {
        let id = g["id"].as_str().unwrap().to_string();
        let m = t
            .all(&format!("/v1.0/groups/{id}/members?$select=id&$top=999"))
            .await;
        children.insert(
            id,
            m.iter()
                .filter(|x| x["@odata.type"] == "#microsoft.graph.group")
                .map(|x| x["id"].as_str().unwrap().to_string())
                .collect(),
        );
    }
    fn depth(g: &str, c: &HashMap<String, Vec<String>>, seen: &mut HashSet<String>) -> usize {
        if !seen.insert(g.to_string()) {
            return 0;
        }
        1 + c
            .get(g)
            .map(|v| v.iter().map(|x| depth(x, c, seen)).max().unwrap_or(0))
            .unwrap_or(0)
    }
    let max = groups
        .iter()
        .map(|g| depth(g["id"].as_str().unwrap(), &children, &mut HashSet::new()))
        .max()
        .unwrap();
    assert!((2..=4).contains(&max), "nesting levels {max}");
    let custom = Counts {
        users: 42,
        groups: 4,
        applications: 3,
        service_principals: 5,
        devices: 2,
        signins: 10,
        audits: 5,
        ca_policies: 1,
        admin_units: 1,
        contacts: 1,
        managed_devices: 1,
        log_days: 1,
    };
    let t = common::start(Config::new(Profile::Custom(custom), 1)).await;
    assert_eq!(t.all("/v1.0/users").await.len(), 42);
    assert_eq!(t.all("/v1.0/auditLogs/signIns").await.len(), 10);
}
