//! Sign-in without a secret: managed identity (the IMDS and the App Service shape), federated
//! identity credentials checked on `jwt-bearer` assertions from a local OIDC issuer whose keys
//! are published, the tenant's OIDC discovery document, and a GitHub Actions token service.
//!
//! Operator API (under `/_fake/identity`):
//! - `POST /_fake/identity/managed` `{"client_id"?, "user_assigned"?: [..], "fail_first"?: [410, 503]}`
//!   makes an app the VM's system-assigned identity (default: the default app) and others
//!   user-assigned ones; answers `{"imds_host", "identity_endpoint", "identity_header"}`, on the
//!   tenant's own host (`/_tenant/{tenant id}`), so each tenant of a server has its own.
//! - `POST /_fake/identity/federated` `{"client_id", "issuer"?, "subject", "audience"?}` adds a
//!   federated identity credential to an app (issuer default: the local issuer).
//! - `POST /_fake/identity/issue` `{"subject", "audience"?, "lifetime_secs"?, "issuer"?}` mints a
//!   token of the local issuer, as a Kubernetes service-account token file holds.
//! - `POST /_fake/identity/github` `{"subject"}` sets the subject the GitHub Actions token service
//!   (`GET /_identity/github?audience=…`, bearer `request_token`) signs; answers
//!   `{"request_url", "request_token"}`.
//! - `GET /_fake/identity/requests` lists the managed-identity requests served (path, query,
//!   headers that matter).

use std::collections::VecDeque;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{self, AppReg, now_secs};
use crate::errors;
use crate::state::{Req, Resp, State};

/// The local issuer's RSA key (a test key, published nowhere but here) and its public half.
const ISSUER_KEY_PEM: &str = include_str!("identity/issuer-key.pem");
const ISSUER_N: &str = "txZO7t8bHCeckpQpn-QADC5aXpMYTj93eOTRzm_UubSGJAnQNfmdvB-rDplKmqArklJYcou2DZY83A4aTpsXBfA2uq_nE9sohyF_qQkhpJLOL3ENljWcaS4TopYMjE6_F5wqlRn80HdKP8zkMd8Q_sLbhODF9nVuLcZpIkd1IR6TwQ3zxOjZ3Wgf68-I0-OLXzyTUIO37Z8KDli3mfYQuLKgUIzNpzKDnPj7mD9UJpmucvS-c4gEc1dNvEq9l8sV2KPzi93a-2SI1tKws46syFcqfNpZTlT-QZOA419FcFe5us42ijhI-W9pyyQ1rGiXFYVmMyZxjklkCYv1Bii3Qw";
const ISSUER_E: &str = "AQAB";
const ISSUER_KID: &str = "fake-graph-issuer-1";
/// The audience Entra expects in federated assertions from the public cloud.
pub const EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// A trust placed on an app: tokens of `issuer` for `subject` and `audience` may stand for it.
#[derive(Debug, Clone)]
pub struct Federated {
    pub client_id: String,
    pub issuer: String,
    pub subject: String,
    pub audience: String,
}

/// Managed identities, federated credentials and the GitHub token service of one server.
#[derive(Debug, Default)]
pub struct Identity {
    /// The app standing for the system-assigned identity; none until configured.
    system: Option<String>,
    user_assigned: Vec<String>,
    /// The `IDENTITY_HEADER` App Service hands its apps.
    header: String,
    /// Statuses the next managed-identity requests answer with, in order.
    fail_next: VecDeque<u16>,
    requests: Vec<Value>,
    federated: Vec<Federated>,
    github_subject: Option<String>,
    github_request_token: String,
}

fn issuer_url(state: &State) -> String {
    format!("{}/_identity/issuer", state.base_url)
}

/// A token signed by the local issuer.
pub fn issue(
    state: &State,
    subject: &str,
    audience: &str,
    lifetime: i64,
    iss: Option<&str>,
) -> String {
    let now = now_secs() as i64;
    let claims = json!({
        "iss": iss.map(str::to_string).unwrap_or_else(|| issuer_url(state)),
        "sub": subject,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(ISSUER_KID.into());
    let key = EncodingKey::from_rsa_pem(ISSUER_KEY_PEM.as_bytes()).expect("the issuer key parses");
    jsonwebtoken::encode(&header, &claims, &key).unwrap_or_default()
}

/// True when `assertion` comes from an outside issuer rather than from the app itself (a
/// certificate assertion has `iss` = the client id).
pub fn is_federated(assertion: &str, app: &AppReg) -> bool {
    let Some(payload) = assertion.split('.').nth(1) else {
        return false;
    };
    let claims: Option<Value> = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    claims.is_some_and(|c| c["iss"].as_str().is_some_and(|iss| iss != app.client_id))
}

/// Checks a federated assertion as Entra does: signed by a key of its issuer, in time, and
/// matching one of the app's federated credentials on issuer, subject and audience.
pub fn verify_federated(state: &State, app: &AppReg, assertion: &str) -> Result<(), Resp> {
    let bad = |code: u32, text: &str| Err(errors::aadsts(400, "invalid_client", code, text));
    let unverified: Value = assertion
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let field = |k: &str| unverified[k].as_str().unwrap_or("").to_string();
    let (iss, sub) = (field("iss"), field("sub"));
    let aud = match &unverified["aud"] {
        Value::Array(a) => a.first().and_then(Value::as_str).unwrap_or("").to_string(),
        v => v.as_str().unwrap_or("").to_string(),
    };
    let matching = state
        .identity
        .lock()
        .unwrap()
        .federated
        .iter()
        .find(|f| {
            f.client_id == app.client_id && f.issuer == iss && f.subject == sub && f.audience == aud
        })
        .cloned();
    let Some(fic) = matching else {
        return bad(
            70021,
            &format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{aud}'."
            ),
        );
    };
    if fic.issuer != issuer_url(state) {
        return bad(
            700211,
            &format!(
                "No matching federated identity record found for presented assertion issuer '{iss}'. The issuer's keys could not be retrieved."
            ),
        );
    }
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = 60;
    v.set_audience(&[&fic.audience]);
    v.set_issuer(&[&fic.issuer]);
    v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let key = DecodingKey::from_rsa_components(ISSUER_N, ISSUER_E).expect("the issuer key parses");
    match jsonwebtoken::decode::<Value>(assertion, &key, &v) {
        Ok(_) => Ok(()),
        Err(e) => match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature
            | jsonwebtoken::errors::ErrorKind::ImmatureSignature => bad(
                700024,
                "Client assertion is not within its valid time range.",
            ),
            _ => bad(
                50013,
                "Assertion failed signature validation. [Reason - The key was not found.]",
            ),
        },
    }
}

/// Identity endpoints outside the operator API; `None` when `req` is not one of them.
pub fn route(state: &State, req: &Req) -> Option<Resp> {
    let path = req.path.as_str();
    let resp = match (req.method.as_str(), path) {
        ("GET", "/metadata/identity/oauth2/token") => managed(state, req, Shape::Imds),
        ("GET", "/msi/token") => managed(state, req, Shape::AppService),
        ("GET", "/_identity/issuer/.well-known/openid-configuration") => {
            let iss = issuer_url(state);
            Resp::json(
                200,
                &json!({
                    "issuer": iss,
                    "jwks_uri": format!("{iss}/keys"),
                    "response_types_supported": ["id_token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                }),
            )
        }
        ("GET", "/_identity/issuer/keys") => Resp::json(
            200,
            &json!({"keys": [{
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": ISSUER_KID, "n": ISSUER_N, "e": ISSUER_E,
            }]}),
        ),
        ("GET", "/_identity/github") => github(state, req),
        ("GET", p) if p.ends_with("/v2.0/.well-known/openid-configuration") => discovery(
            state,
            p.trim_start_matches('/').split('/').next().unwrap_or(""),
        )?,
        // Graph's access tokens are for Graph alone, and fake-graph signs them with a secret key:
        // there is no public key to publish, but libraries that fetch `jwks_uri` get a valid set.
        ("GET", p) if p.ends_with("/discovery/v2.0/keys") => {
            let tenant = p.trim_start_matches('/').split('/').next().unwrap_or("");
            if !is_this_tenant(state, tenant) {
                return None;
            }
            Resp::json(200, &json!({"keys": []}))
        }
        _ => return None,
    };
    Some(resp)
}

/// `/{tenant}/v2.0/.well-known/openid-configuration`, as MSAL and azure-identity read it for a
/// custom authority; `None` (so Graph's 404) for a tenant this server does not hold.
fn discovery(state: &State, tenant: &str) -> Option<Resp> {
    if !is_this_tenant(state, tenant) {
        return None;
    }
    let t = state.tenant.read().unwrap();
    let base = &state.base_url;
    let tid = &t.id;
    Some(Resp::json(
        200,
        &json!({
            "issuer": format!("{base}/{tid}/v2.0"),
            "token_endpoint": format!("{base}/{tid}/oauth2/v2.0/token"),
            "authorization_endpoint": format!("{base}/{tid}/oauth2/v2.0/authorize"),
            "jwks_uri": format!("{base}/{tid}/discovery/v2.0/keys"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }),
    ))
}

fn is_this_tenant(state: &State, name: &str) -> bool {
    let t = state.tenant.read().unwrap();
    name.eq_ignore_ascii_case(&t.id) || name.eq_ignore_ascii_case(&t.domain)
}

/// Where this tenant's machines reach their identity endpoints: a host of their own on the
/// shared server, so that each tenant of a multi-tenant server has its managed identity and
/// GitHub token service.
fn machine_host(state: &State) -> String {
    format!(
        "{}/_tenant/{}",
        state.base_url,
        state.tenant.read().unwrap().id
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Imds,
    AppService,
}

/// A managed-identity token request, IMDS (`Metadata: true`, api-version 2018-02-01) or App
/// Service (`X-IDENTITY-HEADER`, api-version 2019-08-01) shaped.
fn managed(state: &State, req: &Req, shape: Shape) -> Resp {
    let plain = |status: u16, error: &str, text: &str| {
        Resp::json(status, &json!({"error": error, "error_description": text}))
    };
    let (system, user_assigned, header, fail) = {
        let mut id = state.identity.lock().unwrap();
        let header_ok = req.header("x-identity-header") == Some(id.header.as_str());
        id.requests.push(json!({
            "path": req.path,
            "query": req.raw_query,
            "metadata": req.header("metadata"),
            "identity_header_ok": header_ok,
        }));
        let fail = id.fail_next.pop_front();
        (
            id.system.clone(),
            id.user_assigned.clone(),
            id.header.clone(),
            fail,
        )
    };
    match shape {
        Shape::Imds if req.header("metadata") != Some("true") => {
            return plain(
                400,
                "invalid_request",
                "Required metadata header not specified",
            );
        }
        Shape::AppService
            if req.header("x-identity-header") != Some(header.as_str()) || header.is_empty() =>
        {
            return plain(
                401,
                "unauthorized",
                "The X-IDENTITY-HEADER is missing or does not match.",
            );
        }
        _ => {}
    }
    if let Some(status) = fail {
        return match status {
            410 => plain(
                410,
                "gone",
                "IMDS is being updated; retry for up to 70 seconds.",
            ),
            429 => plain(429, "too_many_requests", "Too many requests.").header("retry-after", "1"),
            s => plain(
                s,
                "service_unavailable",
                "The managed identity endpoint is unavailable.",
            ),
        };
    }
    let api_version = req.q("api-version").unwrap_or("");
    let wanted = if shape == Shape::Imds {
        "2018-02-01"
    } else {
        "2019-08-01"
    };
    if api_version != wanted {
        return plain(
            400,
            "invalid_request",
            &format!("api-version '{api_version}' is not supported; use {wanted}"),
        );
    }
    let resource = req.q("resource").unwrap_or("");
    if resource.trim_end_matches('/') != "https://graph.microsoft.com" {
        return plain(
            400,
            "invalid_resource",
            &format!(
                "AADSTS500011: The resource principal named {resource} was not found in the tenant."
            ),
        );
    }
    let client_id = match req.q("client_id") {
        Some(id) if user_assigned.iter().any(|u| u == id) => id.to_string(),
        Some(id) => {
            return plain(
                400,
                "invalid_request",
                &format!(
                    "Identity not found: no user-assigned identity with client_id {id} is assigned to this resource."
                ),
            );
        }
        None => match system {
            Some(id) => id,
            None => {
                return plain(
                    400,
                    "invalid_request",
                    "Identity not found: no system-assigned identity is enabled on this resource.",
                );
            }
        },
    };
    let Some(app) = state.apps.read().unwrap().get(&client_id).cloned() else {
        return plain(400, "invalid_request", "Identity not found.");
    };
    let (token, lifetime) = auth::issue_token(state, &app, "2");
    let now = now_secs();
    let mut body = json!({
        "access_token": token,
        "client_id": client_id,
        "expires_on": (now + lifetime).to_string(),
        "resource": resource,
        "token_type": "Bearer",
    });
    if shape == Shape::Imds {
        body["expires_in"] = json!(lifetime.to_string());
        body["ext_expires_in"] = json!(lifetime.to_string());
        body["not_before"] = json!(now.to_string());
    }
    state.stats.lock().unwrap().tokens_issued += 1;
    Resp::json(200, &body)
}

/// GitHub's OIDC token service: `GET {ACTIONS_ID_TOKEN_REQUEST_URL}&audience=…` with the request
/// token as bearer answers `{"value": <jwt>}`.
fn github(state: &State, req: &Req) -> Resp {
    let (subject, token) = {
        let id = state.identity.lock().unwrap();
        (id.github_subject.clone(), id.github_request_token.clone())
    };
    let bearer = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "));
    let Some(subject) = subject.filter(|_| !token.is_empty() && bearer == Some(token.as_str()))
    else {
        return Resp::json(401, &json!({"message": "Bad credentials"}));
    };
    let audience = req.q("audience").unwrap_or("api://AzureADTokenExchange");
    let iss = format!("{}/_identity/issuer", state.base_url);
    Resp::json(
        200,
        &json!({"value": issue(state, &subject, audience, 300, Some(&iss)), "count": 1}),
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ManagedReq {
    client_id: Option<String>,
    user_assigned: Vec<String>,
    fail_first: Vec<u16>,
}

#[derive(Deserialize)]
struct FederatedReq {
    client_id: String,
    issuer: Option<String>,
    subject: String,
    audience: Option<String>,
}

#[derive(Deserialize)]
struct IssueReq {
    subject: String,
    audience: Option<String>,
    lifetime_secs: Option<i64>,
    issuer: Option<String>,
}

#[derive(Deserialize)]
struct GithubReq {
    subject: String,
}

/// The operator API under `/_fake/identity`; `None` for other admin paths.
pub fn admin(state: &State, info: &crate::ServerInfo, req: &Req) -> Option<Resp> {
    let path = req
        .path
        .strip_prefix("/_fake/identity")?
        .trim_end_matches('/');
    fn parse<T: serde::de::DeserializeOwned>(req: &Req) -> Result<T, Resp> {
        let body: &[u8] = if req.body.is_empty() {
            b"{}"
        } else {
            &req.body
        };
        serde_json::from_slice(body)
            .map_err(|e| Resp::json(400, &json!({"error": format!("invalid JSON body: {e}")})))
    }
    let known = |id: &str| state.apps.read().unwrap().contains_key(id);
    let unknown = |id: &str| Resp::json(400, &json!({"error": format!("unknown client_id {id}")}));
    let resp = match (req.method.as_str(), path) {
        ("POST", "/managed") => match parse::<ManagedReq>(req) {
            Err(r) => r,
            Ok(m) => {
                let system = m.client_id.unwrap_or_else(|| info.client_id.clone());
                if let Some(bad) = std::iter::once(&system)
                    .chain(&m.user_assigned)
                    .find(|id| !known(id))
                {
                    return Some(unknown(bad));
                }
                let mut id = state.identity.lock().unwrap();
                id.system = Some(system);
                id.user_assigned = m.user_assigned;
                id.fail_next = m.fail_first.into();
                id.header = format!("fgh-{}", uuid::Uuid::new_v4().simple());
                Resp::json(
                    200,
                    &json!({
                        "imds_host": machine_host(state),
                        "identity_endpoint": format!("{}/msi/token", machine_host(state)),
                        "identity_header": id.header,
                    }),
                )
            }
        },
        ("POST", "/federated") => match parse::<FederatedReq>(req) {
            Err(r) => r,
            Ok(f) if !known(&f.client_id) => unknown(&f.client_id),
            Ok(f) => {
                let fic = Federated {
                    client_id: f.client_id,
                    issuer: f.issuer.unwrap_or_else(|| issuer_url(state)),
                    subject: f.subject,
                    audience: f.audience.unwrap_or_else(|| EXCHANGE_AUDIENCE.into()),
                };
                let v =
                    json!({"issuer": fic.issuer, "subject": fic.subject, "audience": fic.audience});
                state.identity.lock().unwrap().federated.push(fic);
                Resp::json(200, &v)
            }
        },
        ("POST", "/issue") => match parse::<IssueReq>(req) {
            Err(r) => r,
            Ok(i) => {
                let audience = i.audience.unwrap_or_else(|| EXCHANGE_AUDIENCE.into());
                let token = issue(
                    state,
                    &i.subject,
                    &audience,
                    i.lifetime_secs.unwrap_or(3600),
                    i.issuer.as_deref(),
                );
                Resp::json(200, &json!({"token": token}))
            }
        },
        ("POST", "/github") => match parse::<GithubReq>(req) {
            Err(r) => r,
            Ok(g) => {
                let mut id = state.identity.lock().unwrap();
                id.github_subject = Some(g.subject);
                id.github_request_token = format!("ghr-{}", uuid::Uuid::new_v4().simple());
                Resp::json(
                    200,
                    &json!({
                        "request_url": format!("{}/_identity/github?api-version=2.0", machine_host(state)),
                        "request_token": id.github_request_token,
                    }),
                )
            }
        },
        ("GET", "/requests") => Resp::json(
            200,
            &Value::Array(state.identity.lock().unwrap().requests.clone()),
        ),
        _ => return None,
    };
    Some(resp)
}
