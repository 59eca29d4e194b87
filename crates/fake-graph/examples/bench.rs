//! Benchmark: generation time and memory of a profile, then objects served per second with zero
//! latency. `cargo run --release -p fake-graph --example bench -- large`
//! (argument: tiny | small | large; default large). `BENCH_MUTATE=0.01` also times mutating 1 % of
//! the objects and building `/_fake/truth`.

use std::time::Instant;

use fake_graph::{Config, Profile};
use serde_json::Value;

fn rss_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
            })
        })
        .unwrap_or(0.0)
        / 1024.0
}

async fn drain(c: &reqwest::Client, tok: &str, url: String, max_pages: usize) -> usize {
    let mut n = 0;
    let mut next = Some(url);
    let mut pages = 0;
    while let Some(u) = next {
        pages += 1;
        if pages > max_pages {
            break;
        }
        let v: Value = c
            .get(&u)
            .bearer_auth(tok)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        n += v["value"].as_array().map(|a| a.len()).unwrap_or(0);
        next = v["@odata.nextLink"].as_str().map(str::to_string);
    }
    n
}

#[tokio::main]
async fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "large".into());
    let profile = Profile::parse(&arg).expect("tiny|small|large");
    let rss0 = rss_mb("VmRSS:");
    let mut cfg = Config::new(profile, 1);
    cfg.throttling = false;
    let t0 = Instant::now();
    let server = fake_graph::start(cfg).await.unwrap();
    let gen_s = t0.elapsed().as_secs_f64();
    let rss1 = rss_mb("VmRSS:");
    let objects = server.state.tenant.read().unwrap().object_count();
    println!(
        "profile {arg}: {objects} objects (logs generated lazily) in {gen_s:.2}s; RSS {rss1:.0} MB (+{:.0} MB)",
        rss1 - rss0
    );
    if std::env::var("BENCH_BREAKDOWN").is_ok() {
        let t = server.state.tenant.read().unwrap();
        let mut rows: Vec<(usize, &str, usize)> = t
            .colls
            .iter()
            .map(|(k, c)| {
                let bytes: usize = c
                    .items
                    .values()
                    .map(|i| {
                        serde_json::to_vec(&i.data).map(|v| v.len()).unwrap_or(0)
                            + i.rels.values().map(|r| r.len() * 40).sum::<usize>()
                    })
                    .sum();
                (bytes, *k, c.len())
            })
            .collect();
        rows.sort();
        for (b, k, n) in rows.iter().rev().take(10) {
            println!(
                "  {k:32} {n:>8} objects {:>8.1} MB as JSON",
                *b as f64 / 1e6
            );
        }
    }
    {
        let t = server.state.tenant.read().unwrap();
        let t0 = Instant::now();
        let n = 20_000.min(t.signins.total());
        let mut bytes = 0;
        for i in 0..n {
            bytes += t.signins.get(i).len();
        }
        let s = t0.elapsed().as_secs_f64();
        println!(
            "sign-in generation: {n} entries in {s:.3}s = {:.0}/s ({bytes})",
            n as f64 / s
        );
    }
    if let Ok(fr) = std::env::var("BENCH_MUTATE") {
        // mutate a fraction of the objects (every kind of change), then build the ground truth
        let fraction: f64 = fr.parse().expect("BENCH_MUTATE=fraction, e.g. 0.01");
        let t0 = Instant::now();
        let opts = fake_graph::mutate::Options {
            seed: 7,
            fraction: Some(fraction),
            // BENCH_MUTATE_OPS=add_owner,add_member restricts the operations
            ops: std::env::var("BENCH_MUTATE_OPS")
                .ok()
                .map(|o| o.split(',').map(str::to_string).collect()),
            ..Default::default()
        };
        let s = server.mutate_with(&opts).unwrap();
        println!(
            "mutate {fraction}: {} operations, {} audit events in {:.3}s",
            s.applied,
            s.audit_events,
            t0.elapsed().as_secs_f64()
        );
        let t0 = Instant::now();
        let truth = fake_graph::admin::truth(&server.state, false);
        let bytes = serde_json::to_vec(&truth).map(|v| v.len()).unwrap_or(0);
        println!(
            "truth: {:.1} MB in {:.3}s",
            bytes as f64 / 1e6,
            t0.elapsed().as_secs_f64()
        );
    }
    let c = reqwest::Client::new();
    let i = &server.info;
    let tok: Value = c
        .post(&i.token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", i.client_id.as_str()),
            ("client_secret", i.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tok = tok["access_token"].as_str().unwrap().to_string();
    if std::env::var("BENCH_DELTA_PAGES").is_ok() {
        let mut url = "/v1.0/groups/delta".to_string();
        for k in 0..400 {
            let req = fake_graph::state::Req::parse(
                "GET",
                &url,
                vec![("authorization".into(), format!("Bearer {tok}"))],
                Default::default(),
            );
            let t0 = Instant::now();
            let r = fake_graph::graph::handle(&server.state, &req);
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            if k % 100 == 0 {
                println!(
                    "delta page {k}: {} objects, {} bytes, {:.1} ms",
                    r.items,
                    r.body.len(),
                    t0.elapsed().as_secs_f64() * 1000.0
                );
            }
            match v["@odata.nextLink"].as_str() {
                Some(n) => url = n.trim_start_matches(&server.info.graph_url).to_string(),
                None => break,
            }
        }
    }
    // the handler alone (no HTTP, no client parsing)
    for path in ["/v1.0/auditLogs/signIns", "/v1.0/users?$top=999"] {
        let req = fake_graph::state::Req::parse(
            "GET",
            path,
            vec![("authorization".into(), format!("Bearer {tok}"))],
            Default::default(),
        );
        let t0 = Instant::now();
        let mut n = 0;
        let mut bytes = 0;
        for _ in 0..5 {
            let r = fake_graph::graph::handle(&server.state, &req);
            n += r.items;
            bytes += r.body.len();
        }
        let s = t0.elapsed().as_secs_f64();
        println!(
            "handler only {path:30} {n} objects, {:.1} MB in {s:.3}s = {:.0} objects/s",
            bytes as f64 / 1e6,
            n as f64 / s
        );
    }
    for (name, path, max_pages) in [
        (
            "users (default props, $top=999)",
            "/v1.0/users?$top=999",
            usize::MAX,
        ),
        (
            "users (all props)",
            "/v1.0/users?$top=500&$select=id,displayName,userPrincipalName,mail,accountEnabled,assignedLicenses,signInActivity,identities,onPremisesExtensionAttributes,createdDateTime,department,jobTitle",
            usize::MAX,
        ),
        ("groups", "/v1.0/groups?$top=999", usize::MAX),
        (
            "groups/delta with members",
            "/v1.0/groups/delta",
            usize::MAX,
        ),
        ("signIns (first 20 pages)", "/v1.0/auditLogs/signIns", 20),
    ] {
        if std::env::var("BENCH_ONLY").is_ok_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let t = Instant::now();
        // 4 concurrent chains of the same listing (what a client does across tables)
        let futs: Vec<_> = (0..4)
            .map(|_| drain(&c, &tok, format!("{}{}", i.graph_url, path), max_pages))
            .collect();
        let n: usize = futures::future::join_all(futs).await.into_iter().sum();
        let s = t.elapsed().as_secs_f64();
        println!(
            "{name:40} {n:>9} objects in {s:6.2}s = {:>8.0} objects/s",
            n as f64 / s
        );
    }
    println!("peak RSS {:.0} MB", rss_mb("VmHWM:"));
    server.shutdown().await;
}
