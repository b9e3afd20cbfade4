//! Table names are spliced into SQL text (placeholders cannot name tables), so they are
//! validated strictly here, once, and carried as a [`TableName`] from then on.

use std::fmt;

use store_core::{Result, StoreError};

/// The table used when none is configured.
pub const DEFAULT_TABLE: &str = "connections";

/// Longest table name: PostgreSQL truncates identifiers at 63 bytes, and index names
/// add a suffix of up to 7 bytes.
const MAX_TABLE_LEN: usize = 56;

/// A validated SQL table name: `[a-z_][a-z0-9_]*`, at most 56 bytes (lowercase only, so
/// every dialect folds and quotes it the same way).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TableName(String);

impl TableName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self> {
        let mut bytes = name.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
        let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !first_ok || !rest_ok || name.len() > MAX_TABLE_LEN {
            return Err(StoreError::config(format!(
                "table name `{name}`: use 1..={MAX_TABLE_LEN} bytes of [a-z0-9_], not starting \
                 with a digit"
            )));
        }
        Ok(TableName(name.to_owned()))
    }

    /// `base` alone, or `base_namespace` (the namespace lowercased).
    pub fn with_namespace(base: &TableName, namespace: Option<&str>) -> Result<Self> {
        match namespace {
            None => Ok(base.clone()),
            Some(ns) => TableName::new(&format!("{}_{}", base.0, ns.to_ascii_lowercase())),
        }
    }

    /// The validated name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TableName({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        assert!(TableName::new("connections").is_ok());
        assert!(TableName::new("_app_1").is_ok());
    }

    #[test]
    fn rejects_anything_that_could_escape() {
        for bad in [
            "",
            "1abc",
            "Conn",
            "a-b",
            "a;drop table x",
            "a\"b",
            "a b",
            "a`b",
            &"a".repeat(57),
        ] {
            assert!(TableName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn namespaces_are_suffixed_and_validated() {
        let base = TableName::new("connections").unwrap();
        let t = TableName::with_namespace(&base, Some("CT01ab")).unwrap();
        assert_eq!(t.as_str(), "connections_ct01ab");
        assert!(TableName::with_namespace(&base, Some("x;y")).is_err());
        assert_eq!(TableName::with_namespace(&base, None).unwrap(), base);
    }
}
