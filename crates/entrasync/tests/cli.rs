//! The self-describing commands of the binary: `--version`, `completions` and `schema`.

use serde_json::{Value, json};
use std::process::Command;

fn entrasync(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_entrasync"))
        .args(args)
        .output()
        .expect("the entrasync binary runs");
    assert!(
        out.status.success(),
        "entrasync {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn version_names_the_package_version_and_the_commit() {
    let out = entrasync(&["--version"]);
    let prefix = format!("entrasync {} (commit ", env!("CARGO_PKG_VERSION"));
    let commit = out
        .trim()
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("--version printed {out:?}"));
    let in_git = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !in_git {
        assert_eq!(commit, "unknown");
        return;
    }
    // A commit of this repository (HEAD when built; others may have committed since).
    assert!(
        commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{commit:?}"
    );
    let known = Command::new("git")
        .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
        .status()
        .unwrap();
    assert!(
        known.success(),
        "{commit} is not a commit of this repository"
    );
}

#[test]
fn completions_for_each_shell_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let script = entrasync(&["completions", shell]);
        for sub in [
            "sync",
            "init",
            "test-connection",
            "check",
            "tables",
            "completions",
        ] {
            assert!(
                script.contains(sub),
                "{shell} completions lack the subcommand {sub}"
            );
        }
    }
}

#[test]
fn completions_refuse_an_unknown_shell() {
    let out = Command::new(env!("CARGO_BIN_EXE_entrasync"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tcsh") && err.contains("bash"), "{err}");
}

/// The JSON Schema keywords `entrasync schema` uses, checked strictly: enough to know the
/// schema accepts and refuses what the config loader does.
fn valid(schema: &Value, v: &Value) -> bool {
    let Some(s) = schema.as_object() else {
        return schema.as_bool().unwrap_or(true);
    };
    let type_ok = |t: &str| match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("type {other} not handled"),
    };
    s.iter().all(|(k, want)| match k.as_str() {
        "type" => match want {
            Value::String(t) => type_ok(t),
            Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap())),
            _ => panic!("type {want}"),
        },
        "const" => v == want,
        "enum" => want.as_array().unwrap().contains(v),
        "required" => want
            .as_array()
            .unwrap()
            .iter()
            .all(|k| v.get(k.as_str().unwrap()).is_some()),
        "properties" => v.as_object().is_none_or(|o| {
            o.iter()
                .all(|(k, x)| want.get(k).is_none_or(|ps| valid(ps, x)))
        }),
        "additionalProperties" => v.as_object().is_none_or(|o| {
            o.iter().all(|(k, x)| {
                s.get("properties").and_then(|p| p.get(k)).is_some() || valid(want, x)
            })
        }),
        "items" => v
            .as_array()
            .is_none_or(|a| a.iter().all(|x| valid(want, x))),
        "minItems" => v
            .as_array()
            .is_none_or(|a| a.len() as u64 >= want.as_u64().unwrap()),
        "minLength" => v
            .as_str()
            .is_none_or(|t| t.chars().count() as u64 >= want.as_u64().unwrap()),
        "minimum" => v.as_f64().is_none_or(|n| n >= want.as_f64().unwrap()),
        "maximum" => v.as_f64().is_none_or(|n| n <= want.as_f64().unwrap()),
        "oneOf" => {
            want.as_array()
                .unwrap()
                .iter()
                .filter(|s| valid(s, v))
                .count()
                == 1
        }
        "allOf" => want.as_array().unwrap().iter().all(|s| valid(s, v)),
        "if" => {
            let branch = if valid(want, v) { "then" } else { "else" };
            s.get(branch).is_none_or(|b| valid(b, v))
        }
        "then" | "else" | "$schema" | "$id" | "title" | "description" | "default" | "format" => {
            true
        }
        other => panic!("schema keyword {other} not handled by the test's validator"),
    })
}

fn schema() -> Value {
    serde_json::from_str(&entrasync(&["schema"])).expect("entrasync schema prints JSON")
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_str_multiple(yaml).expect("YAML parses")
}

#[test]
fn schema_accepts_every_example_config() {
    let schema = schema();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            for (i, doc) in documents(&std::fs::read_to_string(&path).unwrap())
                .iter()
                .enumerate()
            {
                assert!(
                    valid(&schema, doc),
                    "{} document {i}: {doc}",
                    path.display()
                );
                seen += 1;
            }
        }
    }
    assert!(seen >= 6, "only {seen} documents in examples/");
}

#[test]
fn schema_refuses_wrong_documents() {
    let schema = schema();
    let good = documents(include_str!("../../../examples/quickstart.yml"));
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut with = |what: &'static str, doc: usize, change: &dyn Fn(&mut Value)| {
        let mut d = good[doc].clone();
        change(&mut d);
        cases.push((what, d));
    };
    with("unknown kind", 0, &|d| d["kind"] = json!("sauce"));
    with("misspelt source key", 0, &|d| {
        d["spec"]["tabels"] = json!(["*"])
    });
    with("tables not a list", 0, &|d| {
        d["spec"]["tables"] = json!("*")
    });
    with("unknown plugin spec key", 0, &|d| {
        d["spec"]["spec"]["tennant_id"] = json!("x")
    });
    with("simulator profile", 0, &|d| {
        d["spec"]["spec"]["simulator"]["profile"] = json!("huge")
    });
    with("negative lookback", 0, &|d| {
        d["spec"]["spec"]["log_lookback_days"] = json!(-1)
    });
    with("sqlite without connection_string", 1, &|d| {
        d["spec"]["spec"] = json!({})
    });
    with("sqlite with a file option", 1, &|d| {
        d["spec"]["spec"]["format"] = json!("csv")
    });
    with("unknown destination plugin", 1, &|d| {
        d["spec"]["path"] = json!("cloudquery/duckdb")
    });
    with("file destination without format", 1, &|d| {
        d["spec"]["path"] = json!("cloudquery/file");
        d["spec"]["spec"] = json!({"path": "out/{{TABLE}}.json"});
    });
    with("write mode", 1, &|d| {
        d["spec"]["write_mode"] = json!("upsert")
    });
    for (i, d) in good.iter().enumerate() {
        assert!(valid(&schema, d), "the quick start's document {i}");
    }
    for (what, d) in cases {
        assert!(!valid(&schema, &d), "accepted: {what}: {d}");
    }
}
