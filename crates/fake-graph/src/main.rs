//! `fake-graph` CLI: serve a synthetic tenant, or mutate a running one.

use std::io::Write;
use std::time::Duration;

use clap::{Parser, Subcommand};
use fake_graph::{Config, Counts, FaultRates, Latency, Licences, Profile};

#[derive(Parser)]
#[command(
    name = "fake-graph",
    version,
    about = "A faithful Microsoft Graph simulator: a synthetic Entra ID tenant behind Graph's API.",
    long_about = "A faithful Microsoft Graph simulator: a synthetic Entra ID tenant behind Graph's API.\n\n`serve` prints ONE JSON line (graph_url, login_url, token_url, tenant_id, client_id, client_secret, admin_url) on stdout, then serves until SIGINT/SIGTERM. Graph is under {graph_url}/v1.0 and /beta; the token endpoint is POST {login_url}/{tenant}/oauth2/v2.0/token; the operator API is under {graph_url}/_fake (apps, faults, mutate, truth, licences, token_lifetime, throttling, latency, log_delay, stats)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate a tenant and serve it on 127.0.0.1.
    Serve(ServeArgs),
    /// Apply deterministic random mutations to a running fake-graph (through its admin API).
    Mutate {
        /// Base URL of the running server (graph_url from `serve`).
        #[arg(long, env = "FAKE_GRAPH_URL")]
        url: String,
        /// Seed of the mutation stream.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of mutations.
        #[arg(long, default_value_t = 50)]
        count: usize,
        /// Instead of --count: mutate this fraction of the tenant's users, groups, applications,
        /// service principals and devices (0.01 = about 1 %).
        #[arg(long)]
        fraction: Option<f64>,
        /// Comma list of operations to draw from (default: all; GET /_fake/mutate/ops lists them).
        #[arg(long, value_delimiter = ',')]
        ops: Vec<String>,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Size profile: tiny (~20 users, every endpoint has data), small (~1,000 users), large (100,000 users).
    #[arg(long, default_value = "tiny")]
    profile: String,
    /// Seed of the generated tenant (same seed = same tenant).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Explicit counts instead of a profile, e.g. users=500,groups=50,applications=20,devices=100,signins=10000.
    #[arg(long)]
    counts: Option<String>,
    /// Access-token lifetime in seconds (expires_in).
    #[arg(long, default_value_t = 3599)]
    token_lifetime: u64,
    /// Graph throttling: on|off (default: on only for the large profile).
    #[arg(long)]
    throttling: Option<String>,
    /// Latency model: base milliseconds per response.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Latency model: extra milliseconds per object in the response (fractional allowed).
    #[arg(long, default_value_t = 0.0)]
    latency_per_item_ms: f64,
    /// Latency jitter as a fraction (0.2 = ±20 %), drawn from the seed.
    #[arg(long, default_value_t = 0.0)]
    latency_jitter: f64,
    /// Random 500/502/503/504 rate (0..1).
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Random connection-reset rate (0..1).
    #[arg(long, default_value_t = 0.0)]
    reset_rate: f64,
    /// Random truncated-body rate (0..1).
    #[arg(long, default_value_t = 0.0)]
    truncate_rate: f64,
    /// Random slow-response rate (0..1) and delay.
    #[arg(long, default_value_t = 0.0)]
    slow_rate: f64,
    #[arg(long, default_value_t = 2000)]
    slow_ms: u64,
    /// Tenant licences: comma list of p1,p2,intune, or "none".
    #[arg(long, default_value = "p1,p2,intune")]
    licences: String,
    /// Ingestion delay of /auditLogs/directoryAudits in milliseconds: an entry is served only once
    /// this much time has passed since its activityDateTime.
    #[arg(long, default_value_t = 0)]
    audit_delay_ms: u64,
    /// Ingestion delay of /auditLogs/signIns in milliseconds.
    #[arg(long, default_value_t = 0)]
    signin_delay_ms: u64,
}

fn parse_counts(base: Counts, s: &str) -> anyhow::Result<Counts> {
    let mut c = base;
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("expected key=value in --counts, got {part}"))?;
        let n: u64 = v.trim().parse()?;
        match k.trim() {
            "users" => c.users = n as usize,
            "groups" => c.groups = n as usize,
            "applications" | "apps" => c.applications = n as usize,
            "service_principals" | "serviceprincipals" => c.service_principals = n as usize,
            "devices" => c.devices = n as usize,
            "signins" => c.signins = n,
            "audits" => c.audits = n,
            "ca_policies" => c.ca_policies = n as usize,
            "admin_units" => c.admin_units = n as usize,
            "contacts" => c.contacts = n as usize,
            "managed_devices" => c.managed_devices = n as usize,
            "log_days" => c.log_days = n as i64,
            other => anyhow::bail!("unknown count '{other}'"),
        }
    }
    c.users = c.users.max(1);
    c.applications = c.applications.max(1);
    c.groups = c.groups.max(1);
    Ok(c)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve(a) => {
            let mut profile = Profile::parse(&a.profile).ok_or_else(|| {
                anyhow::anyhow!("unknown profile {} (tiny|small|large)", a.profile)
            })?;
            if let Some(c) = &a.counts {
                profile = Profile::Custom(parse_counts(profile.counts(), c)?);
            }
            let mut cfg = Config::new(profile, a.seed);
            cfg.port = a.port;
            cfg.token_lifetime = Duration::from_secs(a.token_lifetime);
            if let Some(t) = &a.throttling {
                cfg.throttling = matches!(t.as_str(), "on" | "true" | "1");
            }
            cfg.latency = Latency {
                base: Duration::from_millis(a.latency_ms),
                per_item: Duration::from_secs_f64(a.latency_per_item_ms / 1000.0),
                jitter: a.latency_jitter,
            };
            cfg.faults = FaultRates {
                server_error: a.fault_rate,
                reset: a.reset_rate,
                truncate: a.truncate_rate,
                slow: a.slow_rate,
                slow_ms: a.slow_ms,
            };
            let l = a.licences.to_ascii_lowercase();
            cfg.licences = Licences {
                p1: l.contains("p1"),
                p2: l.contains("p2"),
                intune: l.contains("intune"),
            };
            cfg.audit_delay = Duration::from_millis(a.audit_delay_ms);
            cfg.signin_delay = Duration::from_millis(a.signin_delay_ms);
            let server = fake_graph::start(cfg).await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", serde_json::to_string(&server.info)?)?;
            out.flush()?;
            drop(out);
            eprintln!(
                "fake-graph: {:?} tenant {} generated in {:.2}s, serving on {}",
                server.info.profile,
                server.info.tenant_id,
                server.generation_secs,
                server.info.graph_url
            );
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            server.shutdown().await;
        }
        Cmd::Mutate {
            url,
            seed,
            count,
            fraction,
            ops,
        } => {
            let mut body = serde_json::json!({"seed": seed, "count": count});
            if let Some(f) = fraction {
                body["fraction"] = serde_json::json!(f);
            }
            if !ops.is_empty() {
                body["ops"] = serde_json::json!(ops);
            }
            let body = body.to_string();
            let out = post(
                &format!("{}/_fake/mutate", url.trim_end_matches('/')),
                &body,
            )
            .await?;
            println!("{out}");
        }
    }
    Ok(())
}

/// A tiny HTTP/1.1 POST (the CLI only talks to 127.0.0.1; no client crate needed).
async fn post(url: &str, body: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let u = url::Url::parse(url)?;
    let host = u.host_str().unwrap_or("127.0.0.1").to_string();
    let port = u.port_or_known_default().unwrap_or(80);
    let mut s = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    let req = format!(
        "POST {} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        u.path(),
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).await?;
    let (head, rest) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    if !head.starts_with("HTTP/1.1 200") {
        anyhow::bail!("{head}\n{rest}");
    }
    Ok(rest.to_string())
}
