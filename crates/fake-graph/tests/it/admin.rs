use std::time::{Duration, Instant};

use fake_graph::{Config, Profile};
use serde_json::json;

use crate::common::{self, err_code, tiny};

#[tokio::test]
async fn injected_status_faults() {
    let t = tiny().await;
    t.admin(
        "/faults",
        json!({"path_prefix": "/v1.0/users", "status": 429, "retry_after": "1.5", "count": 2}),
    )
    .await;
    for _ in 0..2 {
        let (s, h, v) = t.get("/v1.0/users").await;
        assert_eq!(s, 429);
        assert_eq!(h.get("retry-after").unwrap(), "1.5");
        assert_eq!(err_code(&v), "TooManyRequests");
        assert_eq!(v["error"]["innerError"]["status"], "429");
    }
    assert_eq!(t.get("/v1.0/users").await.0, 200);
    assert_eq!(t.get("/v1.0/groups").await.0, 200);
    for s in [500u16, 502, 503, 504] {
        t.admin(
            "/faults",
            json!({"path_prefix": "/v1.0/groups", "status": s}),
        )
        .await;
        let (got, h, v) = t.get("/v1.0/groups").await;
        assert_eq!(got, s);
        assert!(h.get("retry-after").is_none());
        assert!(
            v["error"]["code"].is_string() && v["error"]["innerError"]["request-id"].is_string()
        );
    }
    t.admin(
        "/faults",
        json!({"path_prefix": "/v1.0/groups", "status": 503, "count": 5}),
    )
    .await;
    let r = t
        .client
        .delete(t.url("/_fake/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.get("/v1.0/groups").await.0, 200);
}

#[tokio::test]
async fn reset_truncate_and_slow() {
    let t = tiny().await;
    t.admin(
        "/faults",
        json!({"path_prefix": "/v1.0/devices", "reset": true, "count": 1}),
    )
    .await;
    let r = t
        .client
        .get(t.url("/v1.0/devices"))
        .bearer_auth(&t.token)
        .send()
        .await;
    assert!(r.is_err(), "connection should be dropped");
    assert_eq!(t.get("/v1.0/devices").await.0, 200);
    t.admin(
        "/faults",
        json!({"path_prefix": "/v1.0/devices", "truncate": true}),
    )
    .await;
    let r = t
        .client
        .get(t.url("/v1.0/devices"))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert!(r.bytes().await.is_err(), "body should be truncated");
    t.admin(
        "/faults",
        json!({"path_prefix": "/v1.0/domains", "delay_ms": 400}),
    )
    .await;
    let t0 = Instant::now();
    assert_eq!(t.get("/v1.0/domains").await.0, 200);
    assert!(t0.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn random_fault_rates_are_seeded() {
    let t = common::start(Config::new(Profile::Tiny, 4)).await;
    t.admin("/faults", json!({"rates": {"server_error": 0.5}}))
        .await;
    let mut errors = 0;
    for _ in 0..40 {
        let (s, _, _) = t.get("/v1.0/domains").await;
        if s >= 500 {
            errors += 1;
        }
    }
    assert!((8..=32).contains(&errors), "{errors}");
}

#[tokio::test]
async fn stats_and_latency() {
    let t = tiny().await;
    t.get("/v1.0/users").await;
    t.get("/v1.0/users?$select=id").await;
    t.get("/v1.0/nope").await;
    let s: serde_json::Value = t
        .client
        .get(t.url("/_fake/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["by_endpoint"]["GET /v1.0/users"]["200"], 2);
    assert!(s["resource_units"].as_u64().unwrap() >= 3);
    assert!(s["bytes_sent"].as_u64().unwrap() > 1000);
    assert!(s["objects_served"].as_u64().unwrap() >= 40);
    t.admin("/latency", json!({"base_ms": 150, "per_item_ms": 1.0}))
        .await;
    let t0 = Instant::now();
    t.get("/v1.0/users").await;
    assert!(t0.elapsed() >= Duration::from_millis(170));
}

#[tokio::test]
async fn mutations_are_deterministic() {
    let a = common::start(Config::new(Profile::Tiny, 8)).await;
    let b = common::start(Config::new(Profile::Tiny, 8)).await;
    // same seed → same tenant
    assert_eq!(
        a.all("/v1.0/users?$select=id,displayName").await,
        b.all("/v1.0/users?$select=id,displayName").await
    );
    let sa = a.admin("/mutate", json!({"seed": 3, "count": 30})).await;
    let sb = b.admin("/mutate", json!({"seed": 3, "count": 30})).await;
    assert_eq!(sa["operations"], sb["operations"]);
    assert_eq!(sa["changes"], sb["changes"]);
    assert_eq!(
        a.all("/v1.0/groups?$select=id,description").await,
        b.all("/v1.0/groups?$select=id,description").await
    );
    let before = a.all("/v1.0/auditLogs/signIns").await.len();
    let s = a.server.mutate(9, 200);
    let new_signins: usize = s
        .changes
        .iter()
        .filter(|c| c.0 == "signIns")
        .map(|c| c.1.trim_start_matches('+').parse::<usize>().unwrap())
        .sum();
    assert_eq!(
        a.all("/v1.0/auditLogs/signIns").await.len(),
        before + new_signins
    );
}

/// `/_fake/edit` sets the times Graph maintains itself: a new Conditional Access policy's
/// `createdDateTime` (its `modifiedDateTime` stays null until a change), a changed policy's
/// `modifiedDateTime`, a risky user's `riskLastUpdatedDateTime` when its risk is dismissed; an
/// edit that gives one of them keeps it.
#[tokio::test]
async fn edits_stamp_the_times_graph_maintains() {
    let t = tiny().await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let (_, _, risky) = t.get("/v1.0/identityProtection/riskyUsers").await;
    let risky_id = risky["value"][0]["id"].as_str().unwrap().to_string();
    t.admin(
        "/edit",
        json!([
            {"create": {"collection": "conditionalAccessPolicies", "id": "stamped", "props": {"displayName": "Stamped", "state": "enabled"}}},
            {"create": {"collection": "conditionalAccessPolicies", "id": "planted-old", "props": {"displayName": "Old", "state": "enabled", "createdDateTime": "2020-01-01T00:00:00Z"}}},
            {"set": {"collection": "riskyUsers", "id": risky_id, "props": {"riskState": "dismissed", "riskLevel": "none", "riskDetail": "adminDismissedAllRiskForUser"}}},
        ]),
    )
    .await;
    let time = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("{v}")))
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let t = &t;
    let policy = |id: &'static str| async move {
        let (status, _, list) = t.get("/v1.0/identity/conditionalAccess/policies").await;
        assert_eq!(status, 200, "{list}");
        list["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no policy {id}"))
    };
    let p = policy("stamped").await;
    assert!(time(&p["createdDateTime"]) >= before, "{p}");
    assert!(p["modifiedDateTime"].is_null(), "{p}");
    let old = policy("planted-old").await;
    assert_eq!(old["createdDateTime"], "2020-01-01T00:00:00Z");
    t.admin(
        "/edit",
        json!([{"set": {"collection": "conditionalAccessPolicies", "id": "planted-old", "props": {"state": "disabled"}}}]),
    )
    .await;
    let old = policy("planted-old").await;
    assert!(time(&old["modifiedDateTime"]) >= before, "{old}");
    assert_eq!(old["createdDateTime"], "2020-01-01T00:00:00Z");
    let (_, _, risky) = t.get("/v1.0/identityProtection/riskyUsers").await;
    let user = risky["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == risky_id.as_str())
        .unwrap();
    assert_eq!(user["riskState"], "dismissed");
    assert!(time(&user["riskLastUpdatedDateTime"]) >= before, "{user}");
}
