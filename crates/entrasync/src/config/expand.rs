//! `${VAR}` and `${file:path}` expansion on the raw config text, as the CloudQuery CLI does it.
//! Only the braced form is expanded, so secrets containing `$` survive.

use std::path::Path;

/// Expands every `${NAME}` from the environment and every `${file:path}` with the file's content
/// (trailing newline removed; relative to the config file's folder). Errors carry the 1-based line.
/// Also returns, for every line of the expanded text, the line of `text` it came from: a value
/// with line breaks makes several lines out of one.
pub fn expand(text: &str, base: &Path) -> Result<(String, Vec<u32>), (u32, String)> {
    let mut out = String::with_capacity(text.len());
    let mut lines = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let start = out.len();
        expand_line(line, line_no, base, &mut out)?;
        let produced = out[start..].split_inclusive('\n').count().max(1);
        lines.extend(std::iter::repeat_n(line_no, produced));
    }
    Ok((out, lines))
}

fn expand_line(
    line: &str,
    line_no: u32,
    base: &Path,
    out: &mut String,
) -> Result<(), (u32, String)> {
    // Comments are not expanded: a commented-out `${VAR}` must not demand the variable.
    if line.trim_start().starts_with('#') {
        out.push_str(line);
        return Ok(());
    }
    let mut rest = line;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err((
                line_no,
                "unclosed `${` in the config; write `${NAME}`".into(),
            ));
        };
        let name = after[..end].trim();
        out.push_str(&resolve(name, base).map_err(|m| (line_no, m))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(())
}

fn resolve(name: &str, base: &Path) -> Result<String, String> {
    if let Some(path) = name.strip_prefix("file:") {
        let full = base.join(path.trim());
        return std::fs::read_to_string(&full)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| format!("`${{{name}}}`: cannot read {}: {e}", full.display()));
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`${{{name}}}` is not a variable name; use `${{NAME}}` or `${{file:path}}`"
        ));
    }
    std::env::var(name).map_err(|_| {
        format!("environment variable {name} is not set (used as `${{{name}}}`); set it or edit the config")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_braced_variables_and_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s3cr$t\n").unwrap();
        // cargo sets CARGO_PKG_NAME for test processes.
        let (out, lines) = expand(
            "a: ${CARGO_PKG_NAME}\nb: ${file:secret.txt}\nc: $HOME\n# d: ${NOT_SET_X}\n",
            dir.path(),
        )
        .unwrap();
        assert_eq!(lines, [1, 2, 3, 4]);
        assert_eq!(
            out,
            "a: entrasync\nb: s3cr$t\nc: $HOME\n# d: ${NOT_SET_X}\n"
        );
    }

    #[test]
    fn lines_of_a_multi_line_value_map_to_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pem"), "one\ntwo\nthree\n").unwrap();
        let (out, lines) = expand("a: |\n  ${file:pem}\nb: 1", dir.path()).unwrap();
        assert_eq!(out, "a: |\n  one\ntwo\nthree\nb: 1");
        assert_eq!(lines, [1, 2, 2, 2, 3]);
    }

    #[test]
    fn unset_variable_names_line_and_variable() {
        let err = expand("x: 1\ny: ${ENTRASYNC_SURELY_UNSET_VAR}\n", Path::new(".")).unwrap_err();
        assert_eq!(err.0, 2);
        assert!(
            err.1.contains("ENTRASYNC_SURELY_UNSET_VAR is not set"),
            "{}",
            err.1
        );
    }
}
