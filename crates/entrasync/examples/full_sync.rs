//! What a first sync costs (issue 11), against fake-graph with latency and Graph's published
//! throttling on: all tables except the log and report families, without state (a full sync, as
//! CloudQuery runs a source without `backend_options`), or with `--with-state` state in the
//! destination (the first sync of an incremental setup: parents read by delta queries).
//! For each scenario it prints one JSON line: wall time, Graph requests, resource units, 429s,
//! entrasync's peak RSS and CPU (from the OS: entrasync runs as its own process), fake-graph's
//! CPU, and the ratio of the wall time to a least-time model. With `--signins`, a last scenario
//! syncs one day of sign-ins and prints the fraction of the log budget it used.
//!
//! The model is the least time any client could take for the same tenant, computed from the
//! tenant's counts and fake-graph's published limits, not from what entrasync requested:
//! - the request plan: every top-level table in pages of its largest `$top` (one page when the
//!   endpoint does not page); group members and owners carried by `/groups/delta`
//!   (`members@delta`, `owners@delta`) in fake-graph's delta page sizes; every other
//!   relationship read once per parent (plus a page per 999 children beyond the first);
//! - resource units at Graph's documented costs with `$select` (−1), at least 1;
//! - each throttling family paced at its budget (identity 8,000 RU per 10 s, identity
//!   protection and conditional access 1 request per s, Intune 2,000 requests per 20 s), and
//!   each table's chain of pages taking one round trip (the configured latency) per page;
//! - the model's time is the largest of the families' times and the longest chain.
//!
//! `cargo build --release -p entrasync && cargo run --release -p entrasync --example full_sync
//! [-- --profiles small,large --backends sqlite,postgres,parquet,cli --cloudquery PATH
//! --latency-ms 100 --with-state --signins
//! --wrap "heaptrack -o FILE" --tables entraid_groups,entraid_group_members
//! --log-level info,entrasync::sync=debug --stderr FILE]`;
//! PostgreSQL from `ENTRASYNC_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`; a
//! database is created per scenario and dropped).

use entrasync::graph::Scope;
use entrasync::tables::{self, Source, Table};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod bench_support;
use bench_support::{arg, database, graph_traffic};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary = entrasync_binary()?;
    let latency = Duration::from_millis(arg("--latency-ms", "100").parse()?);
    for profile in arg("--profiles", "small").split(',') {
        for backend in arg("--backends", "sqlite,postgres").split(',') {
            scenario(&binary, profile, backend, latency, false).await?;
        }
    }
    if std::env::args().any(|a| a == "--signins") {
        let profile = arg("--profiles", "small");
        let largest = profile
            .split(',')
            .next_back()
            .unwrap_or("small")
            .to_string();
        scenario(&binary, &largest, "sqlite", latency, true).await?;
    }
    Ok(())
}

/// The release binary next to this example (`target/release/examples/..` → `target/release`).
fn entrasync_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow::anyhow!("cannot locate the target directory"))?;
    let binary = dir.join("entrasync");
    anyhow::ensure!(
        binary.exists(),
        "{} does not exist: build it first with `cargo build --release -p entrasync`",
        binary.display()
    );
    Ok(binary)
}

/// User plus system CPU seconds of a process, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

/// The child processes of a live process (started by any of its threads).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Peak resident set of a live process in MB (`VmHWM`).
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// The tables a scenario syncs: every table but the log and report family's (or those named by
/// `--tables a,b`, to study a part of the plan), or only the sign-ins.
fn scenario_tables(signins: bool) -> Vec<&'static Table> {
    let only = arg("--tables", "");
    tables::all()
        .into_iter()
        .filter(|t| {
            let scope = t.endpoint().map(|e| Scope::of(&e));
            match signins {
                true => t.name == "entraid_auditlogs_signins",
                false if !only.is_empty() => only.split(',').any(|n| n == t.name),
                false => scope != Some(Scope::Reports),
            }
        })
        .collect()
}

async fn scenario(
    binary: &Path,
    profile: &str,
    backend: &str,
    latency: Duration,
    signins: bool,
) -> anyhow::Result<()> {
    let mut config = fake_graph::Config::new(
        match profile {
            "large" => fake_graph::Profile::Large,
            "tiny" => fake_graph::Profile::Tiny,
            _ => fake_graph::Profile::Small,
        },
        11,
    );
    config.throttling = true;
    config.latency = fake_graph::Latency {
        base: latency,
        per_item: Duration::ZERO,
        jitter: 0.2,
    };
    let server = fake_graph::start(config).await?;
    let info = server.info.clone();
    let selected = scenario_tables(signins);
    let model = least_time(&server, &selected, latency);
    let dir = tempfile::tempdir()?;
    let db = database(backend, dir.path()).await?;
    // `cli`: the CloudQuery CLI (`--cloudquery PATH`) runs entrasync twice as local plugins,
    // the entraid source and a SQLite destination.
    let cli = backend == "cli";
    let bin = binary.display().to_string();
    let (path, name) = match backend {
        "sqlite" => ("cloudquery/sqlite", "sqlite"),
        "cli" => (bin.as_str(), "sqlite"),
        "parquet" | "json" | "csv" => ("cloudquery/file", "file"),
        _ => ("cloudquery/postgresql", "postgresql"),
    };
    // Files (`--backends parquet,json,csv`) go to the scenario's temporary directory.
    let destination = match name {
        "file" => format!(
            "path: \"{}\"\n    format: {backend}\n",
            dir.path().join("out").display()
        ),
        _ => format!("connection_string: \"{}\"\n", db.connection),
    };
    let names: Vec<String> = selected.iter().map(|t| format!("\"{}\"", t.name)).collect();
    let with_state = std::env::args().any(|a| a == "--with-state");
    let backend_options = match with_state {
        true => format!(
            "  backend_options:\n    table_name: cq_state_entraid\n    \
             connection: \"@@plugins.{name}.connection\"\n"
        ),
        false => String::new(),
    };
    let (source_path, registry) = match cli {
        true => (bin.as_str(), "  registry: local\n"),
        false => ("cloudquery/entraid", ""),
    };
    let config_path = dir.path().join("bench.yml");
    std::fs::write(
        &config_path,
        format!(
            "kind: source\nspec:\n  name: entraid\n  path: {source_path}\n{registry}  tables: [{}]\n  \
             destinations: [{name}]\n{backend_options}  spec:\n    tenant_id: {}\n    \
             client_id: {}\n    client_secret: {}\n    graph_url: {}\n    login_url: {}\n    \
             log_lookback_days: 1\n---\n\
             kind: destination\nspec:\n  name: {name}\n  path: {path}\n{registry}  spec:\n    \
             {destination}",
            names.join(", "),
            info.tenant_id,
            info.client_id,
            info.client_secret,
            info.graph_url,
            info.login_url,
        ),
    )?;
    let http = reqwest::Client::new();
    let url = server.url();
    let before = graph_traffic(&http, &url).await?;
    let me = std::process::id().to_string();
    let simulator_cpu = cpu_seconds(&me);
    let started = Instant::now();
    // `--wrap "heaptrack -o /tmp/h"` runs entrasync under a profiler (the RSS and CPU printed
    // are then the wrapper's).
    let wrap = arg("--wrap", "");
    let mut words = wrap.split_whitespace();
    let mut command = match words.next() {
        Some(wrapper) => {
            let mut c = tokio::process::Command::new(wrapper);
            c.args(words).arg(binary);
            c
        }
        None if cli => tokio::process::Command::new(arg("--cloudquery", "cloudquery")),
        None => tokio::process::Command::new(binary),
    };
    match cli {
        true => command
            .arg("sync")
            .arg(&config_path)
            .args(["--telemetry-level", "none", "--cq-dir"])
            .arg(dir.path().join(".cq"))
            .arg("--log-file-name")
            .arg(dir.path().join("cq.log")),
        false => command
            .args(["sync", "--no-progress"])
            .arg(&config_path)
            .args(["--log-level", &arg("--log-level", "error")]),
    };
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id().expect("just spawned");
    let stderr = child.stderr.take().expect("piped");
    let stderr = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut text = String::new();
        let mut stderr = stderr;
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    // The peak and CPU are read while the process lives; the last reading is at most 50 ms old.
    // Under the CLI: the peak and CPU of each plugin process (the CLI's children), by pid.
    let (mut peak, mut cpu) = (0.0f64, 0.0f64);
    let mut plugins: std::collections::BTreeMap<u32, (f64, f64)> = Default::default();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        peak = peak.max(peak_rss_mb(pid).unwrap_or(0.0));
        cpu = cpu.max(cpu_seconds(&pid.to_string()));
        for plugin in children_of(pid) {
            let seen = plugins.entry(plugin).or_default();
            seen.0 = seen.0.max(peak_rss_mb(plugin).unwrap_or(0.0));
            seen.1 = seen.1.max(cpu_seconds(&plugin.to_string()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let wall = started.elapsed().as_secs_f64();
    let simulator_cpu = cpu_seconds(&me) - simulator_cpu;
    let after = graph_traffic(&http, &url).await?;
    let stderr = stderr.await?;
    let (requests, units, throttled) = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    let mut line = json!({
        "profile": profile,
        "backend": backend,
        "state": with_state,
        "latency_ms": latency.as_millis() as u64,
        "tables": selected.len(),
        "exit_code": status.code(),
        "wall_s": round(wall),
        "requests": requests,
        "resource_units": units,
        "throttled_429": throttled,
        "throttled_percent": round(throttled as f64 * 100.0 / requests.max(1) as f64),
        "peak_rss_mb": round(peak),
        "entrasync_cpu_s": round(cpu),
        "fake_graph_cpu_s": round(simulator_cpu),
        "model": model.json(),
        "wall_over_model": round(wall / model.seconds()),
    });
    if cli {
        // The plugins in the order they started: the CLI starts the source first.
        let peaks: Vec<f64> = plugins.values().map(|p| round(p.0)).collect();
        let cpus: Vec<f64> = plugins.values().map(|p| round(p.1)).collect();
        line["plugins_peak_rss_mb"] = json!(peaks);
        line["plugins_cpu_s"] = json!(cpus);
    }
    if signins {
        // Reports: 5 requests per 10 s. The fraction of what that budget allowed while the sync
        // ran (a window that began is a window's worth of requests).
        let budget = 5.0 * (wall / 10.0).ceil();
        line["log_budget_fraction"] = json!(round(requests as f64 / budget.max(5.0)));
    }
    println!("{line}");
    if status.code() != Some(0) {
        eprintln!("{stderr}");
    }
    // `--stderr FILE`: entrasync's log (with `--log-level info,entrasync::sync=debug`, a line
    // a delta page).
    let keep = arg("--stderr", "");
    if !keep.is_empty() {
        std::fs::write(&keep, &stderr)?;
    }
    server.shutdown().await;
    db.remove().await
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The least-time model's plan: requests and units per throttling family, and the longest chain.
#[derive(Default, Debug)]
struct Model {
    identity_units: f64,
    identity_requests: f64,
    protection_requests: f64,
    intune_requests: f64,
    report_requests: f64,
    longest_chain: (f64, &'static str),
    latency: f64,
}

impl Model {
    fn family_seconds(&self) -> [(&'static str, f64); 4] {
        [
            ("identity", self.identity_units / 800.0),
            ("protection", self.protection_requests),
            ("intune", self.intune_requests / 100.0),
            ("reports", self.report_requests / 0.5),
        ]
    }

    fn seconds(&self) -> f64 {
        self.family_seconds()
            .iter()
            .map(|(_, s)| *s)
            .fold(self.longest_chain.0 * self.latency, f64::max)
            .max(self.latency)
    }

    fn json(&self) -> Value {
        let families: serde_json::Map<String, Value> = self
            .family_seconds()
            .iter()
            .map(|(name, s)| (format!("{name}_s"), json!(round(*s))))
            .collect();
        json!({
            "seconds": round(self.seconds()),
            "identity_requests": self.identity_requests,
            "identity_units": self.identity_units,
            "families": families,
            "longest_chain": {"table": self.longest_chain.1, "pages": self.longest_chain.0,
                              "seconds": round(self.longest_chain.0 * self.latency)},
        })
    }

    fn add(&mut self, scope: Scope, requests: f64, units: f64) {
        match scope {
            Scope::Identity => {
                self.identity_requests += requests;
                self.identity_units += units;
            }
            Scope::IdentityProtection => self.protection_requests += requests,
            Scope::Intune => self.intune_requests += requests,
            Scope::Reports => self.report_requests += requests,
        }
    }
}

/// Pages of `n` objects at `max` per page (one page when the endpoint does not page).
fn pages(n: usize, max: usize) -> f64 {
    if max == 0 {
        1.0
    } else {
        n.div_ceil(max).max(1) as f64
    }
}

/// The least-time model of syncing `selected` from this server's tenant (see the module docs).
fn least_time(
    server: &fake_graph::Server,
    selected: &[&'static Table],
    latency: Duration,
) -> Model {
    use fake_graph::routes::{self, Kind};
    use fake_graph::tenant::logs::LogKind;
    let tenant = server.state.tenant.read().expect("not poisoned");
    let config = &server.state.config;
    let mut model = Model {
        latency: latency.as_secs_f64(),
        ..Model::default()
    };
    let names: Vec<&str> = selected.iter().map(|t| t.name).collect();
    let route_of = |table: &Table| {
        let endpoint = table.endpoint()?;
        let path = endpoint.split('?').next().unwrap_or(&endpoint).to_string();
        let segments: Vec<&str> = path.trim_matches('/').split('/').skip(1).collect();
        routes::find(&segments).map(|(route, _)| route)
    };
    for table in selected {
        let Some(route) = route_of(table) else {
            continue;
        };
        let scope = Scope::of(&table.endpoint().unwrap_or_default());
        let cost = |route: &routes::Route| route.cost.saturating_sub(1).max(1) as f64;
        match table.source {
            Source::Child { parent, .. } => {
                // Carried by the parent's delta pages (group members and owners).
                if table.parent_delta.is_some() && names.contains(&parent) {
                    continue;
                }
                let Some(parent_table) = selected.iter().find(|t| t.name == parent) else {
                    continue;
                };
                let Some(parent_route) = route_of(parent_table) else {
                    continue;
                };
                let collection = match parent_route.kind {
                    Kind::List(c) => c,
                    _ => continue,
                };
                let parents = tenant.coll(collection).items.values().filter(|p| {
                    let parent = Value::Object(p.data.clone());
                    table.parent_condition.is_none_or(|c| c.holds(&parent))
                });
                let mut requests = 0.0;
                for p in parents {
                    let children = match route.kind {
                        Kind::Rel(_, rel) => p.rels.get(rel).map_or(0, Vec::len),
                        Kind::Child(child, false) => {
                            tenant.coll(child).by_parent.get(&p.id).map_or(0, Vec::len)
                        }
                        _ => 0,
                    };
                    requests += pages(children, 999);
                }
                model.add(scope, requests, requests * cost(route));
            }
            Source::List { .. } | Source::Singleton { .. } => {
                let n = match route.kind {
                    Kind::List(c) | Kind::Delta(c) | Kind::PimGroup(c) => {
                        tenant.coll(c).items.len()
                    }
                    // The entries of the scenario's window (`log_lookback_days: 1`).
                    Kind::Log(kind) => {
                        let store = match kind {
                            LogKind::SignIn => &tenant.signins,
                            _ => &tenant.audits,
                        };
                        let since = chrono::Utc::now().timestamp_millis() - 86_400_000;
                        let (lo, hi) = store.range(Some((since, true)), None);
                        (hi - lo) as usize
                    }
                    _ => 1,
                };
                let carries = table.name == "entraid_groups"
                    && names.iter().any(|n| {
                        tables::all()
                            .iter()
                            .any(|t| t.name == *n && t.parent_delta.is_some())
                    });
                let chain = if carries {
                    group_delta_pages(&tenant, config)
                } else {
                    pages(n, route.top.1)
                };
                model.add(scope, chain, chain * cost(route));
                if chain > model.longest_chain.0 {
                    model.longest_chain = (chain, table.name);
                }
            }
            Source::Computed { .. } => {}
        }
    }
    model
}

/// Pages of the first `/groups/delta` round carrying members and owners, by fake-graph's
/// published delta paging: `delta_page_size` groups a page, and a group's relationship entries
/// in chunks of `delta_members_per_page`, a page ending where a group's entries are split.
fn group_delta_pages(tenant: &fake_graph::tenant::Tenant, config: &fake_graph::Config) -> f64 {
    let per_page = config.delta_page_size.max(1);
    let chunk = config.delta_members_per_page.max(1);
    let mut pages = 0usize;
    let mut on_page = 0usize;
    for group in tenant.coll("groups").items.values() {
        let related = ["members", "owners"]
            .iter()
            .map(|r| group.rels.get(r).map_or(0, Vec::len))
            .sum::<usize>();
        let chunks = related.div_ceil(chunk).max(1);
        for i in 0..chunks {
            on_page += 1;
            // A page ends where a group's entries are split, or when it is full.
            if i + 1 < chunks || on_page == per_page {
                pages += 1;
                on_page = 0;
            }
        }
    }
    (pages + usize::from(on_page > 0)).max(1) as f64
}
