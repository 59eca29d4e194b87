//! Checks every table's props against the property lists of its Graph resource, written as test
//! data in `tests/data/graph_properties.txt` (copied from reference/graph-api.md Appendix A, and
//! from Microsoft's Graph docs for the few resources the appendix lacks). A missing, misspelled or
//! mistyped property fails; only the exclusions documented in the data file are allowed.

use std::collections::{BTreeMap, BTreeSet};

use super::{Table, all, snake_case};
use entrasync_sinks::cq::ColumnKind;

const DATA: &str = include_str!("../../tests/data/graph_properties.txt");

#[derive(Debug)]
struct GraphProp {
    name: String,
    kind: Option<ColumnKind>,
}

#[derive(Debug, PartialEq)]
enum Mode {
    Exact,
    Subset,
}

#[derive(Debug)]
struct Expected {
    mode: Mode,
    resources: Vec<String>,
    exclude: BTreeMap<String, String>,
    extra: BTreeMap<String, String>,
    rename: BTreeMap<String, String>,
    /// `only A B: reason` — a subset table that must store exactly these properties.
    only: Option<Vec<String>>,
}

#[derive(Debug, Default)]
struct Data {
    resources: BTreeMap<String, Vec<GraphProp>>,
    tables: BTreeMap<String, Expected>,
}

/// Graph type → column kind by DESIGN.md's conventions; `None` for `Stream` (never inlined).
fn kind_of(ty: &str, enums: &BTreeSet<String>) -> Option<ColumnKind> {
    let ty = ty.trim_end_matches('!');
    let (collection, inner) = match ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(inner) => (true, inner),
        None => (false, ty),
    };
    let scalar = match inner {
        "String" | "Guid" | "Binary" | "Duration" => ColumnKind::Utf8,
        "Boolean" => ColumnKind::Bool,
        "Int32" | "Int64" => ColumnKind::Int64,
        "Double" | "Single" => ColumnKind::Float64,
        "DateTimeOffset" => ColumnKind::Timestamp,
        "Stream" => return None,
        other if enums.contains(other) => ColumnKind::Utf8,
        _ => ColumnKind::Json,
    };
    Some(match (collection, scalar) {
        (false, kind) => kind,
        (true, ColumnKind::Utf8) => ColumnKind::Utf8List,
        (true, _) => ColumnKind::Json,
    })
}

fn parse(text: &str) -> Data {
    let mut data = Data::default();
    let mut enums = BTreeSet::new();
    let mut lines = text.lines();
    let mut current: Option<String> = None;
    while let Some(line) = lines.next() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("enums:") {
            enums = rest.split_whitespace().map(str::to_string).collect();
        } else if let Some(rest) = line.strip_prefix("resource ") {
            let name = rest
                .split_whitespace()
                .next()
                .expect("resource name")
                .to_string();
            let props_line = lines.next().expect("property line after resource");
            let props = props_line
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|item| {
                    let (name, ty) = item
                        .split_once(':')
                        .unwrap_or_else(|| panic!("`{item}` is not name:Type"));
                    GraphProp {
                        name: name.to_string(),
                        kind: kind_of(ty, &enums),
                    }
                })
                .collect();
            assert!(
                data.resources.insert(name.clone(), props).is_none(),
                "resource {name} twice"
            );
        } else if let Some(rest) = line.strip_prefix("table ") {
            let mut words = rest.split_whitespace();
            let name = words.next().expect("table name").to_string();
            let mode = match words.next() {
                Some("=") => Mode::Exact,
                Some("subset") => Mode::Subset,
                other => panic!("table {name}: expected `=` or `subset`, got {other:?}"),
            };
            let resources = words.filter(|w| *w != "+").map(str::to_string).collect();
            let expected = Expected {
                mode,
                resources,
                exclude: BTreeMap::new(),
                extra: BTreeMap::new(),
                rename: BTreeMap::new(),
                only: None,
            };
            assert!(
                data.tables.insert(name.clone(), expected).is_none(),
                "table {name} twice"
            );
            current = Some(name);
        } else {
            let table = current
                .as_ref()
                .expect("exclude/extra/rename after a table");
            let expected = data.tables.get_mut(table).unwrap();
            let (head, reason) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("`{line}` has no `: reason`"));
            let words: Vec<&str> = head.split_whitespace().collect();
            match words.as_slice() {
                ["exclude", prop] => {
                    expected
                        .exclude
                        .insert(prop.to_string(), reason.to_string());
                }
                ["extra", prop] => {
                    expected.extra.insert(prop.to_string(), reason.to_string());
                }
                ["only", props @ ..] => {
                    expected.only = Some(props.iter().map(|p| p.to_string()).collect());
                }
                ["rename", prop, column] => {
                    expected.rename.insert(prop.to_string(), column.to_string());
                }
                _ => panic!("cannot read `{line}`"),
            }
        }
    }
    data
}

/// The union of the resources' properties, in order, first occurrence wins.
fn union<'a>(data: &'a Data, table: &str, resources: &[String]) -> Vec<&'a GraphProp> {
    let mut out: Vec<&GraphProp> = Vec::new();
    for r in resources {
        let props = data
            .resources
            .get(r)
            .unwrap_or_else(|| panic!("{table}: resource {r} is not in the data file"));
        for prop in props {
            if !out.iter().any(|p| p.name == prop.name) {
                out.push(prop);
            }
        }
    }
    out
}

fn check(table: &Table, data: &Data) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(expected) = data.tables.get(table.name) else {
        return vec![format!(
            "{}: no expected property list in the data file",
            table.name
        )];
    };
    if expected.resources.first().map(String::as_str) != Some(table.resource) {
        errors.push(format!(
            "{}: catalog resource `{}` but the data file says {:?}",
            table.name, table.resource, expected.resources
        ));
    }
    let graph = union(data, table.name, &expected.resources);
    let mut seen = BTreeSet::new();
    for prop in table.props {
        if !seen.insert(prop.graph) {
            errors.push(format!(
                "{}: property {} listed twice",
                table.name, prop.graph
            ));
        }
        if expected.extra.contains_key(prop.graph) {
            if prop.graph == "@odata.type" && prop.kind != ColumnKind::Utf8 {
                errors.push(format!("{}: @odata.type must be utf8", table.name));
            }
            continue;
        }
        if expected.exclude.contains_key(prop.graph) {
            errors.push(format!(
                "{}: property {} is stored but the data file excludes it",
                table.name, prop.graph
            ));
            continue;
        }
        match graph.iter().find(|g| g.name == prop.graph) {
            None => errors.push(format!(
                "{}: property `{}` is not a property of {} (misspelled?)",
                table.name,
                prop.graph,
                expected.resources.join(" + ")
            )),
            Some(g) => match g.kind {
                None => errors.push(format!(
                    "{}: property {} is a Stream and cannot be listed",
                    table.name, prop.graph
                )),
                Some(kind) if kind != prop.kind => errors.push(format!(
                    "{}: property {} is {:?}, expected {:?}",
                    table.name, prop.graph, prop.kind, kind
                )),
                Some(_) => {}
            },
        }
        let want_column = expected
            .rename
            .get(prop.graph)
            .cloned()
            .unwrap_or_else(|| snake_case(prop.graph));
        if prop.column_name() != want_column {
            errors.push(format!(
                "{}: property {} is stored as column {}, expected {}",
                table.name,
                prop.graph,
                prop.column_name(),
                want_column
            ));
        }
    }
    // What must be there: everything (exact), the `only` list, or the first resource's
    // properties (subset).
    let required: Vec<&GraphProp> = match (&expected.mode, &expected.only) {
        (Mode::Exact, _) => graph,
        (Mode::Subset, Some(only)) => {
            if table.props.len() != only.len() {
                errors.push(format!(
                    "{}: stores {} properties, the data file says only {only:?}",
                    table.name,
                    table.props.len()
                ));
            }
            graph
                .into_iter()
                .filter(|g| only.contains(&g.name))
                .collect()
        }
        (Mode::Subset, None) => union(data, table.name, &expected.resources[..1]),
    };
    for g in required {
        if !seen.contains(g.name.as_str()) && !expected.exclude.contains_key(&g.name) {
            errors.push(format!(
                "{}: missing property `{}` of {} (add it, or exclude it with a reason in tests/data/graph_properties.txt)",
                table.name,
                g.name,
                expected.resources.join(" + ")
            ));
        }
    }
    for name in expected.extra.keys() {
        if !seen.contains(name.as_str()) {
            errors.push(format!(
                "{}: extra property {name} is not stored",
                table.name
            ));
        }
    }
    let known = union(data, table.name, &expected.resources);
    for name in expected.exclude.keys() {
        if !known.iter().any(|g| &g.name == name) {
            errors.push(format!(
                "{}: excluded property {name} is not a property of the resource",
                table.name
            ));
        }
    }
    errors
}

#[test]
fn every_table_stores_every_listable_property_of_its_graph_resource() {
    let data = parse(DATA);
    let mut errors = Vec::new();
    for table in all() {
        errors.extend(check(table, &data));
    }
    assert!(
        errors.is_empty(),
        "{} problems:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn every_table_of_the_data_file_is_in_the_catalog() {
    let data = parse(DATA);
    let names: BTreeSet<&str> = all().iter().map(|t| t.name).collect();
    let missing: Vec<&String> = data
        .tables
        .keys()
        .filter(|t| !names.contains(t.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "tables in the data file but not in the catalog: {missing:?}"
    );
    assert_eq!(names.len(), data.tables.len());
}

#[test]
fn the_check_catches_a_misspelled_and_a_missing_property() {
    use super::{DEFAULT, Source, p};
    use ColumnKind::{Timestamp, Utf8};
    static BAD: Table = Table {
        name: "entraid_directoryroletemplates",
        resource: "directoryRoleTemplate",
        source: Source::List {
            path: "/directoryRoleTemplates",
        },
        props: &[
            p("id", Utf8),
            p("deletedDateTime", Timestamp),
            p("displayname", Utf8),
            p("description", Timestamp),
        ],
        ..DEFAULT
    };
    let errors = check(&BAD, &parse(DATA));
    let text = errors.join("\n");
    assert!(text.contains("`displayname` is not a property"), "{text}");
    assert!(text.contains("missing property `displayName`"), "{text}");
    assert!(
        text.contains("description is Timestamp, expected Utf8"),
        "{text}"
    );
}

#[test]
fn the_table_names_marked_fixed_in_tables_md_are_present() {
    // TABLES.md marks these names ★ (fixed by the CloudQuery entraid plugin's documentation).
    for name in [
        "entraid_users",
        "entraid_groups",
        "entraid_group_members",
        "entraid_group_owners",
        "entraid_group_approleassignments",
        "entraid_group_lifecyclepolicies",
        "entraid_groupsettings",
        "entraid_applications",
        "entraid_application_owners",
        "entraid_serviceprincipals",
        "entraid_directoryroles",
        "entraid_directoryrole_members",
        "entraid_directoryrole_scopedmembers",
        "entraid_domains",
        "entraid_directory_subscriptions",
        "entraid_rolemanagement_roleassignmentschedules",
        "entraid_rolemanagement_roleassignmentscheduleinstances",
        "entraid_rolemanagement_roleassignmentschedulerequests",
        "entraid_identity_conditional_access_policies",
        "entraid_policies_identity_security_defaults_enforcement_policy",
        "entraid_auditlogs_directoryaudits",
        "entraid_auditlogs_signins",
        "entraid_reports_user_registration_details",
        "entraid_identityprotection_riskdetections",
        "entraid_identityprotection_riskyusers",
        "entraid_identityprotection_riskyserviceprincipals",
        "entraid_identityprotection_serviceprincipalriskdetections",
        "entraid_devicemanagement_manageddevices",
        "entraid_devicemanagement_configurations",
    ] {
        assert!(super::by_name(name).is_some(), "{name} missing");
    }
}
