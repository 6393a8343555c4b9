//! The generating worker: a generator forward pass takes from milliseconds to seconds and uses
//! every core, so requests that run one take turns, one at a time, off the async threads; a
//! few more may wait, and beyond that a request is turned away at once ("busy") rather than
//! piling up. Listing runs, charts and samples never waits for it.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::api_error::ApiError;

/// Requests that may wait for their turn besides the one running.
pub const QUEUE: usize = 4;

#[derive(Clone)]
pub struct Worker {
    /// Admission: the running request and those waiting.
    slots: Arc<Semaphore>,
    /// The turn: one at a time.
    turn: Arc<Semaphore>,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            slots: Arc::new(Semaphore::new(QUEUE + 1)),
            turn: Arc::new(Semaphore::new(1)),
        }
    }
}

impl Worker {
    /// Run `job` on a blocking thread when its turn comes; a full queue is a 503 at once, and
    /// a job that panics is a 500, never a dead server.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| {
            ApiError::busy(format!(
                "busy: {} generations are running or waiting; try again in a moment",
                QUEUE + 1
            ))
        })?;
        let turn = self
            .turn
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("the generating worker has stopped"))?;
        // The permits go with the job: a client that hangs up drops this future, but the job
        // runs on, and keeps its turn until it ends.
        tokio::task::spawn_blocking(move || {
            let _held = (slot, turn);
            job()
        })
        .await
        .map_err(|e| ApiError::internal(format!("generating failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn one_job_at_a_time_a_short_queue_then_busy_and_a_panic_is_a_500() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let worker = Worker::default();
            let running = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let (release, gate) = mpsc::channel::<()>();
            let gate = Arc::new(std::sync::Mutex::new(gate));
            // QUEUE + 1 jobs that each wait for a release: one runs, QUEUE wait their turn.
            let mut jobs = Vec::new();
            for i in 0..=QUEUE {
                let (w, running, most, gate) =
                    (worker.clone(), running.clone(), most.clone(), gate.clone());
                jobs.push(tokio::spawn(async move {
                    w.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        gate.lock().unwrap().recv().unwrap();
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(i)
                    })
                    .await
                }));
            }
            while worker.slots.available_permits() > 0 {
                tokio::task::yield_now().await;
            }
            // The queue is full: the next request is turned away at once …
            let busy = worker.run(|| Ok(())).await.unwrap_err();
            assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
            // … while other work goes on (the runtime is not blocked by the waiting jobs).
            assert_eq!(tokio::task::spawn(async { 7 }).await.unwrap(), 7);
            for _ in 0..=QUEUE {
                release.send(()).unwrap();
            }
            let mut done = Vec::new();
            for j in jobs {
                done.push(j.await.unwrap().unwrap());
            }
            done.sort_unstable();
            assert_eq!(done, (0..=QUEUE).collect::<Vec<_>>());
            assert_eq!(most.load(Ordering::SeqCst), 1, "one at a time");
            // A request whose client hangs up mid-job: the job keeps its turn until it ends.
            let (release, gate) = mpsc::channel::<()>();
            let (started, running) = mpsc::channel::<()>();
            let w = worker.clone();
            let abandoned = tokio::spawn(async move {
                w.run(move || {
                    started.send(()).unwrap();
                    gate.recv().unwrap();
                    Ok(())
                })
                .await
            });
            tokio::task::spawn_blocking(move || running.recv().unwrap())
                .await
                .unwrap();
            abandoned.abort();
            assert!(abandoned.await.unwrap_err().is_cancelled());
            assert_eq!(worker.turn.available_permits(), 0, "still its turn");
            assert_eq!(worker.slots.available_permits(), QUEUE, "still its slot");
            release.send(()).unwrap();
            while worker.turn.available_permits() == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            assert_eq!(worker.slots.available_permits(), QUEUE + 1);
            // A job that panics is an error for its request only.
            let err = worker
                .run(|| -> Result<(), ApiError> { panic!("boom") })
                .await
                .unwrap_err();
            assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(worker.run(|| Ok(5)).await.unwrap(), 5);
        });
    }
}
