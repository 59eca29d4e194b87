//! Graph's error envelope, parsed into a typed error, and transport failures.

use std::fmt;
use std::time::Duration;

/// What went wrong talking to Graph or to the token endpoint. Messages never contain secrets or
/// tokens: bodies are parsed for Graph's `code` and `message` only.
#[derive(Debug, Clone)]
pub enum GraphError {
    /// Graph answered with an error status and (usually) its error envelope.
    Api(Box<ApiError>),
    /// The token endpoint refused the credentials (AADSTS codes).
    Auth {
        status: u16,
        error: String,
        description: String,
    },
    /// No response: connection refused or reset, timeout, truncated body.
    Transport(String),
    /// Configuration problem found when building the client (bad certificate file, …).
    Setup(String),
    /// A 200 that is not what was asked for (no `value` array, an error envelope, not JSON):
    /// a server fault, retried like a 5xx.
    Malformed(String),
    /// A response entrasync will not act on: a link to another origin, an oversized body, a
    /// chain of next links that never ends. Not retried.
    Refused(String),
}

/// Graph's `{"error": {"code", "message", "innerError": {"request-id", "date"}}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// `Retry-After`, when Graph sent one (seconds, possibly fractional).
    pub retry_after: Option<Duration>,
    /// The path that failed, without the query string.
    pub path: String,
    /// `Location` of a 410 delta reset.
    pub location: Option<String>,
}

impl GraphError {
    pub fn status(&self) -> Option<u16> {
        match self {
            GraphError::Api(e) => Some(e.status),
            GraphError::Auth { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            GraphError::Api(e) => Some(&e.code),
            GraphError::Auth { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Worth retrying: throttling, server errors and lost connections.
    pub fn is_retryable(&self) -> bool {
        match self {
            GraphError::Api(e) => matches!(e.status, 429 | 500 | 502 | 503 | 504),
            GraphError::Transport(_) | GraphError::Malformed(_) => true,
            _ => false,
        }
    }

    /// A permission the app lacks (403 Authorization_RequestDenied and friends).
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, GraphError::Api(e) if e.status == 403 && !self.is_licence_missing())
    }

    /// The tenant lacks the licence the endpoint needs.
    pub fn is_licence_missing(&self) -> bool {
        match self {
            GraphError::Api(e) => {
                e.status == 403
                    && (e.code.contains("NonPremium")
                        || e.message.to_ascii_lowercase().contains("licen")
                        || e.message.contains("premium"))
            }
            _ => false,
        }
    }

    /// The delta token can no longer be used; a full resync is needed.
    pub fn is_delta_expired(&self) -> bool {
        match self {
            GraphError::Api(e) => {
                e.status == 410
                    || e.code.eq_ignore_ascii_case("syncStateNotFound")
                    || e.code.eq_ignore_ascii_case("resyncRequired")
            }
            _ => false,
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Api(e) => {
                write!(f, "Graph returned {} {}", e.status, e.code)?;
                if !e.message.is_empty() {
                    write!(f, ": {}", e.message)?;
                }
                write!(f, " (GET {}", e.path)?;
                if let Some(id) = &e.request_id {
                    write!(f, ", request-id {id}")?;
                }
                write!(f, ")")
            }
            GraphError::Auth {
                status,
                error,
                description,
            } => {
                let first = description.lines().next().unwrap_or(description);
                write!(f, "token request failed ({status} {error}): {first}")?;
                if let Some(hint) = aadsts_hint(first) {
                    write!(f, "; {hint}")?;
                }
                Ok(())
            }
            GraphError::Transport(m) => write!(f, "no response from Graph: {m}"),
            GraphError::Setup(m) | GraphError::Refused(m) => f.write_str(m),
            GraphError::Malformed(m) => write!(f, "unusable response from Graph: {m}"),
        }
    }
}

impl std::error::Error for GraphError {}

/// What to do about the common AADSTS errors.
fn aadsts_hint(description: &str) -> Option<&'static str> {
    let code = description.strip_prefix("AADSTS")?.split(':').next()?;
    Some(match code {
        "7000215" => {
            "check client_secret (or AZURE_CLIENT_SECRET): use the secret's value, not its id"
        }
        "7000222" => "the client secret has expired; create a new one in the app registration",
        "700016" => "check client_id: no application with that id exists in this tenant",
        "90002" => "check tenant_id: no such tenant",
        "700027" => "the certificate is not registered on the app, or the key does not match it",
        "70011" => "the scope is invalid",
        _ => return None,
    })
}

/// Reads Graph's error envelope; tolerant of missing or odd bodies. The server's `code`,
/// `message` and request id are untrusted text: they are cut to a readable length and their
/// control characters escaped (see `printable`), so a hostile server cannot forge log lines or
/// send terminal escapes through an error message.
pub fn parse_api_error(
    status: u16,
    body: &[u8],
    path: &str,
    retry_after: Option<Duration>,
    location: Option<String>,
) -> ApiError {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error = &value["error"];
    let inner = if error["innerError"].is_object() {
        &error["innerError"]
    } else {
        &error["innererror"]
    };
    let text = |v: &serde_json::Value| printable(v.as_str().unwrap_or_default());
    ApiError {
        status,
        code: match text(&error["code"]) {
            c if c.is_empty() => status_reason(status).to_string(),
            c => c,
        },
        message: text(&error["message"]),
        request_id: inner["request-id"].as_str().map(printable),
        retry_after,
        path: path.to_string(),
        location,
    }
}

fn status_reason(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        410 => "Gone",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "Error",
    }
}

/// `Retry-After` as seconds (Graph sends decimals such as `2.128`) or an HTTP date. Values too
/// large for a `Duration` saturate; the client caps them at `max_retry_after`.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_nan() || secs < 0.0 {
            return None;
        }
        return Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or_default())
}

/// Text from a server, made safe to print: control characters escaped (no forged log lines or
/// terminal escapes) and cut to a readable length.
pub fn printable(text: &str) -> String {
    crate::config::safe_text(text, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_graph_envelope() {
        let body = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"date":"2025-02-13T10:17:06","request-id":"abc"}}}"#;
        let e = GraphError::Api(Box::new(parse_api_error(
            403,
            body,
            "/v1.0/users",
            None,
            None,
        )));
        assert!(e.is_permission_denied());
        assert!(!e.is_licence_missing());
        assert_eq!(
            e.to_string(),
            "Graph returned 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. (GET /v1.0/users, request-id abc)"
        );
    }

    #[test]
    fn server_text_is_truncated_and_escaped() {
        let long = "x".repeat(5_000);
        let body = serde_json::json!({"error": {
            "code": "Bad\u{1b}[31mCode\nINFO fake line",
            "message": format!("line one\r\n2025-01-01T00:00:00Z  INFO sync finished\u{7}{long}"),
            "innerError": {"request-id": "id\nforged"}
        }});
        let e = parse_api_error(500, body.to_string().as_bytes(), "/v1.0/users", None, None);
        assert_eq!(e.code, "Bad\\u{1b}[31mCode\\nINFO fake line");
        assert!(!e.message.contains(['\n', '\r', '\u{7}']), "{}", e.message);
        assert!(e.message.starts_with("line one\\r\\n2025"), "{}", e.message);
        assert!(e.message.ends_with('…'), "truncated: {}", e.message.len());
        // 300 characters of the server's text, 3 of them escaped (`\r`, `\n`, `\u{7}` take 2, 2
        // and 5 characters), and the ellipsis.
        assert_eq!(e.message.chars().count(), 300 + 1 + 1 + 4 + 1);
        assert_eq!(e.request_id.as_deref(), Some("id\\nforged"));
        let shown = GraphError::Api(Box::new(e)).to_string();
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert!(shown.len() < 1_000, "{}", shown.len());
    }

    #[test]
    fn retry_after_is_fractional_seconds() {
        assert_eq!(
            parse_retry_after("2.128"),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("1e20"), Some(Duration::MAX));
        assert_eq!(parse_retry_after("inf"), Some(Duration::MAX));
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(parse_retry_after("-1"), None);
        let far = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT").unwrap();
        assert!(far > Duration::from_secs(86_400 * 365 * 7000));
    }

    #[test]
    fn auth_errors_get_a_hint() {
        let e = GraphError::Auth {
            status: 401,
            error: "invalid_client".into(),
            description: "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x".into(),
        };
        assert_eq!(
            e.to_string(),
            "token request failed (401 invalid_client): AADSTS7000215: Invalid client secret provided.; check client_secret (or AZURE_CLIENT_SECRET): use the secret's value, not its id"
        );
    }
}
