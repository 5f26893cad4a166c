//! Producing the next batch while the current one is sent.
//!
//! Generating and encoding rows is the seeder's CPU work; parsing and
//! storing them is the server's. Done in turn, each side idles while the
//! other works. Here the producer runs one batch ahead: while batch k is in
//! flight (written to the socket, the server busy with it, its answer not
//! yet back), batch k+1 is built on the seeder's side. The queue between
//! the two holds that one batch, so memory stays at two batches whatever
//! the fleet's size.
//!
//! Both run in the tenant's task: `send` is polled first (it writes what
//! the socket takes and waits), then `build` runs to completion, then
//! `send` is awaited. No thread is needed because the other side of the
//! overlap is another process (the database server; for SQLite, sqlx's
//! worker thread). How much overlaps depends on the send: a COPY chunk or
//! a MySQL text statement goes out as far as the socket's buffer allows
//! (the rest once `build` is done); PostgreSQL's bound statements (the
//! JSON path) first wait for the server to parse, so there the data goes
//! out only after `build`, and little overlaps.

use std::future::Future;

/// Runs `send` and `build` concurrently, `send` started first, and returns
/// both results: `send`'s outcome and the next batch.
pub async fn send_while_building<S, B, T>(send: S, build: B) -> (S::Output, T)
where
    S: Future,
    B: FnOnce() -> T,
{
    futures_util::future::join(send, async move { build() }).await
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// A send that is pending once (as a network write waiting for the
    /// server's answer) and records when it started and ended.
    struct Send<'a> {
        log: &'a RefCell<Vec<&'static str>>,
        polled: bool,
    }

    impl Future for Send<'_> {
        type Output = &'static str;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
            if self.polled {
                self.log.borrow_mut().push("send done");
                Poll::Ready("sent")
            } else {
                self.polled = true;
                self.log.borrow_mut().push("send started");
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn the_next_batch_is_built_while_the_send_is_in_flight() {
        let log = RefCell::new(Vec::new());
        let mut both = std::pin::pin!(send_while_building(
            Send {
                log: &log,
                polled: false,
            },
            || {
                log.borrow_mut().push("built");
                7
            },
        ));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let (sent, built) = loop {
            if let Poll::Ready(out) = both.as_mut().poll(&mut cx) {
                break out;
            }
        };
        assert_eq!((sent, built), ("sent", 7));
        assert_eq!(
            *log.borrow(),
            ["send started", "built", "send done"],
            "the build must happen between the send's start and its end"
        );
    }
}
