//! Live reload of the rules directory: a saved change is compiled and swapped in,
//! usually within a few tens of milliseconds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::Rules;

/// Watches `dir` and reloads `rules` after every change (debounced by 50 ms). The
/// returned watcher must be kept alive; dropping it stops the reloads.
pub fn watch_dir(rules: Arc<Rules>, dir: PathBuf) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let _ = tx.send(event);
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            if let Err(e) = first {
                tracing::warn!(error = %e, "rules directory watch error");
            }
            // Editors write a file in several steps; let them finish.
            tokio::time::sleep(Duration::from_millis(50)).await;
            while rx.try_recv().is_ok() {}
            let errors = rules.load_dir(&dir);
            for e in &errors {
                tracing::error!(error = %e, "rule not loaded; the version in force stays");
            }
            tracing::info!(rules = ?rules.names(), "rules reloaded");
        }
    });
    Ok(watcher)
}
