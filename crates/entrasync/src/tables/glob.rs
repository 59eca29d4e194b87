//! Table selection as CloudQuery does it: `tables` and `skip_tables` globs, and
//! `skip_dependent_tables`.

use super::Table;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SelectError {
    #[error(
        "`tables` entry {pattern:?} matches no table; run `entrasync tables` for the list of table names"
    )]
    NoMatch { pattern: String },
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
pub fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// A table picked for a sync, and whether the user named it explicitly (not only through a glob).
#[derive(Debug, Clone, Copy)]
pub struct Selected {
    pub table: &'static Table,
    pub explicit: bool,
}

/// Picks tables from `catalog` (parents before children) as CloudQuery's CLI does: a table is
/// selected when a `tables` pattern matches it and no `skip_tables` pattern does; skipping a parent
/// skips its children; children of selected parents are added unless `skip_dependent_tables`.
/// A child selected on its own brings its parent along, since its rows come from the parent's.
pub fn select(
    catalog: &[&'static Table],
    tables: &[String],
    skip_tables: &[String],
    skip_dependent_tables: bool,
) -> Result<Vec<Selected>, SelectError> {
    for pattern in tables {
        if !catalog.iter().any(|t| matches(pattern, t.name)) {
            return Err(SelectError::NoMatch {
                pattern: pattern.clone(),
            });
        }
    }
    let skipped = |t: &Table| skip_tables.iter().any(|s| matches(s, t.name));
    let mut wanted: Vec<(&'static Table, bool)> = Vec::new();
    for &table in catalog {
        let explicit = tables.iter().any(|pat| pat == table.name);
        let matched = explicit || tables.iter().any(|pat| matches(pat, table.name));
        if matched && !skipped(table) {
            wanted.push((table, explicit));
        }
    }
    // Children of selected parents, unless told not to.
    if !skip_dependent_tables {
        let mut i = 0;
        while i < wanted.len() {
            let parent = wanted[i].0.name;
            for &child in catalog {
                if child.parent() == Some(parent)
                    && !skipped(child)
                    && !wanted.iter().any(|(t, _)| t.name == child.name)
                {
                    wanted.push((child, false));
                }
            }
            i += 1;
        }
    }
    // Parents of selected children; a skipped parent drops its children instead.
    let mut result: Vec<(&'static Table, bool)> = Vec::new();
    for (table, explicit) in wanted {
        if let Some(parent_name) = table.parent() {
            let parent = catalog.iter().find(|t| t.name == parent_name).copied();
            match parent {
                Some(p) if skipped(p) => continue,
                Some(p) if !result.iter().any(|(t, _)| t.name == p.name) => {
                    result.push((p, false));
                }
                _ => {}
            }
        }
        if !result.iter().any(|(t, _)| t.name == table.name) {
            result.push((table, explicit));
        }
        // A computed table needs the rows it is computed from.
        if let super::Source::Computed { from, .. } = table.source {
            for input in [from] {
                if let Some(t) = catalog.iter().find(|t| t.name == input)
                    && !result.iter().any(|(r, _)| r.name == input)
                {
                    result.push((t, false));
                }
            }
        }
    }
    // Keep catalog order (parents first).
    let order = |t: &Table| catalog.iter().position(|c| c.name == t.name);
    result.sort_by_key(|(t, _)| order(t));
    Ok(result
        .into_iter()
        .map(|(table, explicit)| Selected { table, explicit })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching() {
        assert!(matches("*", "entraid_users"));
        assert!(matches("entraid_*", "entraid_users"));
        assert!(matches("*_members", "entraid_group_members"));
        assert!(matches("entraid_*_members", "entraid_group_members"));
        assert!(!matches("entraid_group*", "entraid_users"));
        assert!(!matches("entraid_users", "entraid_users_x"));
        assert!(!matches("a*a", "a"));
    }

    fn names(tables: &[&str], skip: &[&str], skip_dependent: bool) -> Vec<&'static str> {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        select(
            &crate::tables::all(),
            &own(tables),
            &own(skip),
            skip_dependent,
        )
        .unwrap()
        .into_iter()
        .map(|s| s.table.name)
        .collect()
    }

    #[test]
    fn children_come_with_parents_unless_skipped() {
        let with = names(&["entraid_groups"], &[], false);
        assert!(with.contains(&"entraid_group_members"));
        let without = names(&["entraid_groups"], &[], true);
        assert_eq!(without, ["entraid_groups"]);
        // A child named alone brings its parent.
        assert_eq!(
            names(&["entraid_group_owners"], &[], true),
            ["entraid_groups", "entraid_group_owners"]
        );
        // Skipping the parent skips its children.
        assert!(names(&["entraid_group_*"], &["entraid_groups"], true).is_empty());
        // The computed table brings the memberships it is computed from.
        assert_eq!(
            names(&["entraid_group_transitive_members"], &[], true),
            [
                "entraid_groups",
                "entraid_group_members",
                "entraid_group_transitive_members"
            ]
        );
    }

    #[test]
    fn a_pattern_that_matches_nothing_is_an_error() {
        let err = select(&crate::tables::all(), &["entraid_userz".into()], &[], true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`tables` entry \"entraid_userz\" matches no table; run `entrasync tables` for the list of table names"
        );
    }
}
