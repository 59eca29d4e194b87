//! Collections and singletons read whole on every sync.

use super::{Link, Read, Scheduler, TableRun, list_query};
use crate::graph::GraphError;
use crate::tables::Source;
use std::sync::Arc;

impl Scheduler {
    pub(super) async fn read_full(
        &self,
        run: &Arc<TableRun>,
        children: &[Arc<TableRun>],
        jobs: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<(), GraphError> {
        match run.table.source {
            Source::List { path } => {
                let mut query = list_query(run.table, path, None);
                if let Some(child) = expanded_child(children) {
                    let relationship = child.table.expand.expect("expanded_child checks it");
                    query.push_str(if query.contains('?') { "&" } else { "?" });
                    query.push_str(&format!("$expand={relationship}"));
                }
                let mut url = self.client.url(&query);
                let mut chain = self.client.chain();
                loop {
                    let (objects, next) = self.page(&url, &run.traffic).await?;
                    self.emit(run, &objects, children, jobs, Read::Listing)
                        .await?;
                    match next {
                        Link::Next(next) => {
                            chain.follow(&next)?;
                            url = next;
                        }
                        _ => return Ok(()),
                    }
                }
            }
            Source::Singleton { path } => {
                let url = self
                    .client
                    .url(&format!("/{}{path}", run.table.version.segment()));
                let object = self.client.get(&url, &run.traffic).await?;
                self.emit(run, &[object], children, jobs, Read::Listing)
                    .await
            }
            Source::Child { .. } | Source::Computed { .. } => Ok(()),
        }
    }
}

/// The child table a listing of its parents reads with `$expand` (Graph expands one
/// relationship a request): the first selected one that allows it.
pub(super) fn expanded_child(children: &[Arc<TableRun>]) -> Option<&Arc<TableRun>> {
    children
        .iter()
        .find(|c| c.table.expand.is_some() && !c.stopped.load(std::sync::atomic::Ordering::Relaxed))
}
