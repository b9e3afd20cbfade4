//! URL query options shared by every SQL dialect.

use store_core::{Result, StoreError};

use crate::ident::{DEFAULT_TABLE, TableName};

/// What every SQL store is configured with besides its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableOptions {
    /// The configured table, before the namespace suffix.
    pub base: TableName,
    /// Keeps this store's rows apart from others sharing the database.
    pub namespace: Option<String>,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            base: TableName::new(DEFAULT_TABLE)
                .unwrap_or_else(|_| unreachable!("the default table name is valid")),
            namespace: None,
        }
    }
}

impl TableOptions {
    /// The table this store uses.
    pub fn table(&self) -> Result<TableName> {
        TableName::with_namespace(&self.base, self.namespace.as_deref())
    }

    /// Takes `table` and `namespace` if `key` is one of them; `Ok(false)` for other keys.
    pub fn take(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "table" => self.base = TableName::new(value)?,
            "namespace" => self.set_namespace(value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Sets the namespace, validated as part of a table name.
    pub fn set_namespace(&mut self, namespace: &str) -> Result<()> {
        TableName::with_namespace(&self.base, Some(namespace)).map_err(|_| {
            StoreError::config(format!(
                "namespace `{namespace}`: use [A-Za-z0-9_] (it becomes part of a table name)"
            ))
        })?;
        self.namespace = Some(namespace.to_owned());
        Ok(())
    }
}
