//! The batch path of the receive loop ([`Receiver::recv_batch`]): every
//! ready data completion handed to a closure, their buffers given back in
//! one go.

use alloc::collections::VecDeque;
use core::time::Duration;

use super::{ConnId, Receiver, Recv, dispatch, push};
use crate::error::Result;
use crate::ring::{Completion, CqeMode};

impl<'z, M: CqeMode> Receiver<'z, M> {
    /// Receives in batches: hands every data completion that is ready to
    /// `f(conn, data)` and gives all their buffers back in one go (each
    /// view checked as [`recv`](Self::recv) does, the refill entries written
    /// as the views are made, the tail published once per run: see
    /// [`Zcrx::for_each_view`](crate::Zcrx::for_each_view)). Blocks until something arrives.
    ///
    /// Returns `Ok(None)` after handing data to `f`, and `Ok(Some(event))`
    /// for the next event that is not data (end of stream, failure, another
    /// request's completion, …), possibly after handing `f` the data that
    /// came before it. The data cannot be kept past `f`: for views that
    /// outlive the call, use [`recv`](Self::recv).
    ///
    /// ```no_run
    /// use zcrx_ring::{Recv, Receiver};
    /// # fn demo(rx: &mut Receiver<'_>) -> zcrx_ring::Result<u64> {
    /// let mut bytes = 0u64;
    /// loop {
    ///     match rx.recv_batch(|_conn, data| bytes += data.len() as u64)? {
    ///         None => {}                       // data went to the closure
    ///         Some(Recv::Eof { .. }) => break, // one socket, here
    ///         Some(other) => println!("{other:?}"),
    ///     }
    /// }
    /// # Ok(bytes) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn recv_batch(&mut self, mut f: impl FnMut(ConnId, &[u8])) -> Result<Option<Recv<'z>>> {
        loop {
            match self.batch_step(None, &mut f)? {
                Step::Data => return Ok(None),
                Step::Event(ev) => return Ok(Some(ev)),
                Step::Nothing => {}
            }
        }
    }

    /// As [`recv_batch`](Self::recv_batch), waiting at most `timeout`:
    /// `Ok(None)` also when the time ran out with nothing to hand over.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn recv_batch_timeout(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(ConnId, &[u8]),
    ) -> Result<Option<Recv<'z>>> {
        Ok(match self.batch_step(Some(timeout), &mut f)? {
            Step::Event(ev) => Some(ev),
            Step::Data | Step::Nothing => None,
        })
    }

    /// One round of the batch path: reap (waiting if nothing is queued),
    /// hand runs of data to `f`, return the first other event.
    fn batch_step(
        &mut self,
        timeout: Option<Duration>,
        f: &mut dyn FnMut(ConnId, &[u8]),
    ) -> Result<Step<'z>> {
        if self.queue.is_empty() && self.reap() == 0 {
            let ring = &mut *self.ring;
            self.core.prepare(&mut |sqe| push(ring, sqe))?;
            if self.core.exhausted() {
                return Ok(Step::Event(Recv::BuffersExhausted));
            }
            self.wait(timeout)?;
            self.reap();
        }
        let mut delivered = false;
        // Runs of data completions of one instance, from the front.
        while let Some((zcrx, _)) = self.queue.front().and_then(|c| self.core.batchable(c)) {
            let run = self
                .queue
                .iter()
                .take_while(|c| {
                    self.core
                        .batchable(c)
                        .is_some_and(|(z, _)| core::ptr::eq(z, zcrx))
                })
                .count();
            // Taken out of the queue one by one as they are viewed: should
            // `f` panic, the queue holds exactly the ones not yet viewed.
            let mut last = None;
            let items = Taken {
                queue: &mut self.queue,
                left: run,
            }
            .map(|c| {
                let conn = dispatch::conn_of(c.user_data);
                last = Some(conn);
                (c.res, c.big.map_or(0, |[off, _]| off), conn)
            });
            let core = &mut self.core;
            // SAFETY: reaped from `self.ring`, on which `zcrx` is registered
            // or imported under the id these requests carry (checked by
            // `add`/`add_imported`), and consumed once: each leaves the
            // queue as it is viewed.
            let (seen, error) = unsafe {
                zcrx.views_with(items, |conn, data| {
                    core.delivered(conn, data.len());
                    f(conn, data);
                })
            };
            delivered |= seen > 0;
            if let (Some(error), Some(conn)) = (error, last) {
                // The kernel wrote a completion that fails its checks: the
                // socket ends (its request is cancelled, what it still posts
                // goes back).
                self.core.silence(conn);
                return Ok(Step::Event(Recv::Failed { conn, error }));
            }
        }
        if let Some(ev) = self.drain_queue() {
            return Ok(Step::Event(ev));
        }
        Ok(if delivered { Step::Data } else { Step::Nothing })
    }
}

/// Takes up to `left` completions from the front of the queue, one per
/// `next`.
struct Taken<'q> {
    queue: &'q mut VecDeque<Completion>,
    left: usize,
}

impl Iterator for Taken<'_> {
    type Item = Completion;

    #[inline]
    fn next(&mut self) -> Option<Completion> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.queue.pop_front()
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.left.min(self.queue.len());
        (n, Some(n))
    }
}

impl ExactSizeIterator for Taken<'_> {}

/// What one round of the batch path produced.
enum Step<'z> {
    /// Data went to the closure.
    Data,
    /// An event that is not data.
    Event(Recv<'z>),
    /// Nothing (a completion the loop consumed, or a timeout).
    Nothing,
}
