use std::collections::{HashMap, HashSet};

use fake_graph::{Config, Profile};
use serde_json::{Value, json};

use crate::common::{self, err_code, tiny};

/// Follow a delta round: (values, deltaLink, pages).
async fn round(
    t: &common::T,
    start: &str,
    headers: &[(&str, &str)],
) -> (Vec<Value>, String, usize) {
    let mut out = Vec::new();
    let mut url = start.to_string();
    let mut pages = 0;
    loop {
        let (s, _, b) = t.get_h(&url, headers).await;
        assert_eq!(s, 200, "{url}: {b}");
        pages += 1;
        assert!(!(b.get("@odata.nextLink").is_some() && b.get("@odata.deltaLink").is_some()));
        out.extend(b["value"].as_array().unwrap().iter().cloned());
        if let Some(n) = b["@odata.nextLink"].as_str() {
            url = n.to_string();
        } else {
            return (
                out,
                b["@odata.deltaLink"].as_str().unwrap().to_string(),
                pages,
            );
        }
    }
}

#[tokio::test]
async fn users_delta_rounds() {
    let mut cfg = Config::new(Profile::Tiny, 3);
    cfg.delta_page_size = 7;
    let t = common::start(cfg).await;
    let (v, link, pages) = round(&t, "/v1.0/users/delta", &[]).await;
    assert_eq!(v.len(), 20);
    assert_eq!(pages, 3);
    assert!(link.contains("$deltatoken="));
    // nothing changed → empty round
    let (v2, link2, _) = round(&t, &link, &[]).await;
    assert!(v2.is_empty());
    // mutate, then the round holds exactly the changed users
    let summary = t.admin("/mutate", json!({"seed": 11, "count": 60})).await;
    assert!(summary["applied"].as_u64().unwrap() > 0);
    let changed_users: HashSet<String> = summary["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c[0] == "users")
        .map(|c| c[1].as_str().unwrap().to_string())
        .collect();
    let (v3, link3, _) = round(&t, &link2, &[]).await;
    let got: HashSet<String> = v3
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, changed_users);
    for u in &v3 {
        if let Some(r) = u.get("@removed") {
            assert!(r["reason"] == "changed" || r["reason"] == "deleted");
        }
    }
    // $deltatoken=latest: no data, only a deltaLink
    let (s, _, b) = t.get("/v1.0/users/delta?$deltatoken=latest").await;
    assert_eq!(s, 200);
    assert!(b["value"].as_array().unwrap().is_empty() && b["@odata.deltaLink"].is_string());
    // operator reset → 410 Gone + Location; expiry → 400 syncStateNotFound
    t.admin("/delta/reset", json!({})).await;
    let (s, h, b) = t.get(&link3).await;
    assert_eq!(s, 410, "{b}");
    assert!(
        h.get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("/v1.0/users/delta")
    );
    let (_, fresh, _) = round(&t, "/v1.0/users/delta", &[]).await;
    assert_eq!(t.get(&fresh).await.0, 200);
    t.admin("/delta/expire", json!({})).await;
    let (s, _, b) = t.get(&fresh).await;
    assert_eq!((s, err_code(&b)), (400, "syncStateNotFound"));
}

#[tokio::test]
async fn prefer_minimal_and_select() {
    let t = tiny().await;
    let (v, link, _) = round(
        &t,
        "/v1.0/users/delta?$select=displayName,jobTitle,department",
        &[],
    )
    .await;
    assert!(v.iter().all(|u| {
        u.as_object()
            .unwrap()
            .keys()
            .all(|k| ["displayName", "jobTitle", "department", "id"].contains(&k.as_str()))
    }));
    t.admin("/mutate", json!({"seed": 5, "count": 40})).await;
    let (v, _, _) = round(&t, &link, &[("Prefer", "return=minimal")]).await;
    for u in v.iter().filter(|u| u.get("@removed").is_none()) {
        assert!(
            u.as_object()
                .unwrap()
                .keys()
                .all(|k| ["displayName", "jobTitle", "department", "id"].contains(&k.as_str())),
            "{u}"
        );
    }
}

#[tokio::test]
async fn group_members_delta_split_across_pages() {
    let mut cfg = Config::new(Profile::Tiny, 1);
    cfg.delta_members_per_page = 6;
    let t = common::start(cfg).await;
    let (v, link, _) = round(&t, "/v1.0/groups/delta?$select=displayName,members", &[]).await;
    let mut merged: HashMap<String, HashSet<String>> = HashMap::new();
    let mut appearances: HashMap<String, usize> = HashMap::new();
    for g in &v {
        let id = g["id"].as_str().unwrap().to_string();
        *appearances.entry(id.clone()).or_default() += 1;
        for m in g["members@delta"].as_array().into_iter().flatten() {
            assert!(
                m["@odata.type"]
                    .as_str()
                    .unwrap()
                    .starts_with("#microsoft.graph.")
            );
            merged
                .entry(id.clone())
                .or_default()
                .insert(m["id"].as_str().unwrap().to_string());
        }
    }
    // "All Company" has 20 members → repeated over 4 pages
    let groups = t.all("/v1.0/groups?$select=id").await;
    let all_company = groups[0]["id"].as_str().unwrap();
    assert_eq!(appearances[all_company], 4);
    assert_eq!(merged[all_company].len(), 20);
    for g in &groups {
        let id = g["id"].as_str().unwrap();
        let direct: HashSet<String> = t
            .all(&format!("/v1.0/groups/{id}/members"))
            .await
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(merged.get(id).cloned().unwrap_or_default(), direct);
    }
    // membership changes come back as members@delta with @removed
    t.admin("/mutate", json!({"seed": 99, "count": 80})).await;
    let (v, _, _) = round(&t, &link, &[]).await;
    assert!(v.iter().any(|g| g.get("members@delta").is_some()));
}

/// Deleted members may stay in a group's stored list but are not served: pages split over the
/// live ones only, wherever the dead ones fall. "All Company" (20 members, 6 a page) loses its
/// 6th and its last member: 18 live ones fill exactly three pages, and no fourth, empty one
/// follows.
#[tokio::test]
async fn group_members_delta_split_skips_deleted_members() {
    let mut cfg = Config::new(Profile::Tiny, 1);
    cfg.delta_members_per_page = 6;
    let t = common::start(cfg).await;
    let all_company = t.all("/v1.0/groups?$select=id").await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let members = t.all(&format!("/v1.0/groups/{all_company}/members")).await;
    assert_eq!(members.len(), 20);
    for gone in [&members[5], &members[19]] {
        t.admin(
            "/edit",
            json!([{"delete": {"collection": "users", "id": gone["id"]}}]),
        )
        .await;
    }
    let (v, _, _) = round(&t, "/v1.0/groups/delta?$select=displayName,members", &[]).await;
    let mut merged: HashMap<String, Vec<String>> = HashMap::new();
    let mut appearances: HashMap<String, usize> = HashMap::new();
    for g in &v {
        let id = g["id"].as_str().unwrap().to_string();
        *appearances.entry(id.clone()).or_default() += 1;
        let entries = g["members@delta"].as_array().cloned().unwrap_or_default();
        assert!(entries.len() <= 6, "{g}");
        merged.entry(id).or_default().extend(
            entries
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string()),
        );
    }
    for g in t.all("/v1.0/groups?$select=id").await {
        let id = g["id"].as_str().unwrap();
        let mut live: Vec<String> = t
            .all(&format!("/v1.0/groups/{id}/members"))
            .await
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        let mut served = merged.get(id).cloned().unwrap_or_default();
        live.sort();
        served.sort();
        // each live member once, no deleted one, and no page that serves none of them
        assert_eq!(served, live, "group {id}");
        assert_eq!(appearances[id], live.len().div_ceil(6).max(1), "group {id}");
    }
    assert_eq!(appearances[&all_company], 3);
}

#[tokio::test]
async fn other_delta_resources() {
    let t = tiny().await;
    for p in [
        "applications",
        "servicePrincipals",
        "directoryRoles",
        "devices",
        "directory/administrativeUnits",
        "oauth2PermissionGrants",
        "contacts",
    ] {
        let (v, _, _) = round(&t, &format!("/v1.0/{p}/delta"), &[]).await;
        assert!(!v.is_empty(), "{p}");
    }
    let (v, _, _) = round(&t, "/v1.0/directoryRoles/delta", &[]).await;
    assert!(v.iter().any(|r| r.get("members@delta").is_some()));
    assert_eq!(t.get("/v1.0/users/delta?$top=5").await.0, 400);
    assert_eq!(t.get("/v1.0/users/delta?$deltatoken=bogus").await.0, 400);
}
