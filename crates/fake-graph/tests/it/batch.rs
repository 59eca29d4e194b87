use serde_json::{Value, json};

use crate::common::tiny;

#[tokio::test]
async fn json_batch() {
    let t = tiny().await;
    let body = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/users?$select=id,displayName&$top=3"},
        {"id": "2", "method": "GET", "url": "/nosuch"},
        {"id": "3", "method": "GET", "url": "/groups", "dependsOn": ["2"]},
        {"id": "4", "method": "GET", "url": "/organization", "headers": {"ConsistencyLevel": "eventual"}, "dependsOn": ["1"]}
    ]});
    let r = t
        .client
        .post(t.url("/v1.0/$batch"))
        .bearer_auth(&t.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let by_id = |id: &str| {
        v["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("1")["status"], 200);
    assert_eq!(by_id("1")["body"]["value"].as_array().unwrap().len(), 3);
    assert!(by_id("1")["headers"]["Content-Type"].is_string());
    assert_eq!(by_id("2")["status"], 400);
    assert_eq!(by_id("3")["status"], 424);
    assert_eq!(by_id("4")["status"], 200);
    // more than 20 → 400; duplicate ids → 400; no token → 401
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    let r = t
        .client
        .post(t.url("/v1.0/$batch"))
        .bearer_auth(&t.token)
        .json(&json!({"requests": many}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let dup = json!({"requests": [{"id": "a", "method": "GET", "url": "/users"}, {"id": "A", "method": "GET", "url": "/groups"}]});
    let r = t
        .client
        .post(t.url("/v1.0/$batch"))
        .bearer_auth(&t.token)
        .json(&dup)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = t
        .client
        .post(t.url("/v1.0/$batch"))
        .json(&dup)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn batch_items_are_throttled_individually() {
    let mut cfg = fake_graph::Config::new(fake_graph::Profile::Tiny, 1);
    cfg.throttling = true;
    let t = crate::common::start(cfg).await;
    let reqs: Vec<Value> = (0..7).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/auditLogs/directoryAudits?$top=1"})).collect();
    let r = t
        .client
        .post(t.url("/v1.0/$batch"))
        .bearer_auth(&t.token)
        .json(&json!({"requests": reqs}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let statuses: Vec<u64> = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5);
    let throttled: Vec<&Value> = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["status"] == 429)
        .collect();
    assert_eq!(throttled.len(), 2);
    assert!(throttled[0]["headers"]["Retry-After"].is_string());
}
