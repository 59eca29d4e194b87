//! The HTTP server: binds 127.0.0.1, routes `/_fake/...`, the token endpoint and Graph, and applies
//! the latency model and injected faults (including dropped connections and truncated bodies, which
//! need control over the connection, hence hyper directly rather than a framework).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::auth::AppReg;
use crate::faults::{Action, Faults};
use crate::state::{Req, Resp, State};
use crate::stats::{Stats, endpoint_key};
use crate::throttle::Throttle;
use crate::{Config, ServerInfo, admin, auth, faults, graph, routes, tenant};

type Body = BoxBody<Bytes, std::io::Error>;

/// A running simulator.
pub struct Server {
    /// The first tenant's (the only one unless [`Config::tenants`] asked for more).
    pub info: ServerInfo,
    pub state: Arc<State>,
    /// Seconds spent generating the tenants.
    pub generation_secs: f64,
    tenants: Arc<[Tenant]>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.info.graph_url.clone()
    }
    /// Every tenant served, the first being [`Server::info`]'s. Each has its own apps, data,
    /// limits and operator API (`/_fake/tenants/{tenant id or domain}/...`).
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
    /// Register another app with only these application permissions (and optionally a certificate).
    pub fn add_app(
        &self,
        permissions: &[&str],
        certificate_pem: Option<&str>,
    ) -> anyhow::Result<admin::AppCredentials> {
        admin::register_app(
            &self.state,
            admin::NewApp {
                permissions: permissions.iter().map(|s| s.to_string()).collect(),
                certificate_pem: certificate_pem.map(str::to_string),
                display_name: None,
                trusted_subject: None,
            },
        )
    }
    pub fn mutate(&self, seed: u64, count: usize) -> crate::mutate::Summary {
        admin::mutate(&self.state, seed, count)
    }
    /// Mutations with options: restrict to some operations, or size the batch as a fraction of the
    /// tenant's objects (see [`crate::mutate::Options`]).
    pub fn mutate_with(
        &self,
        opts: &crate::mutate::Options,
    ) -> Result<crate::mutate::Summary, String> {
        admin::mutate_with(&self.state, opts)
    }
    /// Ingestion delay of the directory audit and sign-in logs: an entry is served only once this
    /// much time has passed since its timestamp.
    pub fn set_log_delay(&self, audit: Duration, signin: Duration) {
        admin::set_log_delay(&self.state, audit, signin)
    }
    pub fn add_fault(&self, rule: crate::FaultRule) {
        admin::add_fault(&self.state, rule)
    }
    pub fn clear_faults(&self) {
        admin::clear_faults(&self.state)
    }
    pub fn set_licences(&self, lic: crate::Licences) {
        admin::set_licences(&self.state, lic)
    }
    pub fn set_token_lifetime(&self, d: Duration) {
        admin::set_token_lifetime(&self.state, d)
    }
    pub fn set_throttling(&self, on: bool) {
        self.state.throttling.store(on, Ordering::Relaxed)
    }
    pub fn stats(&self) -> serde_json::Value {
        admin::stats(&self.state)
    }
}

/// One tenant of a server: what a client needs to reach it, and its state (the `admin`
/// functions operate on it).
#[derive(Clone)]
pub struct Tenant {
    pub info: ServerInfo,
    pub state: Arc<State>,
}

/// Generate the tenants and start serving on the current tokio runtime.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    // Tokens are JWTs: jsonwebtoken needs its crypto provider (ring) installed.
    entrasync_crypto::install();
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], config.port))).await?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let mut tenants = Vec::new();
    let mut generation_secs = 0.0;
    for i in 0..config.tenants.max(1) {
        let mut config = config.clone();
        config.seed = config.seed.wrapping_add(i as u64);
        let (tenant, secs) = generate(config, base_url.clone()).await?;
        tenants.push(tenant);
        generation_secs += secs;
    }
    let tenants: Arc<[Tenant]> = tenants.into();
    let first = tenants[0].clone();
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, tenants.clone(), rx));
    Ok(Server {
        info: first.info,
        state: first.state,
        generation_secs,
        tenants,
        shutdown: tx,
        task,
    })
}

/// One tenant generated from `config.seed`, with its default app.
async fn generate(config: Config, base_url: String) -> anyhow::Result<(Tenant, f64)> {
    let now = config.now.unwrap_or_else(Utc::now);
    // The default app's id and secret derive from the seed, so scripts can rely on them.
    let mut seed_rng =
        <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(config.seed ^ 0x00C1_1E27);
    let mut b = [0u8; 16];
    seed_rng.fill_bytes(&mut b);
    let client_id = uuid::Builder::from_random_bytes(b).into_uuid().to_string();
    seed_rng.fill_bytes(&mut b);
    let client_secret = format!(
        "fg~{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b)
    );
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let t0 = Instant::now();
    let (profile, seed, lic) = (config.profile, config.seed, config.licences);
    let cid = client_id.clone();
    let tenant = tokio::task::spawn_blocking(move || {
        tenant::directory::generate(profile, seed, now, lic, &cid)
    })
    .await?;
    let generation_secs = t0.elapsed().as_secs_f64();
    let info = ServerInfo {
        graph_url: base_url.clone(),
        login_url: base_url.clone(),
        token_url: format!("{base_url}/{}/oauth2/v2.0/token", tenant.id),
        tenant_id: tenant.id.clone(),
        tenant_domain: tenant.domain.clone(),
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        admin_url: format!("{base_url}/_fake"),
        profile: config.profile,
        seed: config.seed,
    };
    let mut apps = HashMap::new();
    apps.insert(
        client_id.clone(),
        AppReg {
            client_id,
            client_secret,
            display_name: "entrasync".into(),
            permissions: routes::all_permissions(),
            cert: None,
            trusted_subject: None,
        },
    );
    let state = Arc::new(State {
        token_lifetime_secs: AtomicU64::new(config.token_lifetime.as_secs().max(1)),
        throttling: AtomicBool::new(config.throttling),
        licences: RwLock::new(config.licences),
        faults: Mutex::new(Faults {
            rules: vec![],
            rates: config.faults,
        }),
        latency: Mutex::new(config.latency),
        audit_delay_ms: AtomicU64::new(config.audit_delay.as_millis() as u64),
        signin_delay_ms: AtomicU64::new(config.signin_delay.as_millis() as u64),
        config,
        tenant: RwLock::new(tenant),
        apps: RwLock::new(apps),
        key,
        throttle: Mutex::new(Throttle::default()),
        stats: Mutex::new(Stats::default()),
        base_url,
        page_epoch: AtomicU64::new(0),
        delta_min_version: AtomicU64::new(0),
        delta_reset_version: AtomicU64::new(0),
        rng_counter: AtomicU64::new(0),
        token_cache: Mutex::new(HashMap::new()),
        identity: Mutex::default(),
    });
    Ok((Tenant { info, state }, generation_secs))
}

async fn accept_loop(
    listener: TcpListener,
    tenants: Arc<[Tenant]>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let tenants = tenants.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let k2 = kill.clone();
            let svc = service_fn(move |req| serve(tenants.clone(), k2.clone(), req));
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                // an injected reset: dropping the connection closes the socket without a response
                _ = kill.notified() => {}
                _ = shutdown.changed() => {}
            }
        });
    }
}

fn full(b: Bytes) -> Body {
    Full::new(b)
        .map_err(|never: Infallible| match never {})
        .boxed()
}

async fn serve(
    tenants: Arc<[Tenant]>,
    kill: Arc<Notify>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Body>, Infallible> {
    let method = req.method().as_str().to_string();
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let mut r = Req::parse(&method, &pq, headers, body);
    let tenant = resolve(&tenants, &mut r);
    let (state, info) = (tenant.state.clone(), tenant.info.clone());
    if r.path.trim_end_matches('/') == "/_fake/tenants" {
        let infos: Vec<&ServerInfo> = tenants.iter().map(|t| &t.info).collect();
        return Ok(to_hyper(Resp::json(200, &serde_json::json!(infos))));
    }
    if let Some(name) = r.path.strip_prefix("/_fake/tenants/") {
        let name = name.split('/').next().unwrap_or("");
        let error =
            format!("no tenant {name:?} here: use a tenant id or domain from GET /_fake/tenants");
        return Ok(to_hyper(Resp::json(
            404,
            &serde_json::json!({ "error": error }),
        )));
    }
    let is_admin = r.path.starts_with("/_fake");
    let received = tokio::time::Instant::now();
    // faults and latency apply to Graph and token calls, never to the operator API
    let decision = if is_admin {
        faults::Decision::default()
    } else {
        state
            .faults
            .lock()
            .unwrap()
            .decide(&r.path, state.next_rand())
    };
    let st = state.clone();
    let resp = if is_admin {
        crate::identity::admin(&state, &info, &r)
            .unwrap_or_else(|| admin::handle(&state, &info, &r))
    } else if let Some(action) = decision.action.filter(|a| matches!(a, Action::Status(_))) {
        let Action::Status(s) = action else {
            unreachable!()
        };
        state.stats.lock().unwrap().faults_injected += 1;
        let throttle = (s == 429)
            .then(|| crate::graph::throttle_detail(&state, &r))
            .flatten();
        let mut resp = faults::status_response(s, decision.retry_after.as_deref(), throttle);
        crate::errors::echo_client_request_id(&mut resp, &r);
        resp
    } else {
        let r2 = r.clone();
        tokio::task::spawn_blocking(move || dispatch(&st, &r2))
            .await
            .unwrap_or_else(|_| crate::errors::graph(500, "generalException", "Internal error."))
    };
    if !is_admin {
        let lat = *state.latency.lock().unwrap();
        let mut delay = decision.delay + lat.base + lat.per_item.mul_f64(resp.items as f64);
        if lat.jitter > 0.0 && !delay.is_zero() {
            let u = (state.next_rand() >> 11) as f64 / (1u64 << 53) as f64;
            delay = delay.mul_f64((1.0 + lat.jitter * (2.0 * u - 1.0)).max(0.0));
        }
        // The latency is the whole response time, the time spent building the answer included:
        // the simulator's own CPU (it shares the machine with the client) is not Graph's.
        if !delay.is_zero() {
            tokio::time::sleep_until(received + delay).await;
        }
    }
    let key = endpoint_key(&r.method, &r.path);
    state.stats.lock().unwrap().record(
        key,
        resp.status,
        resp.body.len() as u64,
        resp.items as u64,
        resp.ru,
    );
    if r.path.ends_with("/oauth2/v2.0/token") && resp.status == 200 {
        state.stats.lock().unwrap().tokens_issued += 1;
    }
    match decision.action {
        Some(Action::Reset) => {
            state.stats.lock().unwrap().faults_injected += 1;
            kill.notify_one();
            std::future::pending::<()>().await;
        }
        Some(Action::Truncate) => {
            state.stats.lock().unwrap().faults_injected += 1;
            let full_len = resp.body.len();
            let half = resp.body.slice(..full_len / 2);
            // send the first half, give it time to reach the client, then abort the connection
            let stream = futures::stream::unfold(0u8, move |step| {
                let half = half.clone();
                async move {
                    match step {
                        0 => Some((Ok(Frame::data(half)), 1)),
                        1 => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Some((
                                Err(std::io::Error::new(
                                    std::io::ErrorKind::ConnectionReset,
                                    "injected truncation",
                                )),
                                2,
                            ))
                        }
                        _ => None,
                    }
                }
            });
            let mut b = hyper::Response::builder().status(resp.status);
            for (k, v) in &resp.headers {
                b = b.header(k.as_str(), v.as_str());
            }
            b = b.header("content-length", full_len.to_string());
            return Ok(b
                .body(StreamBody::new(stream).boxed())
                .unwrap_or_else(|_| hyper::Response::new(full(Bytes::new()))));
        }
        _ => {}
    }
    Ok(to_hyper(resp))
}

fn to_hyper(resp: Resp) -> hyper::Response<Body> {
    let mut b = hyper::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(full(resp.body))
        .unwrap_or_else(|_| hyper::Response::new(full(Bytes::new())))
}

/// The tenant a request is for: named in the operator path (`/_fake/tenants/{tenant}/...`,
/// which is rewritten to `/_fake/...`), in a tenant's own host for its machines' identity
/// endpoints (`/_tenant/{tenant}/...`, rewritten to `/...`: the IMDS, App Service and GitHub
/// endpoints its operator API hands out), as the first segment of a login path (token
/// endpoint, OIDC discovery, keys), or as the `tid` of a Graph request's bearer token. Anything
/// else goes to the first tenant, which answers as Graph does to an unknown tenant or token.
fn resolve<'a>(tenants: &'a [Tenant], r: &mut Req) -> &'a Tenant {
    let find = |name: &str| tenants.iter().find(|t| answers_to(&t.state, name));
    for (prefix, rewrite) in [("/_fake/tenants/", "/_fake/"), ("/_tenant/", "/")] {
        if let Some(rest) = r.path.strip_prefix(prefix) {
            let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
            if let Some(t) = find(name) {
                r.path = format!("{rewrite}{rest}");
                return t;
            }
            return &tenants[0];
        }
    }
    let graph = ["/v1.0/", "/beta/", "/_"]
        .iter()
        .any(|p| r.path.starts_with(p));
    if !graph
        && let Some(t) = find(
            r.path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or(""),
        )
    {
        return t;
    }
    if let Some(tid) = bearer_tid(r)
        && let Some(t) = tenants.iter().find(|t| t.info.tenant_id == tid)
    {
        return t;
    }
    &tenants[0]
}

/// Whether `name` is the tenant's id, its `onmicrosoft.com` domain or one of its domains.
fn answers_to(state: &State, name: &str) -> bool {
    let t = state.tenant.read().unwrap();
    name.eq_ignore_ascii_case(&t.id)
        || name.eq_ignore_ascii_case(&t.domain)
        || t.coll("domains")
            .items
            .values()
            .any(|d| d.id.eq_ignore_ascii_case(name))
}

/// The `tid` claim of the bearer token, read without verification: it only picks the tenant,
/// whose own key then verifies the token.
fn bearer_tid(r: &Req) -> Option<String> {
    use base64::Engine;
    let token = r.header("authorization")?.split_whitespace().nth(1)?;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["tid"].as_str().map(str::to_string)
}

/// Token endpoint or Graph.
fn dispatch(state: &State, r: &Req) -> Resp {
    if let Some(resp) = crate::identity::route(state, r) {
        return resp;
    }
    let segs: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    if segs.len() == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "token" {
        if r.method != "POST" {
            return crate::errors::aadsts(
                405,
                "invalid_request",
                900561,
                "The endpoint only accepts POST requests.",
            );
        }
        return auth::token_endpoint(state, segs[0], r);
    }
    graph::handle(state, r)
}
