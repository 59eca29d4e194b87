//! `entrasync test-connection`: can these credentials sync these tables?
//!
//! Acquires a token, decodes the application permissions it carries, and checks every selected
//! table: the permission first (from the token, no request needed), then, for top-level tables,
//! one small request that reveals a missing licence.

use crate::config::SourceConfig;
use crate::graph::{GraphClient, GraphError, Traffic, auth};
use crate::standalone::simulator;
use crate::tables::{self, Selected, Source, Table};
use std::fmt::Write as _;

/// Whether one table can be synced, and if not what to do.
#[derive(Debug, Clone, PartialEq)]
pub enum TableStatus {
    Ready,
    MissingPermission(String),
    MissingLicence(String),
    Error(String),
}

#[derive(Debug)]
pub struct ConnectionReport {
    pub tenant_id: String,
    pub tenant_name: Option<String>,
    /// The credential that signed in, as `Credential::describe` names it.
    pub credential: String,
    /// The identity's app id and object id, from the token (`appid`/`azp`, `oid`).
    pub app_id: Option<String>,
    pub object_id: Option<String>,
    pub permissions: Vec<String>,
    pub tables: Vec<(&'static str, TableStatus)>,
}

impl ConnectionReport {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Tenant: {}{}",
            self.tenant_id,
            self.tenant_name
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        );
        let unknown = || "unknown".to_string();
        let _ = writeln!(
            out,
            "Signed in with: {} (app id {}, object id {})",
            self.credential,
            self.app_id.clone().unwrap_or_else(unknown),
            self.object_id.clone().unwrap_or_else(unknown),
        );
        let _ = writeln!(
            out,
            "Application permissions in the token: {}",
            if self.permissions.is_empty() {
                "none".to_string()
            } else {
                self.permissions.join(", ")
            }
        );
        let _ = writeln!(out);
        for (name, status) in &self.tables {
            let text = match status {
                TableStatus::Ready => "ok".to_string(),
                TableStatus::MissingPermission(p) => format!("missing permission: grant {p}"),
                TableStatus::MissingLicence(l) => format!("missing licence: the tenant needs {l}"),
                TableStatus::Error(e) => format!("error: {e}"),
            };
            let _ = writeln!(out, "{name:<60} {text}");
        }
        let ready = self
            .tables
            .iter()
            .filter(|(_, s)| *s == TableStatus::Ready)
            .count();
        let _ = writeln!(
            out,
            "\n{ready} of {} tables can be synced.",
            self.tables.len()
        );
        let to_grant = self.permissions_to_grant();
        if !to_grant.is_empty() {
            let _ = writeln!(
                out,
                "Grant these application permissions, with admin consent, for the others: {}",
                to_grant.join(", ")
            );
        }
        out
    }

    /// The fewest least-privileged permissions that, added to the token's, let every table
    /// that lacks one sync.
    pub fn permissions_to_grant(&self) -> Vec<&'static str> {
        let lacking = self
            .tables
            .iter()
            .filter(|(_, status)| matches!(status, TableStatus::MissingPermission(_)))
            .filter_map(|(name, _)| tables::by_name(name));
        crate::init::least_privilege(lacking)
            .into_iter()
            .filter(|p| !self.permissions.iter().any(|have| have == p))
            .collect()
    }
}

/// What permission a table lacks, judged from the token's `roles`.
pub fn missing_permission(table: &Table, roles: &[String]) -> Option<String> {
    let has = |p: &str| roles.iter().any(|r| r == p);
    if !table.permissions.is_empty() && !table.permissions.iter().any(|p| has(p)) {
        return Some(table.permissions[0].to_string());
    }
    let missing: Vec<&str> = table
        .also_requires
        .iter()
        .copied()
        .filter(|p| !has(p))
        .collect();
    (!missing.is_empty()).then(|| missing.join(" and "))
}

pub async fn test_connection(source: &SourceConfig) -> anyhow::Result<ConnectionReport> {
    let selected: Vec<Selected> = tables::select(
        &tables::all(),
        &source.tables,
        &source.skip_tables,
        source.skip_dependent_tables,
    )?;
    let (spec, _simulator) = simulator::resolve(&source.spec).await?;
    let client = GraphClient::new(&spec)?;
    let token = client.tokens().token().await?;
    let (permissions, tid) = auth::token_claims(token.expose()).unwrap_or_default();
    let (app_id, object_id) = auth::token_identity(token.expose());
    let traffic = Traffic::default();
    let tenant_name = client
        .get(
            &client.url("/v1.0/organization?$select=id,displayName"),
            &traffic,
        )
        .await
        .ok()
        .and_then(|v| v["value"][0]["displayName"].as_str().map(str::to_string));
    let mut report = ConnectionReport {
        tenant_id: tid.unwrap_or_else(|| client.tenant_id().to_string()),
        tenant_name,
        credential: client.tokens().describe(),
        app_id,
        object_id,
        permissions,
        tables: Vec::new(),
    };
    for s in selected {
        let status = match missing_permission(s.table, &report.permissions) {
            Some(p) => TableStatus::MissingPermission(p),
            None => probe(&client, s.table, &traffic).await,
        };
        report.tables.push((s.table.name, status));
    }
    Ok(report)
}

/// One minimal request: enough to hear a licence or permission error from Graph itself.
async fn probe(client: &GraphClient, table: &Table, traffic: &Traffic) -> TableStatus {
    let path = match table.source {
        Source::List { path } => {
            let sep = if path.contains('?') { '&' } else { '?' };
            let top = if table.max_page_size.is_some() {
                "&$top=1"
            } else {
                ""
            };
            let select = if table.use_select {
                let first = table
                    .select()
                    .into_iter()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(",");
                format!("$select={first}")
            } else {
                String::new()
            };
            format!("/{}{path}{sep}{select}{top}", table.version.segment())
        }
        Source::Singleton { path } => format!("/{}{path}", table.version.segment()),
        // Child and computed tables depend on their parent's rows; the permission check stands.
        Source::Child { .. } | Source::Computed { .. } => return TableStatus::Ready,
    };
    match client.get(&client.url(&path), traffic).await {
        Ok(_) => TableStatus::Ready,
        Err(e) if e.is_licence_missing() => TableStatus::MissingLicence(
            table
                .licence
                .map(|l| l.name().to_string())
                .unwrap_or_else(|| "a premium licence".into()),
        ),
        Err(e) if e.is_permission_denied() => TableStatus::MissingPermission(
            table
                .permissions
                .first()
                .copied()
                .unwrap_or("Directory.Read.All")
                .to_string(),
        ),
        Err(e @ GraphError::Api(_)) => TableStatus::Error(e.to_string()),
        Err(e) => TableStatus::Error(e.to_string()),
    }
}
