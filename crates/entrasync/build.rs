//! Sets `ENTRASYNC_COMMIT` for `entrasync --version`: the git commit the binary was built from.
//! Outside a git checkout (a crates tarball, a source archive) it is `ENTRASYNC_COMMIT` from the
//! build environment if set, else "unknown": the build never fails for want of git.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=ENTRASYNC_COMMIT");
    let commit = std::env::var("ENTRASYNC_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
            // Rebuild when HEAD moves: HEAD itself, the branch it names, packed refs.
            if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
                let dir = Path::new(&dir);
                println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
                println!(
                    "cargo:rerun-if-changed={}",
                    dir.join("packed-refs").display()
                );
                if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
                    println!("cargo:rerun-if-changed={}", dir.join(branch).display());
                }
            }
            Some(commit)
        });
    let commit = commit.unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ENTRASYNC_COMMIT={commit}");
}
