//! `tenants:` in a source's spec: one source syncing several tenants, each entry naming a tenant
//! and the credential keys it sets, the rest inherited from the spec. Expanded at load into one
//! source per tenant, all with the source's name (so `_cq_source_name` stays the user's).

use super::node::{De, LocError, Node, Value};
use super::spec::{AuthKind, EntraSpec, Secret};
use serde::Deserialize;

/// The keys a `tenants:` entry may set; everything else comes from the spec.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_certificate_path: Option<String>,
    client_certificate_password: Option<String>,
    federated_token_file: Option<String>,
    auth: Option<AuthKind>,
}

/// One tenant of a `tenants:` list, with the line of its entry for error messages.
#[derive(Debug, Clone)]
pub struct TenantSpec {
    pub spec: EntraSpec,
    pub line: u32,
}

/// Removes `spec.tenants` from a source document (the plugin's own spec does not know the key),
/// returning the document without it and the list's node.
pub(crate) fn take(doc: &Node) -> (Node, Option<Node>) {
    let mut doc = doc.clone();
    let mut taken = None;
    if let Value::Map(entries) = &mut doc.value
        && let Some(spec) = entries.iter_mut().find(|e| e.key == "spec")
        && let Value::Map(spec) = &mut spec.value.value
        && let Some(i) = spec.iter().position(|e| e.key == "tenants")
    {
        taken = Some(spec.remove(i).value);
    }
    (doc, taken)
}

/// Each entry of `tenants` as a spec of its own: `base` (the spec of the source document
/// `doc`) with the entry's tenant and credential.
pub(crate) fn parse(
    doc: &Node,
    list: &Node,
    base: &EntraSpec,
) -> Result<Vec<TenantSpec>, LocError> {
    const PATH: &str = "spec.tenants";
    if let Some(line) = doc
        .entry("spec")
        .and_then(|spec| spec.value.key_line("tenant_id"))
    {
        return Err(LocError::new(
            Some(line),
            "spec.tenant_id",
            "set either tenant_id or tenants, not both; with tenants, each entry names its tenant",
        ));
    }
    let Value::Seq(entries) = &list.value else {
        return Err(LocError::new(
            Some(list.line),
            PATH,
            "expected a list of tenants, each with `tenant_id` and its credential keys",
        ));
    };
    if entries.is_empty() {
        return Err(LocError::new(
            Some(list.line),
            PATH,
            "the list is empty; list the tenants, or remove `tenants` and set `tenant_id`",
        ));
    }
    let mut out: Vec<TenantSpec> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("{PATH}[{i}]");
        let raw = RawTenant::deserialize(De::new(entry, path.clone(), entry.line))?;
        let given = |v: Option<String>| v.filter(|v| !v.is_empty());
        let Some(tenant_id) = given(raw.tenant_id) else {
            return Err(LocError::new(
                Some(entry.line),
                path,
                "no tenant_id: every entry of `tenants` names its tenant (a GUID or a domain \
                 such as contoso.onmicrosoft.com)",
            ));
        };
        if let Some(first) = out
            .iter()
            .find(|t| same_tenant(t.spec.tenant_id.as_deref(), &tenant_id))
        {
            return Err(LocError::new(
                entry.key_line("tenant_id").or(Some(entry.line)),
                format!("{path}.tenant_id"),
                format!(
                    "tenant {:?} is listed twice (first at line {}); each tenant is synced once",
                    super::node::short(&tenant_id, 80),
                    first.line
                ),
            ));
        }
        let mut spec = base.clone();
        spec.tenant_id = Some(tenant_id);
        spec.client_id = given(raw.client_id).or(spec.client_id);
        // An entry's own credential replaces the spec's whole, so a tenant given a certificate
        // never falls back to the spec's secret.
        let secret = given(raw.client_secret).map(Secret::new);
        let certificate = given(raw.client_certificate_path);
        let federated = given(raw.federated_token_file);
        if secret.is_some() || certificate.is_some() || federated.is_some() {
            spec.client_secret = secret;
            spec.client_certificate_path = certificate;
            spec.client_certificate_password =
                given(raw.client_certificate_password).map(Secret::new);
            spec.federated_token_file = federated;
            spec.auth = raw.auth;
        } else if let Some(auth) = raw.auth {
            spec.auth = Some(auth);
        }
        if let Err(why) = check_credential(&spec) {
            return Err(LocError::new(
                Some(entry.line),
                path,
                format!(
                    "{why} for tenant {:?}; {CREDENTIAL_CHOICES}",
                    super::node::short(spec.tenant_id.as_deref().unwrap_or_default(), 80)
                ),
            ));
        }
        out.push(TenantSpec {
            spec,
            line: entry.line,
        });
    }
    Ok(out)
}

const CREDENTIAL_CHOICES: &str = "in this entry, or in the spec for every tenant, write \
    `client_secret: ...`, or `client_certificate_path: /path/app.pem` (or a .pfx, with \
    `client_certificate_password: ...`), or `federated_token_file: /path/token` (workload \
    identity), or `auth: workload_identity` (GitHub Actions) or `auth: azure_cli`";

/// Whether `spec` names a credential that can sign in to any tenant. The environment's managed
/// identity cannot (it lives in one tenant), nor a given access token (issued for one tenant).
fn check_credential(spec: &EntraSpec) -> Result<(), String> {
    let one_tenant = |what: &str| {
        Err(format!(
            "{what} belongs to a single tenant and cannot serve a `tenants:` list (sync that \
             tenant with a source of its own, `tenant_id:` instead of `tenants:`)"
        ))
    };
    match spec.auth {
        Some(AuthKind::ManagedIdentity) => one_tenant("a managed identity"),
        Some(AuthKind::AccessToken) => one_tenant("an access token"),
        Some(AuthKind::ClientSecret) if spec.client_secret.is_none() => {
            Err("`auth: client_secret` without a client_secret".into())
        }
        Some(AuthKind::ClientCertificate) if spec.client_certificate_path.is_none() => {
            Err("`auth: client_certificate` without a client_certificate_path".into())
        }
        Some(_) => Ok(()),
        None if spec.access_token.is_some() || spec.access_token_file.is_some() => {
            one_tenant("an access token")
        }
        None if spec.client_secret.is_some()
            || spec.client_certificate_path.is_some()
            || spec.federated_token_file.is_some() =>
        {
            Ok(())
        }
        None => Err("no credential".into()),
    }
}

/// Tenant ids are GUIDs or domains, both case-insensitive.
fn same_tenant(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b))
}
