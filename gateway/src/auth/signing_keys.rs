//! Derived SigV4 signing keys, kept. A signing key is four HMAC-SHA256 rounds from the
//! secret over the date, the region, the service and `aws4_request`: the same for every
//! request signed the same day for the same region, so a node verifying thousands of pushes
//! a second derives it once per day and region (the SDKs keep it the same way on the
//! signing side).
//!
//! A key is kept only once a signature made with it verified: a caller who knows the
//! access key id but not the secret (the id travels in clear) cannot fill the cache, and
//! what it holds is bounded anyway, since any region is accepted.

use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Keys kept at most (a node's callers sign for a region or two; the oldest goes first).
const CAPACITY: usize = 8;

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: this never fails.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC key of any size");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key of `secret` for `date` (`YYYYMMDD`), `region` and `service`.
pub(crate) fn derive(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    key
}

/// One kept key.
struct Kept {
    /// `YYYYMMDD`.
    date: String,
    /// The region it was signed for.
    region: String,
    /// The derived key (a secret: never printed).
    key: [u8; 32],
}

/// The signing keys of one secret and one service, by date and region. Belongs to one
/// verifier: the secret and the service are not part of the lookup.
#[derive(Default)]
pub struct SigningKeys {
    /// Newest last, at most [`CAPACITY`]; a lock held for a lookup or an insert only.
    kept: Mutex<Vec<Kept>>,
}

impl std::fmt::Debug for SigningKeys {
    // The keys are as good as the secret: only how many.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("kept", &self.len())
            .finish()
    }
}

impl SigningKeys {
    /// The key for `date` and `region`, kept or derived from `secret`; true when it was
    /// kept.
    pub(crate) fn get(
        &self,
        secret: &str,
        date: &str,
        region: &str,
        service: &str,
    ) -> ([u8; 32], bool) {
        let kept = self
            .lock()
            .iter()
            .find(|k| k.date == date && k.region == region)
            .map(|k| k.key);
        match kept {
            Some(key) => (key, true),
            None => (derive(secret, date, region, service), false),
        }
    }

    /// Keeps `key` for `date` and `region` (a signature made with it verified).
    pub(crate) fn keep(&self, date: &str, region: &str, key: [u8; 32]) {
        let mut kept = self.lock();
        if kept.iter().any(|k| k.date == date && k.region == region) {
            return;
        }
        if kept.len() >= CAPACITY {
            kept.remove(0);
        }
        kept.push(Kept {
            date: date.to_owned(),
            region: region.to_owned(),
            key,
        });
    }

    /// Keys kept.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        // A panic while holding the lock leaves a list that is still whole.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derived_key_is_the_specifications() {
        // AWS's worked example (General Reference, "Examples of how to derive a signing
        // key"): secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam.
        let key = derive(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn keys_are_kept_once_by_date_and_region_and_bounded() {
        let keys = SigningKeys::default();
        let (key, kept) = keys.get("s", "20261206", "us-east-1", "execute-api");
        assert!(!kept);
        assert_eq!(
            keys.len(),
            0,
            "a key is kept only once it verified a signature"
        );
        keys.keep("20261206", "us-east-1", key);
        keys.keep("20261206", "us-east-1", key);
        assert_eq!(keys.len(), 1);
        assert_eq!(
            keys.get("s", "20261206", "us-east-1", "execute-api"),
            (key, true)
        );
        let (other, kept) = keys.get("s", "20261207", "us-east-1", "execute-api");
        assert!(!kept);
        assert_ne!(other, key);
        for i in 0..20 {
            keys.keep("20261206", &format!("region-{i}"), key);
        }
        assert_eq!(keys.len(), CAPACITY);
        assert!(
            !keys.get("s", "20261206", "us-east-1", "execute-api").1,
            "the oldest went first"
        );
        assert_eq!(format!("{keys:?}"), "SigningKeys { kept: 8 }");
    }
}
