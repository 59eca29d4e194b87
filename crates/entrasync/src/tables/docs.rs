//! Documentation generated from the catalog: `docs/tables.md` (markdown) and a CloudQuery
//! `tables.json`-like JSON document.

use std::fmt::Write as _;

use super::{Incremental, Source, Table};

/// The command that regenerates `docs/tables.md`.
pub const REGENERATE: &str = "cargo run -p entrasync -- tables --format markdown > docs/tables.md";

fn incremental(table: &Table) -> String {
    match (table.incremental, table.source) {
        (Incremental::Delta, Source::List { path }) => {
            format!("yes: Graph delta query (`{path}/delta`)")
        }
        (Incremental::Delta, _) => "yes: Graph delta query".to_string(),
        (Incremental::Cursor { property }, _) => format!(
            "yes: `{property}` cursor (a `$filter` on `{property}` with overlap, de-duplicated by id)"
        ),
        (Incremental::None, Source::Computed { parent, .. }) => format!(
            "with `{parent}`: a full sync computes it from the direct memberships; an incremental \
             sync re-reads `/groups/{{id}}/transitiveMembers` only for groups whose memberships \
             changed and the groups that contain them"
        ),
        (Incremental::None, Source::Child { parent, .. }) if table.parent_delta.is_some() => {
            let relationship = table.parent_delta.unwrap_or_default();
            format!(
                "with `{parent}`: the parent's delta query carries `{relationship}@delta`, in a \
                 full sync too (no request per parent), so an incremental sync reads only what \
                 changed"
            )
        }
        (Incremental::None, Source::Child { parent, .. }) if !table.audit_activities.is_empty() => {
            let activities: Vec<String> = table
                .audit_activities
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect();
            format!(
                "changed parents only: those `{parent}`'s delta reports and those the directory \
                 audit log names ({}); every parent is re-read at least every \
                 `child_refresh_interval` (default 24 h), and all of them when the audit log \
                 cannot be read (it needs AuditLog.Read.All)",
                activities.join(", ")
            )
        }
        (Incremental::None, Source::Child { parent, .. }) => format!(
            "changed parents only: those `{parent}`'s delta reports; as Graph reports other \
             changes nowhere, every parent is re-read at least every `child_refresh_interval` \
             (default 24 h), which bounds how stale a row can be"
        ),
        (Incremental::None, _) => "no (full read on every sync)".to_string(),
    }
}

fn endpoint(table: &Table) -> String {
    match table.source {
        Source::Computed { parent, .. } => format!(
            "computed locally from `{parent}` and its direct memberships (no Graph requests in a full sync; see Incremental)"
        ),
        source => {
            let url = table.endpoint().unwrap_or_default();
            let mut text = format!("`GET {url}` (API version {})", table.version.segment());
            if let Source::Singleton { .. } = source {
                text.push_str(", a single object");
            }
            if let Some(top) = table.max_page_size {
                let _ = write!(text, ", `$top={top}`");
            }
            if let Source::Child { parent, .. } = source {
                let _ = write!(text, ", once per row of `{parent}` (`{{id}}` is its `id`)");
                if let Some(condition) = table.parent_condition {
                    let _ = write!(text, " where {condition}");
                }
                if let Some(relationship) = table.expand {
                    let _ = write!(
                        text,
                        "; when `{parent}` is listed in full, its listing carries them \
                         (`$expand={relationship}`) and only parents with {} or more are read \
                         one by one",
                        super::EXPAND_LIMIT
                    );
                }
            }
            text
        }
    }
}

fn permissions(table: &Table) -> String {
    if table.permissions.is_empty() {
        return "none".to_string();
    }
    let any = table
        .permissions
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(" or ");
    let mut text = if table.permissions.len() > 1 {
        format!("{any} (least privileged first)")
    } else {
        any
    };
    for also in table.also_requires {
        let _ = write!(text, ", and `{also}`");
    }
    text
}

fn anchor(name: &str) -> String {
    name.to_string()
}

/// `docs/tables.md`: an index (children under their parents), then every table.
pub fn markdown(tables: &[&Table]) -> String {
    let mut out = String::new();
    out.push_str("# Tables\n\n");
    let _ = writeln!(
        out,
        "<!-- Generated from the catalog in crates/entrasync/src/tables; do not edit. Regenerate with:\n     {REGENERATE} -->\n"
    );
    let _ = writeln!(
        out,
        "entrasync syncs {} tables. Every table has `tenant_id`; child tables also have the key of \
         their parent row. Permissions are Microsoft Graph application permissions; where several \
         are listed, any one of them suffices.\n",
        tables.len()
    );
    out.push_str("## Index\n\n");
    fn index(out: &mut String, tables: &[&Table], parent: Option<&str>, depth: usize) {
        for t in tables.iter().filter(|t| t.parent() == parent) {
            let _ = writeln!(
                out,
                "{}- [{}](#{}): {}",
                "  ".repeat(depth),
                t.name,
                anchor(t.name),
                t.title
            );
            index(out, tables, Some(t.name), depth + 1);
        }
    }
    index(&mut out, tables, None, 0);
    // Children whose parent is not in the list.
    for t in tables {
        if let Some(parent) = t.parent()
            && !tables.iter().any(|p| p.name == parent)
        {
            let _ = writeln!(out, "- [{}](#{}): {}", t.name, anchor(t.name), t.title);
        }
    }
    for t in tables {
        let _ = writeln!(out, "\n## {}\n", t.name);
        let _ = writeln!(out, "{}\n", t.description);
        let _ = writeln!(out, "- Title: {}", t.title);
        let _ = writeln!(out, "- Graph resource: `{}`", t.resource);
        let _ = writeln!(out, "- Endpoint: {}", endpoint(t));
        let _ = writeln!(out, "- Permissions: {}", permissions(t));
        let _ = writeln!(
            out,
            "- Licence: {}",
            t.licence
                .map_or("none".to_string(), |l| l.name().to_string())
        );
        let pk = t
            .primary_key()
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "- Primary key: {pk}");
        let _ = writeln!(out, "- Incremental: {}", incremental(t));
        if let Some(parent) = t.parent() {
            let _ = writeln!(out, "- Parent: [{parent}](#{})", anchor(parent));
        }
        let children: Vec<String> = tables
            .iter()
            .filter(|c| c.parent() == Some(t.name))
            .map(|c| format!("[{}](#{})", c.name, anchor(c.name)))
            .collect();
        if !children.is_empty() {
            let _ = writeln!(out, "- Children: {}", children.join(", "));
        }
        out.push_str("\n| Column | Type |\n|---|---|\n");
        for c in t.columns() {
            let pk = if c.primary_key { " (PK)" } else { "" };
            let _ = writeln!(out, "| {}{pk} | {} |", c.name, c.kind.display());
        }
    }
    out
}

fn table_json(table: &Table, tables: &[&Table]) -> serde_json::Value {
    let columns: Vec<serde_json::Value> = table
        .columns()
        .into_iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "type": c.kind.display(),
                "is_primary_key": c.primary_key,
                "not_null": c.not_null,
            })
        })
        .collect();
    let relations: Vec<serde_json::Value> = tables
        .iter()
        .filter(|c| c.parent() == Some(table.name))
        .map(|c| table_json(c, tables))
        .collect();
    serde_json::json!({
        "name": table.name,
        "title": table.title,
        "description": table.description,
        "is_incremental": table.incremental != Incremental::None,
        "parent": table.parent(),
        "columns": columns,
        "relations": relations,
    })
}

/// A CloudQuery `tables.json`-like document: the top-level tables, each with its columns and its
/// child tables nested under `relations`.
pub fn json(tables: &[&Table]) -> serde_json::Value {
    let roots = tables
        .iter()
        .filter(|t| match t.parent() {
            None => true,
            Some(parent) => !tables.iter().any(|p| p.name == parent),
        })
        .map(|t| table_json(t, tables))
        .collect();
    serde_json::Value::Array(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tables.md")
    }

    /// Fails when docs/tables.md differs from the catalog. `UPDATE_DOCS=1 cargo test -p entrasync
    /// --lib tables::docs` rewrites it.
    #[test]
    fn docs_tables_md_is_up_to_date() {
        let want = markdown(&super::super::all());
        let path = docs_path();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &want).unwrap();
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/tables.md is stale: run `{REGENERATE}` (or `UPDATE_DOCS=1 cargo test -p entrasync --lib tables::docs`)"
        );
    }

    #[test]
    fn markdown_has_every_table_and_its_facts() {
        let tables = super::super::all();
        let md = markdown(&tables);
        for t in &tables {
            assert!(md.contains(&format!("\n## {}\n", t.name)), "{}", t.name);
        }
        assert!(md.contains("`GET /v1.0/auditLogs/signIns` (API version v1.0), `$top=1000`"));
        assert!(md.contains("- Licence: Microsoft Entra ID P1"));
        assert!(md.contains("| tenant_id (PK) | utf8 |"));
        assert!(md.contains("| sign_in_activity | json |"));
    }

    #[test]
    fn json_nests_children_under_their_parents() {
        let tables = super::super::all();
        let doc = json(&tables);
        let roots = doc.as_array().unwrap();
        let groups = roots
            .iter()
            .find(|t| t["name"] == "entraid_groups")
            .expect("groups");
        let relations: Vec<&str> = groups["relations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            relations.contains(&"entraid_group_members"),
            "{relations:?}"
        );
        assert!(!roots.iter().any(|t| t["name"] == "entraid_group_members"));
        assert_eq!(groups["title"], "Groups");
        assert_eq!(groups["is_incremental"], true);
        let id = groups["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "id")
            .unwrap();
        assert_eq!(id["is_primary_key"], true);
        assert_eq!(id["type"], "utf8");
    }
}
