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
                let mut url = self.client.url(&list_query(run.table, path, None));
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
