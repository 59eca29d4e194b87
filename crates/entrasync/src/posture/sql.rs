//! The controls' SQL is written once, in the common subset of SQLite and PostgreSQL, with a few
//! macros (`@name(args)`) for what the two spell differently: JSON paths, JSON arrays as rows,
//! timestamps and date arithmetic. [`expand`] turns a query into one dialect.
//!
//! | macro | meaning | SQLite | PostgreSQL |
//! |---|---|---|---|
//! | `@jt(expr, 'a.b')` | text at a JSON path | `json_extract(expr, '$.a.b')` | `(expr #>> '{a,b}')` |
//! | `@signin(expr, 'a.b')` | a `signInActivity` time as text, NULL for Graph's "never" (`0001-01-01T00:00:00Z`) | `NULLIF(json_extract(..), ..)` | `NULLIF((expr #>> ..), ..)` |
//! | `@jtrue(expr, 'a.b')` | the JSON value is `true` | `json_extract(..) = 1` | `(expr #>> '{a,b}') = 'true'` |
//! | `@jeach(alias, expr, 'a.b')` | the array at the path as rows (`alias.value`); non-arrays give none | `json_each(..) AS alias` | `jsonb_array_elements(..) AS alias(value)` |
//! | `@jv(alias)` | a row of `@jeach` as text | `alias.value` | `(alias.value #>> '{}')` |
//! | `@jlen(expr, 'a.b')` | length of the array at the path, 0 when not an array | | |
//! | `@aeach(alias, col)` | a list column (JSON text in SQLite, `text[]` in PostgreSQL) as rows (`alias.value`) | `json_each(..)` | `unnest(..)` |
//! | `@alen(col)` | length of a list column | `json_array_length` | `cardinality` |
//! | `@ts(expr)` | a timestamp (column or ISO 8601 text) for comparison | `julianday(expr)` | `CAST(expr AS timestamptz)` |
//! | `@ago(n)` / `@ahead(n)` | now minus / plus n days | `julianday('now', '-n days')` | `now() - interval 'n days'` |
//! | `@now()` | now | `julianday('now')` | `now()` |
//! | `@days(a, b)` | days from timestamp a to timestamp b | | |
//! | `@list(name)` | a named list of constants, e.g. `('..', '..')` | | |
//!
//! The path argument of `@jt`, `@jtrue`, `@jeach` and `@jlen` is a quoted literal; an empty path
//! (`''`) is the value itself.

/// The time Graph writes in `signInActivity` for "never signed in".
pub const GRAPH_NEVER: &str = "0001-01-01T00:00:00Z";

/// The two SQL dialects a destination can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Expands the macros of `sql` for `dialect`; `lists` resolves `@list(name)`.
pub fn expand(sql: &str, dialect: Dialect, lists: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(sql.len() + 64);
    let bytes = sql.as_bytes();
    let mut i = 0;
    let mut in_quote = false;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c == '\'' {
            in_quote = !in_quote;
            out.push(c);
            i += 1;
            continue;
        }
        if !in_quote && c == '@' {
            let name_end = sql[i + 1..]
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .map(|n| i + 1 + n)
                .unwrap_or(sql.len());
            if name_end < sql.len() && bytes[name_end] == b'(' {
                let name = &sql[i + 1..name_end];
                let (args, end) = split_args(sql, name_end);
                let args: Vec<String> = args
                    .iter()
                    .map(|a| expand(a.trim(), dialect, lists))
                    .collect();
                out.push_str(&apply(name, &args, dialect, lists));
                i = end;
                continue;
            }
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Splits the arguments of the call whose `(` is at `open`; returns them and the index after `)`.
fn split_args(sql: &str, open: usize) -> (Vec<&str>, usize) {
    let bytes = sql.as_bytes();
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut args = Vec::new();
    let mut start = open + 1;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => in_quote = !in_quote,
            b'(' if !in_quote => depth += 1,
            b')' if !in_quote => {
                depth -= 1;
                if depth == 0 {
                    if !sql[start..i].trim().is_empty() || !args.is_empty() {
                        args.push(&sql[start..i]);
                    }
                    return (args, i + 1);
                }
            }
            b',' if !in_quote && depth == 1 => {
                args.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    panic!("posture SQL: unbalanced parentheses in {sql}");
}

fn unquote(s: &str) -> &str {
    s.trim().trim_start_matches('\'').trim_end_matches('\'')
}

fn sqlite_path(p: &str) -> String {
    let p = unquote(p);
    if p.is_empty() {
        "'$'".into()
    } else {
        format!("'$.{p}'")
    }
}

fn pg_path(p: &str) -> String {
    format!("'{{{}}}'", unquote(p).replace('.', ","))
}

fn apply(
    name: &str,
    a: &[String],
    dialect: Dialect,
    lists: &dyn Fn(&str) -> Option<String>,
) -> String {
    use Dialect::*;
    let arg = |n: usize| -> &str {
        a.get(n)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("posture SQL: @{name} needs argument {}", n + 1))
    };
    let path = |n: usize| a.get(n).map(String::as_str).unwrap_or("''");
    match (name, dialect) {
        ("jt", Sqlite) => format!("json_extract({}, {})", arg(0), sqlite_path(path(1))),
        ("jt", Postgres) => format!("({} #>> {})", arg(0), pg_path(path(1))),
        ("signin", _) => format!(
            "NULLIF({}, '{GRAPH_NEVER}')",
            apply("jt", a, dialect, lists)
        ),
        ("jtrue", Sqlite) => format!("(json_extract({}, {}) = 1)", arg(0), sqlite_path(path(1))),
        ("jtrue", Postgres) => format!("(({} #>> {}) = 'true')", arg(0), pg_path(path(1))),
        ("jeach", Sqlite) => format!(
            "json_each(CASE WHEN json_type({e}, {p}) = 'array' THEN json_extract({e}, {p}) ELSE '[]' END) AS {al}",
            al = arg(0),
            e = arg(1),
            p = sqlite_path(path(2))
        ),
        ("jeach", Postgres) => format!(
            "jsonb_array_elements(CASE WHEN jsonb_typeof({e} #> {p}) = 'array' THEN {e} #> {p} ELSE '[]'::jsonb END) AS {al}(value)",
            al = arg(0),
            e = arg(1),
            p = pg_path(path(2))
        ),
        ("jv", Sqlite) => format!("{}.value", arg(0)),
        ("jv", Postgres) => format!("({}.value #>> '{{}}')", arg(0)),
        ("jlen", Sqlite) => format!(
            "(CASE WHEN json_type({e}, {p}) = 'array' THEN json_array_length({e}, {p}) ELSE 0 END)",
            e = arg(0),
            p = sqlite_path(path(1))
        ),
        ("jlen", Postgres) => format!(
            "(CASE WHEN jsonb_typeof({e} #> {p}) = 'array' THEN jsonb_array_length({e} #> {p}) ELSE 0 END)",
            e = arg(0),
            p = pg_path(path(1))
        ),
        ("aeach", Sqlite) => format!(
            "json_each(CASE WHEN json_type({e}) = 'array' THEN {e} ELSE '[]' END) AS {al}",
            al = arg(0),
            e = arg(1)
        ),
        ("aeach", Postgres) => format!(
            "unnest(COALESCE({e}, ARRAY[]::text[])) AS {al}(value)",
            al = arg(0),
            e = arg(1)
        ),
        ("alen", Sqlite) => format!(
            "(CASE WHEN json_type({e}) = 'array' THEN json_array_length({e}) ELSE 0 END)",
            e = arg(0)
        ),
        ("alen", Postgres) => format!("COALESCE(cardinality({}), 0)", arg(0)),
        ("ts", Sqlite) => format!("julianday({})", arg(0)),
        ("ts", Postgres) => format!("CAST({} AS timestamptz)", arg(0)),
        ("ago", Sqlite) => format!("julianday('now', '-{} days')", arg(0)),
        ("ago", Postgres) => format!("(now() - interval '{} days')", arg(0)),
        ("ahead", Sqlite) => format!("julianday('now', '+{} days')", arg(0)),
        ("ahead", Postgres) => format!("(now() + interval '{} days')", arg(0)),
        ("now", Sqlite) => "julianday('now')".into(),
        ("now", Postgres) => "now()".into(),
        ("days", Sqlite) => format!("(julianday({}) - julianday({}))", arg(1), arg(0)),
        ("days", Postgres) => format!(
            "(EXTRACT(EPOCH FROM (CAST({} AS timestamptz) - CAST({} AS timestamptz))) / 86400.0)",
            arg(1),
            arg(0)
        ),
        ("list", _) => {
            lists(unquote(arg(0))).unwrap_or_else(|| panic!("posture SQL: unknown @list({a:?})"))
        }
        _ => panic!("posture SQL: unknown macro @{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_lists(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn macros_expand_per_dialect_and_nest() {
        let q = "SELECT @jt(c.conditions, 'users.excludeUsers') FROM t, @jeach(e, t.x, 'a.b') WHERE @ts(@jt(e.value, 'end')) < @ago(30) AND '@jt(not, a macro)' = 'x'";
        let s = expand(q, Dialect::Sqlite, &no_lists);
        assert_eq!(
            s,
            "SELECT json_extract(c.conditions, '$.users.excludeUsers') FROM t, json_each(CASE WHEN json_type(t.x, '$.a.b') = 'array' THEN json_extract(t.x, '$.a.b') ELSE '[]' END) AS e WHERE julianday(json_extract(e.value, '$.end')) < julianday('now', '-30 days') AND '@jt(not, a macro)' = 'x'"
        );
        let p = expand(q, Dialect::Postgres, &no_lists);
        assert!(
            p.contains("(c.conditions #>> '{users,excludeUsers}')"),
            "{p}"
        );
        assert!(p.contains("AS e(value)"), "{p}");
        assert!(
            p.contains("CAST((e.value #>> '{end}') AS timestamptz)"),
            "{p}"
        );
    }

    #[test]
    fn signin_reads_graphs_never_as_null() {
        let q = "SELECT @signin(a.x, 'lastSignInDateTime')";
        assert_eq!(
            expand(q, Dialect::Sqlite, &no_lists),
            "SELECT NULLIF(json_extract(a.x, '$.lastSignInDateTime'), '0001-01-01T00:00:00Z')"
        );
        assert_eq!(
            expand(q, Dialect::Postgres, &no_lists),
            "SELECT NULLIF((a.x #>> '{lastSignInDateTime}'), '0001-01-01T00:00:00Z')"
        );
    }
}
