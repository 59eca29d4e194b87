//! The self-describing commands of the binary: `--version` and `completions`.

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
