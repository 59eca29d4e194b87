//! `entrasync serve`: the gRPC server the CloudQuery CLI launches (reference §4.2): discovery
//! v1 (`[3]`) and v0 (`["v3"]`), and `cloudquery.plugin.v3.Plugin`. The role, source or
//! destination, is decided by the `Init` spec: a destination spec has `connection_string` (or
//! `path` and `format`), the entraid spec has neither.

use super::destination::{self, Destination};
use super::metrics::Exporter;
use super::{ipc, source};
use crate::config::EntraSpec;
use entrasync_proto::discovery::{v0, v1};
use entrasync_proto::plugin::v3 as pb;
use entrasync_proto::plugin::v3::plugin_server::{Plugin, PluginServer};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::RwLock;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// The serve flags of CloudQuery's SDK; sentry and license are accepted and ignored.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub network: String,
    pub address: String,
    /// `--otel-endpoint`: where a source posts its per-table metrics.
    pub otel_endpoint: Option<String>,
    /// `--otel-endpoint-insecure`: plain HTTP to the endpoint.
    pub otel_endpoint_insecure: bool,
}

enum Role {
    Source { spec: Box<EntraSpec> },
    Destination(Arc<Destination>),
}

#[derive(Default)]
pub struct PluginService {
    role: RwLock<Option<Role>>,
    metrics: Option<Arc<Exporter>>,
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

pub const NAME: &str = "entraid";

pub fn version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

impl PluginService {
    async fn source_spec(&self) -> Result<EntraSpec, Status> {
        match &*self.role.read().await {
            Some(Role::Source { spec }) => Ok(spec.as_ref().clone()),
            Some(Role::Destination(_)) => Err(Status::failed_precondition(
                "this plugin was initialized as a destination",
            )),
            None => Err(Status::failed_precondition(
                "the plugin is not initialized: call Init first",
            )),
        }
    }

    async fn destination(&self) -> Result<Arc<Destination>, Status> {
        match &*self.role.read().await {
            Some(Role::Destination(d)) => Ok(d.clone()),
            Some(Role::Source { .. }) => Err(Status::failed_precondition(
                "this plugin was initialized as a source (entraid); a destination spec needs connection_string",
            )),
            None => Err(Status::failed_precondition(
                "the plugin is not initialized: call Init first",
            )),
        }
    }
}

fn spec_value(bytes: &[u8]) -> Result<serde_json::Value, String> {
    if bytes.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| format!("the spec is not JSON: {e}"))
}

#[tonic::async_trait]
impl Plugin for PluginService {
    async fn get_name(
        &self,
        _: Request<pb::get_name::Request>,
    ) -> Result<Response<pb::get_name::Response>, Status> {
        let name = match &*self.role.read().await {
            Some(Role::Destination(d)) => d.kind.name(),
            _ => NAME,
        };
        Ok(Response::new(pb::get_name::Response { name: name.into() }))
    }

    async fn get_version(
        &self,
        _: Request<pb::get_version::Request>,
    ) -> Result<Response<pb::get_version::Response>, Status> {
        Ok(Response::new(pb::get_version::Response {
            version: version(),
        }))
    }

    async fn get_spec_schema(
        &self,
        _: Request<pb::get_spec_schema::Request>,
    ) -> Result<Response<pb::get_spec_schema::Response>, Status> {
        let schema = match &*self.role.read().await {
            Some(Role::Destination(_)) => destination::spec_schema(),
            _ => super::docs::source_spec_schema(),
        };
        Ok(Response::new(pb::get_spec_schema::Response {
            json_schema: Some(schema.to_string()),
        }))
    }

    async fn init(
        &self,
        request: Request<pb::init::Request>,
    ) -> Result<Response<pb::init::Response>, Status> {
        let request = request.into_inner();
        let init_error = |e: String| Status::internal(format!("failed to init plugin: {e}"));
        let value = spec_value(&request.spec).map_err(init_error)?;
        let role = if destination::is_destination_spec(&value) {
            let dest = Destination::open(&value)
                .await
                .map_err(|e| init_error(format!("{e:#}")))?;
            Role::Destination(Arc::new(dest))
        } else {
            let spec = source::parse_spec(&request.spec).map_err(init_error)?;
            Role::Source {
                spec: Box::new(spec),
            }
        };
        tracing::debug!(invocation_id = %request.invocation_id, no_connection = request.no_connection, "initialized");
        *self.role.write().await = Some(role);
        Ok(Response::new(pb::init::Response {}))
    }

    async fn get_tables(
        &self,
        request: Request<pb::get_tables::Request>,
    ) -> Result<Response<pb::get_tables::Response>, Status> {
        // Tables are the catalog's: they do not depend on the spec, so no Init is needed.
        source::get_tables(request.into_inner()).map(Response::new)
    }

    type SyncStream = BoxStream<pb::sync::Response>;

    async fn sync(
        &self,
        request: Request<pb::sync::Request>,
    ) -> Result<Response<Self::SyncStream>, Status> {
        let spec = self.source_spec().await?;
        let rx = source::sync(spec, request.into_inner(), self.metrics.clone()).await?;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type ReadStream = BoxStream<pb::read::Response>;

    async fn read(
        &self,
        request: Request<pb::read::Request>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let dest = self.destination().await?;
        let batches = dest
            .read(&request.into_inner().table)
            .await
            .map_err(|e| Status::internal(format!("failed to read: {e:#}")))?;
        let items: Vec<Result<pb::read::Response, Status>> = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|batch| {
                ipc::record_to_bytes(batch)
                    .map(|record| pb::read::Response { record })
                    .map_err(|e| Status::internal(e.to_string()))
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }

    async fn write(
        &self,
        request: Request<Streaming<pb::write::Request>>,
    ) -> Result<Response<pb::write::Response>, Status> {
        let dest = self.destination().await?;
        let mut stream = request.into_inner();
        let fail = |e: anyhow::Error| {
            tracing::error!("write failed: {e:#}");
            Status::internal(format!("failed to write: {e:#}"))
        };
        while let Some(message) = stream.message().await? {
            if let Some(message) = message.message {
                dest.handle(message).await.map_err(fail)?;
            }
        }
        dest.flush().await.map_err(fail)?;
        Ok(Response::new(pb::write::Response {}))
    }

    type TransformStream = BoxStream<pb::transform::Response>;

    async fn transform(
        &self,
        _: Request<Streaming<pb::transform::Request>>,
    ) -> Result<Response<Self::TransformStream>, Status> {
        Err(Status::unimplemented("entrasync is not a transformer"))
    }

    async fn transform_schema(
        &self,
        _: Request<pb::transform_schema::Request>,
    ) -> Result<Response<pb::transform_schema::Response>, Status> {
        Err(Status::unimplemented("entrasync is not a transformer"))
    }

    async fn close(
        &self,
        _: Request<pb::close::Request>,
    ) -> Result<Response<pb::close::Response>, Status> {
        if let Some(Role::Destination(dest)) = &*self.role.read().await {
            dest.flush()
                .await
                .map_err(|e| Status::internal(format!("failed to close: {e:#}")))?;
        }
        Ok(Response::new(pb::close::Response {}))
    }

    async fn test_connection(
        &self,
        request: Request<pb::test_connection::Request>,
    ) -> Result<Response<pb::test_connection::Response>, Status> {
        let spec = request.into_inner().spec;
        let value = spec_value(&spec).unwrap_or(serde_json::Value::Null);
        if destination::is_destination_spec(&value) {
            let response = match Destination::open(&value).await {
                Ok(_) => pb::test_connection::Response {
                    success: true,
                    ..Default::default()
                },
                Err(e) => pb::test_connection::Response {
                    success: false,
                    failure_code: "CONNECTION_FAILED".into(),
                    failure_description: format!("{e:#}"),
                },
            };
            return Ok(Response::new(response));
        }
        Ok(Response::new(source::test_connection(&spec).await))
    }
}

struct DiscoveryV1;

#[tonic::async_trait]
impl v1::discovery_server::Discovery for DiscoveryV1 {
    async fn get_versions(
        &self,
        _: Request<v1::get_versions::Request>,
    ) -> Result<Response<v1::get_versions::Response>, Status> {
        Ok(Response::new(v1::get_versions::Response {
            versions: vec![3],
        }))
    }
}

struct DiscoveryV0;

#[tonic::async_trait]
impl v0::discovery_server::Discovery for DiscoveryV0 {
    async fn get_versions(
        &self,
        _: Request<v0::get_versions::Request>,
    ) -> Result<Response<v0::get_versions::Response>, Status> {
        Ok(Response::new(v0::get_versions::Response {
            versions: vec!["v3".into()],
        }))
    }
}

/// Resolves when SIGINT or SIGTERM arrives (the CLI ends plugins with SIGINT). The handlers are
/// installed at once, before the server says it listens, so an early signal is not fatal.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Serves until SIGINT/SIGTERM.
pub async fn serve(options: ServeOptions) -> anyhow::Result<()> {
    let service = PluginService {
        metrics: options
            .otel_endpoint
            .as_deref()
            .map(|endpoint| Arc::new(Exporter::new(endpoint, options.otel_endpoint_insecure))),
        ..PluginService::default()
    };
    let plugin = PluginServer::new(service)
        .max_decoding_message_size(entrasync_proto::MAX_MESSAGE_SIZE)
        .max_encoding_message_size(entrasync_proto::MAX_MESSAGE_SIZE);
    let router = tonic::transport::Server::builder()
        .add_service(v1::discovery_server::DiscoveryServer::new(DiscoveryV1))
        .add_service(v0::discovery_server::DiscoveryServer::new(DiscoveryV0))
        .add_service(plugin);
    // Stop accepting at the signal; give in-flight calls a moment, then leave with 0: the CLI
    // kills plugins that linger and counts a non-zero exit as a failure.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = shutdown_signal()?;
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(());
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        std::process::exit(0);
    });
    let stop = async {
        let _ = stop_rx.await;
    };
    match options.network.as_str() {
        "unix" | "unixpacket" => {
            let path = std::path::PathBuf::from(&options.address);
            // A stale socket file from a killed run would make bind fail.
            let _ = std::fs::remove_file(&path);
            let listener = tokio::net::UnixListener::bind(&path).map_err(|e| {
                anyhow::anyhow!("cannot listen on unix socket {}: {e}", path.display())
            })?;
            tracing::info!(address = %options.address, network = "unix", "Plugin server listening");
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            let result = router.serve_with_incoming_shutdown(incoming, stop).await;
            let _ = std::fs::remove_file(&path);
            result?;
        }
        "tcp" | "tcp4" | "tcp6" => {
            let listener = tokio::net::TcpListener::bind(&options.address)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.address))?;
            let local = listener.local_addr()?;
            tracing::info!(address = %local, network = "tcp", "Plugin server listening");
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            router.serve_with_incoming_shutdown(incoming, stop).await?;
        }
        other => anyhow::bail!("--network {other}: use tcp or unix"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTP/2 frame: 24-bit length, type, flags, stream id.
    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// Sends GetVersions with `authority` as `:authority` over a raw HTTP/2 connection on a
    /// unix socket (HPACK literals, as any client may spell them) and returns the type of the
    /// first frame the server sends on stream 1: 0x1 (HEADERS, answered) or 0x3 (RST_STREAM).
    async fn first_reply(authority: &str) -> u8 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cq-test.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(v1::discovery_server::DiscoveryServer::new(DiscoveryV1))
                .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener)),
        );
        let mut conn = tokio::net::UnixStream::connect(&path).await.unwrap();
        let mut block = Vec::new();
        for (name, value) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/cloudquery.discovery.v1.Discovery/GetVersions"),
            (":authority", authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ] {
            block.push(0x00); // literal header field without indexing, new name
            block.push(name.len() as u8);
            block.extend_from_slice(name.as_bytes());
            block.push(value.len() as u8);
            block.extend_from_slice(value.as_bytes());
        }
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        out.extend(frame(0x4, 0, 0, &[])); // SETTINGS
        out.extend(frame(0x1, 0x4, 1, &block)); // HEADERS, END_HEADERS
        out.extend(frame(0x0, 0x1, 1, &[0, 0, 0, 0, 0])); // DATA: empty message, END_STREAM
        conn.write_all(&out).await.unwrap();
        let reply = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let mut head = [0u8; 9];
                conn.read_exact(&mut head).await.unwrap();
                let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
                let mut payload = vec![0u8; len];
                conn.read_exact(&mut payload).await.unwrap();
                let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
                if head[3] == 0x4 && head[4] & 0x1 == 0 {
                    conn.write_all(&frame(0x4, 0x1, 0, &[])).await.unwrap(); // SETTINGS ACK
                }
                if head[3] == 0x7 {
                    return 0x7; // GOAWAY
                }
                if stream == 1 {
                    return head[3];
                }
            }
        })
        .await
        .expect("the server answers within 10 s");
        server.abort();
        reply
    }

    #[tokio::test]
    async fn unix_socket_authorities_of_every_grpc_client_are_accepted() {
        // grpc-go (the CloudQuery CLI), grpc C-core (Python, C++, Ruby), a plain host.
        for authority in ["/tmp/cq-123.sock", "tmp%2Fcq-123.sock", "localhost"] {
            assert_eq!(
                first_reply(authority).await,
                0x1,
                "{authority:?}: expected HEADERS, not RST_STREAM (0x3) or GOAWAY (0x7)"
            );
        }
    }
}
