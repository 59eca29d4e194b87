//! Starts fake-graph tenants and writes configs that point entrasync at them.

use std::path::{Path, PathBuf};

pub struct Tenant {
    pub server: fake_graph::Server,
    pub http: reqwest::Client,
}

impl Tenant {
    pub async fn start(profile: fake_graph::Profile, seed: u64) -> Tenant {
        Self::start_with(fake_graph::Config::new(profile, seed)).await
    }

    pub async fn start_with(config: fake_graph::Config) -> Tenant {
        let server = fake_graph::start(config).await.expect("fake-graph starts");
        Tenant {
            server,
            http: reqwest::Client::new(),
        }
    }

    pub fn info(&self) -> &fake_graph::ServerInfo {
        &self.server.info
    }

    /// POSTs to fake-graph's admin API (`/_fake/...`) and returns the JSON answer.
    pub async fn admin(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let url = format!("{}/_fake/{path}", self.server.url());
        let response = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .expect("admin call");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "POST {url}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    pub async fn stats(&self) -> serde_json::Value {
        let url = format!("{}/_fake/stats", self.server.url());
        self.http
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Registers an app with only these application permissions; returns (client_id, secret).
    pub async fn app_with(&self, permissions: &[&str]) -> (String, String) {
        let v = self
            .admin("apps", serde_json::json!({ "permissions": permissions }))
            .await;
        (
            v["client_id"].as_str().unwrap().to_string(),
            v["client_secret"].as_str().unwrap().to_string(),
        )
    }

    /// A source + SQLite destination config for this tenant.
    pub fn sqlite_config(&self, db: &Path, tables: &str, extra_spec: &str) -> String {
        let info = self.info();
        self.config_with_credentials(
            db,
            tables,
            &format!(
                "    client_id: {}\n    client_secret: {}\n{extra_spec}",
                info.client_id, info.client_secret
            ),
        )
    }

    pub fn config_with_credentials(&self, db: &Path, tables: &str, credentials: &str) -> String {
        let info = self.info();
        format!(
            r#"kind: source
spec:
  name: entraid
  path: cloudquery/entraid
  registry: cloudquery
  version: "v1.4.1"
  tables: {tables}
  destinations: ["sqlite"]
  spec:
    tenant_id: {tenant}
    graph_url: {graph}
    login_url: {login}
    max_retries: 4
{credentials}
---
kind: destination
spec:
  name: sqlite
  path: cloudquery/sqlite
  registry: cloudquery
  version: "v2.4.0"
  spec:
    connection_string: {db}
"#,
            tenant = info.tenant_id,
            graph = info.graph_url,
            login = info.login_url,
            db = db.display(),
        )
    }
}

/// Writes a config file into `dir` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.yml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs a sync in-process through the library, as `entrasync sync` does.
pub async fn sync(config: &Path) -> entrasync::SyncResult {
    let config = entrasync::config::load(&[config.to_path_buf()]).expect("config loads");
    entrasync::run_sync(&config, false)
        .await
        .expect("sync runs")
}

/// The columns of `table`'s row in the summary `entrasync sync` prints (name, rows, requests,
/// retries, time, status); panics, showing the output, when the table is not in it.
pub fn summary_row(stderr: &str, table: &str) -> Vec<String> {
    stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some(table))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .unwrap_or_else(|| panic!("{table} not in the summary:\n{stderr}"))
}

/// Runs the real `entrasync` binary; returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_entrasync"));
    cmd.args(args);
    for var in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("entrasync runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A read-only view of the SQLite database a sync wrote.
pub struct Db(rusqlite::Connection);

impl Db {
    pub fn open(path: &Path) -> Db {
        Db(rusqlite::Connection::open(path).unwrap())
    }

    pub fn count(&self, table: &str) -> i64 {
        self.0
            .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                r.get(0)
            })
            .unwrap_or_else(|e| panic!("count {table}: {e}"))
    }

    /// Rows of `table` matching a WHERE clause.
    pub fn count_where(&self, table: &str, clause: &str) -> i64 {
        self.0
            .query_row(
                &format!("SELECT count(*) FROM (SELECT 1 FROM \"{table}\" WHERE {clause})"),
                [],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("count {table} where {clause}: {e}"))
    }

    pub fn tables(&self) -> Vec<String> {
        let mut stmt = self
            .0
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    pub fn columns(&self, table: &str) -> Vec<String> {
        let mut stmt = self
            .0
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Columns of `table` that are NULL in every row.
    pub fn all_null_columns(&self, table: &str) -> Vec<String> {
        self.columns(table)
            .into_iter()
            .filter(|c| {
                let n: i64 = self
                    .0
                    .query_row(
                        &format!("SELECT count(*) FROM \"{table}\" WHERE \"{c}\" IS NOT NULL"),
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                n == 0
            })
            .collect()
    }

    pub fn strings(&self, sql: &str) -> Vec<String> {
        let mut stmt = self.0.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}
