use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

/// A stream that yields the items of an iterator, always ready.
pub(crate) struct IterStream<I>(pub(crate) I);

impl<I: Iterator + Unpin> Stream for IterStream<I> {
    type Item = I::Item;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<I::Item>> {
        Poll::Ready(self.0.next())
    }
}
