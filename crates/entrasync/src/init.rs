//! `entrasync init`: from nothing to a config for a real tenant.
//!
//! Asks for (or takes flags for) the destination and the tables, writes a commented
//! CloudQuery-style config, and prints what the tenant needs: the `az` commands that create the
//! app registration and its service principal, the least-privilege Microsoft Graph application
//! permissions of the chosen tables (from the catalog, judged as `test-connection` judges
//! them), the licences some of them need, and the admin-consent URL.

use crate::check::missing_permission;
use crate::config::Cloud;
use crate::tables::{self, Licence, Selected, Table};
use anyhow::{Context as _, bail};
use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// Microsoft Graph's application id, the same in every cloud.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Sqlite,
    Postgresql,
    File,
}

impl Destination {
    pub const ALL: [Destination; 3] = [
        Destination::Sqlite,
        Destination::Postgresql,
        Destination::File,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Destination::Sqlite => "sqlite",
            Destination::Postgresql => "postgresql",
            Destination::File => "file",
        }
    }

    fn parse(text: &str) -> Option<Destination> {
        match text.trim().to_ascii_lowercase().as_str() {
            "sqlite" => Some(Destination::Sqlite),
            "postgresql" | "postgres" | "pg" => Some(Destination::Postgresql),
            "file" | "files" => Some(Destination::File),
            _ => None,
        }
    }

    /// The default `connection_string` (SQLite, PostgreSQL) or `path` template (files).
    fn default_target(self) -> &'static str {
        match self {
            Destination::Sqlite => "./entraid.db",
            Destination::Postgresql => "${PG_CONNECTION_STRING}",
            Destination::File => "./entraid/{{TABLE}}/{{UUID}}.{{FORMAT}}",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Parquet,
    Json,
    Csv,
}

impl FileFormat {
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Json => "json",
            FileFormat::Csv => "csv",
        }
    }

    fn parse(text: &str) -> Option<FileFormat> {
        match text.trim().to_ascii_lowercase().as_str() {
            "parquet" => Some(FileFormat::Parquet),
            "json" | "jsonl" => Some(FileFormat::Json),
            "csv" => Some(FileFormat::Csv),
            _ => None,
        }
    }
}

/// How the app proves its identity to Entra ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Secret,
    Certificate,
}

impl Credential {
    fn parse(text: &str) -> Option<Credential> {
        match text.trim().to_ascii_lowercase().as_str() {
            "secret" | "client-secret" => Some(Credential::Secret),
            "certificate" | "cert" => Some(Credential::Certificate),
            _ => None,
        }
    }
}

/// What `init` was told; `None` is asked for interactively, or takes its default.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    pub destination: Option<Destination>,
    /// Table name globs, as in the config's `tables`.
    pub tables: Option<Vec<String>>,
    /// SQLite file or PostgreSQL connection string; for files the `path` template.
    pub target: Option<String>,
    pub format: Option<FileFormat>,
    pub incremental: Option<bool>,
    pub credential: Option<Credential>,
    pub output: Option<PathBuf>,
}

/// Settings that are never asked for.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Display name of the app registration in the printed `az` commands.
    pub app_name: String,
    /// Written into the config and the admin-consent URL when known.
    pub tenant_id: Option<String>,
    /// An existing app registration: the commands add permissions to it instead of creating one.
    pub client_id: Option<String>,
    pub cloud: Cloud,
    /// Overwrite an existing config file.
    pub force: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            app_name: "entrasync".into(),
            tenant_id: None,
            client_id: None,
            cloud: Cloud::Public,
            force: false,
        }
    }
}

/// Everything decided: what is written and printed.
#[derive(Debug, Clone)]
pub struct Plan {
    pub destination: Destination,
    pub tables: Vec<String>,
    pub target: String,
    pub format: FileFormat,
    pub incremental: bool,
    pub credential: Credential,
    pub output: PathBuf,
    pub settings: Settings,
    /// The tables a sync of this config reads, as `entrasync sync` selects them.
    pub selected: Vec<Selected>,
}

impl Plan {
    /// Takes the defaults for everything not answered, and checks the answers.
    pub fn new(answers: Answers, settings: Settings) -> anyhow::Result<Plan> {
        let destination = answers.destination.unwrap_or(Destination::Sqlite);
        let tables = answers.tables.unwrap_or_else(|| vec!["*".to_string()]);
        let selected = select(&tables)?;
        let incremental = answers.incremental.unwrap_or(false);
        if incremental && destination == Destination::File {
            bail!(
                "--incremental keeps its state in a table of the destination: choose sqlite or postgresql"
            );
        }
        if let Some(t) = &settings.tenant_id
            && uuid::Uuid::parse_str(t).is_err()
            && !is_domain(t)
        {
            bail!(
                "--tenant-id {t:?} is neither a GUID (the Directory (tenant) ID) nor a domain name \
                 such as contoso.onmicrosoft.com"
            );
        }
        if let Some(c) = &settings.client_id
            && uuid::Uuid::parse_str(c).is_err()
        {
            bail!(
                "--client-id {c:?} is not a GUID (the app registration's Application (client) ID)"
            );
        }
        Ok(Plan {
            destination,
            target: answers
                .target
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| destination.default_target().to_string()),
            format: answers.format.unwrap_or(FileFormat::Parquet),
            incremental,
            credential: answers.credential.unwrap_or(Credential::Secret),
            output: answers
                .output
                .unwrap_or_else(|| PathBuf::from("entrasync.yml")),
            tables,
            selected,
            settings,
        })
    }

    /// The least-privilege application permissions of the selected tables.
    pub fn permissions(&self) -> Vec<&'static str> {
        least_privilege(self.selected.iter().map(|s| s.table))
    }

    /// Licences that some selected tables need, with those tables.
    pub fn licences(&self) -> Vec<(Licence, Vec<&'static str>)> {
        let mut out: Vec<(Licence, Vec<&'static str>)> = Vec::new();
        for s in &self.selected {
            let Some(licence) = s.table.licence else {
                continue;
            };
            match out.iter_mut().find(|(l, _)| *l == licence) {
                Some((_, names)) => names.push(s.table.name),
                None => out.push((licence, vec![s.table.name])),
            }
        }
        out
    }
}

/// A DNS name such as `contoso.onmicrosoft.com`: Entra ID takes one in place of the tenant id.
fn is_domain(text: &str) -> bool {
    text.contains('.')
        && text.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The tables `patterns` select with the config defaults (`skip_dependent_tables: true`).
fn select(patterns: &[String]) -> anyhow::Result<Vec<Selected>> {
    if patterns.is_empty() {
        bail!("no tables: give at least one table name or glob (`*` for all)");
    }
    Ok(tables::select(&tables::all(), patterns, &[], true)?)
}

/// The smallest set of the least privileged permissions that lets every table sync: each table
/// names its permissions least privileged first, any one of them enough (plus `also_requires`,
/// all needed). A table that one of the other required permissions already covers adds nothing;
/// otherwise it adds its least privileged one.
pub fn least_privilege<'a>(tables: impl IntoIterator<Item = &'a Table>) -> Vec<&'static str> {
    let tables: Vec<&Table> = tables.into_iter().collect();
    let mut chosen: Vec<&'static str> = Vec::new();
    let add = |p: &'static str, chosen: &mut Vec<&'static str>| {
        if !chosen.contains(&p) {
            chosen.push(p);
        }
    };
    // What has no alternative comes first: it may cover tables that have one.
    for t in &tables {
        for &p in t.also_requires {
            add(p, &mut chosen);
        }
        if let [only] = t.permissions {
            add(only, &mut chosen);
        }
    }
    for t in &tables {
        if !t.permissions.iter().any(|p| chosen.contains(p))
            && let Some(&first) = t.permissions.first()
        {
            add(first, &mut chosen);
        }
    }
    // Drop any permission the others make unnecessary.
    let mut i = 0;
    while i < chosen.len() {
        let without: Vec<String> = chosen
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, p)| p.to_string())
            .collect();
        if tables
            .iter()
            .all(|t| missing_permission(t, &without).is_none())
        {
            chosen.remove(i);
        } else {
            i += 1;
        }
    }
    chosen.sort_unstable();
    chosen
}

/// YAML's double-quoted scalar: a JSON string is one.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// The config file `init` writes.
pub fn render_config(plan: &Plan) -> String {
    let mut out = String::new();
    let dest = plan.destination.name();
    let permissions = plan.permissions();
    let _ = writeln!(
        out,
        "# entrasync config, written by `entrasync init` (entrasync {}).",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(
        "# CloudQuery-compatible: `cloudquery sync` reads it too, with the cloudquery/entraid plugin.\n\
         #\n\
         #   entrasync test-connection <this file>   # what is still missing: credentials, permissions, licences\n\
         #   entrasync sync <this file>\n\
         #\n\
         # Microsoft Graph application permissions the selected tables need (least privilege; grant\n\
         # admin consent for them):\n",
    );
    for line in wrap(&permissions.join(", "), 92) {
        let _ = writeln!(out, "#   {line}");
    }
    out.push_str("kind: source\nspec:\n  name: entraid\n  path: cloudquery/entraid\n  registry: cloudquery\n  version: \"v1.4.1\"\n");
    out.push_str(
        "  # Table names or globs (`entrasync tables` lists them); a pattern that matches nothing is\n  \
         # an error. Child tables (members, owners, ...) of these come along only when\n  \
         # skip_dependent_tables is false, or when they are named too.\n",
    );
    let tables: Vec<String> = plan.tables.iter().map(|t| quoted(t)).collect();
    let _ = writeln!(out, "  tables: [{}]", tables.join(", "));
    out.push_str("  # skip_tables: [\"entraid_auditlogs_*\"]\n  # skip_dependent_tables: true   # CloudQuery v6's default\n");
    let _ = writeln!(out, "  destinations: [{}]", quoted(dest));
    let backend = [
        "backend_options:".to_string(),
        "  table_name: cq_state_entraid".to_string(),
        format!("  connection: \"@@plugins.{dest}.connection\""),
    ];
    if plan.incremental {
        out.push_str("  # Incremental sync: Graph delta links and log cursors are kept in this table of the\n  # destination, so each sync reads only what changed.\n");
        for line in &backend {
            let _ = writeln!(out, "  {line}");
        }
    } else if plan.destination != Destination::File {
        out.push_str("  # Incremental sync: uncomment to keep Graph delta links and log cursors in a table of the\n  # destination, so that each sync reads only what changed.\n");
        for line in &backend {
            let _ = writeln!(out, "  # {line}");
        }
    }
    out.push_str("  spec:\n");
    out.push_str(
        "    # Credentials: each unset key falls back to its environment variable, so nothing secret\n    \
         # needs to be in this file: AZURE_TENANT_ID, AZURE_CLIENT_ID, and AZURE_CLIENT_SECRET or\n    \
         # AZURE_CLIENT_CERTIFICATE_PATH (a PEM file with the certificate and its RSA private key,\n    \
         # or a PFX file, with AZURE_CLIENT_CERTIFICATE_PASSWORD if it has a password).\n",
    );
    match &plan.settings.tenant_id {
        Some(t) => {
            let _ = writeln!(out, "    tenant_id: {}", quoted(t));
        }
        None => out.push_str("    # tenant_id: ${AZURE_TENANT_ID}\n"),
    }
    match &plan.settings.client_id {
        Some(c) => {
            let _ = writeln!(out, "    client_id: {}", quoted(c));
        }
        None => out.push_str("    # client_id: ${AZURE_CLIENT_ID}\n"),
    }
    match plan.credential {
        Credential::Secret => out.push_str("    # client_secret: ${AZURE_CLIENT_SECRET}\n"),
        Credential::Certificate => {
            out.push_str("    # client_certificate_path: ${AZURE_CLIENT_CERTIFICATE_PATH}\n")
        }
    }
    let cloud = match plan.settings.cloud {
        Cloud::Public => None,
        Cloud::Usgov => Some("usgov"),
        Cloud::UsgovDod => Some("usgov-dod"),
        Cloud::China => Some("china"),
    };
    match cloud {
        Some(c) => {
            let _ = writeln!(
                out,
                "    cloud: {c}                  # public | usgov | usgov-dod | china"
            );
        }
        None => {
            out.push_str("    # cloud: public              # public | usgov | usgov-dod | china\n")
        }
    }
    out.push_str(
        "    # log_lookback_days: 7         # how far back the first sync reads sign-ins, audits, risk detections; 0 = all\n    \
         # concurrency: 50000           # CloudQuery's default; in-flight requests are capped at 256\n    \
         # max_retries: 8               # per request, for 429, 5xx and lost connections\n",
    );
    out.push_str("---\nkind: destination\nspec:\n");
    let _ = writeln!(out, "  name: {dest}");
    match plan.destination {
        Destination::Sqlite => {
            out.push_str(
                "  path: cloudquery/sqlite\n  registry: cloudquery\n  version: \"v2.4.0\"\n",
            );
            out.push_str(
                "  # write_mode: overwrite-delete-stale   # or overwrite, append\n  spec:\n",
            );
            out.push_str("    # The database file, created when missing.\n");
            let _ = writeln!(out, "    connection_string: {}", quoted(&plan.target));
        }
        Destination::Postgresql => {
            out.push_str(
                "  path: cloudquery/postgresql\n  registry: cloudquery\n  version: \"v8.6.0\"\n",
            );
            out.push_str(
                "  # write_mode: overwrite-delete-stale   # or overwrite, append\n  spec:\n",
            );
            out.push_str(
                "    # A URL (postgres://user:password@host:5432/db?sslmode=require) or key=value pairs;\n    \
                 # ${VAR} reads an environment variable, so the password need not be in this file.\n",
            );
            let _ = writeln!(out, "    connection_string: {}", quoted(&plan.target));
            out.push_str("    # batch_size: 10000\n    # batch_size_bytes: 100000000\n");
        }
        Destination::File => {
            out.push_str(
                "  path: cloudquery/file\n  registry: cloudquery\n  version: \"v5.0.0\"\n",
            );
            out.push_str(
                "  write_mode: append                 # files are only appended to\n  spec:\n",
            );
            out.push_str(
                "    # {{TABLE}} is the table name, {{UUID}} a new id per file, {{FORMAT}} the format.\n",
            );
            let _ = writeln!(out, "    path: {}", quoted(&plan.target));
            let _ = writeln!(
                out,
                "    format: {}             # parquet, json or csv",
                plan.format.name()
            );
            out.push_str("    # compression: gzip\n");
        }
    }
    out
}

/// Splits a comma-separated list into lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_inclusive(' ') {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.len() + word.trim_end().len() > width {
            let last = line.trim_end().to_string();
            *line = last;
            lines.push(word.to_string());
        } else {
            line.push_str(word);
        }
    }
    lines
}

/// What to do next: the permissions, licences, `az` commands and the admin-consent URL.
pub fn render_instructions(plan: &Plan) -> String {
    let mut out = String::new();
    let file = plan.output.display();
    let permissions = plan.permissions();
    let where_to = match plan.destination {
        Destination::Sqlite => format!("SQLite {}", plan.target),
        Destination::Postgresql => format!(
            "PostgreSQL {}",
            entrasync_sinks::postgres::sanitize_connection_string(&plan.target)
        ),
        Destination::File => format!("{} files {}", plan.format.name(), plan.target),
    };
    let _ = writeln!(
        out,
        "Wrote {file}: {} table(s) into {where_to}{}.",
        plan.selected.len(),
        if plan.incremental {
            ", incrementally"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "\nMicrosoft Graph application permissions these tables need (least privilege):"
    );
    for p in &permissions {
        let _ = writeln!(out, "  {p}");
    }
    let licences = plan.licences();
    if !licences.is_empty() {
        let _ = writeln!(
            out,
            "\nLicences some tables need (without one, the table is skipped with a warning):"
        );
        for (licence, names) in &licences {
            let _ = writeln!(out, "  {}: {}", licence.name(), names.join(", "));
        }
    }
    let login = plan.settings.cloud.login_url();
    let name = &plan.settings.app_name;
    let _ = writeln!(
        out,
        "\nCreate the app registration with the Azure CLI, signed in to the tenant as an administrator\n\
         who can grant admin consent (`az login --tenant <tenant-id> --allow-no-subscriptions`):\n"
    );
    match &plan.settings.client_id {
        Some(id) => {
            let _ = writeln!(out, "  app_id={id}");
        }
        None => {
            let _ = writeln!(
                out,
                "  app_id=$(az ad app create --display-name {} --sign-in-audience AzureADMyOrg --query appId -o tsv)\n  \
                 az ad sp create --id \"$app_id\"",
                shell_word(name)
            );
        }
    }
    let _ = writeln!(
        out,
        "  graph={GRAPH_APP_ID}\n  \
         for permission in {}; do\n    \
         role=$(az ad sp show --id \"$graph\" --query \"appRoles[?value=='$permission'].id\" -o tsv)\n    \
         az ad app permission add --id \"$app_id\" --api \"$graph\" --api-permissions \"$role=Role\"\n  \
         done\n  \
         az ad app permission admin-consent --id \"$app_id\"",
        permissions.join(" ")
    );
    match &plan.settings.tenant_id {
        Some(t) => {
            let _ = writeln!(
                out,
                "  export AZURE_TENANT_ID={t} AZURE_CLIENT_ID=\"$app_id\""
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  export AZURE_TENANT_ID=$(az account show --query tenantId -o tsv) AZURE_CLIENT_ID=\"$app_id\""
            );
        }
    }
    match plan.credential {
        Credential::Secret => {
            let _ = writeln!(
                out,
                "  export AZURE_CLIENT_SECRET=$(az ad app credential reset --id \"$app_id\" --append --display-name {} --years 1 --query password -o tsv)",
                shell_word(name)
            );
        }
        Credential::Certificate => {
            let _ = writeln!(
                out,
                "  export AZURE_CLIENT_CERTIFICATE_PATH=$(az ad app credential reset --id \"$app_id\" --append --create-cert --years 1 --query fileWithCertAndPrivateKey -o tsv)"
            );
        }
    }
    let tenant = plan.settings.tenant_id.as_deref().unwrap_or("<tenant-id>");
    let client = plan.settings.client_id.as_deref().unwrap_or("<app-id>");
    let _ = writeln!(
        out,
        "\nadmin-consent may need a minute after `az ad sp create` before it finds the service principal;\n\
         or grant consent in a browser, as a Global Administrator or Privileged Role Administrator\n\
         (<tenant-id> and <app-id> are AZURE_TENANT_ID and AZURE_CLIENT_ID above):\n\n  \
         {login}/{tenant}/adminconsent?client_id={client}"
    );
    let _ = writeln!(
        out,
        "\nThen, in the same shell:\n\n  \
         entrasync test-connection {file}   # says what is still missing\n  \
         entrasync sync {file}"
    );
    if plan.destination == Destination::Postgresql
        && plan.target.contains("${PG_CONNECTION_STRING}")
    {
        let _ = writeln!(
            out,
            "\nwith PG_CONNECTION_STRING set to the database, e.g.\n  \
             export PG_CONNECTION_STRING='postgres://user:password@host:5432/entraid?sslmode=require'"
        );
    }
    out
}

/// `word` as one shell word.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Asks for every answer not given, on `output`, reading lines from `input`; an empty line (or
/// the end of input) takes the default.
pub fn ask(
    mut answers: Answers,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> anyhow::Result<Answers> {
    writeln!(
        output,
        "entrasync init writes a config for your tenant and prints how to create its app registration.\n\
         Press Enter to take the default in brackets.\n"
    )?;
    if answers.destination.is_none() {
        let names: Vec<&str> = Destination::ALL.iter().map(|d| d.name()).collect();
        answers.destination = Some(ask_until(
            input,
            output,
            &format!("Destination ({})", names.join(", ")),
            "sqlite",
            |t| {
                Destination::parse(t)
                    .ok_or_else(|| format!("{t:?}: choose one of {}", names.join(", ")))
            },
        )?);
    }
    let destination = answers.destination.expect("set above");
    if destination == Destination::File && answers.format.is_none() {
        answers.format = Some(ask_until(
            input,
            output,
            "File format (parquet, json, csv)",
            "parquet",
            |t| FileFormat::parse(t).ok_or_else(|| format!("{t:?}: choose parquet, json or csv")),
        )?);
    }
    if answers.target.is_none() {
        let question = match destination {
            Destination::Sqlite => "SQLite database file",
            Destination::Postgresql => "PostgreSQL connection string (${VAR} reads a variable)",
            Destination::File => "File path template",
        };
        answers.target = Some(ask_until(
            input,
            output,
            question,
            destination.default_target(),
            |t| Ok(t.to_string()),
        )?);
    }
    if answers.tables.is_none() {
        writeln!(
            output,
            "Tables: names or globs separated by commas or spaces, e.g. entraid_users, entraid_group*\n\
             (`entrasync tables` lists all {}).",
            tables::all().len()
        )?;
        answers.tables = Some(ask_until(input, output, "Tables", "*", |t| {
            let patterns = split_list(t);
            select(&patterns).map_err(|e| e.to_string())?;
            Ok(patterns)
        })?);
    }
    if answers.incremental.is_none() && destination != Destination::File {
        answers.incremental = Some(ask_until(
            input,
            output,
            "Incremental sync: keep Graph delta links in the destination (y/n)",
            "n",
            |t| match t.to_ascii_lowercase().as_str() {
                "y" | "yes" => Ok(true),
                "n" | "no" => Ok(false),
                _ => Err(format!("{t:?}: answer y or n")),
            },
        )?);
    }
    if answers.credential.is_none() {
        answers.credential = Some(ask_until(
            input,
            output,
            "Credential of the app: secret or certificate",
            "secret",
            |t| Credential::parse(t).ok_or_else(|| format!("{t:?}: choose secret or certificate")),
        )?);
    }
    if answers.output.is_none() {
        answers.output = Some(ask_until(
            input,
            output,
            "Write the config to",
            "entrasync.yml",
            |t| Ok(PathBuf::from(t)),
        )?);
    }
    writeln!(output)?;
    Ok(answers)
}

/// Asks `question` until `parse` accepts the answer; the end of input takes the default.
fn ask_until<T>(
    input: &mut impl BufRead,
    output: &mut impl Write,
    question: &str,
    default: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<T> {
    let mut refused: Option<String> = None;
    loop {
        write!(output, "{question} [{default}]: ")?;
        output.flush()?;
        let mut line = String::new();
        let eof = input.read_line(&mut line)? == 0;
        if eof {
            writeln!(output)?;
            // Input that ended after a refused answer must not quietly become the default.
            if let Some(message) = refused {
                bail!("{question}: {message}");
            }
        }
        let answer = match line.trim() {
            "" => default,
            text => text,
        };
        match parse(answer) {
            Ok(value) => return Ok(value),
            Err(message) if eof => bail!("{question}: {message}"),
            Err(message) => {
                writeln!(output, "  {message}")?;
                refused = Some(message);
            }
        }
    }
}

/// `a, b c` → `[a, b, c]`.
pub fn split_list(text: &str) -> Vec<String> {
    text.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Writes the config (refusing to overwrite one unless `force`) and returns what to print.
pub fn write(plan: &Plan) -> anyhow::Result<String> {
    let path: &Path = &plan.output;
    if path.exists() && !plan.settings.force {
        bail!(
            "{} exists; choose another file with --output, or overwrite it with --force",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the directory {}", dir.display()))?;
    }
    std::fs::write(path, render_config(plan))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(render_instructions(plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(answers: Answers) -> Plan {
        Plan::new(answers, Settings::default()).unwrap()
    }

    #[test]
    fn least_privilege_prefers_what_is_needed_anyway() {
        // Sign-ins need Directory.Read.All besides AuditLog.Read.All, and Directory.Read.All
        // also reads users: User.Read.All would add nothing.
        let p = plan(Answers {
            tables: Some(vec![
                "entraid_users".into(),
                "entraid_auditlogs_signins".into(),
            ]),
            ..Answers::default()
        });
        assert_eq!(p.permissions(), ["AuditLog.Read.All", "Directory.Read.All"]);
        let p = plan(Answers {
            tables: Some(vec!["entraid_users".into()]),
            ..Answers::default()
        });
        assert_eq!(p.permissions(), ["User.Read.All"]);
    }

    #[test]
    fn every_table_alone_gets_exactly_its_least_privileged_permissions() {
        for table in tables::all() {
            let got = least_privilege([table]);
            let mut want: Vec<&str> = table.also_requires.to_vec();
            if let Some(first) = table.permissions.first()
                && !table.permissions.iter().any(|p| want.contains(p))
            {
                want.push(first);
            }
            want.sort_unstable();
            assert_eq!(got, want, "{}", table.name);
        }
    }

    #[test]
    fn bad_answers_are_refused_with_the_reason() {
        let err = Plan::new(
            Answers {
                tables: Some(vec!["entraid_nope".into()]),
                ..Answers::default()
            },
            Settings::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("entraid_nope") && err.contains("entrasync tables"),
            "{err}"
        );
        let err = Plan::new(
            Answers {
                destination: Some(Destination::File),
                incremental: Some(true),
                ..Answers::default()
            },
            Settings::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("sqlite or postgresql"), "{err}");
        let err = Plan::new(
            Answers::default(),
            Settings {
                tenant_id: Some("contoso.onmicrosoft.com\nx".into()),
                ..Settings::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("--tenant-id") && err.contains("GUID"), "{err}");
        let err = Plan::new(
            Answers::default(),
            Settings {
                client_id: Some("entrasync".into()),
                ..Settings::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("--client-id") && err.contains("GUID"), "{err}");
        let plan = Plan::new(
            Answers {
                destination: Some(Destination::Postgresql),
                target: Some("postgres://sync:Sup3rSecret@db.example:5432/entraid".into()),
                ..Answers::default()
            },
            Settings {
                tenant_id: Some("contoso.onmicrosoft.com".into()),
                ..Settings::default()
            },
        )
        .unwrap();
        let shown = render_instructions(&plan);
        assert!(!shown.contains("Sup3rSecret"), "{shown}");
        assert!(
            shown
                .contains("https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent"),
            "{shown}"
        );
    }

    #[test]
    fn prompts_take_defaults_and_ask_again_after_a_wrong_answer() {
        // Destination, connection string (default), tables (a wrong one first), incremental
        // (a wrong one first), then the input ends.
        let mut input =
            "postgres\n\nentraid_nope\nentraid_users, entraid_groups\nmaybe\ny\n".as_bytes();
        let mut shown = Vec::new();
        let answers = ask(Answers::default(), &mut input, &mut shown).unwrap();
        let shown = String::from_utf8(shown).unwrap();
        assert_eq!(answers.destination, Some(Destination::Postgresql));
        assert_eq!(answers.target.as_deref(), Some("${PG_CONNECTION_STRING}"));
        assert_eq!(
            answers.tables,
            Some(vec![
                "entraid_users".to_string(),
                "entraid_groups".to_string()
            ])
        );
        assert_eq!(answers.incremental, Some(true));
        // The input ended: the last questions took their defaults.
        assert_eq!(answers.credential, Some(Credential::Secret));
        assert_eq!(answers.output, Some(PathBuf::from("entrasync.yml")));
        assert!(
            shown.contains("\"entraid_nope\" matches no table"),
            "{shown}"
        );
        assert!(shown.contains("\"maybe\": answer y or n"), "{shown}");
        // A given flag is not asked for.
        let answers = ask(
            Answers {
                destination: Some(Destination::File),
                tables: Some(vec!["*".into()]),
                credential: Some(Credential::Certificate),
                output: Some("x.yml".into()),
                ..Answers::default()
            },
            &mut "csv\n\n".as_bytes(),
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(answers.format, Some(FileFormat::Csv));
        assert_eq!(
            answers.target.as_deref(),
            Some("./entraid/{{TABLE}}/{{UUID}}.{{FORMAT}}")
        );
        assert_eq!(answers.incremental, None);
    }

    #[test]
    fn a_wrong_last_answer_fails_instead_of_looping() {
        let err = ask(Answers::default(), &mut "mysql".as_bytes(), &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"mysql\": choose one of sqlite, postgresql, file"),
            "{err}"
        );
    }

    #[test]
    fn values_are_quoted_for_yaml_and_the_shell() {
        assert_eq!(quoted("a\"b: #c"), r#""a\"b: #c""#);
        assert_eq!(shell_word("entrasync"), "entrasync");
        assert_eq!(shell_word("it's $HOME"), r"'it'\''s $HOME'");
    }
}
