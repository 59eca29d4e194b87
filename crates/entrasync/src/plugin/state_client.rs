//! The source's client for CloudQuery's state backend (reference §5): the source itself dials
//! the destination plugin named in `Sync.Request.backend` and keeps `key`/`value`/`version`
//! rows in the table `backend.table_name`, exactly as the Go SDK's state client does:
//! migrate the table, read it whole, and at the end write the changed keys in one insert.

use super::ipc;
use anyhow::{Context, anyhow, bail};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow_schema::SchemaRef;
use entrasync_proto::discovery::v1::discovery_client::DiscoveryClient;
use entrasync_proto::discovery::v1::get_versions;
use entrasync_proto::plugin::v3::plugin_client::PluginClient;
use entrasync_proto::plugin::v3::{read, write};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tonic::transport::{Channel, Endpoint};

pub struct StateClient {
    client: PluginClient<Channel>,
    table: String,
    schema: SchemaRef,
    /// key → (value, version)
    values: HashMap<String, (String, u64)>,
    changed: BTreeSet<String>,
}

/// Opens a gRPC channel to `unix:///path.sock` or a bare `host:port` (as `registry: grpc`
/// destinations are given).
pub async fn channel(connection: &str) -> anyhow::Result<Channel> {
    if let Some(path) = connection.strip_prefix("unix://") {
        let path = path.to_string();
        // The URI is a placeholder: the connector ignores it and dials the socket.
        let endpoint = Endpoint::try_from("http://[::]:50051")?;
        endpoint
            .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
            .await
            .with_context(|| format!("cannot connect to the state backend {connection}"))
    } else {
        let uri = if connection.contains("://") {
            connection.to_string()
        } else {
            format!("http://{connection}")
        };
        Endpoint::from_shared(uri)?
            .connect()
            .await
            .with_context(|| format!("cannot connect to the state backend {connection}"))
    }
}

impl StateClient {
    pub async fn connect(connection: &str, table: &str) -> anyhow::Result<StateClient> {
        let channel = channel(connection).await?;
        let versions = DiscoveryClient::new(channel.clone())
            .get_versions(get_versions::Request {})
            .await
            .context("state backend: discovery failed")?
            .into_inner()
            .versions;
        if !versions.contains(&3) {
            bail!(
                "please upgrade your state backend plugin: it supports protocol versions {versions:?}, and state needs 3"
            );
        }
        let client = PluginClient::new(channel)
            .max_decoding_message_size(entrasync_proto::MAX_MESSAGE_SIZE)
            .max_encoding_message_size(entrasync_proto::MAX_MESSAGE_SIZE);
        let schema = Arc::new(entrasync_sinks::cq::state_schema(table));
        let mut me = StateClient {
            client,
            table: table.to_string(),
            schema,
            values: HashMap::new(),
            changed: BTreeSet::new(),
        };
        me.migrate().await?;
        me.read().await?;
        Ok(me)
    }

    async fn migrate(&mut self) -> anyhow::Result<()> {
        let request = write::Request {
            message: Some(write::request::Message::MigrateTable(
                write::MessageMigrateTable {
                    table: ipc::schema_to_bytes(&self.schema)?,
                    migrate_force: false,
                },
            )),
        };
        self.client
            .write(tokio_stream::iter(vec![request]))
            .await
            .with_context(|| {
                format!(
                    "state backend: cannot create the state table {}",
                    self.table
                )
            })?;
        Ok(())
    }

    async fn read(&mut self) -> anyhow::Result<()> {
        let mut stream = self
            .client
            .read(read::Request {
                table: ipc::schema_to_bytes(&self.schema)?,
            })
            .await
            .with_context(|| format!("state backend: cannot read the state table {}", self.table))?
            .into_inner();
        while let Some(response) = stream.message().await? {
            let batch = ipc::record_from_bytes(&response.record)?;
            let text = |name: &str| -> anyhow::Result<StringArray> {
                let col = batch
                    .column_by_name(name)
                    .ok_or_else(|| anyhow!("state table row lacks the column {name}"))?;
                arrow_cast_utf8(col)
            };
            let keys = text("key")?;
            let values = text("value")?;
            let versions = batch
                .column_by_name("version")
                .and_then(|c| c.as_any().downcast_ref::<UInt64Array>().cloned());
            for i in 0..batch.num_rows() {
                if keys.is_null(i) {
                    continue;
                }
                let version = versions.as_ref().map(|v| v.value(i)).unwrap_or(0);
                let value = if values.is_null(i) {
                    String::new()
                } else {
                    values.value(i).to_string()
                };
                // A key stored twice (append-only destinations): the highest version wins.
                let entry = self
                    .values
                    .entry(keys.value(i).to_string())
                    .or_insert((value.clone(), version));
                if version >= entry.1 {
                    *entry = (value, version);
                }
            }
        }
        Ok(())
    }

    /// Every key and value read from the backend.
    pub fn values(&self) -> HashMap<String, String> {
        self.values
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }

    pub fn set(&mut self, key: &str, value: &str) {
        match self.values.get_mut(key) {
            Some((old, _)) if old == value => {}
            Some((old, version)) => {
                *old = value.to_string();
                *version += 1;
                self.changed.insert(key.to_string());
            }
            None => {
                self.values.insert(key.to_string(), (value.to_string(), 1));
                self.changed.insert(key.to_string());
            }
        }
    }

    /// Writes the changed keys, in inserts of bounded size.
    pub async fn flush(&mut self) -> anyhow::Result<usize> {
        if self.changed.is_empty() {
            return Ok(0);
        }
        // Inserts of at most about a megabyte each: gRPC refuses messages over 4 MiB.
        const MESSAGE_BYTES: usize = 1 << 20;
        let mut groups: Vec<Vec<&String>> = vec![Vec::new()];
        let mut size = 0;
        for key in &self.changed {
            let bytes = key.len() + self.values[key].0.len() + 16;
            if size + bytes > MESSAGE_BYTES && !groups.last().expect("one").is_empty() {
                groups.push(Vec::new());
                size = 0;
            }
            size += bytes;
            groups.last_mut().expect("one").push(key);
        }
        let mut requests = Vec::new();
        for keys in groups {
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(
                    keys.iter().map(|k| k.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    keys.iter().map(|k| self.values[*k].0.as_str()),
                )),
                Arc::new(UInt64Array::from_iter_values(
                    keys.iter().map(|k| self.values[*k].1),
                )),
            ];
            let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
            requests.push(write::Request {
                message: Some(write::request::Message::Insert(write::MessageInsert {
                    record: ipc::record_to_bytes(&batch)?,
                })),
            });
        }
        self.client
            .write(tokio_stream::iter(requests))
            .await
            .with_context(|| {
                format!("state backend: cannot write the state table {}", self.table)
            })?;
        let n = self.changed.len();
        self.changed.clear();
        Ok(n)
    }
}

fn arrow_cast_utf8(col: &ArrayRef) -> anyhow::Result<StringArray> {
    if let Some(s) = col.as_any().downcast_ref::<StringArray>() {
        return Ok(s.clone());
    }
    if let Some(s) = col.as_any().downcast_ref::<arrow_array::LargeStringArray>() {
        return Ok(s.iter().collect());
    }
    bail!("state table column is {}, not utf8", col.data_type())
}
