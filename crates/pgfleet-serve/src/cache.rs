//! A collector's cached result: fresh values are served from memory, a stale one is refreshed
//! by one background task whatever the number of concurrent scrapes or probes (single flight),
//! and a caller waits for that refresh only until its own deadline. The refresh keeps running
//! after a caller gives up, so a wedged database never piles up queries: the next caller joins
//! the refresh already in flight.
//!
//! Ages count from the start of a refresh, so cells refreshed by one scrape expire together.
//! A cell that may serve stale values (the slow collectors) answers at once with a value up to
//! twice its TTL old while the refresh runs in the background: a scrape then never waits for
//! them, and their figures are at most one refresh behind.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What a refresh produced: the value, or the reason there is none.
pub type Outcome<T> = Result<Arc<T>, String>;

#[derive(Debug)]
pub struct Cell<T> {
    ttl: Duration,
    /// A failure is retried sooner than a value is refreshed.
    error_ttl: Duration,
    /// Answer with a value up to 2 × TTL old while it is refreshed.
    serve_stale: bool,
    state: Mutex<State<T>>,
}

#[derive(Debug)]
struct State<T> {
    last: Option<(Instant, Outcome<T>)>,
    /// Set while a refresh runs; its value turns `true` when the refresh has stored its outcome.
    inflight: Option<watch::Receiver<bool>>,
}

/// Whether the caller that started a refresh waits for it: a background refresh (a stale value
/// was served) may queue for its turn, an awaited one should not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    Background,
    Awaited,
}

/// What a caller got back.
#[derive(Debug, Clone)]
pub enum Read<T> {
    Ready(Outcome<T>),
    /// The refresh did not finish before the caller's deadline.
    TimedOut,
}

impl<T: Send + Sync + 'static> Cell<T> {
    pub fn new(ttl: Duration, error_ttl: Duration, serve_stale: bool) -> Arc<Self> {
        Arc::new(Self {
            ttl,
            error_ttl: error_ttl.min(ttl),
            serve_stale,
            state: Mutex::new(State {
                last: None,
                inflight: None,
            }),
        })
    }

    /// The cached outcome when younger than the TTL; otherwise the outcome of a refresh (started
    /// now, or joined), waited for until `deadline`.
    pub async fn get<F, Fut>(self: &Arc<Self>, deadline: Instant, refresh: F) -> Read<T>
    where
        F: FnOnce(Refresh) -> Fut,
        Fut: Future<Output = Result<T, String>> + Send + 'static,
    {
        let mut receiver = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let mut stale = None;
            if let Some((at, outcome)) = &state.last {
                let age = at.elapsed();
                if age
                    < if outcome.is_ok() {
                        self.ttl
                    } else {
                        self.error_ttl
                    }
                {
                    return Read::Ready(outcome.clone());
                }
                if self.serve_stale && outcome.is_ok() && age < self.ttl * 2 {
                    stale = Some(outcome.clone());
                }
            }
            let receiver = match &state.inflight {
                Some(receiver) => receiver.clone(),
                None => {
                    let (sender, receiver) = watch::channel(false);
                    state.inflight = Some(receiver.clone());
                    let cell = Arc::clone(self);
                    let work = refresh(if stale.is_some() {
                        Refresh::Background
                    } else {
                        Refresh::Awaited
                    });
                    let started = Instant::now();
                    tokio::spawn(async move {
                        let outcome = work.await.map(Arc::new);
                        let mut state = cell.state.lock().unwrap_or_else(|e| e.into_inner());
                        state.last = Some((started, outcome));
                        state.inflight = None;
                        drop(state);
                        let _ = sender.send(true);
                    });
                    receiver
                }
            };
            if let Some(outcome) = stale {
                return Read::Ready(outcome);
            }
            receiver
        };
        let waited = tokio::time::timeout_at(
            tokio::time::Instant::from_std(deadline),
            receiver.wait_for(|done| *done),
        )
        .await;
        match waited {
            Ok(_) => {
                let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                match &state.last {
                    Some((_, outcome)) => Read::Ready(outcome.clone()),
                    None => Read::TimedOut,
                }
            }
            Err(_) => Read::TimedOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_refresh_serves_concurrent_callers_and_the_ttl() {
        let cell = Cell::<usize>::new(Duration::from_secs(60), Duration::from_secs(60), false);
        let runs = Arc::new(AtomicUsize::new(0));
        let mut callers = Vec::new();
        for _ in 0..20 {
            let cell = cell.clone();
            let runs = runs.clone();
            callers.push(tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(5);
                cell.get(deadline, move |_| async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(runs.fetch_add(1, Ordering::SeqCst) + 1)
                })
                .await
            }));
        }
        for caller in callers {
            match caller.await.expect("joins") {
                Read::Ready(Ok(v)) => assert_eq!(*v, 1),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_slow_refresh_times_out_the_caller_but_still_lands() {
        let cell = Cell::<u8>::new(Duration::from_secs(60), Duration::from_secs(60), false);
        let deadline = Instant::now() + Duration::from_millis(20);
        let read = cell
            .get(deadline, |_| async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(7)
            })
            .await;
        assert!(matches!(read, Read::TimedOut));
        // A second caller joins the refresh in flight instead of starting another.
        let deadline = Instant::now() + Duration::from_secs(5);
        let read = cell
            .get(deadline, |_| async { Err("must not run".to_owned()) })
            .await;
        assert!(matches!(read, Read::Ready(Ok(v)) if *v == 7));
    }

    #[tokio::test]
    async fn a_stale_value_is_refreshed() {
        let cell = Cell::<u8>::new(Duration::from_millis(10), Duration::from_millis(10), false);
        let deadline = || Instant::now() + Duration::from_secs(5);
        let first = cell.get(deadline(), |_| async { Ok(1) }).await;
        assert!(matches!(first, Read::Ready(Ok(v)) if *v == 1));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = cell
            .get(deadline(), |_| async { Err("down".to_owned()) })
            .await;
        assert!(matches!(second, Read::Ready(Err(e)) if e == "down"));
    }

    #[tokio::test]
    async fn a_failure_is_retried_after_the_shorter_error_ttl() {
        let cell = Cell::<u8>::new(Duration::from_secs(60), Duration::from_millis(10), false);
        let deadline = || Instant::now() + Duration::from_secs(5);
        let first = cell
            .get(deadline(), |_| async { Err("down".to_owned()) })
            .await;
        assert!(matches!(first, Read::Ready(Err(_))));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = cell.get(deadline(), |_| async { Ok(2) }).await;
        assert!(matches!(second, Read::Ready(Ok(v)) if *v == 2));
        let third = cell.get(deadline(), |_| async { Ok(3) }).await;
        assert!(
            matches!(third, Read::Ready(Ok(v)) if *v == 2),
            "a value is kept for its TTL"
        );
    }

    #[tokio::test]
    async fn a_stale_value_is_served_at_once_while_it_is_refreshed() {
        let ttl = Duration::from_millis(300);
        let cell = Cell::<u8>::new(ttl, ttl, true);
        let deadline = || Instant::now() + Duration::from_secs(5);
        let first = cell.get(deadline(), |_| async { Ok(1) }).await;
        assert!(matches!(first, Read::Ready(Ok(v)) if *v == 1));
        tokio::time::sleep(Duration::from_millis(320)).await;
        let started = Instant::now();
        let stale = cell
            .get(deadline(), |_| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(2)
            })
            .await;
        assert!(
            matches!(stale, Read::Ready(Ok(v)) if *v == 1),
            "the stale value"
        );
        assert!(
            started.elapsed() < Duration::from_millis(80),
            "without waiting"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        let fresh = cell.get(deadline(), |_| async { Ok(3) }).await;
        assert!(
            matches!(fresh, Read::Ready(Ok(v)) if *v == 2),
            "the refreshed value"
        );
        // Older than twice the TTL: too old to serve, the caller waits for the refresh.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let waited = cell.get(deadline(), |_| async { Ok(4) }).await;
        assert!(matches!(waited, Read::Ready(Ok(v)) if *v == 4));
    }

    #[tokio::test]
    async fn a_refresh_knows_whether_its_caller_waits() {
        let ttl = Duration::from_millis(100);
        let cell = Cell::<Refresh>::new(ttl, ttl, true);
        let deadline = || Instant::now() + Duration::from_secs(5);
        let first = cell.get(deadline(), |kind| async move { Ok(kind) }).await;
        assert!(
            matches!(first, Read::Ready(Ok(k)) if *k == Refresh::Awaited),
            "nothing to serve yet: the caller waits"
        );
        tokio::time::sleep(Duration::from_millis(120)).await;
        // Stale: served at once, refreshed behind the caller's back.
        let _ = cell.get(deadline(), |kind| async move { Ok(kind) }).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let stored = cell
            .get(deadline(), |_| async { Err("must not run".to_owned()) })
            .await;
        assert!(matches!(stored, Read::Ready(Ok(k)) if *k == Refresh::Background));
        tokio::time::sleep(Duration::from_millis(250)).await;
        let waited = cell.get(deadline(), |kind| async move { Ok(kind) }).await;
        assert!(
            matches!(waited, Read::Ready(Ok(k)) if *k == Refresh::Awaited),
            "too old to serve: the caller waits"
        );
    }
}
