//! Every way an Azure workload signs in, chosen by `auth` in the spec or inferred from what the
//! environment holds in the order Azure's SDKs use (DefaultAzureCredential): a given access
//! token, then client secret or certificate, workload identity (federated token file, then
//! GitHub Actions OIDC), managed identity, and the Azure CLI. Client secret, certificate and
//! federated assertions go to the tenant's token endpoint (see `auth.rs`); the others bring their
//! own token, fetched here.

use super::error::{GraphError, printable};
use crate::config::{AuthKind, Cloud, EntraSpec, Secret};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha1::{Digest, Sha1};
use std::path::PathBuf;
use std::time::Duration;

/// How the identity proves who it is.
pub enum Credential {
    Secret(Secret),
    Certificate(Certificate),
    /// A token of another issuer (Kubernetes, GitHub) exchanged as a `jwt-bearer` assertion.
    Federated(Assertion),
    ManagedIdentity(ManagedIdentity),
    AzureCli,
    AccessToken(GivenToken),
    /// Inferred without a hint from the environment: the first member that answers is kept.
    Chain(Vec<Credential>),
}

/// A certificate and its key, signing our own client assertions.
pub struct Certificate {
    /// SHA-1 thumbprint of the DER certificate, base64url (`x5t`).
    pub thumbprint: String,
    pub key: jsonwebtoken::EncodingKey,
    /// The certificates of the file, base64 DER, sent as `x5c` for subject-name/issuer
    /// authentication when `send_certificate_chain` is set.
    pub chain: Option<Vec<String>>,
}

pub enum Assertion {
    /// `AZURE_FEDERATED_TOKEN_FILE`: re-read on every token request, since Kubernetes rotates it.
    File(PathBuf),
    /// `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    GitHubActions { url: String, token: Secret },
}

/// The managed-identity endpoints, found as azure-identity finds them.
pub enum ManagedIdentity {
    /// Azure VM/VMSS (and AKS pod identity): `AZURE_POD_IDENTITY_AUTHORITY_HOST` or 169.254.169.254.
    Imds {
        host: String,
        client_id: Option<String>,
    },
    /// App Service and Functions: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`.
    AppService {
        endpoint: String,
        header: Secret,
        client_id: Option<String>,
    },
    /// Azure Arc: `IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`, a challenge answered from a key file.
    Arc { endpoint: String },
    /// Cloud Shell: `MSI_ENDPOINT`.
    CloudShell { endpoint: String },
}

pub enum GivenToken {
    Inline(Secret),
    /// Re-read on every request: the pipeline that wrote it may renew it.
    File(PathBuf),
}

const IMDS_HOST: &str = "http://169.254.169.254";
/// Where Azure Arc's agent writes the challenge key files it points to.
const ARC_KEY_DIR: &str = "/var/opt/azcmagent/tokens";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Credential {
    /// The credential `spec` selects (`auth`) or, without `auth`, the first the spec and the
    /// environment provide. Reads certificate files but makes no request.
    pub fn from_spec(spec: &EntraSpec) -> Result<Credential, GraphError> {
        let setup = |m: String| GraphError::Setup(m);
        let need_client_id = |what: &str| {
            if spec.client_id.is_none() {
                return Err(setup(format!(
                    "no client_id: {what} needs the app's client id; set spec.client_id in the \
                     source spec or the AZURE_CLIENT_ID environment variable"
                )));
            }
            Ok(())
        };
        let kind = match spec.auth {
            Some(kind) => kind,
            None => match infer(spec) {
                Some(kind) => kind,
                // DefaultAzureCredential's tail: IMDS when it answers, else the Azure CLI.
                None => {
                    return Ok(Credential::Chain(vec![
                        Credential::ManagedIdentity(ManagedIdentity::from_env(spec)),
                        Credential::AzureCli,
                    ]));
                }
            },
        };
        Ok(match kind {
            AuthKind::ClientSecret => {
                need_client_id("a client secret")?;
                let secret = spec.client_secret.clone().ok_or_else(|| {
                    setup(
                        "auth: client_secret needs spec.client_secret or AZURE_CLIENT_SECRET"
                            .into(),
                    )
                })?;
                Credential::Secret(secret)
            }
            AuthKind::ClientCertificate => {
                need_client_id("a client certificate")?;
                let path = spec.client_certificate_path.as_deref().ok_or_else(|| {
                    setup(
                        "auth: client_certificate needs spec.client_certificate_path or \
                         AZURE_CLIENT_CERTIFICATE_PATH"
                            .into(),
                    )
                })?;
                Credential::Certificate(Certificate::from_file(
                    path,
                    spec.client_certificate_password.as_ref(),
                    spec.send_certificate_chain,
                )?)
            }
            AuthKind::WorkloadIdentity => {
                need_client_id("workload identity")?;
                match (
                    &spec.federated_token_file,
                    env("ACTIONS_ID_TOKEN_REQUEST_URL"),
                ) {
                    (Some(path), _) => Credential::Federated(Assertion::File(path.into())),
                    (None, Some(url)) => {
                        let token = env("ACTIONS_ID_TOKEN_REQUEST_TOKEN").ok_or_else(|| {
                            setup(
                                "ACTIONS_ID_TOKEN_REQUEST_URL is set without \
                                 ACTIONS_ID_TOKEN_REQUEST_TOKEN: give the workflow \
                                 `permissions: id-token: write`"
                                    .into(),
                            )
                        })?;
                        Credential::Federated(Assertion::GitHubActions {
                            url,
                            token: Secret::new(token),
                        })
                    }
                    (None, None) => {
                        return Err(setup(
                            "auth: workload_identity needs spec.federated_token_file or \
                             AZURE_FEDERATED_TOKEN_FILE (Kubernetes), or a GitHub Actions job \
                             with `permissions: id-token: write`"
                                .into(),
                        ));
                    }
                }
            }
            AuthKind::ManagedIdentity => {
                Credential::ManagedIdentity(ManagedIdentity::from_env(spec))
            }
            AuthKind::AzureCli => Credential::AzureCli,
            AuthKind::AccessToken => match (&spec.access_token, &spec.access_token_file) {
                (Some(token), _) => Credential::AccessToken(GivenToken::Inline(token.clone())),
                (None, Some(path)) => Credential::AccessToken(GivenToken::File(path.into())),
                (None, None) => {
                    return Err(setup(
                        "auth: access_token needs spec.access_token or spec.access_token_file"
                            .into(),
                    ));
                }
            },
        })
    }

    /// Names the credential for `test-connection` and logs.
    pub fn describe(&self) -> String {
        match self {
            Credential::Secret(_) => "client secret".into(),
            Credential::Certificate(c) => format!("client certificate (x5t {})", c.thumbprint),
            Credential::Federated(Assertion::File(p)) => {
                format!("workload identity (federated token file {})", p.display())
            }
            Credential::Federated(Assertion::GitHubActions { .. }) => {
                "workload identity (GitHub Actions OIDC)".into()
            }
            Credential::ManagedIdentity(mi) => match mi {
                ManagedIdentity::Imds {
                    client_id: None, ..
                } => "managed identity (IMDS, system-assigned)".into(),
                ManagedIdentity::Imds {
                    client_id: Some(id),
                    ..
                } => {
                    format!("managed identity (IMDS, user-assigned {id})")
                }
                ManagedIdentity::AppService { .. } => "managed identity (App Service)".into(),
                ManagedIdentity::Arc { .. } => "managed identity (Azure Arc)".into(),
                ManagedIdentity::CloudShell { .. } => "managed identity (Cloud Shell)".into(),
            },
            Credential::AzureCli => "Azure CLI".into(),
            Credential::AccessToken(GivenToken::Inline(_)) => "access token (given)".into(),
            Credential::AccessToken(GivenToken::File(p)) => {
                format!("access token (file {})", p.display())
            }
            Credential::Chain(members) => members
                .iter()
                .map(Credential::describe)
                .collect::<Vec<_>>()
                .join(", then "),
        }
    }

    /// True for the credentials sent to the tenant's token endpoint by the app itself.
    pub fn is_client_credential(&self) -> bool {
        matches!(
            self,
            Credential::Secret(_) | Credential::Certificate(_) | Credential::Federated(_)
        )
    }

    /// Kept for callers that read a PEM certificate (config checks, `init`).
    pub fn from_certificate_file(path: &str) -> Result<Credential, GraphError> {
        Ok(Credential::Certificate(Certificate::from_file(
            path, None, false,
        )?))
    }
}

/// The credential the spec and environment imply, in DefaultAzureCredential's order; `None`
/// when only the managed-identity-or-CLI guess is left.
fn infer(spec: &EntraSpec) -> Option<AuthKind> {
    let has_mi_env = env("IDENTITY_ENDPOINT").is_some() || env("MSI_ENDPOINT").is_some();
    if spec.access_token.is_some() || spec.access_token_file.is_some() {
        Some(AuthKind::AccessToken)
    } else if spec.client_secret.is_some() {
        Some(AuthKind::ClientSecret)
    } else if spec.client_certificate_path.is_some() {
        Some(AuthKind::ClientCertificate)
    } else if spec.client_id.is_some()
        && (spec.federated_token_file.is_some() || env("ACTIONS_ID_TOKEN_REQUEST_URL").is_some())
    {
        Some(AuthKind::WorkloadIdentity)
    } else if has_mi_env || env("AZURE_POD_IDENTITY_AUTHORITY_HOST").is_some() {
        Some(AuthKind::ManagedIdentity)
    } else {
        None
    }
}

impl ManagedIdentity {
    /// The endpoint azure-identity would use here; `client_id` selects a user-assigned identity.
    fn from_env(spec: &EntraSpec) -> ManagedIdentity {
        let client_id = spec.client_id.clone();
        match (
            env("IDENTITY_ENDPOINT"),
            env("IDENTITY_HEADER"),
            env("IMDS_ENDPOINT"),
            env("MSI_ENDPOINT"),
        ) {
            (Some(endpoint), Some(header), _, _) => ManagedIdentity::AppService {
                endpoint,
                header: Secret::new(header),
                client_id,
            },
            (Some(endpoint), None, Some(_), _) => ManagedIdentity::Arc { endpoint },
            (_, _, _, Some(endpoint)) => ManagedIdentity::CloudShell { endpoint },
            _ => ManagedIdentity::Imds {
                host: env("AZURE_POD_IDENTITY_AUTHORITY_HOST").unwrap_or_else(|| IMDS_HOST.into()),
                client_id,
            },
        }
    }
}

impl Certificate {
    /// Reads the certificate and its RSA private key from a PEM file (as `az ad sp
    /// create-for-rbac --create-cert` writes it) or a PKCS#12/PFX bundle (as Azure Key Vault and
    /// Windows export it), decrypted with `password` (none: the empty password).
    pub fn from_file(
        path: &str,
        password: Option<&Secret>,
        send_chain: bool,
    ) -> Result<Certificate, GraphError> {
        let bytes = std::fs::read(path).map_err(|e| {
            GraphError::Setup(format!("cannot read client_certificate_path {path}: {e}"))
        })?;
        let located = |m: String| GraphError::Setup(format!("client_certificate_path {path}: {m}"));
        // A DER SEQUENCE: a PKCS#12/PFX bundle; PEM is text.
        if bytes.first() == Some(&0x30) {
            return Certificate::from_pfx(&bytes, password, send_chain).map_err(located);
        }
        let pem =
            String::from_utf8(bytes).map_err(|_| located("the PEM file is not text".into()))?;
        Certificate::from_pem(&pem, send_chain).map_err(located)
    }

    #[cfg(not(feature = "pfx"))]
    fn from_pfx(_: &[u8], _: Option<&Secret>, _: bool) -> Result<Certificate, String> {
        Err(
            "this looks like a PKCS#12/PFX file, and this build of entrasync was made without \
             the `pfx` feature; rebuild with it, or convert the file with `openssl pkcs12 -in \
             cert.pfx -out cert.pem -nodes` and point client_certificate_path at the PEM"
                .into(),
        )
    }

    /// The first private key of a PKCS#12/PFX bundle and its certificate chain, leaf first.
    #[cfg(feature = "pfx")]
    fn from_pfx(
        bytes: &[u8],
        password: Option<&Secret>,
        send_chain: bool,
    ) -> Result<Certificate, String> {
        use p12_keystore::error::Error as P12;
        let given = password.is_some();
        let password = password.map(Secret::expose).unwrap_or("");
        let convert = "or convert it with `openssl pkcs12 -in cert.pfx -out cert.pem -nodes` and \
                       point client_certificate_path at the PEM";
        let store = p12_keystore::KeyStore::from_pkcs12(
            bytes,
            password,
            p12_keystore::Pkcs12ImportPolicy::Strict,
        )
        .map_err(|e| match e {
            // The MAC, or the padding of what the password decrypted, does not check out.
            P12::MacError(_) | P12::UnpadError if given => {
                "the PKCS#12/PFX password is wrong; set client_certificate_password (or \
                 AZURE_CLIENT_CERTIFICATE_PASSWORD) to the password the file was exported with"
                    .to_string()
            }
            P12::MacError(_) | P12::UnpadError => "the PKCS#12/PFX file is password-protected; \
                 set client_certificate_password (or AZURE_CLIENT_CERTIFICATE_PASSWORD)"
                .to_string(),
            P12::UnsupportedContentType
            | P12::UnsupportedEncryptionScheme
            | P12::UnsupportedMacAlgorithm => format!(
                "the PKCS#12/PFX file uses a scheme entrasync cannot read ({e}; MD5-based ones \
                 are not supported); export it again with AES-256 or 3DES, {convert}"
            ),
            // Never the password: none of these errors carries it.
            other => format!("not a readable PKCS#12/PFX file ({other}); {convert}"),
        })?;
        let (_, chain) = store.private_key_chain().ok_or(
            "the PKCS#12/PFX file holds no private key with its certificate; export the \
             certificate together with its private key",
        )?;
        const RSA: &str = "1.2.840.113549.1.1.1";
        let algorithm = chain.key().oid().to_string();
        if algorithm != RSA {
            let name = match algorithm.as_str() {
                "1.2.840.10045.2.1" => "an EC",
                "1.3.101.112" => "an Ed25519",
                _ => "a non-RSA",
            };
            return Err(format!(
                "the private key is {name} key (algorithm {algorithm}); Entra app certificates \
                 for client assertions must be RSA (2048 bits or more)"
            ));
        }
        let leaf = chain
            .certs()
            .first()
            .ok_or("the PKCS#12/PFX file holds no certificate for its private key")?;
        let key_pem = pem_armour("PRIVATE KEY", chain.key().as_der());
        // jsonwebtoken reads an RSA key from PEM as PKCS#8 or PKCS#1; PFX keys are PKCS#8.
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes())
            .map_err(|e| format!("the private key is not a usable RSA key ({e})"))?;
        Ok(Certificate {
            thumbprint: URL_SAFE_NO_PAD.encode(Sha1::digest(leaf.as_der())),
            key,
            chain: send_chain.then(|| {
                chain
                    .certs()
                    .iter()
                    .map(|c| STANDARD.encode(c.as_der()))
                    .collect()
            }),
        })
    }

    pub fn from_pem(pem: &str, send_chain: bool) -> Result<Certificate, String> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || pem.contains("4,ENCRYPTED") {
            return Err(
                "the private key is encrypted, which entrasync does not read in PEM; \
                 export certificate and key as a PFX with that password (`openssl pkcs12 -export \
                 -in app.pem -out app.pfx`) and set client_certificate_password, or decrypt the \
                 key (`openssl pkey -in app.pem`) into a file only entrasync can read"
                    .into(),
            );
        }
        let certs: Vec<CertificateDer> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .filter_map(Result::ok)
            .collect();
        let cert = certs.first().ok_or(
            "no CERTIFICATE block found; the file must hold the certificate and its private key in PEM",
        )?;
        let key_block = pem_block(pem, &["PRIVATE KEY", "RSA PRIVATE KEY"]).ok_or(
            "no PRIVATE KEY block found; the file must hold the certificate and its private key in PEM",
        )?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_block.as_bytes())
            .map_err(|e| format!("the private key is not a usable RSA key ({e})"))?;
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha1::digest(cert.as_ref()));
        let chain = send_chain.then(|| certs.iter().map(|c| STANDARD.encode(c.as_ref())).collect());
        Ok(Certificate {
            thumbprint,
            key,
            chain,
        })
    }
}

/// DER in PEM armour, 64 base64 characters a line.
#[cfg(feature = "pfx")]
fn pem_armour(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The first PEM block with one of the given labels, armour included.
fn pem_block<'a>(pem: &'a str, labels: &[&str]) -> Option<&'a str> {
    labels.iter().find_map(|label| {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let start = pem.find(&begin)?;
        let stop = start + pem[start..].find(&end)? + end.len();
        Some(&pem[start..stop])
    })
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `describe` names paths and ids, never a secret.
        write!(f, "Credential({})", self.describe())
    }
}

/// A token a credential obtained and how long it lives (`None`: unknown).
pub struct Acquired {
    pub token: Secret,
    pub lifetime: Option<Duration>,
}

/// A failure and the server's Retry-After.
pub type Failed = (GraphError, Option<Duration>);

/// The audience Entra expects in a federated assertion, per cloud.
pub fn exchange_audience(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Public => "api://AzureADTokenExchange",
        Cloud::Usgov | Cloud::UsgovDod => "api://AzureADTokenExchangeUSGov",
        Cloud::China => "api://AzureADTokenExchangeChina",
    }
}

impl Assertion {
    /// The external token to present, fresh for this request.
    pub async fn fetch(&self, http: &reqwest::Client, cloud: Cloud) -> Result<String, Failed> {
        match self {
            Assertion::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    let m = format!(
                        "cannot read the federated token file {}: {e}",
                        path.display()
                    );
                    (GraphError::Setup(m), None)
                })?;
                let token = text.trim().to_string();
                if token.is_empty() {
                    let m = format!("the federated token file {} is empty", path.display());
                    return Err((GraphError::Setup(m), None));
                }
                Ok(token)
            }
            Assertion::GitHubActions { url, token } => {
                let mut url = url::Url::parse(url).map_err(|e| {
                    (
                        GraphError::Setup(format!(
                            "ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: {e}"
                        )),
                        None,
                    )
                })?;
                url.query_pairs_mut()
                    .append_pair("audience", exchange_audience(cloud));
                let what = "the GitHub Actions OIDC token service";
                let body = get_json(http.get(url).bearer_auth(token.expose()), what).await?;
                let value = body["value"].as_str().ok_or_else(|| {
                    (
                        GraphError::Malformed(format!("{what} answered without a value")),
                        None,
                    )
                })?;
                Ok(value.to_string())
            }
        }
    }
}

/// Sends `request`, expecting a JSON object; a non-200 is `GraphError::Auth` with the status
/// and the server's `error`/`error_description` (or `message`).
async fn get_json(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<serde_json::Value, Failed> {
    let mut response = request.send().await.map_err(|e| {
        let m = format!("{what}: {}", super::describe_reqwest_error(&e));
        (GraphError::Transport(m), None)
    })?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(super::error::parse_retry_after);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = super::read_body(&mut response, what)
        .await
        .map_err(|e| (e, None))?;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if status != 200 {
        let text = |key: &str| v[key].as_str().map(printable);
        let error = text("error").unwrap_or_else(|| format!("http_{status}"));
        let description = text("error_description")
            .or_else(|| text("message"))
            .unwrap_or_else(|| format!("{what} gave no description"));
        let e = GraphError::Auth {
            status,
            error,
            description: format!("{what}: {description}"),
        };
        // Arc's challenge travels in the error so that its caller can answer it.
        let e = match challenge {
            Some(c) if status == 401 && c.contains("realm=") => {
                (GraphError::Refused(c), Some(Duration::ZERO))
            }
            _ => (e, retry_after),
        };
        return Err(e);
    }
    if !v.is_object() {
        return Err((
            GraphError::Malformed(format!("{what} answered 200 without a JSON object")),
            None,
        ));
    }
    Ok(v)
}

/// A number or a numeric string (managed identity sends both).
fn seconds(v: &serde_json::Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The lifetime a response states: `expires_in`, else `expires_on` (epoch seconds) from now.
fn lifetime_of(v: &serde_json::Value) -> Option<Duration> {
    let now = chrono::Utc::now().timestamp();
    let secs =
        seconds(&v["expires_in"]).or_else(|| seconds(&v["expires_on"]).map(|on| on - now))?;
    Some(Duration::from_secs(secs.max(0) as u64))
}

fn access_token_of(v: &serde_json::Value, field: &str, what: &str) -> Result<Secret, Failed> {
    // Never serde's message: it would quote the token.
    v[field]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(Secret::new)
        .ok_or_else(|| {
            (
                GraphError::Malformed(format!("{what} answered without an {field}")),
                None,
            )
        })
}

impl ManagedIdentity {
    /// One token request to the managed-identity endpoint for `resource`.
    pub async fn fetch(&self, http: &reqwest::Client, resource: &str) -> Result<Acquired, Failed> {
        let with_client = |mut url: url::Url, client_id: &Option<String>| {
            if let Some(id) = client_id {
                url.query_pairs_mut().append_pair("client_id", id);
            }
            url
        };
        let parse = |text: &str, var: &str| {
            url::Url::parse(text)
                .map_err(|e| (GraphError::Setup(format!("{var} is not a URL: {e}")), None))
        };
        let (what, v) = match self {
            ManagedIdentity::Imds { host, client_id } => {
                let base = format!(
                    "{}/metadata/identity/oauth2/token",
                    host.trim_end_matches('/')
                );
                let mut url = parse(&base, "AZURE_POD_IDENTITY_AUTHORITY_HOST")?;
                url.query_pairs_mut()
                    .append_pair("api-version", "2018-02-01")
                    .append_pair("resource", resource);
                let what = "the managed identity endpoint (IMDS)";
                let req = http
                    .get(with_client(url, client_id))
                    .header("Metadata", "true");
                (what, get_json(req, what).await?)
            }
            ManagedIdentity::AppService {
                endpoint,
                header,
                client_id,
            } => {
                let mut url = parse(endpoint, "IDENTITY_ENDPOINT")?;
                url.query_pairs_mut()
                    .append_pair("api-version", "2019-08-01")
                    .append_pair("resource", resource);
                let what = "the managed identity endpoint (App Service)";
                let req = http
                    .get(with_client(url, client_id))
                    .header("X-IDENTITY-HEADER", header.expose());
                (what, get_json(req, what).await?)
            }
            ManagedIdentity::Arc { endpoint } => {
                let mut url = parse(endpoint, "IDENTITY_ENDPOINT")?;
                url.query_pairs_mut()
                    .append_pair("api-version", "2019-11-01")
                    .append_pair("resource", resource);
                let what = "the managed identity endpoint (Azure Arc)";
                let first = http.get(url.clone()).header("Metadata", "true");
                let v = match get_json(first, what).await {
                    Err((GraphError::Refused(challenge), _)) => {
                        let key =
                            arc_key(&challenge).map_err(|m| (GraphError::Refused(m), None))?;
                        let second = http
                            .get(url)
                            .header("Metadata", "true")
                            .header("Authorization", format!("Basic {}", key.expose()));
                        get_json(second, what).await?
                    }
                    other => other?,
                };
                (what, v)
            }
            ManagedIdentity::CloudShell { endpoint } => {
                let url = parse(endpoint, "MSI_ENDPOINT")?;
                let what = "the managed identity endpoint (Cloud Shell)";
                let req = http
                    .post(url)
                    .header("Metadata", "true")
                    .form(&[("resource", resource)]);
                (what, get_json(req, what).await?)
            }
        };
        Ok(Acquired {
            token: access_token_of(&v, "access_token", what)?,
            lifetime: lifetime_of(&v),
        })
    }
}

/// The secret Arc's challenge points to, read only from the agent's own key directory: a hostile
/// endpoint must not make us read and send any other file.
fn arc_key(challenge: &str) -> Result<Secret, String> {
    let path = challenge
        .split_once("realm=")
        .map(|(_, p)| p.trim().trim_matches('"'))
        .ok_or("Azure Arc's challenge names no key file")?;
    let path = std::path::Path::new(path);
    let allowed = path.parent() == Some(std::path::Path::new(ARC_KEY_DIR))
        && path.extension().is_some_and(|e| e == "key");
    if !allowed {
        return Err(format!(
            "Azure Arc's challenge points outside {ARC_KEY_DIR}/*.key; refusing to read {}",
            printable(&path.display().to_string())
        ));
    }
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the Arc key file: {e}"))?;
    if meta.len() > 4096 {
        return Err("the Arc key file is larger than 4096 bytes; refusing it".into());
    }
    std::fs::read_to_string(path)
        .map(|s| Secret::new(s.trim()))
        .map_err(|e| format!("cannot read the Arc key file: {e}"))
}

/// `az account get-access-token`, as the real CLI answers it.
pub async fn azure_cli(resource: &str, tenant: &str) -> Result<Acquired, Failed> {
    let fail = |m: String| (GraphError::Setup(m), None);
    let mut cmd = tokio::process::Command::new("az");
    cmd.args([
        "account",
        "get-access-token",
        "--resource",
        resource,
        "--output",
        "json",
    ]);
    if !tenant.is_empty() {
        cmd.args(["--tenant", tenant]);
    }
    cmd.kill_on_drop(true).stdin(std::process::Stdio::null());
    let output = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .map_err(|_| {
            fail("the Azure CLI (az account get-access-token) did not answer within 30 s".into())
        })?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => fail(
                "the Azure CLI (az) is not on PATH: install it and run `az login`, or choose \
                 another auth"
                    .into(),
            ),
            _ => fail(format!("cannot run the Azure CLI: {e}")),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        let hint = if stderr.contains("az login") {
            ""
        } else {
            "; run `az login`"
        };
        return Err(fail(format!(
            "az account get-access-token failed ({}): {}{hint}",
            output.status,
            printable(first)
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let what = "az account get-access-token";
    let token = access_token_of(&v, "accessToken", what)?;
    // `expires_on` (epoch seconds) since CLI 2.54; before, only `expiresOn` in local time.
    let lifetime = seconds(&v["expires_on"])
        .or_else(|| {
            let text = v["expiresOn"].as_str()?;
            let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()?;
            Some(
                naive
                    .and_local_timezone(chrono::Local)
                    .earliest()?
                    .timestamp(),
            )
        })
        .map(|on| Duration::from_secs((on - chrono::Utc::now().timestamp()).max(0) as u64));
    Ok(Acquired { token, lifetime })
}

impl GivenToken {
    pub async fn fetch(&self) -> Result<Acquired, Failed> {
        let token = match self {
            GivenToken::Inline(t) => t.clone(),
            GivenToken::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    let m = format!("cannot read access_token_file {}: {e}", path.display());
                    (GraphError::Setup(m), None)
                })?;
                Secret::new(text.trim())
            }
        };
        let lifetime = super::auth::token_claim(token.expose(), "exp")
            .and_then(|exp| exp.as_i64())
            .map(|exp| Duration::from_secs((exp - chrono::Utc::now().timestamp()).max(0) as u64));
        Ok(Acquired { token, lifetime })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arc_challenge_outside_the_agent_key_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("stolen.key");
        std::fs::write(&key, "secret-of-another-program").unwrap();
        for challenge in [
            format!("Basic realm={}", key.display()),
            "Basic realm=/etc/shadow".to_string(),
            format!("Basic realm={ARC_KEY_DIR}/../../../etc/passwd.key"),
            "Basic".to_string(),
        ] {
            let err = arc_key(&challenge).map(|_| ()).unwrap_err();
            assert!(!err.contains("secret-of-another-program"), "{err}");
            assert!(err.contains("Arc"), "{challenge}: {err}");
        }
    }

    #[test]
    fn an_encrypted_pem_key_is_refused_with_the_way_out() {
        for key in [
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nMIIB\n\
             -----END RSA PRIVATE KEY-----\n",
        ] {
            let err = Certificate::from_pem(key, false).map(|_| ()).unwrap_err();
            assert!(
                err.contains("encrypted") && err.contains("openssl pkcs12 -export"),
                "{err}"
            );
        }
    }

    #[test]
    fn lifetimes_read_as_managed_identity_and_the_cli_state_them() {
        let now = chrono::Utc::now().timestamp();
        let in_secs = |v: serde_json::Value| lifetime_of(&v).map(|d| d.as_secs());
        assert_eq!(
            in_secs(serde_json::json!({"expires_in": "3599"})),
            Some(3599)
        );
        assert_eq!(in_secs(serde_json::json!({"expires_in": 120})), Some(120));
        let on = in_secs(serde_json::json!({"expires_on": (now + 600).to_string()})).unwrap();
        assert!((598..=600).contains(&on), "{on}");
        assert_eq!(in_secs(serde_json::json!({"expires_on": now - 5})), Some(0));
        assert_eq!(in_secs(serde_json::json!({})), None);
    }
}
