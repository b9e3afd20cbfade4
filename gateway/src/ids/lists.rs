//! Lists of connection ids a push call names (`/batch`'s `ids`, the notify API's
//! `x-ca-deviceid`): counted against their cap before any work is done on them, then
//! de-duplicated in linear time, each id where it first appears.

use std::collections::HashSet;
use std::fmt;

use serde::Deserializer;
use serde::de::{SeqAccess, Visitor};

/// A call named more ids than its cap allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at most {cap} ids per call")]
pub struct TooManyIds {
    /// The cap that was passed.
    pub cap: usize,
}

/// The distinct ids of `named`, each where it first appears. Stops with [`TooManyIds`] at
/// the first id past `cap` (duplicates count: each named id costs work), so a hostile list
/// costs at most `cap + 1` steps of a hash set.
pub fn distinct_capped<'a>(
    named: impl IntoIterator<Item = &'a str>,
    cap: usize,
) -> Result<Vec<&'a str>, TooManyIds> {
    let mut seen = HashSet::new();
    let mut distinct = Vec::new();
    for (count, id) in named.into_iter().enumerate() {
        if count >= cap {
            return Err(TooManyIds { cap });
        }
        if seen.insert(id) {
            distinct.push(id);
        }
    }
    Ok(distinct)
}

/// Reads a JSON array of at most `CAP` strings: parsing stops at the first one past it, so
/// a huge list is refused before it is held.
pub fn capped_strings<'de, D, const CAP: usize>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_seq(CappedStrings::<CAP>)
}

/// The visitor of [`capped_strings`].
struct CappedStrings<const CAP: usize>;

impl<'de, const CAP: usize> Visitor<'de> for CappedStrings<CAP> {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of at most {CAP} strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(CAP));
        while let Some(id) = seq.next_element::<String>()? {
            if ids.len() == CAP {
                return Err(serde::de::Error::custom(TooManyIds { cap: CAP }));
            }
            ids.push(id);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn duplicates_go_and_the_order_stays() {
        let named = ["b", "a", "b", "c", "a", "d"];
        assert_eq!(distinct_capped(named, 6).unwrap(), ["b", "a", "c", "d"]);
        assert_eq!(distinct_capped([], 0).unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn the_cap_counts_every_named_id() {
        let distinct: Vec<String> = (0..1_000).map(|i| format!("id{i}")).collect();
        let kept = distinct_capped(distinct.iter().map(String::as_str), 1_000).unwrap();
        assert_eq!(kept.len(), 1_000);
        assert!(kept.iter().zip(&distinct).all(|(a, b)| a == b));
        let over = distinct.iter().map(String::as_str).chain(["id0"]);
        assert_eq!(distinct_capped(over, 1_000), Err(TooManyIds { cap: 1_000 }));
        // Repeats count too: 1,001 copies of one id are over a cap of 1,000.
        assert!(distinct_capped(std::iter::repeat_n("x", 1_001), 1_000).is_err());
    }

    /// 200,000 distinct ids: a hash set takes milliseconds; comparing each with those seen
    /// before (2 × 10^10 comparisons) would take minutes.
    #[test]
    fn de_duplication_is_linear() {
        let ids: Vec<String> = (0..200_000).map(|i| i.to_string()).collect();
        let started = Instant::now();
        let kept = distinct_capped(ids.iter().map(String::as_str), ids.len()).unwrap();
        assert_eq!(kept.len(), ids.len());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_json_list_is_cut_at_its_cap() {
        #[derive(Debug, serde::Deserialize)]
        struct Body {
            /// Capped at 3.
            #[serde(deserialize_with = "capped_strings::<_, 3>")]
            ids: Vec<String>,
        }
        let body: Body = serde_json::from_str(r#"{"ids":["a","b","a"]}"#).unwrap();
        assert_eq!(body.ids, ["a", "b", "a"]);
        let err = serde_json::from_str::<Body>(r#"{"ids":["a","b","c","d"]}"#).unwrap_err();
        assert!(err.to_string().contains("at most 3 ids"), "{err}");
        // Stopped at the fourth: what follows is never read (it is not even JSON).
        let err = serde_json::from_str::<Body>(r#"{"ids":["a","b","c","d" garbage"#);
        assert!(err.unwrap_err().to_string().contains("at most 3 ids"));
    }
}
