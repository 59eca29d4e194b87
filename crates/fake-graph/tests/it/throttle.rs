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
    // transitiveMembers costs 5 units; 20 per $batch → 100 units per round trip, so the
    // 3,500-unit window fills quickly even on a loaded machine
    let reqs: Vec<serde_json::Value> = (0..20)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/groups/{gid}/transitiveMembers")}))
        .collect();
    for _ in 0..60 {
        let r = t
            .client
            .post(t.url("/v1.0/$batch"))
            .bearer_auth(&t.token)
            .json(&json!({"requests": reqs}))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        if v["responses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["status"] == 429)
        {
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
