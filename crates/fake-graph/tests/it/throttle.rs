use fake_graph::{Config, Profile};
use serde_json::json;

use crate::common::{self, err_code};

#[tokio::test]
async fn published_limits() {
    let mut cfg = Config::new(Profile::Tiny, 1);
    cfg.throttling = true;
    let t = common::start(cfg).await;
    let (s, h, _) = t.get("/v1.0/users").await;
    assert_eq!(s, 200);
    assert_eq!(h.get("x-ms-resource-unit").unwrap(), "2");
    let (_, h, _) = t.get("/v1.0/users?$select=id").await;
    assert_eq!(h.get("x-ms-resource-unit").unwrap(), "1");
    let g = t.all("/v1.0/groups?$select=id").await;
    let (_, h, _) = t
        .get(&format!(
            "/v1.0/groups/{}/members",
            g[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(h.get("x-ms-resource-unit").unwrap(), "3");
    // identity protection / CA: 1 request per second, 429 without Retry-After
    assert_eq!(
        t.get("/v1.0/identity/conditionalAccess/policies").await.0,
        200
    );
    let (s, h, v) = t.get("/v1.0/identityProtection/riskyUsers").await;
    assert_eq!(s, 429);
    assert!(h.get("retry-after").is_none());
    assert!(h.get("x-ms-throttle-scope").is_some());
    assert_eq!(err_code(&v), "TooManyRequests");
    // reports: 5 requests per 10 s, then 429 with Retry-After
    for _ in 0..5 {
        assert_eq!(t.get("/v1.0/auditLogs/directoryAudits?$top=1").await.0, 200);
    }
    let (s, h, _) = t.get("/v1.0/auditLogs/signIns?$top=1").await;
    assert_eq!(s, 429);
    let ra: f64 = h
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ra > 0.0 && ra <= 10.0);
    // identity RU budget: 3,500 per 10 s in a tenant under 50 users
    let mut throttled = false;
    let gid = g[0]["id"].as_str().unwrap().to_string();
    for _ in 0..800 {
        // transitiveMembers costs 5 units
        let (s, _, _) = t
            .get(&format!("/v1.0/groups/{gid}/transitiveMembers"))
            .await;
        if s == 429 {
            throttled = true;
            break;
        }
    }
    assert!(throttled);
    let stats = t.server.stats();
    assert!(stats["throttled_429"].as_u64().unwrap() >= 3);
    // switchable
    t.admin("/throttling", json!({"enabled": false})).await;
    assert_eq!(t.get("/v1.0/users?$top=1&$select=id").await.0, 200);
}
