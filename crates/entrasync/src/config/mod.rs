//! CloudQuery-compatible configuration: multi-document YAML with `kind: source` and
//! `kind: destination` documents, `${VAR}` and `${file:path}` expansion, and validation that names
//! the file, the line and the key of every mistake before anything is written.

mod expand;
mod node;
mod sinkspec;
mod spec;
mod tenants;

pub(crate) use node::short as safe_text;
pub use tenants::TenantSpec;

pub use sinkspec::{MAX_BATCH_SIZE, MAX_BATCH_SIZE_BYTES};
pub use spec::{
    AuthKind, Cloud, DEFAULT_CONCURRENCY, DEFAULT_LOG_LOOKBACK_DAYS, DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER_SECS, EntraSpec, MAX_CONCURRENCY, MAX_LOG_LOOKBACK_DAYS,
    MAX_MAX_RETRIES, MAX_MAX_RETRY_AFTER_SECS, Secret, SimulatorSpec,
};

use node::{De, LocError, Node, Value};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
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
    /// `spec.tenants`: the tenants this source syncs, each with its own spec. Empty once
    /// loaded: [`load`] expands such a source into one source per tenant.
    pub tenants: Vec<TenantSpec>,
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
#[derive(Clone)]
pub struct DestinationConfig {
    pub name: String,
    pub path: String,
    pub kind: DestinationKind,
    pub write_mode: WriteMode,
    pub migrate_mode: MigrateMode,
    pub batch_size: Option<u64>,
    pub batch_size_bytes: Option<u64>,
    /// The plugin's own `spec`, checked per kind when the config is loaded (and again by the
    /// sink that reads it).
    pub spec: serde_json::Value,
    /// Line of the destination's `spec` key, for errors found when the sink reads it.
    pub spec_line: Option<u32>,
    pub file: PathBuf,
}

/// The spec is shown with the password of its connection string masked.
impl fmt::Debug for DestinationConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut spec = self.spec.clone();
        if let Some(serde_json::Value::String(conn)) = spec.get_mut("connection_string") {
            *conn = entrasync_sinks::postgres::sanitize_connection_string(conn);
        }
        f.debug_struct("DestinationConfig")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("write_mode", &self.write_mode)
            .field("migrate_mode", &self.migrate_mode)
            .field("batch_size", &self.batch_size)
            .field("batch_size_bytes", &self.batch_size_bytes)
            .field("spec", &spec)
            .field("spec_line", &self.spec_line)
            .field("file", &self.file)
            .finish()
    }
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

/// A `tables` entry: a table name or glob that matches at least one table of the catalog.
struct TablePattern(String);

impl<'de> Deserialize<'de> for TablePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pattern = String::deserialize(d)?;
        let catalog = crate::tables::all();
        if crate::tables::select(&catalog, std::slice::from_ref(&pattern), &[], true).is_err() {
            return Err(serde::de::Error::custom(format!(
                "{:?} matches no table; run `entrasync tables` for the list of table names",
                node::short(&pattern, 80)
            )));
        }
        Ok(TablePattern(pattern))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(deserialize_with = "sinkspec::non_empty")]
    name: String,
    path: String,
    #[serde(default = "default_registry")]
    registry: String,
    #[serde(default)]
    version: Option<String>,
    tables: Vec<TablePattern>,
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
    spec: Option<spec::RawSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    #[serde(deserialize_with = "sinkspec::non_empty")]
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
    #[serde(default, deserialize_with = "sinkspec::batch_size")]
    batch_size: Option<u64>,
    #[serde(default, deserialize_with = "sinkspec::batch_size_bytes")]
    batch_size_bytes: Option<u64>,
    #[serde(default)]
    sync_group_id: Option<String>,
    #[serde(default)]
    send_sync_summary: Option<bool>,
    // Checked per kind by `sinkspec::check`.
    #[serde(default)]
    spec: Option<IgnoredAny>,
}

fn default_registry() -> String {
    "cloudquery".into()
}

fn default_true() -> bool {
    true
}

/// Lines of the keys that the checks across documents point at (0 when absent).
#[derive(Debug, Clone, Default)]
struct Lines {
    /// The document's `spec:` key.
    doc: u32,
    name: Option<u32>,
    tables: Option<u32>,
    destinations: Option<u32>,
    backend_options: Option<u32>,
    backend_table_name: Option<u32>,
    backend_connection: Option<u32>,
    /// The source's own `spec:` key.
    spec: Option<u32>,
    certificate: Option<u32>,
    auth: Option<u32>,
}

impl Lines {
    fn of(doc: &Node, doc_line: u32) -> Lines {
        let backend = doc.entry("backend_options").map(|e| &e.value);
        let spec = doc.entry("spec").map(|e| &e.value);
        Lines {
            doc: doc_line,
            name: doc.key_line("name"),
            tables: doc.key_line("tables"),
            destinations: doc.key_line("destinations"),
            backend_options: doc.key_line("backend_options"),
            backend_table_name: backend.and_then(|b| b.key_line("table_name")),
            backend_connection: backend.and_then(|b| b.key_line("connection")),
            spec: doc.key_line("spec"),
            certificate: spec.and_then(|s| s.key_line("client_certificate_path")),
            auth: spec.and_then(|s| s.key_line("auth")),
        }
    }
}

/// Everything read so far, with the lines the checks across documents need.
#[derive(Default)]
struct Parsed {
    sources: Vec<(SourceConfig, Lines)>,
    destinations: Vec<(DestinationConfig, Lines)>,
    first_file: Option<PathBuf>,
}

/// Reads and validates config files. Documents from all files are merged, as the CloudQuery CLI
/// does with several config paths. Every mistake is found here, before anything is written.
pub fn load(paths: &[PathBuf]) -> Result<Config, ConfigError> {
    let mut parsed = Parsed::default();
    for path in paths {
        let raw = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.clone(),
            line: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let (text, lines) = expand::expand(&raw, base).map_err(|(line, message)| ConfigError {
            file: path.clone(),
            line: Some(line),
            message,
        })?;
        parse_into(&text, path, &lines, &mut parsed)?;
    }
    validate(parsed)
}

/// Parses already expanded YAML text (used by `load` and by tests).
pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let mut parsed = Parsed::default();
    parse_into(text, file, &[], &mut parsed)?;
    validate(parsed)
}

/// `line_map[i]` is the line of the file that line `i + 1` of the expanded text came from (a
/// `${file:…}` can bring several lines); empty when the text was not expanded.
fn parse_into(
    text: &str,
    file: &Path,
    line_map: &[u32],
    parsed: &mut Parsed,
) -> Result<(), ConfigError> {
    let original = |line: u32| {
        line.checked_sub(1)
            .and_then(|i| line_map.get(i as usize))
            .copied()
            .unwrap_or(line)
    };
    let located = |e: LocError| ConfigError {
        file: file.to_path_buf(),
        line: e.line.map(original),
        message: e.to_string(),
    };
    parsed.first_file.get_or_insert_with(|| file.to_path_buf());
    let docs = node::parse_documents(text).map_err(located)?;
    if docs.is_empty() {
        return Err(ConfigError {
            file: file.to_path_buf(),
            line: None,
            message: "the file holds no `kind: source` or `kind: destination` document".into(),
        });
    }
    for doc in &docs {
        let (kind, spec, spec_line) = document(doc).map_err(located)?;
        let remap = |mut lines: Lines| {
            lines.doc = original(lines.doc);
            for l in [
                &mut lines.name,
                &mut lines.tables,
                &mut lines.destinations,
                &mut lines.backend_options,
                &mut lines.backend_table_name,
                &mut lines.backend_connection,
                &mut lines.spec,
                &mut lines.certificate,
            ] {
                *l = l.map(original);
            }
            lines
        };
        match kind {
            "source" => {
                let mut source = parse_source(spec, spec_line, file).map_err(located)?;
                for tenant in &mut source.tenants {
                    tenant.line = original(tenant.line);
                }
                parsed
                    .sources
                    .push((source, remap(Lines::of(spec, spec_line))));
            }
            _ => {
                let dest = parse_destination(spec, spec_line, file).map_err(located)?;
                let mut dest = dest;
                dest.spec_line = dest.spec_line.map(original);
                parsed
                    .destinations
                    .push((dest, remap(Lines::of(spec, spec_line))));
            }
        }
    }
    Ok(())
}

/// A document's `kind` and its `spec` mapping with the line of the `spec` key.
fn document(doc: &Node) -> Result<(&'static str, &Node, u32), LocError> {
    let Value::Map(entries) = &doc.value else {
        return Err(LocError::new(
            Some(doc.line),
            "",
            "a document must be a mapping with `kind` and `spec`",
        ));
    };
    if let Some(e) = entries.iter().find(|e| e.key != "kind" && e.key != "spec") {
        return Err(LocError::new(
            Some(e.key_line),
            "",
            format!(
                "unknown key `{}`, expected one of `kind`, `spec`",
                node::short(&e.key, 60)
            ),
        ));
    }
    let kind = doc
        .entry("kind")
        .ok_or_else(|| LocError::new(Some(doc.line), "", "missing required key `kind`"))?;
    let kind = match &kind.value.value {
        Value::Str(s) if s == "source" => "source",
        Value::Str(s) if s == "destination" => "destination",
        Value::Str(other) => {
            return Err(LocError::new(
                Some(kind.key_line),
                "",
                format!(
                    "unknown `kind: {}`; expected `source` or `destination`",
                    node::short(other, 40)
                ),
            ));
        }
        _ => {
            return Err(LocError::new(
                Some(kind.key_line),
                "kind",
                "expected `source` or `destination`",
            ));
        }
    };
    let spec = doc
        .entry("spec")
        .ok_or_else(|| LocError::new(Some(doc.line), "", "missing required key `spec`"))?;
    if !matches!(spec.value.value, Value::Map(_)) {
        return Err(LocError::new(
            Some(spec.key_line),
            "spec",
            format!("a {kind} spec must be a mapping with `name`, `path`, …"),
        ));
    }
    Ok((kind, &spec.value, spec.key_line))
}

fn parse_source(doc: &Node, doc_line: u32, file: &Path) -> Result<SourceConfig, LocError> {
    let (doc, tenants) = tenants::take(doc);
    let doc = &doc;
    let raw = RawSource::deserialize(De::new(doc, "", doc_line))?;
    let _ = (&raw.otel_endpoint, &raw.otel_endpoint_insecure);
    check_source_path(&raw.path, &raw.registry).map_err(|(key, message)| {
        LocError::new(
            doc.key_line(key),
            "",
            format!("source {:?}: {message}", raw.name),
        )
    })?;
    let spec_line = doc.key_line("spec").unwrap_or(doc_line);
    let spec = spec::EntraSpec::from_raw(raw.spec.unwrap_or_default(), "spec", spec_line)?;
    let tenants = match &tenants {
        Some(list) => tenants::parse(doc, list, &spec)?,
        None => Vec::new(),
    };
    Ok(SourceConfig {
        name: raw.name,
        path: raw.path,
        registry: raw.registry,
        version: raw.version,
        tables: raw.tables.into_iter().map(|t| t.0).collect(),
        skip_tables: raw.skip_tables,
        skip_dependent_tables: raw.skip_dependent_tables,
        destinations: raw.destinations,
        backend_options: raw.backend_options,
        deterministic_cq_id: raw.deterministic_cq_id,
        spec,
        tenants,
        file: file.to_path_buf(),
    })
}

/// Whether `path` (with `registry`) names the entraid plugin that entrasync is: CloudQuery's
/// `cloudquery/entraid`, or a local entrasync binary. The error names the key at fault.
fn check_source_path(path: &str, registry: &str) -> Result<(), (&'static str, String)> {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stem = name.strip_suffix(".exe").unwrap_or(name);
    let ours = |stem: &str| stem == "entraid" || stem.starts_with("entrasync");
    let accepted = "use `path: cloudquery/entraid` (registry cloudquery), or the path of the \
                    entrasync binary with `registry: local`";
    match registry {
        "cloudquery" | "github" if path == "cloudquery/entraid" => Ok(()),
        "local" if ours(stem) => Ok(()),
        "cloudquery" | "github" | "local" => Err((
            "path",
            format!(
                "`path: {}` is not the entraid plugin; entrasync syncs only Microsoft Entra ID: \
                 {accepted}",
                node::short(path, 100)
            ),
        )),
        other => Err((
            "registry",
            format!(
                "`registry: {}` is not supported by entrasync sync; {accepted}",
                node::short(other, 40)
            ),
        )),
    }
}

fn parse_destination(
    doc: &Node,
    doc_line: u32,
    file: &Path,
) -> Result<DestinationConfig, LocError> {
    let raw = RawDestination::deserialize(De::new(doc, "", doc_line))?;
    let _ = (
        &raw.version,
        &raw.pk_mode,
        &raw.sync_group_id,
        &raw.send_sync_summary,
        &raw.spec,
    );
    let (spec, spec_line) = match doc.entry("spec") {
        Some(e) => (&e.value, e.key_line),
        None => (
            &Node {
                line: doc_line,
                value: Value::Null,
            },
            doc_line,
        ),
    };
    let kind = destination_kind(&raw.path, &raw.registry, spec).ok_or_else(|| {
        LocError::new(
            doc.key_line("path"),
            "",
            format!(
                "destination {:?}: unsupported `path: {}`; entrasync writes to \
                 cloudquery/sqlite, cloudquery/postgresql and cloudquery/file",
                raw.name,
                node::short(&raw.path, 100)
            ),
        )
    })?;
    sinkspec::check(kind, spec, spec_line)?;
    Ok(DestinationConfig {
        spec_line: Some(spec_line).filter(|l| *l > 0),
        name: raw.name,
        path: raw.path,
        kind,
        write_mode: raw.write_mode,
        migrate_mode: raw.migrate_mode,
        batch_size: raw.batch_size,
        batch_size_bytes: raw.batch_size_bytes,
        spec: spec.to_json(),
        file: file.to_path_buf(),
    })
}

fn destination_kind(path: &str, registry: &str, spec: &Node) -> Option<DestinationKind> {
    // A local path to an entrasync binary names the sink by its last segment too.
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stem = name.strip_suffix(".exe").unwrap_or(name);
    match stem {
        "sqlite" => Some(DestinationKind::Sqlite),
        "postgresql" | "postgres" => Some(DestinationKind::Postgres),
        "file" => Some(DestinationKind::File),
        // The entrasync binary as a destination plugin picks its sink from the spec, as
        // `entrasync serve` does.
        s if registry == "local" && s.starts_with("entrasync") => {
            match spec.entry("connection_string").map(|e| &e.value.value) {
                Some(Value::Str(conn))
                    if conn.starts_with("postgres://")
                        || conn.starts_with("postgresql://")
                        || conn.contains("host=")
                        || conn.contains("dbname=") =>
                {
                    Some(DestinationKind::Postgres)
                }
                Some(_) => Some(DestinationKind::Sqlite),
                None => Some(DestinationKind::File),
            }
        }
        _ => None,
    }
}

/// Names from the config for a message: control characters escaped, long ones cut.
fn names<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| node::short(n.as_ref(), 80))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks what spans documents, with the lines recorded while parsing.
fn validate(parsed: Parsed) -> Result<Config, ConfigError> {
    let first_file = parsed.first_file.clone().unwrap_or_default();
    if parsed.sources.is_empty() {
        return Err(ConfigError {
            file: first_file,
            line: None,
            message: "no `kind: source` document; add one with `path: cloudquery/entraid`".into(),
        });
    }
    let at = |file: &Path, line: Option<u32>, lines: &Lines, message: String| ConfigError {
        file: file.to_path_buf(),
        line: line.or(Some(lines.doc)).filter(|l| *l > 0),
        message,
    };
    for (i, (source, lines)) in parsed.sources.iter().enumerate() {
        if let Some((first, first_lines)) = parsed.sources[..i]
            .iter()
            .find(|(o, _)| o.name == source.name)
        {
            return Err(at(
                &source.file,
                lines.name,
                lines,
                format!(
                    "two sources are named {:?} (the first at {}:{}); source names must be \
                     unique, or one source's sync would delete the other's rows",
                    source.name,
                    first.file.display(),
                    first_lines.name.unwrap_or(first_lines.doc)
                ),
            ));
        }
        validate_source(source, lines, &parsed.destinations)?;
    }
    for (i, (d, lines)) in parsed.destinations.iter().enumerate() {
        if parsed.destinations[..i]
            .iter()
            .any(|(o, _)| o.name == d.name)
        {
            return Err(at(
                &d.file,
                lines.name,
                lines,
                format!(
                    "two destinations are named {:?}; names must be unique",
                    d.name
                ),
            ));
        }
    }
    Ok(Config {
        sources: parsed
            .sources
            .into_iter()
            .flat_map(|(s, _)| s.per_tenant())
            .collect(),
        destinations: parsed.destinations.into_iter().map(|(d, _)| d).collect(),
    })
}

fn validate_source(
    source: &SourceConfig,
    lines: &Lines,
    destinations: &[(DestinationConfig, Lines)],
) -> Result<(), ConfigError> {
    let fail = |line: Option<u32>, message: String| ConfigError {
        file: source.file.clone(),
        line: line.or(Some(lines.doc)).filter(|l| *l > 0),
        message: format!("source {:?}: {message}", source.name),
    };
    if source.tables.is_empty() {
        return Err(fail(
            lines.tables,
            "`tables` is empty; list table names or globs such as [\"*\"]".into(),
        ));
    }
    crate::tables::select(
        &crate::tables::all(),
        &source.tables,
        &source.skip_tables,
        source.skip_dependent_tables,
    )
    .map_err(|e| fail(lines.tables, e.to_string()))?;
    if source.destinations.is_empty() {
        return Err(fail(
            lines.destinations,
            "`destinations` is empty; name at least one destination".into(),
        ));
    }
    for (i, dest) in source.destinations.iter().enumerate() {
        if source.destinations[..i].contains(dest) {
            return Err(fail(
                lines.destinations,
                format!("`destinations` names {dest:?} twice"),
            ));
        }
        if !destinations.iter().any(|(d, _)| &d.name == dest) {
            let known: Vec<&str> = destinations.iter().map(|(d, _)| d.name.as_str()).collect();
            return Err(fail(
                lines.destinations,
                format!(
                    "`destinations` names {dest:?}, but no `kind: destination` document has \
                     that name (defined: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        names(&known)
                    }
                ),
            ));
        }
    }
    if let Some(backend) = &source.backend_options {
        validate_backend(backend, source, lines).map_err(|(line, m)| fail(line, m))?;
    }
    if source.tenants.is_empty() {
        return validate_credentials(&source.spec, lines).map_err(|(line, m)| fail(line, m));
    }
    for (i, tenant) in source.tenants.iter().enumerate() {
        validate_credentials(&tenant.spec, lines).map_err(|(_, m)| {
            let id = tenant.spec.tenant_id.as_deref().unwrap_or_default();
            fail(
                Some(tenant.line),
                format!("spec.tenants[{i}] (tenant {:?}): {m}", node::short(id, 80)),
            )
        })?;
    }
    Ok(())
}

impl SourceConfig {
    /// This source once per tenant of its `tenants` list (itself when it has none).
    fn per_tenant(mut self) -> Vec<SourceConfig> {
        let tenants = std::mem::take(&mut self.tenants);
        if tenants.is_empty() {
            return vec![self];
        }
        tenants
            .into_iter()
            .map(|t| SourceConfig {
                spec: t.spec,
                ..self.clone()
            })
            .collect()
    }
}

fn validate_backend(
    backend: &BackendOptions,
    source: &SourceConfig,
    lines: &Lines,
) -> Result<(), (Option<u32>, String)> {
    if backend.table_name.is_empty() || backend.connection.is_empty() {
        return Err((
            lines.backend_options,
            "backend_options must contain both connection and table_name".into(),
        ));
    }
    let name = &backend.table_name;
    if name.len() > 63
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err((
            lines.backend_table_name,
            format!(
                "backend_options.table_name {:?} must be a plain table name: letters, digits and \
                 _, at most 63 characters",
                node::short(name, 80)
            ),
        ));
    }
    let Some(dest) = backend
        .connection
        .strip_prefix("@@plugins.")
        .and_then(|rest| rest.strip_suffix(".connection"))
    else {
        return Err((
            lines.backend_connection,
            "backend_options.connection must be \"@@plugins.<destination name>.connection\" for \
             entrasync sync"
                .into(),
        ));
    };
    if !source.destinations.iter().any(|d| d == dest) {
        return Err((
            lines.backend_connection,
            format!(
                "backend_options.connection names destination {:?}, which is not one of this \
                 source's destinations ({})",
                node::short(dest, 80),
                names(&source.destinations)
            ),
        ));
    }
    Ok(())
}

/// A real tenant needs its id, the app's id and a credential (from the spec or the
/// environment); a certificate file must be readable and hold a certificate and its key.
fn validate_credentials(spec: &EntraSpec, lines: &Lines) -> Result<(), (Option<u32>, String)> {
    if spec.simulator.is_some() {
        return Ok(());
    }
    if spec.tenant_id.is_none() {
        return Err((
            lines.spec,
            "no tenant_id: set spec.tenant_id in the source spec or the AZURE_TENANT_ID \
             environment variable"
                .into(),
        ));
    }
    // The same choice the sync makes, without any request: a missing key or an unreadable
    // certificate is found here.
    crate::graph::Credential::from_spec(spec)
        .map(|_| ())
        .map_err(|e| {
            let line = match spec.auth {
                Some(crate::config::AuthKind::ClientCertificate) | None
                    if spec.client_certificate_path.is_some() =>
                {
                    lines.certificate
                }
                _ => lines.auth,
            };
            (line.or(lines.spec), e.to_string())
        })
}

#[cfg(test)]
mod tests;
