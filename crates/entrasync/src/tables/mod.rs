//! The catalog: every table entrasync can sync, as plain data.
//!
//! A table names its Graph endpoint, the permission and licence it needs, and the Graph properties
//! it stores. Columns derive from the properties by the conventions of DESIGN.md: `tenant_id`
//! first, then the parent key for child tables, then every property in snake_case.

mod directory;
mod glob;

use entrasync_sinks::cq::{self, ColumnKind};

pub use glob::{SelectError, Selected, select};

/// Graph API version of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    Beta,
}

impl ApiVersion {
    pub fn segment(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }
}

/// A tenant licence that some endpoints require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Licence {
    /// Microsoft Entra ID P1 (or P2).
    EntraP1,
    /// Microsoft Entra ID P2.
    EntraP2,
    /// Microsoft Entra Workload ID Premium.
    WorkloadIdPremium,
    /// Microsoft Intune.
    Intune,
}

impl Licence {
    pub fn name(self) -> &'static str {
        match self {
            Licence::EntraP1 => "Microsoft Entra ID P1",
            Licence::EntraP2 => "Microsoft Entra ID P2",
            Licence::WorkloadIdPremium => "Microsoft Entra Workload ID Premium",
            Licence::Intune => "Microsoft Intune",
        }
    }
}

/// Where a table's rows come from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// A collection: `GET {path}` and follow `@odata.nextLink`.
    List { path: &'static str },
    /// One object, not a collection: `GET {path}`.
    Singleton { path: &'static str },
    /// A collection per parent row: `{id}` in `path` is the parent's `id`.
    Child {
        parent: &'static str,
        /// Column that holds the parent's id, e.g. `group_id`.
        parent_key: &'static str,
        path: &'static str,
    },
    /// Derived locally from other tables' rows; no Graph calls of its own.
    Computed { parent: &'static str },
}

/// How a table syncs incrementally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incremental {
    None,
    /// Graph delta query at `{list path}/delta`.
    Delta,
    /// A timestamp filter with overlap, de-duplicated by id.
    Cursor { property: &'static str },
}

/// One Graph property stored as one column.
#[derive(Debug, Clone, Copy)]
pub struct Prop {
    /// The Graph property name, e.g. `accountEnabled` (`@odata.type` for the type annotation).
    pub graph: &'static str,
    pub kind: ColumnKind,
}

/// Shorthand for catalog files: `p("accountEnabled", Bool)`.
pub const fn p(graph: &'static str, kind: ColumnKind) -> Prop {
    Prop { graph, kind }
}

#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub description: &'static str,
    pub source: Source,
    pub version: ApiVersion,
    /// Application permissions, least privileged first; any one of them suffices.
    pub permissions: &'static [&'static str],
    pub licence: Option<Licence>,
    /// The largest `$top` Graph allows here; `None` when the endpoint takes no `$top`.
    pub max_page_size: Option<u32>,
    pub incremental: Incremental,
    /// The Graph properties, `id` first where the resource has one.
    pub props: &'static [Prop],
}

/// A column of a table's Arrow schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// The Graph property it comes from; `None` for columns entrasync fills itself.
    pub graph: Option<&'static str>,
    pub kind: ColumnKind,
    pub primary_key: bool,
    pub not_null: bool,
}

impl Table {
    pub fn parent(&self) -> Option<&'static str> {
        match self.source {
            Source::Child { parent, .. } | Source::Computed { parent } => Some(parent),
            _ => None,
        }
    }

    /// Every column in schema order: `_cq_id`, `_cq_parent_id`, `tenant_id`, parent key, props.
    pub fn columns(&self) -> Vec<Column> {
        let own = |name: &str, kind, primary_key, not_null| Column {
            name: name.to_string(),
            graph: None,
            kind,
            primary_key,
            not_null,
        };
        let mut cols = vec![
            own(cq::CQ_ID, ColumnKind::Uuid, false, true),
            own(cq::CQ_PARENT_ID, ColumnKind::Uuid, false, false),
            own("tenant_id", ColumnKind::Utf8, true, true),
        ];
        if let Source::Child { parent_key, .. } = self.source {
            cols.push(own(parent_key, ColumnKind::Utf8, true, true));
        }
        let has_id = self.props.iter().any(|p| p.graph == "id");
        for prop in self.props {
            let primary_key = prop.graph == "id";
            cols.push(Column {
                name: snake_case(prop.graph),
                graph: Some(prop.graph),
                kind: prop.kind,
                primary_key,
                not_null: primary_key,
            });
        }
        if !has_id {
            // A resource without an id (rare) is keyed by its tenant alone: one row per tenant.
            debug_assert!(matches!(self.source, Source::Singleton { .. }));
        }
        cols
    }

    /// The `$select` list for Graph: every stored property except annotations.
    pub fn select(&self) -> Vec<&'static str> {
        self.props
            .iter()
            .map(|p| p.graph)
            .filter(|g| !g.starts_with('@'))
            .collect()
    }
}

/// Graph property name → column name, as CloudQuery's Go `strcase.ToSnake` does it.
pub fn snake_case(graph: &str) -> String {
    let name = graph.trim_start_matches('@').replace('.', "_");
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                None | Some('_') => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                // An acronym ends where a lowercase letter follows: `IPAddress` → `ip_address`.
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Every table of the catalog, parents before their children.
pub fn all() -> Vec<&'static Table> {
    let mut tables: Vec<&'static Table> = Vec::new();
    tables.extend(directory::TABLES);
    tables
}

/// Looks a table up by name.
pub fn by_name(name: &str) -> Option<&'static Table> {
    all().into_iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_follows_cloudquery() {
        for (graph, want) in [
            ("accountEnabled", "account_enabled"),
            ("id", "id"),
            ("onPremisesSamAccountName", "on_premises_sam_account_name"),
            ("oauth2PermissionScopes", "oauth2_permission_scopes"),
            ("riskEventTypes_v2", "risk_event_types_v2"),
            ("@odata.type", "odata_type"),
            ("ipAddress", "ip_address"),
            ("wiFiMacAddress", "wi_fi_mac_address"),
            ("azureADDeviceId", "azure_ad_device_id"),
        ] {
            assert_eq!(snake_case(graph), want, "{graph}");
        }
    }

    #[test]
    fn names_are_unique_and_parents_come_first() {
        let tables = all();
        let mut seen = std::collections::HashSet::new();
        for t in &tables {
            assert!(seen.insert(t.name), "duplicate table {}", t.name);
            if let Some(parent) = t.parent() {
                assert!(seen.contains(parent), "{} listed before its parent {parent}", t.name);
            }
        }
    }

    #[test]
    fn column_names_are_unique() {
        for t in all() {
            let mut seen = std::collections::HashSet::new();
            for c in t.columns() {
                assert!(seen.insert(c.name.clone()), "{}: duplicate column {}", t.name, c.name);
            }
        }
    }
}
