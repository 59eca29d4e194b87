//! `entrasync doc` and `entrasync package`: the documentation and the package layout of a
//! CloudQuery plugin (reference §4.3), and the JSON Schema of the source spec.

use crate::tables::{self, Table};
use anyhow::Context;
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The JSON Schema (draft 2020-12) of the entraid source spec.
pub fn source_spec_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/entrasync/entrasync/source-spec",
        "title": "entraid source spec (entrasync)",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "concurrency": {"type": "integer", "minimum": 1, "default": 50000,
                "description": "Best-effort maximum number of Graph requests in flight."},
            "tenant_id": {"type": "string", "description": "Entra tenant id; default: $AZURE_TENANT_ID."},
            "client_id": {"type": "string", "description": "Application (client) id; default: $AZURE_CLIENT_ID."},
            "client_secret": {"type": "string", "description": "Client secret; default: $AZURE_CLIENT_SECRET."},
            "client_certificate_path": {"type": "string",
                "description": "PEM file with the certificate and private key, or a PKCS#12/PFX file; default: $AZURE_CLIENT_CERTIFICATE_PATH."},
            "client_certificate_password": {"type": "string",
                "description": "Password of a PKCS#12/PFX certificate file (none: the empty password); default: $AZURE_CLIENT_CERTIFICATE_PASSWORD."},
            "send_certificate_chain": {"type": "boolean", "default": false,
                "description": "Send the certificate chain (x5c) for subject-name/issuer authentication; default: $AZURE_CLIENT_SEND_CERTIFICATE_CHAIN."},
            "auth": {"type": "string",
                "enum": ["client_secret", "client_certificate", "workload_identity", "managed_identity", "azure_cli", "access_token"],
                "description": "The credential to use; when absent, inferred in DefaultAzureCredential's order (see the README)."},
            "federated_token_file": {"type": "string",
                "description": "Workload identity: file holding the federated token, re-read on every token request; default: $AZURE_FEDERATED_TOKEN_FILE."},
            "access_token": {"type": "string", "description": "A Graph access token to use as is (it is not refreshed)."},
            "access_token_file": {"type": "string", "description": "A file holding a Graph access token, re-read whenever a new token is needed."},
            "cloud": {"type": "string", "enum": ["public", "usgov", "usgov-dod", "china"], "default": "public"},
            "graph_url": {"type": "string", "format": "uri", "description": "Microsoft Graph base URL (https, or http to loopback only)."},
            "login_url": {"type": "string", "format": "uri", "description": "Login (token) base URL."},
            "max_retries": {"type": "integer", "minimum": 0, "maximum": 100, "default": 8},
            "max_retry_after": {"type": "integer", "minimum": 1, "maximum": 3600, "default": 300,
                "description": "Longest wait (seconds) a Retry-After may impose; a longer one counts as this."},
            "log_lookback_days": {"type": "integer", "minimum": 0, "maximum": 3650, "default": 7,
                "description": "How many days of sign-ins, audits and risk detections the first sync reads; 0 = all."},
            "log_overlap": {"type": ["string", "integer"], "default": "2h",
                "description": "How far before the newest entry seen log cursors and the audit change feed restart (90s, 30m, 2h, 1d)."},
            "child_refresh_interval": {"type": ["string", "integer"], "default": "24h",
                "description": "Every child table is re-read whole at least this often, spread across syncs (30m, 24h, 7d)."},
            "max_pages": {"type": "integer", "minimum": 10, "default": 1000000,
                "description": "Pages one listing may have before it is stopped as endless."},
            "simulator": {"type": "object", "additionalProperties": false,
                "description": "Sync a built-in simulated tenant (fake-graph) instead of a real one.",
                "properties": {
                    "profile": {"type": "string", "enum": ["tiny", "small", "large"], "default": "small"},
                    "seed": {"type": "integer", "minimum": 0, "default": 1}
                }}
        }
    })
}

/// The JSON Schema of one document of an entrasync config file (`entrasync schema`): a
/// `kind: source` document whose plugin spec is [`source_spec_schema`], or a `kind: destination`
/// document for SQLite, PostgreSQL or files with that plugin's spec. Editors apply it to each
/// `---` document of the YAML.
pub fn config_schema() -> Value {
    let batch = json!({"type": ["integer", "string"],
        "description": "Rows (batch_size) or bytes (batch_size_bytes, e.g. 4MB) per write."});
    let common = json!({
        "batch_size": batch, "batch_size_bytes": batch,
        "batch_timeout": {"description": "Accepted for CloudQuery; entrasync writes each batch when full."},
    });
    let with_common = |own: Value| {
        let mut props = common.clone();
        props
            .as_object_mut()
            .unwrap()
            .extend(own.as_object().unwrap().clone());
        props
    };
    let sql_spec = |extra: Value| {
        json!({"type": "object", "additionalProperties": false, "required": ["connection_string"],
            "properties": with_common(extra)})
    };
    let indexes = json!({"type": "boolean", "default": false,
        "description": "Index (_cq_source_name, _cq_sync_time) for delete-stale."});
    let destination_for = |path: &str, spec: Value| {
        json!({"if": {"properties": {"spec": {"properties": {"path": {"const": path}}}}},
            "then": {"properties": {"spec": {"properties": {"spec": spec}}}}})
    };
    let name = json!({"type": "string", "minLength": 1});
    let registry = json!({"type": "string", "default": "cloudquery"});
    let mut source_spec = source_spec_schema();
    source_spec.as_object_mut().unwrap().remove("$schema");
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/entrasync/entrasync/config",
        "title": "entrasync config document (CloudQuery-style YAML)",
        "oneOf": [
            {"type": "object", "additionalProperties": false, "required": ["kind", "spec"],
             "properties": {
                "kind": {"const": "source"},
                "spec": {"type": "object", "additionalProperties": false,
                    "required": ["name", "path", "tables", "destinations"],
                    "properties": {
                        "name": name, "path": {"const": "cloudquery/entraid"}, "registry": registry,
                        "version": {"type": "string"},
                        "tables": {"type": "array", "items": {"type": "string"},
                            "description": "Table names or globs (`entrasync tables` lists them)."},
                        "skip_tables": {"type": "array", "items": {"type": "string"}},
                        "skip_dependent_tables": {"type": "boolean", "default": true},
                        "destinations": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        "backend_options": {"type": "object", "additionalProperties": false,
                            "required": ["table_name", "connection"],
                            "properties": {"table_name": {"type": "string"}, "connection": {"type": "string"}}},
                        "deterministic_cq_id": {"type": "boolean", "default": false},
                        "otel_endpoint": {"type": "string"},
                        "otel_endpoint_insecure": {"type": "boolean"},
                        "spec": source_spec,
                    }}}},
            {"type": "object", "additionalProperties": false, "required": ["kind", "spec"],
             "properties": {
                "kind": {"const": "destination"},
                "spec": {"type": "object", "additionalProperties": false, "required": ["name", "path"],
                    "properties": {
                        "name": name,
                        "path": {"enum": ["cloudquery/sqlite", "cloudquery/postgresql", "cloudquery/file"]},
                        "registry": registry, "version": {"type": "string"},
                        "write_mode": {"enum": ["overwrite-delete-stale", "overwrite", "append"],
                            "default": "overwrite-delete-stale"},
                        "migrate_mode": {"enum": ["safe", "forced"], "default": "safe"},
                        "pk_mode": {"type": "string"},
                        "batch_size": batch, "batch_size_bytes": batch,
                        "sync_group_id": {"type": "string"},
                        "send_sync_summary": {"type": "boolean"},
                        "spec": {"type": "object"},
                    }}},
             "allOf": [
                destination_for("cloudquery/sqlite", sql_spec(json!({
                    "connection_string": {"type": "string", "minLength": 1, "description": "The SQLite file."},
                    "create_performance_indexes": indexes}))),
                destination_for("cloudquery/postgresql", sql_spec(json!({
                    "connection_string": {"type": "string", "minLength": 1,
                        "description": "postgres:// URL or key=value string; sslmode as libpq's."},
                    "pgx_log_level": {"type": "string"},
                    "create_performance_indexes": indexes}))),
                destination_for("cloudquery/file", json!({
                    "type": "object", "additionalProperties": false, "required": ["path", "format"],
                    "properties": with_common(json!({
                        "path": {"type": "string", "minLength": 1,
                            "description": "Path template with {{TABLE}}, {{UUID}}, {{FORMAT}} ..."},
                        "format": {"enum": ["parquet", "json", "csv"]},
                        "format_spec": {"type": "object"},
                        "compression": {"enum": ["", "none", "gzip"]},
                        "no_rotate": {"type": "boolean"}}))})),
             ]},
        ]
    })
}

/// `doc <dir>`: `<dir>/__tables.json`, the tables with their children nested under `relations`.
pub fn write_doc(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("__tables.json");
    let doc = tables::docs::json(&tables::all());
    std::fs::write(&path, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The flattened `tables.json` of a package, as the SDK's `package` writes it.
pub fn package_tables() -> Value {
    let all = tables::all();
    let table = |t: &Table| {
        let columns: Vec<Value> = t
            .columns()
            .into_iter()
            .map(|c| {
                let mut col = json!({"name": c.name, "description": "", "type": c.kind.display()});
                let flags = [
                    ("primary_key", c.primary_key),
                    ("not_null", c.not_null || c.primary_key),
                    ("unique", c.name == "_cq_id"),
                ];
                for (key, on) in flags {
                    if on {
                        col[key] = Value::Bool(true);
                    }
                }
                col
            })
            .collect();
        let relations: Vec<&str> = all
            .iter()
            .filter(|c| c.parent() == Some(t.name))
            .map(|c| c.name)
            .collect();
        let mut v = json!({
            "name": t.name,
            "title": t.title,
            "description": t.description,
            "relations": relations,
            "columns": columns,
            "permissions_needed": t.permissions,
            "sensitive_columns": [],
        });
        if t.incremental != tables::Incremental::None {
            v["is_incremental"] = Value::Bool(true);
        }
        if let Some(parent) = t.parent() {
            v["parent"] = Value::String(parent.into());
        }
        v
    };
    Value::Array(all.iter().map(|t| table(t)).collect())
}

pub struct PackageOptions {
    pub message: String,
    pub version: String,
    pub plugin_directory: PathBuf,
    pub dist_dir: PathBuf,
    pub docs_dir: Option<PathBuf>,
    pub team: String,
    /// The binary to package; default: the running entrasync.
    pub binary: Option<PathBuf>,
}

/// `package`: `dist/` with `tables.json`, `spec_json_schema.json`, `package.json`, `docs/` and
/// the zipped binary of this machine's target (the one running), with its sha256 checksum.
pub fn write_package(options: &PackageOptions) -> anyhow::Result<Vec<PathBuf>> {
    let dist = &options.dist_dir;
    std::fs::create_dir_all(dist).with_context(|| format!("cannot create {}", dist.display()))?;
    let message = match options.message.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the message file {file}"))?
            .trim()
            .to_string(),
        None => options.message.clone(),
    };
    let mut written = Vec::new();
    let mut put = |name: &str, value: &Value| -> anyhow::Result<()> {
        let path = dist.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(value)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
        Ok(())
    };
    put("tables.json", &package_tables())?;
    put("spec_json_schema.json", &source_spec_schema())?;

    let docs_dir = options
        .docs_dir
        .clone()
        .unwrap_or_else(|| options.plugin_directory.join("docs"));
    if docs_dir.is_dir() {
        let out = dist.join("docs");
        std::fs::create_dir_all(&out)?;
        for entry in std::fs::read_dir(&docs_dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "md") {
                std::fs::copy(&path, out.join(path.file_name().expect("a file")))?;
            }
        }
    }

    let (os, arch) = (go_os(), go_arch());
    let zip_name = format!(
        "plugin-{}-{}-{os}-{arch}.zip",
        super::server::NAME,
        options.version
    );
    let binary = match &options.binary {
        Some(path) => path.clone(),
        None => std::env::current_exe().context("cannot find the entrasync binary")?,
    };
    let bytes =
        std::fs::read(&binary).with_context(|| format!("cannot read {}", binary.display()))?;
    let zip = zip_one("plugin", &bytes, 0o755)?;
    let zip_path = dist.join(&zip_name);
    std::fs::write(&zip_path, &zip)?;
    let checksum = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(&zip);
        format!(
            "sha256:{}",
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    };
    put(
        "package.json",
        &json!({
            "schema_version": 1,
            "team": options.team,
            "kind": "source",
            "name": super::server::NAME,
            "message": message,
            "version": options.version,
            "protocols": [3],
            "supported_targets": [{"os": os, "arch": arch, "path": zip_name, "checksum": checksum}],
            "package_type": "native",
        }),
    )?;
    written.push(zip_path);
    Ok(written)
}

fn go_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A zip archive with one deflated file (enough for a plugin package; no zip crate needed).
fn zip_one(name: &str, data: &[u8], mode: u32) -> anyhow::Result<Vec<u8>> {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    let crc = crc.sum();
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data)?;
    let compressed = encoder.finish()?;
    let size32 = |n: usize| u32::try_from(n).context("the binary is too large for a zip32 archive");
    let (csize, usize_) = (size32(compressed.len())?, size32(data.len())?);
    let name = name.as_bytes();
    let mut out = Vec::with_capacity(compressed.len() + 128);
    // Local file header.
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes()); // version needed
    out.extend_from_slice(&0u16.to_le_bytes()); // flags
    out.extend_from_slice(&8u16.to_le_bytes()); // deflate
    out.extend_from_slice(&0u16.to_le_bytes()); // time
    out.extend_from_slice(&0x21u16.to_le_bytes()); // date 1980-01-01
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&csize.to_le_bytes());
    out.extend_from_slice(&usize_.to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&compressed);
    let central_at = size32(out.len())?;
    // Central directory entry; "made by" Unix so the executable bit survives.
    let mut central = Vec::new();
    central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes());
    central.extend_from_slice(&20u16.to_le_bytes());
    central.extend_from_slice(&0u16.to_le_bytes());
    central.extend_from_slice(&8u16.to_le_bytes());
    central.extend_from_slice(&0u16.to_le_bytes());
    central.extend_from_slice(&0x21u16.to_le_bytes());
    central.extend_from_slice(&crc.to_le_bytes());
    central.extend_from_slice(&csize.to_le_bytes());
    central.extend_from_slice(&usize_.to_le_bytes());
    central.extend_from_slice(&(name.len() as u16).to_le_bytes());
    central.extend_from_slice(&0u16.to_le_bytes()); // extra
    central.extend_from_slice(&0u16.to_le_bytes()); // comment
    central.extend_from_slice(&0u16.to_le_bytes()); // disk
    central.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
    central.extend_from_slice(&((0o100000 | mode) << 16).to_le_bytes());
    central.extend_from_slice(&0u32.to_le_bytes()); // offset of the local header
    central.extend_from_slice(name);
    let central_len = size32(central.len())?;
    out.extend_from_slice(&central);
    // End of central directory.
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&central_len.to_le_bytes());
    out.extend_from_slice(&central_at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_tables_are_flat_with_parents_and_relations() {
        let doc = package_tables();
        let tables = doc.as_array().unwrap();
        assert_eq!(tables.len(), tables::all().len());
        let members = tables
            .iter()
            .find(|t| t["name"] == "entraid_group_members")
            .unwrap();
        assert_eq!(members["parent"], "entraid_groups");
        let groups = tables
            .iter()
            .find(|t| t["name"] == "entraid_groups")
            .unwrap();
        assert!(
            groups["relations"]
                .as_array()
                .unwrap()
                .contains(&json!("entraid_group_members"))
        );
    }

    #[test]
    fn zip_is_readable_by_python() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        std::fs::write(
            &path,
            zip_one("plugin", b"hello hello hello", 0o755).unwrap(),
        )
        .unwrap();
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys,zipfile;z=zipfile.ZipFile(sys.argv[1]);print(z.read('plugin').decode(), oct(z.getinfo('plugin').external_attr>>16))"])
            .arg(&path)
            .output();
        if let Ok(out) = out
            && out.status.success()
        {
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "hello hello hello 0o100755"
            );
        }
    }
}
