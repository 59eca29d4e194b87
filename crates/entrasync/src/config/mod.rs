//! CloudQuery-compatible configuration: multi-document YAML with `kind: source` and
//! `kind: destination` documents, `${VAR}` and `${file:path}` expansion, and validation that names
//! the file, the line and the key of every mistake before anything is written.

mod expand;
mod spec;

pub use spec::{Cloud, EntraSpec, Secret, SimulatorSpec};

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration mistake, located in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<u32>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Everything the config files define.
#[derive(Debug, Clone)]
pub struct Config {
    pub sources: Vec<SourceConfig>,
    pub destinations: Vec<DestinationConfig>,
}

/// `backend_options` of a source: where incremental state is kept.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendOptions {
    pub table_name: String,
    pub connection: String,
}

/// A `kind: source` document.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub path: String,
    pub registry: String,
    pub version: Option<String>,
    pub tables: Vec<String>,
    pub skip_tables: Vec<String>,
    pub skip_dependent_tables: bool,
    pub destinations: Vec<String>,
    pub backend_options: Option<BackendOptions>,
    pub deterministic_cq_id: bool,
    pub spec: EntraSpec,
    pub file: PathBuf,
}

/// Which sink a destination runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationKind {
    Sqlite,
    Postgres,
    File,
}

/// The destination `write_mode`, as CloudQuery's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteMode {
    #[default]
    OverwriteDeleteStale,
    Overwrite,
    Append,
}

/// The destination `migrate_mode`, as CloudQuery's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrateMode {
    #[default]
    Safe,
    Forced,
}

/// A `kind: destination` document.
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    pub name: String,
    pub path: String,
    pub kind: DestinationKind,
    pub write_mode: WriteMode,
    pub migrate_mode: MigrateMode,
    pub batch_size: Option<u64>,
    pub batch_size_bytes: Option<u64>,
    /// The plugin's own `spec`, checked per kind by the sink that reads it.
    pub spec: serde_json::Value,
    /// Line of the destination's `spec` key, for errors found when the sink reads it.
    pub spec_line: Option<u32>,
    pub file: PathBuf,
}

impl DestinationConfig {
    /// The `spec.connection_string` of a SQLite or PostgreSQL destination.
    pub fn connection_string(&self) -> Result<String, ConfigError> {
        match self.spec.get("connection_string") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(ConfigError {
                file: self.file.clone(),
                line: self.spec_line,
                message: format!(
                    "destination {:?}: `spec.connection_string` is required (for {} a {})",
                    self.name,
                    self.path,
                    match self.kind {
                        DestinationKind::Sqlite => "file path such as ./entraid.db",
                        _ => "URL such as postgres://user@host:5432/db",
                    }
                ),
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    kind: Spanned<String>,
    spec: Spanned<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: String,
    path: String,
    #[serde(default = "default_registry")]
    registry: String,
    #[serde(default)]
    version: Option<String>,
    tables: Vec<String>,
    #[serde(default)]
    skip_tables: Vec<String>,
    #[serde(default = "default_true")]
    skip_dependent_tables: bool,
    destinations: Vec<String>,
    #[serde(default)]
    backend_options: Option<BackendOptions>,
    #[serde(default)]
    deterministic_cq_id: bool,
    #[serde(default)]
    otel_endpoint: Option<String>,
    #[serde(default)]
    otel_endpoint_insecure: Option<bool>,
    #[serde(default)]
    spec: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    name: String,
    path: String,
    #[serde(default = "default_registry")]
    registry: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    write_mode: WriteMode,
    #[serde(default)]
    migrate_mode: MigrateMode,
    #[serde(default)]
    pk_mode: Option<String>,
    #[serde(default)]
    batch_size: Option<u64>,
    #[serde(default)]
    batch_size_bytes: Option<u64>,
    #[serde(default)]
    sync_group_id: Option<String>,
    #[serde(default)]
    send_sync_summary: Option<bool>,
    #[serde(default)]
    spec: Option<serde_json::Value>,
}

fn default_registry() -> String {
    "cloudquery".into()
}

fn default_true() -> bool {
    true
}

/// Reads and validates config files. Documents from all files are merged, as the CloudQuery CLI
/// does with several config paths.
pub fn load(paths: &[PathBuf]) -> Result<Config, ConfigError> {
    let mut config = Config {
        sources: Vec::new(),
        destinations: Vec::new(),
    };
    let mut texts = Vec::new();
    for path in paths {
        let raw = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.clone(),
            line: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let text = expand::expand(&raw, base).map_err(|(line, message)| ConfigError {
            file: path.clone(),
            line: Some(line),
            message,
        })?;
        parse_into(&text, path, &mut config)?;
        texts.push((path.clone(), text));
    }
    validate(&config, &texts)?;
    Ok(config)
}

/// Parses already expanded YAML text (used by `load` and by tests).
pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let mut config = Config {
        sources: Vec::new(),
        destinations: Vec::new(),
    };
    parse_into(text, file, &mut config)?;
    validate(&config, &[(file.to_path_buf(), text.to_string())])?;
    Ok(config)
}

fn parse_into(text: &str, file: &Path, config: &mut Config) -> Result<(), ConfigError> {
    let err = |line: Option<u32>, message: String| ConfigError {
        file: file.to_path_buf(),
        line,
        message,
    };
    let docs: Vec<Document> = serde_saphyr::from_str_multiple(text)
        .map_err(|e| err(e.location().map(|l| l.line() as u32), yaml_message(&e)))?;
    if docs.is_empty() {
        return Err(err(
            None,
            "the file holds no `kind: source` or `kind: destination` document".into(),
        ));
    }
    for doc in docs {
        let spec_line = doc.spec.referenced.line() as u32;
        match doc.kind.value.as_str() {
            "source" => {
                let raw: RawSource = from_value(doc.spec.value, text, spec_line)
                    .map_err(|(line, message)| err(Some(line), message))?;
                let _ = (&raw.otel_endpoint, &raw.otel_endpoint_insecure);
                let plugin_spec = raw.spec.unwrap_or(serde_json::Value::Null);
                let spec_key_line = find_key_line(text, spec_line, "spec").unwrap_or(spec_line);
                let spec = EntraSpec::from_value(plugin_spec, text, spec_key_line)
                    .map_err(|(line, message)| err(Some(line), message))?;
                config.sources.push(SourceConfig {
                    name: raw.name,
                    path: raw.path,
                    registry: raw.registry,
                    version: raw.version,
                    tables: raw.tables,
                    skip_tables: raw.skip_tables,
                    skip_dependent_tables: raw.skip_dependent_tables,
                    destinations: raw.destinations,
                    backend_options: raw.backend_options,
                    deterministic_cq_id: raw.deterministic_cq_id,
                    spec,
                    file: file.to_path_buf(),
                });
            }
            "destination" => {
                let raw: RawDestination = from_value(doc.spec.value, text, spec_line)
                    .map_err(|(line, message)| err(Some(line), message))?;
                let _ = (
                    &raw.registry,
                    &raw.version,
                    &raw.pk_mode,
                    &raw.sync_group_id,
                    &raw.send_sync_summary,
                );
                let kind = destination_kind(&raw.path).ok_or_else(|| {
                    err(
                        find_key_line(text, spec_line, "path"),
                        format!(
                            "destination {:?}: unsupported `path: {}`; entrasync writes to \
                             cloudquery/sqlite, cloudquery/postgresql and cloudquery/file",
                            raw.name, raw.path
                        ),
                    )
                })?;
                config.destinations.push(DestinationConfig {
                    spec_line: find_key_line(text, spec_line, "spec"),
                    name: raw.name,
                    path: raw.path,
                    kind,
                    write_mode: raw.write_mode,
                    migrate_mode: raw.migrate_mode,
                    batch_size: raw.batch_size,
                    batch_size_bytes: raw.batch_size_bytes,
                    spec: raw.spec.unwrap_or(serde_json::Value::Null),
                    file: file.to_path_buf(),
                });
            }
            other => {
                return Err(err(
                    Some(doc.kind.referenced.line() as u32),
                    format!("unknown `kind: {other}`; expected `source` or `destination`"),
                ));
            }
        }
    }
    Ok(())
}

fn destination_kind(path: &str) -> Option<DestinationKind> {
    // A local path to an entrasync binary names the sink by its last segment too.
    let name = path.rsplit('/').next().unwrap_or(path);
    match name {
        "sqlite" => Some(DestinationKind::Sqlite),
        "postgresql" | "postgres" => Some(DestinationKind::Postgres),
        "file" => Some(DestinationKind::File),
        _ => None,
    }
}

/// Checks what spans documents; `texts` are the expanded files, for locating keys.
fn validate(config: &Config, texts: &[(PathBuf, String)]) -> Result<(), ConfigError> {
    let first_file = texts.first().map(|(f, _)| f.clone()).unwrap_or_default();
    if config.sources.is_empty() {
        return Err(ConfigError {
            file: first_file,
            line: None,
            message: "no `kind: source` document; add one with `path: cloudquery/entraid`".into(),
        });
    }
    for source in &config.sources {
        let text = texts
            .iter()
            .find(|(f, _)| f == &source.file)
            .map(|(_, t)| t.as_str())
            .unwrap_or_default();
        let line_of = |key: &str| find_key_line(text, 1, key);
        if source.tables.is_empty() {
            return Err(ConfigError {
                file: source.file.clone(),
                line: line_of("tables"),
                message: format!(
                    "source {:?}: `tables` is empty; list table names or globs such as [\"*\"]",
                    source.name
                ),
            });
        }
        if source.destinations.is_empty() {
            return Err(ConfigError {
                file: source.file.clone(),
                line: line_of("destinations"),
                message: format!(
                    "source {:?}: `destinations` is empty; name at least one destination",
                    source.name
                ),
            });
        }
        for dest in &source.destinations {
            if !config.destinations.iter().any(|d| &d.name == dest) {
                let known: Vec<&str> = config
                    .destinations
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect();
                return Err(ConfigError {
                    file: source.file.clone(),
                    line: line_of("destinations"),
                    message: format!(
                        "source {:?}: `destinations` names {dest:?}, but no `kind: destination` \
                         document has that name (defined: {})",
                        source.name,
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                });
            }
        }
        if let Some(backend) = &source.backend_options
            && (backend.table_name.is_empty() || backend.connection.is_empty())
        {
            return Err(ConfigError {
                file: source.file.clone(),
                line: line_of("backend_options"),
                message: "backend_options must contain both connection and table_name".into(),
            });
        }
    }
    for (i, d) in config.destinations.iter().enumerate() {
        if config.destinations[..i].iter().any(|o| o.name == d.name) {
            return Err(ConfigError {
                file: d.file.clone(),
                line: d.spec_line,
                message: format!(
                    "two destinations are named {:?}; names must be unique",
                    d.name
                ),
            });
        }
    }
    Ok(())
}

/// Deserializes a JSON value taken from the YAML into `T`, reporting serde's message with the line
/// of the offending key where it can be found.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    text: &str,
    start_line: u32,
) -> Result<T, (u32, String)> {
    serde_json::from_value(value).map_err(|e| {
        let message = e.to_string();
        let key = quoted_key(&message);
        let line = key
            .as_deref()
            .and_then(|k| find_key_line(text, start_line, k))
            .unwrap_or(start_line);
        (line, tidy_serde_message(&message))
    })
}

/// The first backquoted name in a serde message, e.g. "unknown field `tabels`".
fn quoted_key(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_string())
}

fn tidy_serde_message(message: &str) -> String {
    message
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing required key")
}

fn yaml_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or(&full).to_string();
    tidy_serde_message(&first)
}

/// The 1-based line, at or after `start_line`, where `key:` is written as a mapping key.
pub(crate) fn find_key_line(text: &str, start_line: u32, key: &str) -> Option<u32> {
    text.lines()
        .enumerate()
        .skip(start_line.saturating_sub(1) as usize)
        .find(|(_, line)| {
            let t = line.trim_start().trim_start_matches("- ");
            t.strip_prefix(key)
                .or_else(|| t.strip_prefix(&format!("\"{key}\"")))
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|(i, _)| i as u32 + 1)
}

#[cfg(test)]
mod tests;
