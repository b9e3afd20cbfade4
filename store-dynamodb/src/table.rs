//! The table: checked or created when the store opens, dropped on request.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TableDescription, TableStatus, TimeToLiveSpecification,
};
use store_core::{Result, StoreError};

use crate::error::map_dynamodb_error;
use crate::item::{PK, SK, TTL};

/// Looks of `DescribeTable` while a new table becomes `ACTIVE` (AWS takes seconds): a
/// minute of pauses, plus the requests' own time.
const ACTIVE_POLLS: u32 = 300;
/// Pause between two of them.
const ACTIVE_POLL_PAUSE: Duration = Duration::from_millis(200);

/// Checks that `table` has this store's key schema, creating it first when it does not
/// exist and `create` allows.
pub(crate) async fn ensure(client: &Client, table: &str, create: bool) -> Result<()> {
    match client.describe_table().table_name(table).send().await {
        Ok(described) => {
            let description = described
                .table()
                .ok_or_else(|| StoreError::config("DescribeTable answered no table"))?;
            check_schema(table, description)?;
            if description.table_status() != Some(&TableStatus::Active) {
                wait_active(client, table).await?;
            }
            Ok(())
        }
        Err(error)
            if create
                && error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            self::create(client, table).await
        }
        Err(error) => Err(map_dynamodb_error(error)),
    }
}

/// Creates `table` with on-demand capacity and TTL on [`TTL`], and waits until it is
/// active. A table created meanwhile by another node is fine.
async fn create(client: &Client, table: &str) -> Result<()> {
    let definition = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| StoreError::config(format!("attribute definition: {e}")))
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| StoreError::config(format!("key schema: {e}")))
    };
    let created = client
        .create_table()
        .table_name(table)
        .attribute_definitions(definition(PK)?)
        .attribute_definitions(definition(SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(error) => return Err(map_dynamodb_error(error)),
    }
    wait_active(client, table).await?;
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL)
        .enabled(true)
        .build()
        .map_err(|e| StoreError::config(format!("TTL specification: {e}")))?;
    match client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Another node enabled it first ("TimeToLive is already enabled").
        Err(error)
            if error.code() == Some("ValidationException")
                && error
                    .message()
                    .is_some_and(|m| m.contains("already enabled")) =>
        {
            Ok(())
        }
        Err(error) => Err(map_dynamodb_error(error)),
    }
}

/// Polls until `table` is `ACTIVE`, at most [`ACTIVE_POLLS`] times.
async fn wait_active(client: &Client, table: &str) -> Result<()> {
    for _ in 0..ACTIVE_POLLS {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(map_dynamodb_error)?;
        if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(ACTIVE_POLL_PAUSE).await;
    }
    Err(StoreError::Unavailable {
        store: crate::error::BACKEND,
        source: format!("table `{table}` did not become ACTIVE after {ACTIVE_POLLS} looks").into(),
    })
}

/// A table of another shape would make every write fail with a `ValidationException`:
/// say so once, at open.
fn check_schema(table: &str, description: &TableDescription) -> Result<()> {
    let keys: Vec<(&str, &KeyType)> = description
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    let expected = [(PK, &KeyType::Hash), (SK, &KeyType::Range)];
    let strings = [PK, SK].iter().all(|name| {
        description
            .attribute_definitions()
            .iter()
            .any(|d| d.attribute_name() == *name && d.attribute_type() == &ScalarAttributeType::S)
    });
    if keys.len() != 2 || !expected.iter().all(|e| keys.contains(e)) || !strings {
        return Err(StoreError::config(format!(
            "DynamoDB table `{table}` is keyed {keys:?}; this store needs partition key \
             `{PK}` and sort key `{SK}`, both strings (or a table it may create)"
        )));
    }
    Ok(())
}

/// Deletes `table`; an absent table is fine.
pub(crate) async fn drop(client: &Client, table: &str) -> Result<()> {
    match client.delete_table().table_name(table).send().await {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(error) => Err(map_dynamodb_error(error)),
    }
}
