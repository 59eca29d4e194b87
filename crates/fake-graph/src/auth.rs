//! The v2.0 token endpoint (client credentials by secret or certificate assertion) and the bearer
//! check done on every Graph call.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::errors;
use crate::state::{Req, Resp, State};

/// A registered application (client).
#[derive(Debug, Clone)]
pub struct AppReg {
    pub client_id: String,
    pub client_secret: String,
    pub display_name: String,
    /// Granted application permissions (app roles of Microsoft Graph).
    pub permissions: Vec<String>,
    pub cert: Option<CertInfo>,
    /// Subject name + issuer authentication: any certificate of this subject issued by this CA
    /// signs for the app, presented in the assertion's `x5c`.
    pub trusted_subject: Option<TrustedSubject>,
}

#[derive(Debug, Clone)]
pub struct TrustedSubject {
    /// The leaf's subject as X.509 prints it (`CN=app.contoso.com, O=Contoso`).
    pub subject: String,
    /// The issuing CA's certificate (DER): its subject must be the leaf's issuer, and its key
    /// must have signed the leaf.
    pub issuer_der: Vec<u8>,
}

impl TrustedSubject {
    pub fn new(subject: &str, issuer_pem: &str) -> anyhow::Result<TrustedSubject> {
        let der = CertificateDer::from_pem_slice(issuer_pem.as_bytes()).map_err(|e| {
            anyhow::anyhow!(
                "trusted_subject.issuer_certificate_pem is not a PEM certificate: {e:?}"
            )
        })?;
        x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| {
            anyhow::anyhow!("trusted_subject.issuer_certificate_pem does not parse: {e}")
        })?;
        Ok(TrustedSubject {
            subject: subject.trim().to_string(),
            issuer_der: der.as_ref().to_vec(),
        })
    }

    /// Checks that `leaf` (DER) is this subject's, issued and signed by this CA.
    fn admits(&self, leaf: &[u8]) -> Result<(), String> {
        fn parse(der: &[u8]) -> Result<x509_parser::certificate::X509Certificate<'_>, String> {
            x509_parser::parse_x509_certificate(der)
                .map(|(_, c)| c)
                .map_err(|e| format!("the x5c certificate does not parse ({e})"))
        }
        let (leaf, ca) = (parse(leaf)?, parse(&self.issuer_der)?);
        let subject = leaf.subject().to_string();
        if !subject.eq_ignore_ascii_case(&self.subject) {
            return Err(format!(
                "subject '{subject}' is not the trusted subject '{}'",
                self.subject
            ));
        }
        // By name, as Entra trusts issuers; the signature check below proves it.
        if leaf.issuer().to_string() != ca.subject().to_string() {
            return Err(format!(
                "issuer '{}' is not the trusted issuer '{}'",
                leaf.issuer(),
                ca.subject()
            ));
        }
        leaf.verify_signature(Some(ca.public_key()))
            .map_err(|_| "the certificate is not signed by the trusted issuer".to_string())?;
        let now = x509_parser::time::ASN1Time::now();
        if !leaf.validity().is_valid_at(now) {
            return Err("the certificate is expired or not yet valid".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct CertInfo {
    pub sha1: Vec<u8>,
    pub sha256: Vec<u8>,
    /// PKCS#1 RSAPublicKey DER, for signature verification.
    pub rsa_pkcs1: Vec<u8>,
}

impl CertInfo {
    pub fn from_pem(pem: &str) -> anyhow::Result<CertInfo> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| anyhow::anyhow!("certificate_pem is not a PEM certificate: {e:?}"))?;
        let der = der.as_ref();
        let rsa = spki_bitstring(der)
            .ok_or_else(|| anyhow::anyhow!("cannot find the public key in the certificate"))?;
        Ok(CertInfo {
            sha1: Sha1::digest(der).to_vec(),
            sha256: Sha256::digest(der).to_vec(),
            rsa_pkcs1: rsa,
        })
    }
}

/// Minimal DER walk: Certificate → tbsCertificate → subjectPublicKeyInfo → BIT STRING contents.
fn spki_bitstring(der: &[u8]) -> Option<Vec<u8>> {
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *b.first()?;
        let l0 = *b.get(1)? as usize;
        let (len, hdr) = if l0 < 0x80 {
            (l0, 2)
        } else {
            let n = l0 & 0x7f;
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | *b.get(2 + i)? as usize;
            }
            (len, 2 + n)
        };
        let body = b.get(hdr..hdr + len)?;
        Some((tag, body, &b[hdr + len..]))
    }
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut rest = tbs;
    // optional [0] version
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    // serial, signature alg, issuer, validity, subject
    for _ in 0..5 {
        rest = tlv(rest)?.2;
    }
    let (_, spki, _) = tlv(rest)?;
    let (_, _alg, after) = tlv(spki)?;
    let (tag, bits, _) = tlv(after)?;
    if tag != 0x03 || bits.is_empty() {
        return None;
    }
    Some(bits[1..].to_vec())
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub app_displayname: String,
    pub appid: String,
    pub appidacr: String,
    pub idp: String,
    pub idtyp: String,
    pub oid: String,
    pub roles: Vec<String>,
    pub sub: String,
    pub tid: String,
    pub uti: String,
    pub ver: String,
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn form(req: &Req) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect()
}

/// `POST /{tenant}/oauth2/v2.0/token`
pub fn token_endpoint(state: &State, tenant: &str, req: &Req) -> Resp {
    let (tid, domain, custom_ok) = {
        let t = state.tenant.read().unwrap();
        let custom = t
            .coll("domains")
            .items
            .values()
            .any(|d| d.id.eq_ignore_ascii_case(tenant));
        (t.id.clone(), t.domain.clone(), custom)
    };
    if !(tenant.eq_ignore_ascii_case(&tid) || tenant.eq_ignore_ascii_case(&domain) || custom_ok) {
        return errors::aadsts(
            400,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        );
    }
    let f = form(req);
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut client_id = get("client_id");
    let mut client_secret = get("client_secret");
    // HTTP Basic (RFC 6749 §2.3.1)
    if let Some(basic) = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        && let Ok(raw) = STANDARD.decode(basic.trim())
        && let Ok(s) = String::from_utf8(raw)
        && let Some((u, p)) = s.split_once(':')
    {
        let dec = |x: &str| {
            url::form_urlencoded::parse(format!("a={x}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        client_id = dec(u).or(client_id);
        client_secret = dec(p).or(client_secret);
    }
    if get("grant_type").as_deref() != Some("client_credentials") {
        return errors::aadsts(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type. Only 'client_credentials' is supported by this endpoint.",
        );
    }
    let Some(client_id) = client_id else {
        return errors::aadsts(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let scope = get("scope").unwrap_or_default();
    let scope_ok = scope.split_whitespace().all(|s| {
        s == "https://graph.microsoft.com/.default" || s == format!("{}/.default", state.base_url)
    }) && !scope.trim().is_empty();
    if !scope_ok {
        return errors::aadsts(
            400,
            "invalid_scope",
            70011,
            &format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        );
    }
    let app = state.apps.read().unwrap().get(&client_id).cloned();
    let Some(app) = app else {
        return errors::aadsts(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tid}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        );
    };
    let acr;
    if let Some(assertion) = get("client_assertion") {
        if get("client_assertion_type").as_deref()
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return errors::aadsts(
                400,
                "invalid_request",
                50027,
                "Invalid JWT token. The client_assertion_type is not supported.",
            );
        }
        let verified = if crate::identity::is_federated(&assertion, &app) {
            crate::identity::verify_federated(state, &app, &assertion)
        } else {
            verify_assertion(state, &app, &tid, &assertion)
        };
        if let Err(r) = verified {
            return r;
        }
        acr = "2";
    } else if let Some(secret) = client_secret {
        if secret != app.client_secret {
            return errors::aadsts(
                401,
                "invalid_client",
                7000215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            );
        }
        acr = "1";
    } else {
        return errors::aadsts(
            400,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    }
    let (token, lifetime) = issue_token(state, &app, acr);
    Resp::json(200, &json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}))
        .header("cache-control", "no-store, no-cache")
}

/// An access token for Graph as `app` (`acr`: 1 secret, 2 certificate or federated assertion),
/// and its lifetime in seconds.
pub fn issue_token(state: &State, app: &AppReg, acr: &str) -> (String, u64) {
    let tid = state.tenant.read().unwrap().id.clone();
    let lifetime = state.token_lifetime().as_secs();
    let now = now_secs();
    let claims = Claims {
        aud: "https://graph.microsoft.com".into(),
        iss: format!("https://sts.windows.net/{tid}/"),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        app_displayname: app.display_name.clone(),
        appid: app.client_id.clone(),
        appidacr: acr.into(),
        idp: format!("https://sts.windows.net/{tid}/"),
        idtyp: "app".into(),
        oid: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, app.client_id.as_bytes()).to_string(),
        roles: app.permissions.clone(),
        sub: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, app.client_id.as_bytes()).to_string(),
        tid,
        uti: URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
        ver: "1.0".into(),
    };
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("fake-graph".into());
    let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&state.key))
        .unwrap_or_default();
    (token, lifetime)
}

fn verify_assertion(state: &State, app: &AppReg, tid: &str, assertion: &str) -> Result<(), Resp> {
    let bad = |code: u32, text: &str| Err(errors::aadsts(401, "invalid_client", code, text));
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return Err(errors::aadsts(
            400,
            "invalid_request",
            50027,
            "Invalid JWT token. Token format not valid.",
        ));
    };
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return bad(
            5002738,
            "Invalid JWT token. The signing algorithm is not supported.",
        );
    }
    let decode_b64 = |s: &str| {
        URL_SAFE_NO_PAD
            .decode(s)
            .or_else(|_| URL_SAFE.decode(s))
            .or_else(|_| STANDARD.decode(s))
            .or_else(|_| STANDARD_NO_PAD.decode(s))
            .ok()
    };
    let x5t = header.x5t.as_deref().and_then(decode_b64);
    let x5t_s256 = header.x5t_s256.as_deref().and_then(decode_b64);
    // The certificate named by the header: the registered one, or one of a trusted subject and
    // issuer carried in `x5c` (Entra checks a registered thumbprint first).
    let registered = app.cert.as_ref().filter(|c| {
        x5t.as_deref() == Some(c.sha1.as_slice())
            || x5t_s256.as_deref() == Some(c.sha256.as_slice())
    });
    let rsa_pkcs1 = match (registered, &app.trusted_subject) {
        (Some(cert), _) => cert.rsa_pkcs1.clone(),
        (None, Some(trusted)) if header.x5c.as_ref().is_some_and(|c| !c.is_empty()) => {
            let chain = header.x5c.as_deref().unwrap_or_default();
            let refused = |reason: &str| {
                bad(
                    700027,
                    &format!(
                        "Client assertion failed signature validation. [Reason - The certificate in the x5c header is not trusted for application '{}': {reason}.]",
                        app.client_id
                    ),
                )
            };
            let Some(leaf) = STANDARD.decode(&chain[0]).ok() else {
                return refused("the x5c entry is not base64 DER");
            };
            let named = x5t.as_deref() == Some(Sha1::digest(&leaf).as_slice())
                || x5t_s256.as_deref() == Some(Sha256::digest(&leaf).as_slice());
            if !named {
                return refused("the first x5c certificate does not match the x5t thumbprint");
            }
            if let Err(reason) = trusted.admits(&leaf) {
                return refused(&reason);
            }
            match spki_bitstring(&leaf) {
                Some(key) => key,
                None => return refused("cannot find the public key in the certificate"),
            }
        }
        _ => {
            let thumbprint = x5t
                .map(|t| t.iter().map(|b| format!("{b:02X}")).collect::<String>())
                .unwrap_or_default();
            return bad(
                700027,
                &format!(
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments if you are not using a national cloud.]",
                    app.client_id
                ),
            );
        }
    };
    let mut v = Validation::new(header.alg);
    v.leeway = 60;
    let auds = [
        format!("{}/{tid}/oauth2/v2.0/token", state.base_url),
        format!("https://login.microsoftonline.com/{tid}/oauth2/v2.0/token"),
        format!(
            "{}/{}/oauth2/v2.0/token",
            state.base_url,
            state.tenant.read().unwrap().domain
        ),
    ];
    v.set_audience(&auds);
    v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let key = DecodingKey::from_rsa_der(&rsa_pkcs1);
    match jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &v) {
        Ok(data) => {
            let c = data.claims;
            if c["iss"].as_str() != Some(&app.client_id)
                || c["sub"].as_str() != Some(&app.client_id)
            {
                return bad(
                    700023,
                    "Client assertion contains an invalid issuer or subject; both must be the client id.",
                );
            }
            Ok(())
        }
        Err(e) => match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature
            | jsonwebtoken::errors::ErrorKind::ImmatureSignature => bad(
                700024,
                "Client assertion is not within its valid time range.",
            ),
            jsonwebtoken::errors::ErrorKind::InvalidAudience => bad(
                700021,
                "Client assertion audience claim does not match Realm issuer. The aud claim must be the token endpoint URL.",
            ),
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                bad(7000274, "Client assertion failed signature validation.")
            }
            _ => bad(
                7000274,
                &format!("Client assertion failed validation: {e}."),
            ),
        },
    }
}

/// The caller of a Graph request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub app_id: String,
    pub roles: Vec<String>,
}

impl Caller {
    /// True when any of `needed` is granted (a ReadWrite role implies its Read role).
    pub fn has_any(&self, needed: &[&str]) -> bool {
        needed.is_empty()
            || needed.iter().any(|n| {
                self.roles.iter().any(|r| {
                    r == n
                        || *r == n.replacen(".Read.", ".ReadWrite.", 1)
                        || (n.ends_with(".Read") && *r == format!("{n}Write"))
                })
            })
    }
}

/// Check `Authorization: Bearer ...`.
pub fn check_bearer(state: &State, req: &Req) -> Result<Caller, Resp> {
    let Some(h) = req.header("authorization") else {
        return Err(errors::unauthenticated("Access token is empty."));
    };
    let Some(token) = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
    else {
        return Err(errors::unauthenticated(
            "Access token validation failure. Invalid audience.",
        ));
    };
    let token = token.trim();
    let now = now_secs();
    let cached = state.token_cache.lock().unwrap().get(token).cloned();
    if let Some((caller, exp)) = cached {
        if now >= exp {
            return Err(errors::unauthenticated(
                "Access token has expired or is not yet valid.",
            ));
        }
        if !state.apps.read().unwrap().contains_key(&caller.app_id) {
            return Err(errors::unauthenticated("Access token validation failure."));
        }
        return Ok(caller);
    }
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 0;
    v.set_audience(&["https://graph.microsoft.com"]);
    match jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&state.key), &v) {
        Ok(d) => {
            if d.claims.tid != state.tenant.read().unwrap().id {
                return Err(errors::unauthenticated(
                    "Access token validation failure. Invalid audience.",
                ));
            }
            if !state.apps.read().unwrap().contains_key(&d.claims.appid) {
                return Err(errors::unauthenticated("Access token validation failure."));
            }
            Ok(Caller {
                app_id: d.claims.appid,
                roles: d.claims.roles,
            })
        }
        Err(e) => match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature
            | jsonwebtoken::errors::ErrorKind::ImmatureSignature => Err(errors::unauthenticated(
                "Access token has expired or is not yet valid.",
            )),
            _ => Err(errors::unauthenticated(
                "IDX14100: JWT is not well formed, there are no dots (.). Access token validation failure.",
            )),
        },
    }
}
