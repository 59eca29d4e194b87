//! Graph's error envelope (§6) and the Azure AD token-endpoint error body (§1.1).

use chrono::Utc;
use serde_json::json;

use crate::state::{Req, Resp};

/// `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`
pub fn graph(status: u16, code: &str, message: &str) -> Resp {
    let rid = uuid::Uuid::new_v4().to_string();
    let date = Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message,
                "innerError": {"date": date, "request-id": rid, "client-request-id": rid}}}),
    )
    .header("request-id", rid.clone())
    .header("client-request-id", rid)
}

/// Graph echoes the caller's `client-request-id` in the header and, on an error, in the body's
/// `innerError`: clients correlate their logs with Microsoft support by it.
pub fn echo_client_request_id(resp: &mut Resp, req: &Req) {
    let Some(cid) = req.header("client-request-id") else {
        return;
    };
    resp.headers.retain(|(k, _)| k != "client-request-id");
    resp.headers
        .push(("client-request-id".into(), cid.to_string()));
    if resp.status < 400 {
        return;
    }
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(&resp.body) else {
        return;
    };
    if let Some(inner) = body
        .pointer_mut("/error/innerError")
        .and_then(|v| v.as_object_mut())
    {
        inner.insert("client-request-id".into(), json!(cid));
        resp.body = serde_json::to_vec(&body).unwrap_or_default().into();
    }
}

pub fn bad_request(message: &str) -> Resp {
    graph(400, "Request_BadRequest", message)
}

pub fn not_found_resource(id: &str) -> Resp {
    graph(
        404,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

pub fn unknown_segment(seg: &str) -> Resp {
    graph(
        400,
        "BadRequest",
        &format!("Resource not found for the segment '{seg}'."),
    )
}

pub fn denied() -> Resp {
    graph(
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

pub fn non_premium() -> Resp {
    graph(
        403,
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
        "Neither tenant is B2C or tenant doesn't have premium license",
    )
}

pub fn unauthenticated(message: &str) -> Resp {
    graph(401, "InvalidAuthenticationToken", message).header(
        "www-authenticate",
        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
    )
}

/// 429 body as published (throttling.md sample).
pub fn throttled(retry_after: Option<f64>, scope: &str, info: &str) -> Resp {
    let rid = uuid::Uuid::new_v4().to_string();
    let date = Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut r = Resp::json(
        429,
        &json!({"error": {"code": "TooManyRequests", "message": "Please retry again later.",
                "innerError": {"code": "429", "date": date, "message": "Please retry after", "request-id": rid, "status": "429"}}}),
    )
    .header("request-id", rid)
    .header("x-ms-throttle-scope", scope)
    .header("x-ms-throttle-information", info);
    if let Some(s) = retry_after {
        r = r.header("retry-after", fmt_secs(s));
    }
    r
}

pub fn fmt_secs(s: f64) -> String {
    if (s - s.round()).abs() < 1e-9 {
        format!("{}", s.round() as i64)
    } else {
        format!("{s:.3}")
    }
}

/// AADSTS error body of the v2.0 token endpoint.
pub fn aadsts(status: u16, error: &str, code: u32, text: &str) -> Resp {
    let trace = uuid::Uuid::new_v4().to_string();
    let corr = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let stamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
    let desc =
        format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {stamp}");
    Resp::json(
        status,
        &json!({"error": error, "error_description": desc, "error_codes": [code], "timestamp": stamp,
                "trace_id": trace, "correlation_id": corr, "error_uri": format!("https://login.microsoftonline.com/error?code={code}")}),
    )
}
