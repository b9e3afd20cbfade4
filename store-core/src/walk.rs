//! Walking all pages of a room, as a stream or into a vector.

use futures::stream::{self, Stream, TryStreamExt};

use crate::error::Result;
use crate::store::ConnectionStore;
use crate::types::{PageToken, RoomMember, RoomName};

/// Where a page walk stands between two pages.
enum Cursor {
    /// The next page starts after this token (`None`: from the beginning).
    More(Option<PageToken>),
    /// The last page has been returned.
    Done,
}

/// A stream of the pages of `room`, `page_size` members at most each, ending after the page
/// whose `next` is `None`. Stops at the first error.
pub fn walk_pages<'a>(
    store: &'a dyn ConnectionStore,
    room: &'a RoomName,
    page_size: usize,
) -> impl Stream<Item = Result<Vec<RoomMember>>> + Send + 'a {
    stream::try_unfold(Cursor::More(None), move |cursor| async move {
        let Cursor::More(after) = cursor else {
            return Ok(None);
        };
        let page = store.list(room, after.as_ref(), page_size).await?;
        let cursor = match page.next {
            Some(token) => Cursor::More(Some(token)),
            None => Cursor::Done,
        };
        Ok(Some((page.members, cursor)))
    })
}

/// A stream of every live member of `room`, fetched `page_size` at a time.
pub fn walk_room<'a>(
    store: &'a dyn ConnectionStore,
    room: &'a RoomName,
    page_size: usize,
) -> impl Stream<Item = Result<RoomMember>> + Send + 'a {
    walk_pages(store, room, page_size)
        .map_ok(|members| stream::iter(members.into_iter().map(Ok)))
        .try_flatten()
}

/// Every live member of `room`, in id order.
pub async fn collect_room(
    store: &dyn ConnectionStore,
    room: &RoomName,
    page_size: usize,
) -> Result<Vec<RoomMember>> {
    walk_room(store, room, page_size).try_collect().await
}
