//! Following a run: its main container's output and its exit.

use futures_util::stream::BoxStream;
use slipway_core::{ContainerId, Error, LogLine, LogOptions, Result, RunId};

use super::RunManager;

impl RunManager {
    /// The main container's output from its start, following it until the container exits.
    pub async fn attach(&self, id: &RunId) -> Result<BoxStream<'static, Result<LogLine>>> {
        let main = self.main_container(id).await?;
        Ok(self.runtime.logs(&main, &LogOptions::follow()))
    }

    /// Waits until the main container exits; its exit code.
    pub async fn wait(&self, id: &RunId) -> Result<i64> {
        let main = self.main_container(id).await?;
        self.runtime.wait_container(&main).await
    }

    async fn main_container(&self, id: &RunId) -> Result<ContainerId> {
        self.get(id).await?.main_container_id.ok_or_else(|| {
            Error::not_found(format!("the main container of run {id} (it never started)"))
        })
    }
}
