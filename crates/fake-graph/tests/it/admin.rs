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
