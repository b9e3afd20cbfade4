//! [`DynamoStore`]: the contract on top of the items.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, ReturnConsumedCapacity, ReturnValue, Select,
};
use store_core::{
    Connection, ConnectionId, ConnectionStore, Endpoint, IdLocks, Lease, Metadata, Page, PageToken,
    Registration, Result, RoomMember, RoomName, SharedClock, StoreError, async_trait,
    check_page_size, ttl_millis,
};

use crate::client;
use crate::config::DynamoConfig;
use crate::error::{BACKEND, is_condition_failed, map_dynamodb_error, unexpected};
use crate::item::{
    self, ENDPOINT, EXPIRY, Item, Key, METADATA, PK, ROOM, SK, TTL, VERSION, number, record_key,
    room_pk, string, ttl_seconds, unsigned,
};
use crate::table;

/// What a walk reads of an entry: the id, the endpoint, the lease.
const MEMBER_PROJECTION: &str = "sk, e, x";

/// The connection store on one DynamoDB table.
#[derive(Clone)]
pub struct DynamoStore {
    /// The SDK client (cheap to clone; pools its connections).
    client: Client,
    /// The table every call addresses.
    table: Arc<str>,
    /// Decides liveness: leases are compared with this clock, never DynamoDB's.
    clock: SharedClock,
    /// Serialises the calls on one id within this process: a register, renew or remove
    /// writes the record and then a room entry, and two of them interleaving could leave
    /// the id listed in a room it left. An async mutex, held across those requests.
    stripes: IdLocks,
    /// Read capacity units the server reported for this store's reads, in thousandths:
    /// what a walk costs on DynamoDB (the benchmark reads it).
    read_milli_units: Arc<AtomicU64>,
    /// For `Debug` and reports: the config without secrets.
    config: Arc<DynamoConfig>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// Opens the table `config` names (creating it when allowed), on its clock.
    pub async fn open(config: DynamoConfig) -> Result<Self> {
        let client = client::build(&config)?;
        table::ensure(&client, &config.table, config.create_table).await?;
        Ok(DynamoStore {
            client,
            table: config.table.as_str().into(),
            clock: config.clock.clone(),
            stripes: IdLocks::default(),
            read_milli_units: Arc::default(),
            config: Arc::new(config),
        })
    }

    /// Deletes the table and everything in it (tests, benchmarks).
    pub async fn drop_table(&self) -> Result<()> {
        table::drop(&self.client, &self.table).await
    }

    /// The read capacity units the server reported for this store's reads so far.
    pub fn read_units(&self) -> f64 {
        self.read_milli_units.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// A client on the same server, for a raw reader (the benchmark's floor).
    pub fn raw_client(&self) -> Client {
        self.client.clone()
    }

    fn count_read(&self, consumed: Option<&ConsumedCapacity>) {
        if let Some(units) = consumed.and_then(|c| c.capacity_units()) {
            let milli = (units * 1000.0).round().max(0.0) as u64;
            self.read_milli_units.fetch_add(milli, Ordering::Relaxed);
        }
    }

    /// Deletes `id`'s entry in `room` if it still belongs to registration `version`: a
    /// newer registration's entry stays.
    async fn delete_entry(&self, room: &RoomName, id: &ConnectionId, version: &str) -> Result<()> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(item::entry_key(room, id)))
            .condition_expression("v = :v")
            .expression_attribute_values(":v", AttributeValue::N(version.to_owned()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(error) if is_condition_failed(&error) => Ok(()),
            Err(error) => Err(map_dynamodb_error(error)),
        }
    }

    /// One `Query` of `room`'s live entries after `after`: at most `limit` entries read
    /// (before the lease filter; `None`: up to 1 MB). Answers the live ones and the key to
    /// resume after, if the partition goes on.
    async fn query_room(
        &self,
        room: &RoomName,
        after: Option<&str>,
        limit: Option<usize>,
        now: u64,
    ) -> Result<(Vec<RoomMember>, Option<Key>)> {
        let mut query = self
            .client
            .query()
            .table_name(&*self.table)
            .consistent_read(true)
            .projection_expression(MEMBER_PROJECTION)
            .filter_expression("x > :now")
            .expression_attribute_values(":p", AttributeValue::S(room_pk(room)))
            .expression_attribute_values(":now", number(now))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_limit(limit.map(|l| l as i32));
        query = match after {
            Some(after) => query
                .key_condition_expression("pk = :p AND sk > :a")
                .expression_attribute_values(":a", AttributeValue::S(after.to_owned())),
            None => query.key_condition_expression("pk = :p"),
        };
        let output = query.send().await.map_err(map_dynamodb_error)?;
        self.count_read(output.consumed_capacity());
        let mut members: Vec<RoomMember> = Vec::with_capacity(output.items().len());
        for entry in output.items() {
            let member = item::member(entry, members.last())?;
            members.push(member);
        }
        Ok((members, output.last_evaluated_key))
    }

    /// Reads `id`'s record, strongly consistent (one read unit).
    async fn read_record(&self, id: &ConnectionId) -> Result<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(record_key(id)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(map_dynamodb_error)?;
        self.count_read(output.consumed_capacity());
        Ok(output.item)
    }

    /// Deletes `key`'s item if it still holds registration `version` and is expired at
    /// `now`; answers whether it did.
    async fn delete_if_expired(&self, key: Key, version: &str, now: u64) -> Result<bool> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(key))
            .condition_expression("v = :v AND x <= :now")
            .expression_attribute_values(":v", AttributeValue::N(version.to_owned()))
            .expression_attribute_values(":now", number(now))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            // Renewed or registered again since it was read: not expired any more.
            Err(error) if is_condition_failed(&error) => Ok(false),
            Err(error) => Err(map_dynamodb_error(error)),
        }
    }

    /// Deletes one expired item the sweep's scan found. Answers whether a record (a
    /// connection) went.
    ///
    /// A record goes if it is still the same registration and still expired, and takes
    /// its entry along. An entry goes alone only when its record no longer holds its
    /// registration (gone, or registered again): while the record holds it, the record
    /// decides, so a renew between its two writes (the record renewed, the entry not yet)
    /// never loses the entry it is about to update.
    async fn sweep_item(&self, found: &Item, now: u64) -> Result<bool> {
        let pk = string(found, PK)?;
        let version = string_number(found, VERSION)?;
        if let Some(id) = pk.strip_prefix("c#") {
            let id = ConnectionId::new(id).map_err(|_| unexpected("a record's id"))?;
            if !self
                .delete_if_expired(record_key(&id), version, now)
                .await?
            {
                return Ok(false);
            }
            self.delete_entry(&item::record_room(found)?, &id, version)
                .await?;
            return Ok(true);
        }
        let room = pk
            .strip_prefix("r#")
            .and_then(|room| RoomName::new(room).ok())
            .ok_or_else(|| unexpected("an item's partition key"))?;
        let id = item::entry_id(found)?;
        let record = self.read_record(&id).await?;
        let held = record.as_ref().is_some_and(|record| {
            string_number(record, VERSION).ok() == Some(version)
                && item::record_room(record).ok().as_ref() == Some(&room)
        });
        if !held {
            // An entry whose record went (DynamoDB's TTL deletes the two apart, or a
            // crash came between a call's writes).
            self.delete_if_expired(item::entry_key(&room, &id), version, now)
                .await?;
        }
        Ok(false)
    }
}

/// Follows a paged read: the key to start the next page at, after checking that the
/// server moved on (a server that answered the same key again would loop forever).
fn next_start(previous: Option<&Key>, last_read: Option<Key>) -> Result<Option<Key>> {
    match last_read {
        Some(key) if previous == Some(&key) => Err(unexpected("a page that ends where it started")),
        next => Ok(next),
    }
}

/// A number attribute's text, as DynamoDB returned it (a condition compares it as sent).
fn string_number<'a>(found: &'a Item, name: &str) -> Result<&'a str> {
    found
        .get(name)
        .and_then(|value| value.as_n().ok())
        .map(String::as_str)
        .ok_or_else(|| unexpected(name))
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn register(&self, id: &ConnectionId, registration: &Registration) -> Result<Lease> {
        let ttl = ttl_millis(registration.ttl)?;
        let metadata =
            serde_json::to_string(&registration.metadata).map_err(|e| StoreError::Backend {
                store: BACKEND,
                source: Box::new(e),
            })?;
        let _serial = self.stripes.lock(id).await;
        // Where the id was, read before writing: a write answering its old item would,
        // when the SDK retries it after a lost reply, answer the item it had just written.
        let old = self.read_record(id).await?;
        let expires_at_ms = self.clock.now_ms() + ttl;
        let version = number(rand::random::<u64>());
        let endpoint = AttributeValue::S(registration.endpoint.as_str().to_owned());
        let (expiry, ttl_attribute) = (number(expires_at_ms), ttl_seconds(expires_at_ms));
        // 1. The record (the truth for `get`, `renew`, `remove`).
        let mut record = record_key(id);
        record.extend([
            (
                ROOM.to_owned(),
                AttributeValue::S(registration.room.to_string()),
            ),
            (ENDPOINT.to_owned(), endpoint.clone()),
            (METADATA.to_owned(), AttributeValue::S(metadata)),
            (EXPIRY.to_owned(), expiry.clone()),
            (TTL.to_owned(), ttl_attribute.clone()),
            (VERSION.to_owned(), version.clone()),
        ]);
        self.client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(record))
            .send()
            .await
            .map_err(map_dynamodb_error)?;
        // 2. The room's entry (replacing this id's older entry there, if any).
        let mut entry = item::entry_key(&registration.room, id);
        entry.extend([
            (ENDPOINT.to_owned(), endpoint),
            (EXPIRY.to_owned(), expiry),
            (TTL.to_owned(), ttl_attribute),
            (VERSION.to_owned(), version),
        ]);
        self.client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(entry))
            .send()
            .await
            .map_err(map_dynamodb_error)?;
        // 3. A move: the old room's entry goes, if it is still the old registration's.
        if let Some(old) = old {
            let old_room = item::record_room(&old)?;
            if old_room != registration.room {
                self.delete_entry(&old_room, id, string_number(&old, VERSION)?)
                    .await?;
            }
        }
        Ok(Lease { expires_at_ms })
    }

    async fn renew(&self, id: &ConnectionId, ttl: Duration) -> Result<Lease> {
        let ttl = ttl_millis(ttl)?;
        let _serial = self.stripes.lock(id).await;
        let now = self.clock.now_ms();
        let expires_at_ms = now + ttl;
        let (expiry, ttl_attribute) = (number(expires_at_ms), ttl_seconds(expires_at_ms));
        // Only a live record is renewed: an absent item fails the condition too.
        let renewed = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(record_key(id)))
            .update_expression("SET x = :x, t = :t")
            .condition_expression("x > :now")
            .expression_attribute_values(":x", expiry.clone())
            .expression_attribute_values(":t", ttl_attribute.clone())
            .expression_attribute_values(":now", number(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let record = match renewed {
            Ok(output) => output
                .attributes
                .ok_or_else(|| unexpected("a renewed record"))?,
            Err(error) if is_condition_failed(&error) => {
                return Err(StoreError::not_found(id.as_str()));
            }
            Err(error) => return Err(map_dynamodb_error(error)),
        };
        let room = item::record_room(&record)?;
        let version = string_number(&record, VERSION)?;
        // The entry follows only while it exists: a remove from another process between
        // the two writes deleted it, and it stays deleted. It takes the record's token: an
        // entry a late write of an older registration left (two processes registering one
        // id at once) becomes this registration's again.
        let followed = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(item::entry_key(&room, id)))
            .update_expression("SET x = :x, t = :t, v = :v")
            .condition_expression("attribute_exists(sk)")
            .expression_attribute_values(":x", expiry)
            .expression_attribute_values(":t", ttl_attribute)
            .expression_attribute_values(":v", AttributeValue::N(version.to_owned()))
            .send()
            .await;
        match followed {
            Ok(_) => Ok(Lease { expires_at_ms }),
            Err(error) if is_condition_failed(&error) => Ok(Lease { expires_at_ms }),
            Err(error) => Err(map_dynamodb_error(error)),
        }
    }

    async fn remove(&self, id: &ConnectionId) -> Result<bool> {
        let _serial = self.stripes.lock(id).await;
        let now = self.clock.now_ms();
        // Read, then delete that registration: a delete answering its old item would,
        // when the SDK retries it after a lost reply, answer nothing.
        let Some(removed) = self.read_record(id).await? else {
            return Ok(false);
        };
        let version = string_number(&removed, VERSION)?;
        let deleted = self
            .client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(record_key(id)))
            .condition_expression("v = :v")
            .expression_attribute_values(":v", AttributeValue::N(version.to_owned()))
            .send()
            .await;
        match deleted {
            // Gone already (a retried delete) or registered again by another process
            // since the read: this remove comes first in either order, and the newer
            // registration stays.
            Ok(_) => {}
            Err(error) if is_condition_failed(&error) => {}
            Err(error) => return Err(map_dynamodb_error(error)),
        }
        self.delete_entry(&item::record_room(&removed)?, id, version)
            .await?;
        Ok(now < unsigned(&removed, EXPIRY)?)
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let now = self.clock.now_ms();
        let Some(record) = self.read_record(id).await? else {
            return Ok(None);
        };
        let expires_at_ms = unsigned(&record, EXPIRY)?;
        if now >= expires_at_ms {
            return Ok(None);
        }
        let metadata: Metadata = serde_json::from_str(string(&record, METADATA)?)
            .map_err(|_| unexpected("a record's metadata"))?;
        Ok(Some(Connection {
            id: id.clone(),
            room: item::record_room(&record)?,
            endpoint: Endpoint::trusted(string(&record, ENDPOINT)?),
            metadata,
            expires_at_ms,
        }))
    }

    async fn list(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page> {
        check_page_size(limit)?;
        let now = self.clock.now_ms();
        let after = after.map(|token| token.last_id().as_str());
        // `Limit` counts entries read before the lease filter: a page of expired entries
        // comes back short, with a token, as the contract allows.
        let (members, last_read) = self.query_room(room, after, Some(limit), now).await?;
        match last_read {
            Some(key) => Ok(Page::resume_after(members, item::entry_id(&key)?)),
            None => Ok(Page::last(members)),
        }
    }

    async fn list_room(&self, room: &RoomName) -> Result<Vec<RoomMember>> {
        let now = self.clock.now_ms();
        let mut members = Vec::new();
        let mut after: Option<String> = None;
        // Pages of up to 1 MB each; every page moves past the entries it read, so the loop
        // is bounded by the room's size.
        loop {
            let (page, last_read) = self.query_room(room, after.as_deref(), None, now).await?;
            members.extend(page);
            match last_read {
                Some(key) => {
                    let next = string(&key, SK)?.to_owned();
                    if after.as_ref().is_some_and(|after| *after >= next) {
                        return Err(unexpected("a page that ends where it started"));
                    }
                    after = Some(next);
                }
                None => return Ok(members),
            }
        }
    }

    async fn count(&self, room: &RoomName) -> Result<u64> {
        let now = self.clock.now_ms();
        let mut count = 0;
        let mut start: Option<Key> = None;
        // `Select COUNT` still reads every entry (and is billed so): pages of 1 MB,
        // bounded by the room's size.
        loop {
            let output = self
                .client
                .query()
                .table_name(&*self.table)
                .consistent_read(true)
                .select(Select::Count)
                .key_condition_expression("pk = :p")
                .filter_expression("x > :now")
                .expression_attribute_values(":p", AttributeValue::S(room_pk(room)))
                .expression_attribute_values(":now", number(now))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .set_exclusive_start_key(start.clone())
                .send()
                .await
                .map_err(map_dynamodb_error)?;
            self.count_read(output.consumed_capacity());
            count += output.count().max(0) as u64;
            start = next_start(start.as_ref(), output.last_evaluated_key)?;
            if start.is_none() {
                return Ok(count);
            }
        }
    }

    async fn sweep(&self) -> Result<u64> {
        let now = self.clock.now_ms();
        let mut swept = 0;
        let mut start: Option<Key> = None;
        // A scan of the whole table, 1 MB per page: bounded by the table's size.
        loop {
            let output = self
                .client
                .scan()
                .table_name(&*self.table)
                .consistent_read(true)
                .projection_expression("pk, sk, r, v")
                .filter_expression("x <= :now")
                .expression_attribute_values(":now", number(now))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .set_exclusive_start_key(start.clone())
                .send()
                .await
                .map_err(map_dynamodb_error)?;
            self.count_read(output.consumed_capacity());
            for found in output.items() {
                if self.sweep_item(found, now).await? {
                    swept += 1;
                }
            }
            start = next_start(start.as_ref(), output.last_evaluated_key)?;
            if start.is_none() {
                return Ok(swept);
            }
        }
    }
}
