//! The catalog: every table entrasync can sync, as plain data.
//!
//! A table names its Graph endpoint, the permission and licence it needs, and the Graph properties
//! it stores. Columns derive from the properties by the conventions of DESIGN.md: `tenant_id`
//! first, then the parent key for child tables, then every property in snake_case.

#[cfg(test)]
mod appendix_tests;
mod directory;
pub mod docs;
mod glob;
mod logs;
mod policies;
mod roles;

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
    Computed {
        parent: &'static str,
        /// The child table of `parent` whose rows it is computed from.
        from: &'static str,
    },
}

/// How a table syncs incrementally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incremental {
    None,
    /// Graph delta query at `{list path}/delta`.
    Delta,
    /// A timestamp filter with overlap, de-duplicated by id.
    Cursor {
        property: &'static str,
    },
}

/// One Graph property stored as one column.
#[derive(Debug, Clone, Copy)]
pub struct Prop {
    /// The Graph property name, e.g. `accountEnabled` (`@odata.type` for the type annotation).
    pub graph: &'static str,
    pub kind: ColumnKind,
    /// The column name when it is not the snake_case of `graph` (e.g. to avoid `tenant_id`).
    pub column: Option<&'static str>,
    /// Part of the primary key (besides `tenant_id`); `id` always is.
    pub primary_key: bool,
}

impl Prop {
    /// The column this property is stored in.
    pub fn column_name(&self) -> String {
        match self.column {
            Some(column) => column.to_string(),
            None => snake_case(self.graph),
        }
    }
}

/// Shorthand for catalog files: `p("accountEnabled", Bool)`.
pub const fn p(graph: &'static str, kind: ColumnKind) -> Prop {
    Prop {
        graph,
        kind,
        column: None,
        primary_key: false,
    }
}

/// A primary-key property stored under an explicit column name, for resources keyed by something
/// other than `id`: `key("tenantId", "partner_tenant_id", Utf8)`.
pub const fn key(graph: &'static str, column: &'static str, kind: ColumnKind) -> Prop {
    Prop {
        graph,
        kind,
        column: Some(column),
        primary_key: true,
    }
}

/// The most entries Graph returns for an `$expand`ed directory relationship.
pub const EXPAND_LIMIT: usize = 20;

/// Which parent rows a child table is read for: those that can have children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentCondition {
    /// A boolean property of the parent is true: PIM for groups covers only role-assignable
    /// groups (`isAssignableToRole`).
    Flag(&'static str),
    /// A string collection of the parent holds a value: lifecycle (expiration) policies apply
    /// to Microsoft 365 groups only (`groupTypes` holds `Unified`).
    Holds(&'static str, &'static str),
}

impl ParentCondition {
    /// The parent property the condition reads.
    pub fn property(self) -> &'static str {
        match self {
            ParentCondition::Flag(property) | ParentCondition::Holds(property, _) => property,
        }
    }

    /// Whether a parent object (as Graph returned it) meets the condition.
    pub fn holds(self, parent: &serde_json::Value) -> bool {
        match self {
            ParentCondition::Flag(flag) => {
                parent.get(flag).and_then(serde_json::Value::as_bool) == Some(true)
            }
            ParentCondition::Holds(property, value) => parent
                .get(property)
                .and_then(serde_json::Value::as_array)
                .is_some_and(|items| items.iter().any(|v| v == value)),
        }
    }
}

impl std::fmt::Display for ParentCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParentCondition::Flag(flag) => write!(f, "`{flag}` is true"),
            ParentCondition::Holds(property, value) => write!(f, "`{property}` holds `{value}`"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    /// Human title, as CloudQuery's `tables.json` shows it, e.g. `Group Members`.
    pub title: &'static str,
    pub description: &'static str,
    /// The Graph resource type the rows are, e.g. `user` (`directoryObject` for polymorphic
    /// relationship collections).
    pub resource: &'static str,
    pub source: Source,
    pub version: ApiVersion,
    /// Application permissions, least privileged first; any one of them suffices.
    pub permissions: &'static [&'static str],
    /// Application permissions needed in addition to one of `permissions` (all of them), e.g.
    /// sign-ins need `Directory.Read.All` besides `AuditLog.Read.All`.
    pub also_requires: &'static [&'static str],
    pub licence: Option<Licence>,
    /// The largest `$top` Graph allows here; `None` when the endpoint takes no `$top` (or its
    /// maximum is not documented: Graph's default page size is then used).
    pub max_page_size: Option<u32>,
    pub incremental: Incremental,
    /// For a child table: fetch only for the parent rows that can have children, as Graph
    /// documents it (see `ParentCondition`).
    pub parent_condition: Option<ParentCondition>,
    /// For a child of a delta table: the parent's relationship (`members`) whose `members@delta`
    /// annotation in the parent's delta pages carries this table's rows, so that a delta sync of
    /// the parent needs no request per parent row (graph-api.md §3).
    pub parent_delta: Option<&'static str>,
    /// For a child table: the parent's relationship (`owners`) that a listing of the parents
    /// returns with `$expand`, at most `EXPAND_LIMIT` entries a parent (graph-api.md §2). A
    /// parent whose expanded list is shorter has all its rows there; only the others are read
    /// one request per parent.
    pub expand: Option<&'static str>,
    /// For a child table that the parent's delta does not carry: the directory audit activities
    /// (`activityDisplayName`, as Microsoft's audit activity reference spells them) that name a
    /// parent whose rows of this table changed. An incremental sync re-reads those parents only.
    pub audit_activities: &'static [&'static str],
    /// Whether to send `$select` with the props. False for polymorphic collections whose subtype
    /// properties Graph rejects in a `$select` on the base type (named locations).
    pub use_select: bool,
    /// The Graph properties, `id` first where the resource has one.
    pub props: &'static [Prop],
}

/// Defaults for the optional fields of a catalog entry: `..DEFAULT` after the required ones.
pub(crate) const DEFAULT: Table = Table {
    name: "",
    title: "",
    description: "",
    resource: "",
    source: Source::List { path: "" },
    version: ApiVersion::V1,
    permissions: &[],
    also_requires: &[],
    licence: None,
    max_page_size: None,
    incremental: Incremental::None,
    parent_condition: None,
    parent_delta: None,
    expand: None,
    audit_activities: &[],
    use_select: true,
    props: &[],
};

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
            Source::Child { parent, .. } | Source::Computed { parent, .. } => Some(parent),
            _ => None,
        }
    }

    /// The column that holds the parent's id, for child tables (`group_id`).
    pub fn parent_key(&self) -> Option<&'static str> {
        match self.source {
            Source::Child { parent_key, .. } => Some(parent_key),
            _ => None,
        }
    }

    /// Every column in schema order: `_cq_id`, `_cq_parent_id`, `tenant_id`, parent key, props.
    ///
    /// A child table whose resource has a property with the parent key's name (PIM for groups:
    /// `groupId` → `group_id`) stores it once, in the parent key's place, read from the property.
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
        let parent_key = self.parent_key();
        if let Some(parent_key) = parent_key {
            let graph = self
                .props
                .iter()
                .find(|p| p.column_name() == parent_key)
                .map(|p| p.graph);
            cols.push(Column {
                graph,
                ..own(parent_key, ColumnKind::Utf8, true, true)
            });
        }
        for prop in self.props {
            let name = prop.column_name();
            if Some(name.as_str()) == parent_key {
                continue;
            }
            let primary_key = prop.primary_key || prop.graph == "id";
            cols.push(Column {
                name,
                graph: Some(prop.graph),
                kind: prop.kind,
                primary_key,
                not_null: primary_key,
            });
        }
        cols
    }

    /// The primary-key column names: `tenant_id`, the parent key, then `id` (or the key props).
    pub fn primary_key(&self) -> Vec<String> {
        self.columns()
            .into_iter()
            .filter(|c| c.primary_key)
            .map(|c| c.name)
            .collect()
    }

    /// The `$select` list for Graph: every stored property except annotations; empty when the
    /// table does not use `$select` (`use_select` is false).
    pub fn select(&self) -> Vec<&'static str> {
        if !self.use_select {
            return Vec::new();
        }
        self.props
            .iter()
            .map(|p| p.graph)
            .filter(|g| !g.starts_with('@'))
            .collect()
    }

    /// The Graph URL path with the API version, e.g. `/v1.0/users` (children keep `{id}`).
    pub fn endpoint(&self) -> Option<String> {
        match self.source {
            Source::List { path } | Source::Singleton { path } | Source::Child { path, .. } => {
                Some(format!("/{}{}", self.version.segment(), path))
            }
            Source::Computed { .. } => None,
        }
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
    tables.extend(roles::TABLES);
    tables.extend(policies::TABLES);
    tables.extend(logs::TABLES);
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
                assert!(
                    seen.contains(parent),
                    "{} listed before its parent {parent}",
                    t.name
                );
            }
        }
    }

    #[test]
    fn catalog_entries_are_consistent() {
        let tables = all();
        assert_eq!(tables.len(), 59, "TABLES.md lists 59 tables");
        for t in &tables {
            let name = t.name;
            assert!(name.starts_with("entraid_"), "{name}");
            assert!(!t.title.is_empty() && !t.description.is_empty(), "{name}");
            assert!(!t.resource.is_empty(), "{name}: resource");
            assert!(!t.permissions.is_empty(), "{name}: permissions");
            assert!(
                t.primary_key().len() >= 2,
                "{name}: primary key beyond tenant_id"
            );
            match t.source {
                Source::List { path } | Source::Singleton { path } => {
                    assert!(
                        path.starts_with('/') && !path.contains("{id}"),
                        "{name}: {path}"
                    );
                }
                Source::Child { parent, path, .. } => {
                    assert!(
                        path.starts_with('/') && path.contains("{id}"),
                        "{name}: {path}"
                    );
                    let parent = by_name(parent).expect("parent exists");
                    if let Some(condition) = t.parent_condition {
                        let property = condition.property();
                        let kind = match condition {
                            ParentCondition::Flag(_) => ColumnKind::Bool,
                            ParentCondition::Holds(..) => ColumnKind::Utf8List,
                        };
                        assert!(
                            parent
                                .props
                                .iter()
                                .any(|p| p.graph == property && p.kind == kind),
                            "{name}: parent_condition {property} is not a {kind:?} of {}",
                            parent.name
                        );
                    }
                    if t.parent_delta.is_some() {
                        assert_eq!(parent.incremental, Incremental::Delta, "{name}");
                    }
                }
                Source::Computed { parent, from } => {
                    assert!(by_name(parent).is_some(), "{name}");
                    assert_eq!(
                        by_name(from).and_then(|f| f.parent()),
                        Some(parent),
                        "{name}"
                    );
                }
            }
            match t.incremental {
                Incremental::Delta => {
                    assert!(
                        matches!(t.source, Source::List { .. }),
                        "{name}: delta on a list"
                    )
                }
                Incremental::Cursor { property } => assert!(
                    t.props
                        .iter()
                        .any(|p| p.graph == property && p.kind == ColumnKind::Timestamp),
                    "{name}: cursor {property} is not a timestamp prop"
                ),
                Incremental::None => {}
            }
            if t.parent_condition.is_some() || t.parent_delta.is_some() {
                assert!(matches!(t.source, Source::Child { .. }), "{name}");
            }
        }
        // Facts of graph-api.md §2 and TABLES.md.
        let table = |n: &str| by_name(n).unwrap_or_else(|| panic!("{n}"));
        assert_eq!(table("entraid_directoryroles").max_page_size, None);
        assert_eq!(table("entraid_auditlogs_signins").max_page_size, Some(1000));
        assert_eq!(table("entraid_users").max_page_size, Some(999));
        assert_eq!(
            table("entraid_user_signin_activity").max_page_size,
            Some(500)
        );
        assert_eq!(
            table("entraid_user_signin_activity").select(),
            ["id", "signInActivity"]
        );
        assert!(
            table("entraid_identity_conditional_access_namedlocations")
                .select()
                .is_empty()
        );
        assert_eq!(
            table("entraid_identityprotection_riskyusers").licence,
            Some(Licence::EntraP2)
        );
    }

    #[test]
    fn child_key_columns() {
        let pim = by_name("entraid_privilegedaccess_group_assignmentscheduleinstances").unwrap();
        let cols = pim.columns();
        let group_id: Vec<&Column> = cols.iter().filter(|c| c.name == "group_id").collect();
        assert_eq!(
            group_id.len(),
            1,
            "groupId is stored once, as the parent key"
        );
        assert_eq!(group_id[0].graph, Some("groupId"));
        assert!(group_id[0].primary_key);
        assert_eq!(pim.primary_key(), ["tenant_id", "group_id", "id"]);

        let members = by_name("entraid_group_members").unwrap();
        assert_eq!(members.primary_key(), ["tenant_id", "group_id", "id"]);
        assert_eq!(
            members.columns()[3].graph,
            None,
            "the parent key comes from the parent row"
        );

        let partners = by_name("entraid_policies_crosstenantaccesspolicy_partners").unwrap();
        assert_eq!(partners.primary_key(), ["tenant_id", "partner_tenant_id"]);
        let transitive = by_name("entraid_group_transitive_members").unwrap();
        assert_eq!(transitive.primary_key(), ["tenant_id", "group_id", "id"]);
    }

    #[test]
    fn column_names_are_unique() {
        for t in all() {
            let mut seen = std::collections::HashSet::new();
            for c in t.columns() {
                assert!(
                    seen.insert(c.name.clone()),
                    "{}: duplicate column {}",
                    t.name,
                    c.name
                );
            }
        }
    }
}
