//! Waiting on a condition with a deadline. A test never sleeps and then
//! asserts: it polls until the condition holds or the deadline passes, and a
//! timeout says what it was waiting for and what it saw last.

use std::time::{Duration, Instant};

/// Interval between two probes.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// One probe's answer for [`wait_until`].
#[derive(Debug)]
pub enum Poll<T> {
    /// The condition holds.
    Ready(T),
    /// Not yet; the text says what was seen (it ends up in the timeout message).
    Waiting(String),
}

/// Polls `probe` until it returns `Some` or `timeout` passes; panics on
/// timeout with "timed out after … waiting for `what`".
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_until(timeout, what, || {
        let fut = probe();
        async move {
            match fut.await {
                Some(value) => Poll::Ready(value),
                None => Poll::Waiting("condition not met".into()),
            }
        }
    })
    .await
}

/// Polls `probe` until it is [`Poll::Ready`] or `timeout` passes; panics on
/// timeout with `what` and the last [`Poll::Waiting`] text.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Poll<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let seen = match probe().await {
            Poll::Ready(value) => return value,
            Poll::Waiting(seen) => seen,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last seen: {seen}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
