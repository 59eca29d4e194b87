//! The SQL core of the SQLite and PostgreSQL sinks: one migration plan, one set of indexes, the
//! upsert clause and the state-table SQL. Each database supplies a small [`Dialect`] (its column
//! types, how it names an existing column's type, its parameter placeholders); everything that
//! decides *what* to do lives here, once.
//!
//! # Migration plan
//!
//! [`plan`] compares the existing table (if any) with the wanted one:
//!
//! | existing table                                     | `safe`                 | `forced`   |
//! |----------------------------------------------------|------------------------|------------|
//! | none                                               | [`Plan::Create`]       | same       |
//! | same columns and key                               | [`Plan::Unchanged`]    | same       |
//! | lacks some wanted columns                          | [`Plan::AddColumns`]   | same       |
//! | a column of another type, or another primary key   | [`Plan::Refuse`]       | [`Plan::Recreate`] |
//!
//! Primary keys compare as sets: a key constraint's column order does not change which rows
//! conflict. Columns the table has and the schema lacks are kept (CloudQuery keeps them too).
//!
//! # Indexes
//!
//! Every migrate (idempotently) ensures, where the table has the columns:
//! - a unique index on `_cq_id` (`<table>_cqid`): CloudQuery declares `_cq_id` unique, and child
//!   rows point at it. Not in append mode, whose point is to keep every version of a row: with
//!   `deterministic_cq_id` those versions share their `_cq_id`;
//! - an index on `_cq_parent_id` (`<table>_cqparent`): deleting a parent row deletes its children
//!   by `_cq_parent_id`, which otherwise scans the child table once per parent;
//! - with `create_performance_indexes`, an index on `(_cq_source_name, _cq_sync_time)`
//!   (`<table>_cqpi`), the columns `overwrite-delete-stale` deletes by, as CloudQuery's
//!   PostgreSQL destination does with that option.

use crate::cq;
use crate::values::{self, Kind, quote_ident};
use crate::{MigrateMode, Result, SinkError, WriteMode};
use arrow_schema::Schema;
use std::collections::HashMap;

/// What differs between SQLite and PostgreSQL in the SQL the sinks share.
pub struct Dialect {
    /// The database's name in messages.
    pub name: &'static str,
    /// The declared type of a new column of this kind.
    pub sql_type: fn(Kind) -> String,
    /// Whether an existing column, whose type the catalog names as given, holds this kind.
    pub holds: fn(&str, Kind) -> bool,
    /// The placeholder of the `n`th (1-based) statement parameter.
    pub param: fn(usize) -> String,
}

/// The table a schema wants: its columns (name, kind, nullable) and primary key.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub table: String,
    pub columns: Vec<(String, Kind, bool)>,
    /// Empty in append mode: rows are only inserted, so no key is enforced.
    pub pk: Vec<String>,
}

impl Wanted {
    pub fn of(schema: &Schema, write_mode: WriteMode) -> Result<Wanted> {
        let table = values::table_of(schema)?;
        let columns = schema
            .fields()
            .iter()
            .map(|f| Ok((f.name().clone(), values::kind(&table, f)?, f.is_nullable())))
            .collect::<Result<_>>()?;
        let pk = primary_key(schema, write_mode);
        Ok(Wanted { table, columns, pk })
    }
}

/// The primary key `schema` declares (`cq:extension:primary_key`), none in append mode.
pub fn primary_key(schema: &Schema, write_mode: WriteMode) -> Vec<String> {
    if write_mode == WriteMode::Append {
        return Vec::new();
    }
    schema
        .fields()
        .iter()
        .filter(|f| cq::is_primary_key(f))
        .map(|f| f.name().clone())
        .collect()
}

/// An existing table as the catalog describes it.
#[derive(Debug, Clone, Default)]
pub struct Existing {
    /// (name, type as the catalog names it), in column order.
    pub columns: Vec<(String, String)>,
    pub pk: Vec<String>,
}

/// What `migrate` does to a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Create,
    Unchanged,
    /// Add these (nullable) columns.
    AddColumns(Vec<(String, Kind)>),
    /// Drop and recreate the table (forced mode), for these reasons.
    Recreate(Vec<String>),
    /// Refuse (safe mode), for these reasons.
    Refuse(Vec<String>),
}

/// Decides what `migrate` does: see the module doc.
pub fn plan(d: &Dialect, existing: Option<&Existing>, wanted: &Wanted, mode: MigrateMode) -> Plan {
    let Some(existing) = existing.filter(|e| !e.columns.is_empty()) else {
        return Plan::Create;
    };
    let mut problems = Vec::new();
    if !wanted.pk.is_empty() && sorted(&existing.pk) != sorted(&wanted.pk) {
        problems.push(format!(
            "primary key is ({}), the schema wants ({})",
            existing.pk.join(", "),
            wanted.pk.join(", ")
        ));
    }
    let mut missing = Vec::new();
    for (name, kind, _) in &wanted.columns {
        match existing.columns.iter().find(|(n, _)| n == name) {
            None => missing.push((name.clone(), *kind)),
            Some((_, t)) if !(d.holds)(t, *kind) => problems.push(format!(
                "column {name:?} is {t}, the schema wants {}",
                (d.sql_type)(*kind)
            )),
            Some(_) => {}
        }
    }
    match (problems.is_empty(), mode) {
        (false, MigrateMode::Safe) => Plan::Refuse(problems),
        (false, MigrateMode::Forced) => Plan::Recreate(problems),
        (true, _) if missing.is_empty() => Plan::Unchanged,
        (true, _) => Plan::AddColumns(missing),
    }
}

fn sorted(names: &[String]) -> Vec<&str> {
    let mut v: Vec<&str> = names.iter().map(String::as_str).collect();
    v.sort_unstable();
    v
}

/// The error of [`Plan::Refuse`].
pub fn refusal(table: &str, problems: &[String]) -> SinkError {
    SinkError::Schema(format!(
        "table {table} cannot be migrated safely: {}; set migrate_mode: forced to drop and recreate it",
        problems.join("; ")
    ))
}

/// `CREATE TABLE` for `wanted` (primary key constraint `<table>_cqpk`, as CloudQuery names it).
pub fn create_table(d: &Dialect, wanted: &Wanted) -> String {
    let mut defs = values::column_defs(&wanted.columns, d.sql_type);
    if !wanted.pk.is_empty() {
        defs.push(format!(
            "CONSTRAINT {} PRIMARY KEY ({})",
            quote_ident(&format!("{}_cqpk", wanted.table)),
            quoted_list(&wanted.pk)
        ));
    }
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({})",
        quote_ident(&wanted.table),
        defs.join(", ")
    )
}

/// One `ALTER TABLE … ADD COLUMN` per column (SQLite adds one column per statement).
pub fn add_columns(d: &Dialect, table: &str, columns: &[(String, Kind)]) -> Vec<String> {
    columns
        .iter()
        .map(|(name, kind)| {
            format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                quote_ident(table),
                quote_ident(name),
                (d.sql_type)(*kind)
            )
        })
        .collect()
}

/// The indexes a table with these columns gets (module doc), as `CREATE … IF NOT EXISTS`.
pub fn indexes(
    table: &str,
    columns: &[&str],
    write_mode: WriteMode,
    performance: bool,
) -> Vec<String> {
    let has = |c: &str| columns.contains(&c);
    let mut out = Vec::new();
    let mut index = |unique: bool, suffix: &str, cols: &[&str]| {
        let cols: Vec<String> = cols.iter().map(|c| quote_ident(c)).collect();
        out.push(format!(
            "CREATE {}INDEX IF NOT EXISTS {} ON {} ({})",
            if unique { "UNIQUE " } else { "" },
            quote_ident(&index_name(table, suffix)),
            quote_ident(table),
            cols.join(", ")
        ));
    };
    if has(cq::CQ_ID) && write_mode != WriteMode::Append {
        index(true, "cqid", &[cq::CQ_ID]);
    }
    if has(cq::CQ_PARENT_ID) {
        index(false, "cqparent", &[cq::CQ_PARENT_ID]);
    }
    if performance && has(cq::CQ_SOURCE_NAME) && has(cq::CQ_SYNC_TIME) {
        index(false, "cqpi", &[cq::CQ_SOURCE_NAME, cq::CQ_SYNC_TIME]);
    }
    out
}

/// `<table>_<suffix>`, kept within PostgreSQL's 63-byte identifiers: a longer name is cut and
/// made unique by a hash of the table name, since PostgreSQL would cut it silently and two
/// tables sharing a prefix would then share (and skip) an index name.
pub fn index_name(table: &str, suffix: &str) -> String {
    let name = format!("{table}_{suffix}");
    if name.len() <= 63 {
        return name;
    }
    let hash = table.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut cut = 63 - suffix.len() - 18;
    while !table.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{hash:016x}_{suffix}", &table[..cut])
}

/// The context of an index statement's failure: a unique `_cq_id` index fails on a table that
/// already holds the same `_cq_id` twice, which the user must resolve.
pub fn index_error_hint(table: &str, sql: &str) -> String {
    if sql.starts_with("CREATE UNIQUE") {
        format!(
            "enforcing unique _cq_id on {table} (if the table already holds a _cq_id twice, \
             delete the duplicates or set migrate_mode: forced to recreate the table)"
        )
    } else {
        format!("indexing {table}")
    }
}

/// ` ON CONFLICT (pk) DO UPDATE SET c = excluded.c, …` for an upsert of `columns`, or
/// `DO NOTHING` when every column is in the key; empty without a key (plain insert).
pub fn on_conflict(columns: &[String], pk: &[String]) -> String {
    if pk.is_empty() {
        return String::new();
    }
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !pk.contains(c))
        .map(|c| format!("{0} = excluded.{0}", quote_ident(c)))
        .collect();
    let action = if updates.is_empty() {
        "DO NOTHING".to_string()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    format!(" ON CONFLICT ({}) {action}", quoted_list(pk))
}

fn quoted_list(names: &[String]) -> String {
    let q: Vec<String> = names.iter().map(|n| quote_ident(n)).collect();
    q.join(", ")
}

// ------------------------------------------------------------------ state tables

/// `CREATE TABLE` of a state table: CloudQuery's `key` (primary key), `value`, `version`.
pub fn state_create(d: &Dialect, table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\"key\" {} NOT NULL PRIMARY KEY, \"value\" {}, \"version\" {})",
        quote_ident(table),
        (d.sql_type)(Kind::Utf8),
        (d.sql_type)(Kind::Utf8),
        (d.sql_type)(Kind::Int64)
    )
}

/// Reads (key, value, version) from a state table, cast to text, text and 64-bit integer
/// whatever types the table's creator chose; a table without `version` reads version 0.
pub fn state_read(d: &Dialect, table: &str, has_version: bool) -> String {
    let (text, int) = ((d.sql_type)(Kind::Utf8), (d.sql_type)(Kind::Int64));
    let version = if has_version { "\"version\"" } else { "0" };
    format!(
        "SELECT CAST(\"key\" AS {text}), CAST(\"value\" AS {text}), CAST({version} AS {int}) FROM {}",
        quote_ident(table)
    )
}

/// Writes one state entry (parameters: key, value). CloudQuery's state tables come in four
/// shapes (key primary or not, with or without `version`); each key's `version` goes up by one.
/// A table where `key` is not unique and has no `version` gets the key's old rows deleted first
/// (the first statement), so that a read finds one value.
pub fn state_write(d: &Dialect, table: &str, key_is_pk: bool, has_version: bool) -> Vec<String> {
    let t = quote_ident(table);
    let (k, v) = ((d.param)(1), (d.param)(2));
    match (key_is_pk, has_version) {
        (true, true) => vec![format!(
            "INSERT INTO {t} (\"key\", \"value\", \"version\") VALUES ({k}, {v}, 1) \
             ON CONFLICT (\"key\") DO UPDATE SET \"value\" = excluded.\"value\", \
             \"version\" = COALESCE({t}.\"version\", 0) + 1"
        )],
        (true, false) => vec![format!(
            "INSERT INTO {t} (\"key\", \"value\") VALUES ({k}, {v}) \
             ON CONFLICT (\"key\") DO UPDATE SET \"value\" = excluded.\"value\""
        )],
        (false, true) => vec![format!(
            "INSERT INTO {t} (\"key\", \"value\", \"version\") \
             SELECT {k}, {v}, COALESCE(MAX(\"version\"), 0) + 1 FROM {t} WHERE \"key\" = {k}"
        )],
        (false, false) => vec![
            format!("DELETE FROM {t} WHERE \"key\" = {k}"),
            format!("INSERT INTO {t} (\"key\", \"value\") VALUES ({k}, {v})"),
        ],
    }
}

/// The state read from (key, value, version) rows: for a key stored twice the highest version
/// wins (the later row on a tie); a NULL value reads as empty.
pub fn latest_state(
    rows: impl IntoIterator<Item = (String, Option<String>, Option<i64>)>,
) -> HashMap<String, String> {
    let mut best: HashMap<String, (i64, String)> = HashMap::new();
    for (key, value, version) in rows {
        let version = version.unwrap_or(0);
        if best.get(&key).is_none_or(|(v, _)| *v <= version) {
            best.insert(key, (version, value.unwrap_or_default()));
        }
    }
    best.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_index_names_stay_within_63_bytes_and_distinct() {
        let a = "t".repeat(70) + "a";
        let b = "t".repeat(70) + "b";
        let (na, nb) = (index_name(&a, "cqparent"), index_name(&b, "cqparent"));
        assert!(na.len() <= 63 && nb.len() <= 63, "{na} {nb}");
        assert_ne!(na, nb);
        assert_eq!(index_name("users", "cqid"), "users_cqid");
        // A multi-byte name is cut on a character boundary.
        assert!(index_name(&"é".repeat(40), "cqid").len() <= 63);
    }

    #[test]
    fn latest_state_takes_the_highest_version() {
        let got = latest_state([
            ("a".to_string(), Some("old".to_string()), Some(1)),
            ("a".to_string(), Some("new".to_string()), Some(2)),
            ("a".to_string(), Some("older".to_string()), None),
            ("b".to_string(), None, None),
        ]);
        assert_eq!(got["a"], "new");
        assert_eq!(got["b"], "");
        assert_eq!(got.len(), 2);
    }
}
