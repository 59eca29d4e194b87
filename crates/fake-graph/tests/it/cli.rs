use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_fake-graph");

#[tokio::test]
async fn serve_prints_one_json_line_then_serves_until_sigterm() {
    let mut child = Command::new(BIN)
        .args(["serve", "--profile", "tiny", "--seed", "1", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line).unwrap();
    for k in [
        "graph_url",
        "token_url",
        "tenant_id",
        "client_id",
        "client_secret",
        "login_url",
    ] {
        assert!(info[k].is_string(), "{k}");
    }
    assert!(
        info["graph_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    entrasync_crypto::install();
    let c = reqwest::Client::new();
    let tok = crate::common::token(
        &c,
        info["token_url"].as_str().unwrap(),
        info["client_id"].as_str().unwrap(),
        info["client_secret"].as_str().unwrap(),
    )
    .await;
    let r = c
        .get(format!(
            "{}/v1.0/users",
            info["graph_url"].as_str().unwrap()
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // mutate through the CLI
    let out = Command::new(BIN)
        .args([
            "mutate",
            "--url",
            info["graph_url"].as_str().unwrap(),
            "--seed",
            "2",
            "--count",
            "10",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["applied"].as_u64().unwrap() > 0);
    // a fraction of the objects, restricted to some operations
    let out = Command::new(BIN)
        .args([
            "mutate",
            "--url",
            info["graph_url"].as_str().unwrap(),
            "--fraction",
            "0.1",
            "--ops",
            "add_member,add_registered_owner",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["requested"], summary["applied"]);
    assert!(
        summary["operations"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k == "add_member" || k == "add_registered_owner"),
        "{summary}"
    );
    // same seed → same credentials
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn help_documents_options() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--profile",
        "--seed",
        "--port",
        "--counts",
        "--token-lifetime",
        "--throttling",
        "--latency-ms",
        "--fault-rate",
        "--reset-rate",
        "--truncate-rate",
        "--licences",
        "--audit-delay-ms",
        "--signin-delay-ms",
    ] {
        assert!(s.contains(opt), "{opt}");
    }
}
