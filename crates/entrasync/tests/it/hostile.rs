//! entrasync against a hostile or broken Graph. A proxy in front of fake-graph passes every
//! request through, except those a rule picks: those get what a broken or malicious server might
//! send. A foreign listener records whoever calls it, and so proves that the token went nowhere.
//! Every case checks the exit code, which tables failed, and that no row was lost.

use crate::harness::{Db, Tenant, run_cli, write_config};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What the proxy does to a request a rule picks.
#[derive(Clone)]
pub enum Action {
    /// Sets the page's next link to `{origin}{path and query of the request}`.
    NextLinkTo(String),
    /// Sets the page's next link to the very URL that was requested: a loop.
    SelfLoop,
    /// Sets a next link that differs on every page: a listing without end.
    Endless,
    /// Answers with this status, headers and body instead of asking fake-graph.
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Removes `id` from the first object of the page.
    DropFirstId,
    /// Merges these keys into fake-graph's JSON answer.
    Patch(Value),
    /// A gzip body that inflates to this many bytes.
    GzipBomb(usize),
}

struct Rule {
    path_contains: &'static str,
    times: usize,
    action: Action,
}

struct ProxyState {
    upstream: String,
    origin: String,
    rules: Mutex<Vec<Rule>>,
    http: reqwest::Client,
    /// Access tokens fake-graph issued through the proxy.
    tokens: Mutex<Vec<String>>,
    /// Pages served by `Action::Endless`.
    pages: std::sync::atomic::AtomicU64,
}

/// The proxy: point `graph_url` and `login_url` at `origin`.
pub struct Hostile {
    pub origin: String,
    state: Arc<ProxyState>,
}

impl Hostile {
    pub async fn start(upstream: &str) -> Hostile {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        entrasync_crypto::install();
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            origin: origin.clone(),
            rules: Mutex::new(Vec::new()),
            http: reqwest::Client::builder().no_gzip().build().unwrap(),
            tokens: Mutex::new(Vec::new()),
            pages: Default::default(),
        });
        let served = state.clone();
        serve(listener, move |req| handle(served.clone(), req));
        Hostile { origin, state }
    }

    /// The next `times` requests whose path and query contain `path_contains` get `action`.
    pub fn rule(&self, path_contains: &'static str, times: usize, action: Action) {
        self.state.rules.lock().unwrap().push(Rule {
            path_contains,
            times,
            action,
        });
    }

    pub fn clear(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.tokens.lock().unwrap().clone()
    }
}

/// A listener that answers every request with an empty page and records whether it carried an
/// `Authorization` header.
pub struct Foreign {
    pub origin: String,
    requests: Arc<Mutex<Vec<(String, bool)>>>,
}

impl Foreign {
    pub async fn start() -> Foreign {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<(String, bool)>>> = Default::default();
        let seen = requests.clone();
        serve(listener, move |req: Request<Incoming>| {
            let seen = seen.clone();
            async move {
                let auth = req.headers().contains_key("authorization");
                seen.lock().unwrap().push((req.uri().to_string(), auth));
                Ok::<_, Infallible>(json_response(200, br#"{"value":[]}"#.to_vec()))
            }
        });
        Foreign { origin, requests }
    }

    pub fn requests(&self) -> Vec<(String, bool)> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve<F, Fut>(listener: tokio::net::TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(handler))
                    .await;
            });
        }
    });
}

fn json_response(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn handle(
    state: Arc<ProxyState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let action = {
        let mut rules = state.rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|r| r.times > 0 && path_and_query.contains(r.path_contains))
            .map(|r| {
                r.times -= 1;
                r.action.clone()
            })
    };
    match action {
        Some(Action::Respond {
            status,
            headers,
            body,
        }) => {
            let mut response = Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            return Ok(response.body(Full::new(Bytes::from(body))).unwrap());
        }
        Some(Action::GzipBomb(size)) => {
            return Ok(Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(Full::new(Bytes::from(gzip_zeros(size))))
                .unwrap());
        }
        _ => {}
    }
    let (status, content_type, body) = forward(&state, req, &path_and_query).await;
    let body = match (&action, serde_json::from_slice::<Value>(&body)) {
        (Some(action), Ok(mut page)) => {
            match action {
                Action::NextLinkTo(origin) => {
                    page["@odata.nextLink"] = json!(format!("{origin}{path_and_query}"));
                }
                Action::SelfLoop => {
                    page["@odata.nextLink"] = json!(format!("{}{path_and_query}", state.origin));
                }
                Action::Endless => {
                    let n = state
                        .pages
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let base = path_and_query.split("&endless=").next().unwrap_or_default();
                    page["@odata.nextLink"] = json!(format!("{}{base}&endless={n}", state.origin));
                }
                Action::DropFirstId => {
                    if let Some(first) = page["value"].get_mut(0).and_then(Value::as_object_mut) {
                        first.remove("id");
                    }
                }
                Action::Patch(patch) => {
                    for (k, v) in patch.as_object().unwrap() {
                        page[k] = v.clone();
                    }
                }
                Action::Respond { .. } | Action::GzipBomb(_) => unreachable!(),
            }
            serde_json::to_vec(&page).unwrap()
        }
        _ => body,
    };
    if path_and_query.contains("/oauth2/")
        && let Ok(v) = serde_json::from_slice::<Value>(&body)
        && let Some(token) = v["access_token"].as_str()
    {
        state.tokens.lock().unwrap().push(token.to_string());
    }
    Ok(Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap())
}

/// Passes a request to fake-graph, with the proxy's origin swapped for fake-graph's in the
/// request and back in the answer, so that links and token scopes line up.
async fn forward(
    state: &ProxyState,
    req: Request<Incoming>,
    path_and_query: &str,
) -> (u16, String, Vec<u8>) {
    let method = req.method().clone();
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in req.headers() {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "accept-encoding" | "connection"
        ) {
            headers.insert(name.clone(), value.clone());
        }
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let body = swap(&body, &state.origin, &state.upstream);
    let response = state
        .http
        .request(method, format!("{}{path_and_query}", state.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let body = response.bytes().await.unwrap();
    (
        status,
        content_type,
        swap(&body, &state.upstream, &state.origin),
    )
}

/// Replaces `from` by `to` in a body, plain and URL-encoded (token request scopes).
fn swap(body: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let encode = |s: &str| s.replace(':', "%3A").replace('/', "%2F");
    text.replace(from, to)
        .replace(&encode(from), &encode(to))
        .into_bytes()
}

fn gzip_zeros(size: usize) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let chunk = vec![b' '; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        gz.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    gz.finish().unwrap()
}

/// A fake-graph tenant behind a hostile proxy, and a SQLite database synced from it.
pub struct Setup {
    pub tenant: Tenant,
    pub proxy: Hostile,
    pub foreign: Foreign,
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub async fn start(profile: fake_graph::Profile) -> Setup {
        let tenant = Tenant::start(profile, 91).await;
        let proxy = Hostile::start(&tenant.info().graph_url).await;
        let foreign = Foreign::start().await;
        Setup {
            tenant,
            proxy,
            foreign,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("t.db")
    }

    /// A config reading `tables` through the proxy into SQLite; `extra` is added to the source
    /// document (e.g. `backend_options`).
    pub fn config(&self, tables: &str, extra_spec: &str, extra: &str) -> std::path::PathBuf {
        let destination = format!(
            "  name: sqlite\n  path: cloudquery/sqlite\n  registry: cloudquery\n  version: \"v2.4.0\"\n  spec:\n    connection_string: {}\n",
            self.db_path().display()
        );
        let secret = self.tenant.info().client_secret.clone();
        self.config_to(tables, extra_spec, extra, &secret, &destination)
    }

    /// A config reading `tables` through the proxy with `secret`, into the destination whose
    /// `spec:` document body is `destination` (its name must be `sqlite` or `postgresql`).
    pub fn config_to(
        &self,
        tables: &str,
        extra_spec: &str,
        extra: &str,
        secret: &str,
        destination: &str,
    ) -> std::path::PathBuf {
        let info = self.tenant.info();
        let login = info
            .login_url
            .replace(info.graph_url.trim_end_matches('/'), &self.proxy.origin);
        let name = destination
            .lines()
            .find_map(|l| l.trim().strip_prefix("name: "))
            .expect("the destination has a name");
        let text = format!(
            r#"kind: source
spec:
  name: entraid
  path: cloudquery/entraid
  registry: cloudquery
  version: "v1.4.1"
  tables: {tables}
  destinations: ["{name}"]
{extra}  spec:
    tenant_id: {tenant}
    client_id: {client}
    client_secret: "{secret}"
    graph_url: {origin}
    login_url: {login}
    max_retries: 2
    max_retry_after: 1
{extra_spec}---
kind: destination
spec:
{destination}"#,
            tenant = info.tenant_id,
            client = info.client_id,
            origin = self.proxy.origin,
        );
        write_config(self.dir.path(), &text)
    }

    /// Runs `entrasync sync` on `config`: (exit code, stderr).
    pub fn sync(&self, config: &Path, envs: &[(&str, &str)]) -> (i32, String) {
        let config = config.to_str().unwrap().to_string();
        let (code, _, stderr) = run_cli(&["sync", "--no-progress", &config], envs);
        (code, stderr)
    }

    /// The ids fake-graph holds in a collection: the truth a sync must match.
    pub async fn truth_ids(&self, collection: &str) -> Vec<String> {
        let url = format!("{}/_fake/truth", self.tenant.server.url());
        let truth: Value = self
            .tenant
            .http
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids = truth[collection]["ids"]
            .as_array()
            .expect("collection in truth");
        ids.iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    pub fn ids(&self, table: &str) -> Vec<String> {
        let mut ids = Db::open(&self.db_path()).strings(&format!("SELECT id FROM {table}"));
        ids.sort();
        ids
    }
}

/// The status word of `table` in the summary the CLI prints.
pub fn status_of(stderr: &str, table: &str) -> String {
    crate::harness::summary_row(stderr, table)
        .last()
        .cloned()
        .unwrap_or_default()
}

const USERS: &str = r#"["entraid_users"]"#;

/// A clean first sync: every user fake-graph holds, and nothing failed.
async fn synced(setup: &Setup, tables: &str) -> std::path::PathBuf {
    let config = setup.config(tables, "", "");
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(setup.ids("entraid_users"), setup.truth_ids("users").await);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_to_another_host_gets_no_token() {
    // Small: 1,000 users over two pages, so a table cut short would lose the second page's rows
    // if its stale rows were deleted.
    let setup = Setup::start(fake_graph::Profile::Small).await;
    let config = synced(&setup, USERS).await;
    let truth = setup.truth_ids("users").await;

    setup.proxy.rule(
        "/v1.0/users",
        1,
        Action::NextLinkTo(setup.foreign.origin.clone()),
    );
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(status_of(&stderr, "entraid_users"), "failed");
    assert!(
        stderr.contains(&format!(
            "refusing to follow a link to {}",
            setup.foreign.origin
        )),
        "{stderr}"
    );
    assert_eq!(
        setup.foreign.requests(),
        vec![],
        "the foreign host was called"
    );
    assert_eq!(setup.ids("entraid_users"), truth, "rows were lost");

    // Same host, other scheme: refused as well.
    let https = setup.proxy.origin.replace("http://", "https://");
    setup
        .proxy
        .rule("/v1.0/users", 1, Action::NextLinkTo(https));
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("refusing to follow a link to https://127.0.0.1"),
        "{stderr}"
    );
    assert_eq!(setup.ids("entraid_users"), truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_delta_link_to_another_host_gets_no_token() {
    let setup = Setup::start(fake_graph::Profile::Tiny).await;
    let backend = "  backend_options:\n    table_name: cq_state_entraid\n    connection: \"@@plugins.sqlite.connection\"\n";
    let config = setup.config(USERS, "", backend);
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 0, "{stderr}");
    let truth = setup.truth_ids("users").await;
    assert_eq!(setup.ids("entraid_users"), truth);

    // Someone with write access to the state table points the delta link elsewhere.
    let db = rusqlite::Connection::open(setup.db_path()).unwrap();
    let changed = db
        .execute(
            "UPDATE cq_state_entraid SET value = replace(value, ?1, ?2) WHERE key LIKE 'entraid_users|%'",
            [&setup.proxy.origin, &setup.foreign.origin],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(status_of(&stderr, "entraid_users"), "failed");
    assert!(stderr.contains(&setup.foreign.origin), "{stderr}");
    assert_eq!(setup.foreign.requests(), vec![]);
    assert_eq!(setup.ids("entraid_users"), truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_that_is_not_a_page_keeps_the_rows() {
    let setup = Setup::start(fake_graph::Profile::Tiny).await;
    let config = synced(&setup, USERS).await;
    let truth = setup.truth_ids("users").await;
    let bodies: [(&str, &[u8]); 6] = [
        ("application/json", b"{}"),
        ("application/json", br#"{"value":"oops"}"#),
        (
            "application/json",
            br#"{"error":{"code":"InternalServerError","message":"status 200 but an error"}}"#,
        ),
        (
            "text/html",
            b"<html><body>Service Unavailable</body></html>",
        ),
        ("application/json", br#"[{"id":"x"}]"#),
        // JSON whose meaning is not defined: which `value` is the page?
        ("application/json", br#"{"value":[],"value":[{"id":"x"}]}"#),
    ];
    for (content_type, body) in bodies {
        setup.proxy.clear();
        setup.proxy.rule(
            "/v1.0/users",
            usize::MAX,
            Action::Respond {
                status: 200,
                headers: vec![("content-type", content_type.to_string())],
                body: body.to_vec(),
            },
        );
        let (code, stderr) = setup.sync(&config, &[]);
        let body = String::from_utf8_lossy(body);
        assert_eq!(code, 1, "{body}: {stderr}");
        assert_eq!(status_of(&stderr, "entraid_users"), "failed", "{body}");
        assert!(
            stderr.contains("unusable response from Graph"),
            "{body}: {stderr}"
        );
        // Retried like a 5xx: max_retries is 2.
        assert!(
            stderr.matches("retrying after").count() >= 2,
            "{body}: {stderr}"
        );
        assert_eq!(setup.ids("entraid_users"), truth, "{body}: rows were lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_without_id_is_skipped_and_nothing_is_deleted() {
    let setup = Setup::start(fake_graph::Profile::Tiny).await;
    let config = synced(&setup, USERS).await;
    let truth = setup.truth_ids("users").await;
    setup.proxy.rule("/v1.0/users", 1, Action::DropFirstId);
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(status_of(&stderr, "entraid_users"), "partial");
    assert!(
        stderr.contains("1 objects from Graph had no primary key (id)"),
        "{stderr}"
    );
    assert_eq!(setup.ids("entraid_users"), truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_next_link_stops_the_table() {
    let setup = Setup::start(fake_graph::Profile::Small).await;
    let config = synced(&setup, USERS).await;
    let truth = setup.truth_ids("users").await;
    setup
        .proxy
        .rule("/v1.0/users", usize::MAX, Action::SelfLoop);
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(status_of(&stderr, "entraid_users"), "failed");
    assert!(stderr.contains("already sent in this listing"), "{stderr}");
    assert_eq!(setup.ids("entraid_users"), truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_without_end_stops_at_max_pages() {
    let setup = Setup::start(fake_graph::Profile::Tiny).await;
    synced(&setup, USERS).await;
    let truth = setup.truth_ids("users").await;
    let config = setup.config(USERS, "    max_pages: 25\n", "");
    setup.proxy.rule("/v1.0/users", usize::MAX, Action::Endless);
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(status_of(&stderr, "entraid_users"), "failed");
    assert!(
        stderr.contains("more than 25 pages in one listing"),
        "{stderr}"
    );
    let served = setup
        .proxy
        .state
        .pages
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!((20..=30).contains(&served), "{served} pages were read");
    assert_eq!(setup.ids("entraid_users"), truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_is_refused_in_bounded_memory() {
    let setup = Setup::start(fake_graph::Profile::Tiny).await;
    let config = synced(&setup, USERS).await;
    let truth = setup.truth_ids("users").await;
    // 1 GiB of spaces in about 1 MB of gzip.
    setup
        .proxy
        .rule("/v1.0/users", 1, Action::GzipBomb(1 << 30));
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(status_of(&stderr, "entraid_users"), "failed");
    assert!(
        stderr.contains("larger than 128 MiB once decompressed"),
        "{stderr}"
    );
    assert_eq!(setup.ids("entraid_users"), truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_of_any_size_is_capped() {
    let setup = Setup::start(fake_graph::Profile::Tiny).await;
    let config = synced(&setup, USERS).await;
    for retry_after in [
        "1e20",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "0.25",
        "-3",
        "soon",
    ] {
        setup.proxy.clear();
        setup.proxy.rule(
            "/v1.0/users",
            1,
            Action::Respond {
                status: 429,
                headers: vec![("retry-after", retry_after.to_string())],
                body: br#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#.to_vec(),
            },
        );
        let started = std::time::Instant::now();
        let (code, stderr) = setup.sync(&config, &[]);
        assert_eq!(code, 0, "Retry-After {retry_after}: {stderr}");
        assert!(stderr.contains("retrying after"), "{stderr}");
        // max_retry_after is 1 s: a hang here means the cap does not hold.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "Retry-After {retry_after} was not capped"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_is_retried_and_odd_lifetimes_are_survived() {
    let setup = Setup::start(fake_graph::Profile::Tiny).await;
    let config = setup.config(USERS, "", "");
    for (status, body) in [
        (504, b"<html>Gateway Timeout</html>".to_vec()),
        (503, br#"{"error":"temporarily_unavailable"}"#.to_vec()),
        (429, br#"{"error":"too_many_requests"}"#.to_vec()),
    ] {
        setup.proxy.clear();
        setup.proxy.rule(
            "/oauth2/v2.0/token",
            2,
            Action::Respond {
                status,
                headers: vec![],
                body,
            },
        );
        let (code, stderr) = setup.sync(&config, &[]);
        assert_eq!(code, 0, "token endpoint {status}: {stderr}");
        assert!(stderr.contains("retrying the token request"), "{stderr}");
    }
    for expires_in in [
        json!(u64::MAX),
        json!(1e300),
        json!("99999999999999999999999"),
        json!(-5),
    ] {
        setup.proxy.clear();
        setup.proxy.rule(
            "/oauth2/v2.0/token",
            1,
            Action::Patch(json!({ "expires_in": expires_in })),
        );
        let (code, stderr) = setup.sync(&config, &[]);
        assert_eq!(code, 0, "expires_in {expires_in}: {stderr}");
    }
    assert_eq!(setup.ids("entraid_users"), setup.truth_ids("users").await);
    // A refusal of the credentials is final: not retried.
    setup.proxy.clear();
    setup.proxy.rule(
        "/oauth2/v2.0/token",
        usize::MAX,
        Action::Respond {
            status: 401,
            headers: vec![],
            body: br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#.to_vec(),
        },
    );
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(!stderr.contains("retrying the token request"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_task_fails_its_table_and_deletes_nothing() {
    let setup = Setup::start(fake_graph::Profile::Tiny).await;
    let tables = r#"["entraid_users", "entraid_applications", "entraid_application_owners"]"#;
    let config = setup.config(tables, "", "");
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 0, "{stderr}");
    let users = setup.ids("entraid_users");
    let owners = Db::open(&setup.db_path()).count("entraid_application_owners");
    assert!(owners > 1, "the tenant has application owners to lose");

    for table in ["entraid_users", "entraid_application_owners"] {
        let (code, stderr) = setup.sync(&config, &[("ENTRASYNC_TEST_PANIC", table)]);
        assert_eq!(code, 1, "{table}: {stderr}");
        assert_eq!(status_of(&stderr, table), "failed", "{stderr}");
        assert!(
            stderr.contains("internal error: a task panicked"),
            "{stderr}"
        );
        assert_eq!(setup.ids("entraid_users"), users, "{table}");
        assert_eq!(
            Db::open(&setup.db_path()).count("entraid_application_owners"),
            owners,
            "{table}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_create_no_database() {
    let setup = Setup::start(fake_graph::Profile::Tiny).await;
    let destination = format!(
        "  name: sqlite\n  path: cloudquery/sqlite\n  registry: cloudquery\n  version: \"v2.4.0\"\n  spec:\n    connection_string: {}\n",
        setup.db_path().display()
    );
    let config = setup.config_to(USERS, "", "", "not-the-secret", &destination);
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("AADSTS7000215"), "{stderr}");
    assert!(
        !setup.db_path().exists(),
        "a failed sign-in left {} behind",
        setup.db_path().display()
    );
}

/// A `x-ms-resource-unit` far beyond any documented cost is not believed: the request counts at
/// most 100 units, so one hostile header cannot stall the identity family for a window, and the
/// rows of the page still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_resource_unit_header_is_capped() {
    let setup = Setup::start(fake_graph::Profile::Tiny).await;
    setup.proxy.rule(
        "/v1.0/domains",
        1,
        Action::Respond {
            status: 200,
            headers: vec![
                ("content-type", "application/json".into()),
                ("x-ms-resource-unit", "4000000000".into()),
            ],
            body: br#"{"value":[{"id":"hostile.example","isDefault":false}]}"#.to_vec(),
        },
    );
    let config = setup.config(r#"["entraid_users", "entraid_domains"]"#, "", "");
    let (code, stderr) = setup.sync(&config, &[]);
    assert_eq!(code, 0, "{stderr}");
    let row = crate::harness::summary_row(&stderr, "entraid_domains");
    // table, rows, requests, RU, retries, time, status
    assert_eq!(row[1], "1", "the page's one domain is stored: {stderr}");
    assert_eq!(row[3], "100", "the units are capped: {stderr}");
    assert_eq!(setup.ids("entraid_users"), setup.truth_ids("users").await);
}
