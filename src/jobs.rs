//! Bulk jobs: the worker every instance runs.
//!
//! A job is queued in the database. Any instance's worker takes it under a lease, then
//! generates its codes chunk by chunk: each chunk's codes and the job's progress commit
//! together, re-checking the lease (see `service::jobs::write_chunk`). The worker is
//! woken when this instance queues a job and looks for work every second otherwise, so
//! jobs queued on another instance, or left by one that died, are taken over where they
//! stopped. On shutdown it stops between chunks and gives its lease up.
//!
//! Codes are drawn from the operating system's randomness through a cryptographically
//! secure generator (`rand::rng()`: ChaCha, seeded and reseeded from the OS).

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coupons_domain::CodePattern;
use rand::Rng;
use tokio::sync::{Notify, watch};

use crate::service;
use crate::storage::{Chunk, Db, StorageError, StoredJob, jobs};

/// How jobs are run.
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    /// Codes generated and written per transaction.
    pub chunk: usize,
    /// How long a lease lasts without renewal; each chunk renews it.
    pub lease: Duration,
    /// Longest wait between looks for work.
    pub idle: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            chunk: 10_000,
            lease: Duration::from_secs(30),
            idle: Duration::from_secs(1),
        }
    }
}

/// Wakes this instance's worker when a job is queued.
#[derive(Debug, Clone, Default)]
pub struct JobWaker(Arc<Notify>);

impl JobWaker {
    /// Tells the worker there is work.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The running worker.
pub struct JobWorker {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl JobWorker {
    /// Starts the worker of this instance.
    pub fn start(db: Db, waker: &JobWaker, settings: JobSettings) -> Self {
        let (stop, stopped) = watch::channel(false);
        let owner = format!("{:016x}", rand::rng().random::<u64>());
        let task = tokio::spawn(run(db, waker.clone(), settings, owner, stopped));
        Self { stop, task }
    }

    /// Stops after the chunk in flight and gives the lease up.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "job worker ended abnormally");
        }
    }
}

fn stopping(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

async fn run(
    db: Db,
    waker: JobWaker,
    settings: JobSettings,
    owner: String,
    mut stop: watch::Receiver<bool>,
) {
    let lease = TimeDelta::from_std(settings.lease).unwrap_or(TimeDelta::seconds(30));
    while !stopping(&stop) {
        let (owner, now) = (owner.as_str(), Utc::now());
        let claimed = db
            .write(async move |mut c| jobs::claim_job(&mut c, owner, lease, now).await)
            .await;
        match claimed {
            Ok(Some(job)) => {
                tracing::info!(
                    job = job.id,
                    done = job.done,
                    total = job.total,
                    "job taken"
                );
                run_job(&db, owner, &job, settings, lease, &stop).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot look for jobs"),
        }
        tokio::select! {
            () = waker.0.notified() => {}
            () = tokio::time::sleep(settings.idle) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Tries of one chunk before the job is failed.
const CHUNK_TRIES: u32 = 5;
/// Chunks in a row that add no code before the job is failed.
const STALLS: u32 = 3;

async fn run_job(
    db: &Db,
    owner: &str,
    job: &StoredJob,
    settings: JobSettings,
    lease: TimeDelta,
    stop: &watch::Receiver<bool>,
) {
    let pattern = match job
        .spec()
        .map_err(|e| e.to_string())
        .and_then(|s| s.pattern().map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => {
            fail(
                db,
                owner,
                job.id,
                &format!("the job's pattern is not usable: {e}"),
            )
            .await;
            return;
        }
    };
    let mut remaining = job.total - job.done;
    let mut stalls = 0;
    while remaining > 0 {
        if stopping(stop) {
            let job_id = job.id;
            let released = db
                .write(async move |mut c| jobs::release_job(&mut c, job_id, owner).await)
                .await;
            if let Err(e) = released {
                tracing::warn!(job = job.id, error = %e, "could not give the lease up");
            }
            return;
        }
        let count = usize::try_from(remaining).map_or(settings.chunk, |r| r.min(settings.chunk));
        let codes = generate(&pattern, count);
        match write_chunk(db, owner, job.id, &codes, lease).await {
            Ok(Chunk::Stored { complete: true, .. }) => {
                tracing::info!(job = job.id, "job done");
                return;
            }
            Ok(Chunk::Stored { inserted, .. }) => {
                remaining -= inserted;
                stalls = if inserted == 0 { stalls + 1 } else { 0 };
                if stalls >= STALLS {
                    let msg =
                        "no free code left in the pattern: several chunks in a row were all taken";
                    fail(db, owner, job.id, msg).await;
                    return;
                }
            }
            Ok(Chunk::Cancelled) => {
                tracing::info!(job = job.id, "job cancelled");
                return;
            }
            Ok(Chunk::LeaseLost) => {
                tracing::warn!(job = job.id, "job taken over or gone; stopping");
                return;
            }
            Err(e) => {
                tracing::error!(job = job.id, error = %e, "job failed");
                fail(
                    db,
                    owner,
                    job.id,
                    &format!("the codes could not be written: {e}"),
                )
                .await;
                return;
            }
        }
    }
}

/// Writes a chunk, trying again after passing faults (a busy database, a lost
/// connection) with a growing pause.
async fn write_chunk(
    db: &Db,
    owner: &str,
    job: i64,
    codes: &[String],
    lease: TimeDelta,
) -> Result<Chunk, StorageError> {
    let mut pause = Duration::from_millis(100);
    let mut tries = 1;
    loop {
        let now = Utc::now();
        let written = service::jobs::write_chunk(db, job, owner, codes, lease, now).await;
        match written {
            Err(e) if tries < CHUNK_TRIES => {
                tracing::warn!(job, error = %e, tries, "chunk not written; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
                tries += 1;
            }
            other => return other,
        }
    }
}

async fn fail(db: &Db, owner: &str, job: i64, message: &str) {
    let now = Utc::now();
    let failed = db
        .write(async move |mut c| jobs::fail_job(&mut c, job, owner, message, now).await)
        .await;
    if let Err(e) = failed {
        tracing::error!(job, error = %e, "could not record the job's failure");
    }
}

/// `count` codes of `pattern`, drawn with a cryptographically secure generator.
pub fn generate(pattern: &CodePattern, count: usize) -> Vec<String> {
    let mut rng = rand::rng();
    (0..count)
        .map(|_| pattern.generate(|n| rng.random_range(0..n)))
        .collect()
}
