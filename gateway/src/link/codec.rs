//! The node link's messages, binary: a batch is its ids and the frame's bytes, an answer the
//! count sent and the recipients that were not; no JSON, no escaping, the frame sliced out of
//! the message without a copy.
//!
//! ```text
//! request  batch:  0x01 kind(0x01 text | 0x02 binary) count:u32be (len:u8 id)* frame…
//!          close:  0x02 id…
//!          group:  0x04 kind len:u8 group len:u8 except(0: none) frame…
//! answer   batch:  0x01 sent:u32be count:u32be (why:u8(0x01 gone | 0x02 overflow) len:u8 id)*
//!          close:  0x02 held:u8(0 | 1)
//!          refused: 0x03 reason… (UTF-8)
//!          group:  0x04 reached:u32be push-url… (UTF-8; only a node that reached someone answers)
//! ```
//!
//! Every count is checked against the bytes that follow, and against [`MAX_BATCH_IDS`],
//! before anything is allocated for it; an id is at most [`MAX_ID_LEN`] bytes.

use bytes::{BufMut, Bytes, BytesMut};
use lifecycle::{BatchOutcome, Delivery};
use store_core::{MAX_ENDPOINT_LEN, MAX_ID_LEN};

use crate::hub::{MAX_GROUP_LEN, Outbound};
use crate::push_api::batch::MAX_BATCH_IDS;

const BATCH: u8 = 0x01;
const CLOSE: u8 = 0x02;
const REFUSED: u8 = 0x03;
const GROUP: u8 = 0x04;
const TEXT: u8 = 0x01;
const BINARY: u8 = 0x02;
const GONE: u8 = 0x01;
const OVERFLOW: u8 = 0x02;

/// Bytes of a batch request before its ids.
pub(crate) const BATCH_HEADER: usize = 6;

/// What another node asks of this one.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// Queue `frame` for each of `ids`.
    Batch { ids: Vec<String>, frame: Outbound },
    /// Close connection `id`.
    Close { id: String },
    /// Queue `frame` for every member of `group` on this node but `except`.
    Group {
        group: String,
        except: Option<String>,
        frame: Outbound,
    },
}

/// A message this node cannot read: answered with the reason, never acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Malformed(pub &'static str);

/// The encoded size of `id` in a batch.
pub(crate) fn id_size(id: &str) -> usize {
    1 + id.len()
}

/// A batch request; the caller checked every id is at most [`MAX_ID_LEN`] bytes.
pub(crate) fn batch(ids: &[&str], frame: &Outbound) -> Bytes {
    let ids_len: usize = ids.iter().map(|id| id_size(id)).sum();
    let mut out = BytesMut::with_capacity(BATCH_HEADER + ids_len + frame.len());
    out.put_u8(BATCH);
    out.put_u8(kind(frame));
    out.put_u32(ids.len() as u32);
    for id in ids {
        out.put_u8(id.len() as u8);
        out.put_slice(id.as_bytes());
    }
    out.put_slice(frame.as_bytes());
    out.freeze()
}

/// The bytes of a group message before its frame.
pub(crate) fn group_header_len(group: &str, except: Option<&str>) -> usize {
    4 + group.len() + except.map_or(0, str::len)
}

/// A group message; the caller checked the group is at most [`MAX_GROUP_LEN`] bytes and
/// `except` at most [`MAX_ID_LEN`].
pub(crate) fn group(group: &str, except: Option<&str>, frame: &Outbound) -> Bytes {
    let except = except.unwrap_or("");
    let mut out = BytesMut::with_capacity(group_header_len(group, Some(except)) + frame.len());
    out.put_u8(GROUP);
    out.put_u8(kind(frame));
    out.put_u8(group.len() as u8);
    out.put_slice(group.as_bytes());
    out.put_u8(except.len() as u8);
    out.put_slice(except.as_bytes());
    out.put_slice(frame.as_bytes());
    out.freeze()
}

fn kind(frame: &Outbound) -> u8 {
    match frame {
        Outbound::Text(_) => TEXT,
        Outbound::Binary(_) => BINARY,
    }
}

/// The frame of `kind` in `bytes` (shared, not copied).
fn read_frame(kind: u8, bytes: Bytes) -> Result<Outbound, Malformed> {
    match kind {
        TEXT => {
            Ok(Outbound::Text(bytes.try_into().map_err(|_| {
                Malformed("a text frame that is not UTF-8")
            })?))
        }
        BINARY => Ok(Outbound::Binary(bytes)),
        _ => Err(Malformed("an unknown frame kind")),
    }
}

/// A close request.
pub(crate) fn close(id: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(1 + id.len());
    out.put_u8(CLOSE);
    out.put_slice(id.as_bytes());
    out.freeze()
}

/// Reads a request; the frame shares `message`'s bytes.
pub(crate) fn read_request(message: &Bytes) -> Result<Request, Malformed> {
    match message.first() {
        Some(&BATCH) => {
            let header = message
                .get(..BATCH_HEADER)
                .ok_or(Malformed("a batch shorter than its header"))?;
            let count = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
            // Each id takes at least two bytes: a count the message cannot hold is refused
            // before anything is allocated for it.
            if count > MAX_BATCH_IDS || count * 2 > message.len() - BATCH_HEADER {
                return Err(Malformed("a batch names more ids than it may or holds"));
            }
            let (ids, at) = read_ids(message, BATCH_HEADER, count)?;
            let frame = read_frame(header[1], message.slice(at..))?;
            Ok(Request::Batch { ids, frame })
        }
        Some(&GROUP) => {
            let kind = *message
                .get(1)
                .ok_or(Malformed("a group message without its kind"))?;
            let (group, at) = read_field(message, 2)?;
            if group.is_empty() || group.len() > MAX_GROUP_LEN {
                return Err(Malformed("an empty or overlong group"));
            }
            let (except, at) = read_field(message, at)?;
            let except = match except {
                "" => None,
                id => Some(read_id(id.as_bytes())?.to_owned()),
            };
            Ok(Request::Group {
                group: group.to_owned(),
                except,
                frame: read_frame(kind, message.slice(at..))?,
            })
        }
        Some(&CLOSE) => Ok(Request::Close {
            id: read_id(&message[1..])?.to_owned(),
        }),
        _ => Err(Malformed("an unknown request")),
    }
}

/// `count` length-prefixed ids from `at`; the ids and where the next field starts.
fn read_ids(
    message: &[u8],
    mut at: usize,
    count: usize,
) -> Result<(Vec<String>, usize), Malformed> {
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        let len = *message.get(at).ok_or(Malformed("an id past the end"))? as usize;
        let id = message
            .get(at + 1..at + 1 + len)
            .ok_or(Malformed("an id past the end"))?;
        ids.push(read_id(id)?.to_owned());
        at += 1 + len;
    }
    Ok((ids, at))
}

/// A length-prefixed UTF-8 field at `at` (may be empty); it and where the next starts.
fn read_field(message: &[u8], at: usize) -> Result<(&str, usize), Malformed> {
    let len = *message.get(at).ok_or(Malformed("a field past the end"))? as usize;
    let bytes = message
        .get(at + 1..at + 1 + len)
        .ok_or(Malformed("a field past the end"))?;
    let text = std::str::from_utf8(bytes).map_err(|_| Malformed("a field that is not UTF-8"))?;
    Ok((text, at + 1 + len))
}

fn read_id(bytes: &[u8]) -> Result<&str, Malformed> {
    if bytes.is_empty() || bytes.len() > MAX_ID_LEN {
        return Err(Malformed("an empty or overlong id"));
    }
    std::str::from_utf8(bytes).map_err(|_| Malformed("an id that is not UTF-8"))
}

/// A batch's answer.
pub(crate) fn batch_answer(outcome: &BatchOutcome) -> Bytes {
    let ids_len: usize = outcome.undelivered.iter().map(|(id, _)| 2 + id.len()).sum();
    let mut out = BytesMut::with_capacity(9 + ids_len);
    out.put_u8(BATCH);
    out.put_u32(outcome.sent as u32);
    out.put_u32(outcome.undelivered.len() as u32);
    for (id, why) in &outcome.undelivered {
        out.put_u8(match why {
            Delivery::Overflow => OVERFLOW,
            Delivery::Gone | Delivery::Sent => GONE,
        });
        // Ids come from a request this node read: at most MAX_ID_LEN bytes.
        out.put_u8(id.len() as u8);
        out.put_slice(id.as_bytes());
    }
    out.freeze()
}

/// A close's answer.
pub(crate) fn close_answer(held: bool) -> Bytes {
    Bytes::from(vec![CLOSE, u8::from(held)])
}

/// A group message's answer: how many members this node reached, and its push URL.
pub(crate) fn group_answer(reached: u64, node: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + node.len());
    out.put_u8(GROUP);
    out.put_u32(u32::try_from(reached).unwrap_or(u32::MAX));
    out.put_slice(node.as_bytes());
    out.freeze()
}

/// A refusal, with why.
pub(crate) fn refused(reason: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(1 + reason.len());
    out.put_u8(REFUSED);
    out.put_slice(reason.as_bytes());
    out.freeze()
}

/// What an answer says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A batch's outcome.
    Batch(BatchOutcome),
    /// Whether the node held the connection it was asked to close.
    Closed(bool),
    /// The node refused the request, with why.
    Refused(String),
    /// A node reached this many members of a group; its push URL.
    Group { reached: u64, node: String },
}

/// Reads an answer.
pub(crate) fn read_answer(message: &[u8]) -> Result<Answer, Malformed> {
    match message.first() {
        Some(&BATCH) => {
            let header = message
                .get(..9)
                .ok_or(Malformed("a batch answer shorter than its header"))?;
            let sent = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
            let count = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
            if count > MAX_BATCH_IDS || count * 3 > message.len() - 9 {
                return Err(Malformed("an answer names more ids than it may or holds"));
            }
            let mut undelivered = Vec::with_capacity(count);
            let mut at = 9;
            for _ in 0..count {
                let why = match message.get(at) {
                    Some(&GONE) => Delivery::Gone,
                    Some(&OVERFLOW) => Delivery::Overflow,
                    _ => return Err(Malformed("an unknown delivery")),
                };
                let (mut ids, next) = read_ids(message, at + 1, 1)?;
                undelivered.push((ids.remove(0), why));
                at = next;
            }
            Ok(Answer::Batch(BatchOutcome { sent, undelivered }))
        }
        Some(&CLOSE) => match message.get(1) {
            Some(0) => Ok(Answer::Closed(false)),
            Some(1) => Ok(Answer::Closed(true)),
            _ => Err(Malformed("a close answer without its flag")),
        },
        Some(&GROUP) => {
            let reached = message
                .get(1..5)
                .ok_or(Malformed("a group answer shorter than its header"))?;
            if message.len() - 5 > MAX_ENDPOINT_LEN {
                return Err(Malformed("a group answer's node is longer than a push URL"));
            }
            let reached = u32::from_be_bytes([reached[0], reached[1], reached[2], reached[3]]);
            let node = std::str::from_utf8(&message[5..])
                .map_err(|_| Malformed("a node that is not UTF-8"))?;
            Ok(Answer::Group {
                reached: u64::from(reached),
                node: node.to_owned(),
            })
        }
        Some(&REFUSED) => Ok(Answer::Refused(
            String::from_utf8_lossy(&message[1..]).into_owned(),
        )),
        _ => Err(Malformed("an unknown answer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reads_back_as_written() {
        let text = Outbound::text("héllo");
        let message = batch(&["a", "bb"], &text);
        assert_eq!(
            read_request(&message).unwrap(),
            Request::Batch {
                ids: vec!["a".into(), "bb".into()],
                frame: text
            }
        );
        let binary = Outbound::binary(vec![0u8, 255, 1]);
        let message = batch(&["x"], &binary);
        assert_eq!(
            read_request(&message).unwrap(),
            Request::Batch {
                ids: vec!["x".into()],
                frame: binary
            }
        );
        assert_eq!(
            read_request(&close("c1")).unwrap(),
            Request::Close { id: "c1".into() }
        );
    }

    #[test]
    fn a_group_message_and_its_answer_read_back_as_written() {
        let text = Outbound::text("héllo");
        assert_eq!(
            read_request(&group("lobby", Some("c1"), &text)).unwrap(),
            Request::Group {
                group: "lobby".into(),
                except: Some("c1".into()),
                frame: text
            }
        );
        let binary = Outbound::binary(vec![0u8, 255]);
        let message = group("r", None, &binary);
        assert_eq!(message.len(), group_header_len("r", None) + 2);
        assert_eq!(
            read_request(&message).unwrap(),
            Request::Group {
                group: "r".into(),
                except: None,
                frame: binary
            }
        );
        assert_eq!(
            read_answer(&group_answer(42, "http://10.0.0.2:8081")).unwrap(),
            Answer::Group {
                reached: 42,
                node: "http://10.0.0.2:8081".into()
            }
        );
        // No group, a group past the end, an except past the end.
        assert!(read_request(&Bytes::from_static(&[GROUP, TEXT, 0, 0])).is_err());
        assert!(read_request(&Bytes::from_static(&[GROUP, TEXT, 9, b'a'])).is_err());
        assert!(read_request(&Bytes::from_static(&[GROUP, TEXT, 1, b'a', 5, b'b'])).is_err());
        assert!(read_answer(&[GROUP, 0, 0]).is_err());
    }

    #[test]
    fn an_answer_reads_back_as_written() {
        let outcome = BatchOutcome {
            sent: 7,
            undelivered: vec![
                ("g".into(), Delivery::Gone),
                ("o".into(), Delivery::Overflow),
            ],
        };
        assert_eq!(
            read_answer(&batch_answer(&outcome)).unwrap(),
            Answer::Batch(outcome)
        );
        assert_eq!(
            read_answer(&close_answer(true)).unwrap(),
            Answer::Closed(true)
        );
        assert_eq!(
            read_answer(&close_answer(false)).unwrap(),
            Answer::Closed(false)
        );
        assert_eq!(
            read_answer(&refused("too large")).unwrap(),
            Answer::Refused("too large".into())
        );
    }

    #[test]
    fn malformed_messages_are_refused_without_allocating_for_their_counts() {
        // A count of four billion ids in a ten-byte message.
        let mut huge = vec![BATCH, TEXT];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        huge.extend_from_slice(b"abcd");
        assert!(read_request(&Bytes::from(huge)).is_err());
        // An id running past the end.
        let mut short = vec![BATCH, TEXT, 0, 0, 0, 1, 9];
        short.extend_from_slice(b"ab");
        assert!(read_request(&Bytes::from(short)).is_err());
        // Not UTF-8 where text is promised.
        let bad_text = [&[BATCH, TEXT, 0, 0, 0, 1, 1, b'a'][..], &[0xff, 0xfe]].concat();
        assert!(read_request(&Bytes::from(bad_text)).is_err());
        // An empty id, an unknown request, nothing at all.
        assert!(read_request(&Bytes::from_static(&[CLOSE])).is_err());
        assert!(read_request(&Bytes::from_static(&[9, 1, 2])).is_err());
        assert!(read_request(&Bytes::new()).is_err());
        // Answers too.
        let mut answer = vec![BATCH, 0, 0, 0, 1];
        answer.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(read_answer(&answer).is_err());
        assert!(read_answer(&[CLOSE]).is_err());
        assert!(read_answer(&[]).is_err());
    }
}
