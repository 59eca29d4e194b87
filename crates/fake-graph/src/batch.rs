//! JSON batching (reference §5): up to 20 requests, `dependsOn` (424 when a dependency failed),
//! per-item status, headers and body; each item is authorised and throttled on its own.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::auth;
use crate::errors;
use crate::graph;
use crate::state::{Req, Resp, State};

pub fn handle(state: &State, req: &Req, version: &str) -> Resp {
    if let Err(r) = auth::check_bearer(state, req) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return errors::graph(400, "BadRequest", "Invalid batch payload format.");
    };
    let Some(items) = body.get("requests").and_then(Value::as_array) else {
        return errors::graph(
            400,
            "BadRequest",
            "Invalid batch payload format: 'requests' is missing.",
        );
    };
    if items.len() > 20 {
        return errors::graph(
            400,
            "BadRequest",
            "The number of batch requests exceeds the limit of 20.",
        );
    }
    let mut seen = HashSet::new();
    for it in items {
        let Some(id) = it.get("id").and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_i64().map(|n| n.to_string()))
        }) else {
            return errors::graph(400, "BadRequest", "Batch request id is missing.");
        };
        if !seen.insert(id.to_lowercase()) {
            return errors::graph(
                400,
                "BadRequest",
                &format!("Batch request id '{id}' is duplicated; ids must be unique."),
            );
        }
        if it.get("url").and_then(Value::as_str).is_none()
            || it.get("method").and_then(Value::as_str).is_none()
        {
            return errors::graph(
                400,
                "BadRequest",
                &format!("Batch request '{id}' must have a method and a url."),
            );
        }
    }
    let mut status_of: HashMap<String, u16> = HashMap::new();
    let mut ru_total = 0u32;
    let mut responses = Vec::new();
    for it in items {
        let id = it["id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| it["id"].to_string());
        let deps: Vec<String> = it
            .get("dependsOn")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_lowercase))
                    .collect()
            })
            .unwrap_or_default();
        let failed_dep = deps
            .iter()
            .any(|d| status_of.get(d).is_none_or(|s| *s >= 400));
        let resp = if failed_dep {
            errors::graph(
                424,
                "FailedDependency",
                "The request failed because a request it depends on failed.",
            )
        } else {
            let url = it["url"].as_str().unwrap_or("");
            let url = url.trim_start_matches('/');
            let url = url
                .strip_prefix("v1.0/")
                .or_else(|| url.strip_prefix("beta/"))
                .unwrap_or(url);
            let mut headers: Vec<(String, String)> = req
                .headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .cloned()
                .collect();
            if let Some(h) = it.get("headers").and_then(Value::as_object) {
                for (k, v) in h {
                    headers.push((k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_string()));
                }
            }
            let body = it
                .get("body")
                .map(|b| Bytes::from(b.to_string()))
                .unwrap_or_default();
            let inner = Req::parse(
                it["method"].as_str().unwrap_or("GET"),
                &format!("/{version}/{url}"),
                headers,
                body,
            );
            graph::handle(state, &inner)
        };
        status_of.insert(id.to_lowercase(), resp.status);
        // per-item units and 429s count in the server's stats like top-level requests
        ru_total += resp.ru;
        if resp.status == 429 {
            state.stats.lock().unwrap().throttled_429 += 1;
        }
        let mut h = Map::new();
        for (k, v) in &resp.headers {
            let name = match k.as_str() {
                "content-type" => "Content-Type",
                "retry-after" => "Retry-After",
                "x-ms-resource-unit" => "x-ms-resource-unit",
                "odata-version" => "OData-Version",
                "location" => "Location",
                other => other,
            };
            h.insert(name.to_string(), json!(v));
        }
        h.insert("Cache-Control".into(), json!("no-cache"));
        let body: Value = if resp.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
        };
        responses.push(json!({"id": id, "status": resp.status, "headers": h, "body": body}));
    }
    let mut r = Resp::json(200, &json!({"responses": responses}));
    r.items = items.len();
    r.ru = ru_total;
    r
}
