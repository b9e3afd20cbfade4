//! The scenarios: one async function per clause of the contract written on
//! [`ConnectionStore`](store_core::ConnectionStore).
//!
//! Each starts from an empty store on a manual clock and moves time by hand, so expiry is
//! checked without sleeping.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use store_core::{
    Clock, ConnectionId, ConnectionStore, Endpoint, ErrorKind, MAX_ENDPOINT_LEN, MAX_ID_LEN,
    MAX_METADATA_ENTRIES, MAX_METADATA_KEY_LEN, MAX_METADATA_VALUE_LEN, MAX_PAGE_SIZE,
    MAX_ROOM_LEN, MAX_TTL, Metadata, PageToken, Registration, Result, RoomMember, RoomName,
    collect_room,
};

use crate::harness::{Ctx, Failure, Outcome};

/// One named check of one contract clause.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// The contract clause it checks (`register`, `renew`, `list`…), the table's first column.
    pub clause: &'static str,
    /// The scenario's function name, also the generated test's name.
    pub name: &'static str,
    /// The check itself.
    pub run: fn(Ctx) -> BoxFuture<'static, Outcome>,
}

/// The ONE list of scenarios, handed to a macro of the caller's:
/// `with_scenarios!(callback)` expands to `callback! { "clause" => function_name, … }`, every
/// scenario in table order, and `with_scenarios!(path::to::callback; args…)` to
/// `path::to::callback! { args…; "clause" => function_name, … }`.
///
/// [`SCENARIOS`] and the tests of [`conformance_tests!`](crate::conformance_tests) are both
/// generated from it: a new scenario is its function in `scenarios.rs` and one line here.
///
/// ```
/// macro_rules! names {
///     ($prefix:literal; $($clause:literal => $name:ident,)*) => {
///         &[$(concat!($prefix, stringify!($name))),*]
///     };
/// }
/// let names: &[&str] = conformance::with_scenarios!(names; "scenario ");
/// assert_eq!(names.len(), conformance::SCENARIOS.len());
/// assert_eq!(names[0], "scenario register_grants_lease_from_store_clock");
/// ```
#[macro_export]
macro_rules! with_scenarios {
    ($($callback:tt)::+ $(; $($args:tt)*)?) => {
        $($callback)::+! {
            $($($args)*;)?
            "register" => register_grants_lease_from_store_clock,
            "register" => register_replaces_existing_record,
            "register" => register_revives_expired_id,
            "register" => register_rejects_bad_ttl_and_writes_nothing,
            "register" => max_size_values_round_trip,
            "renew" => renew_extends_live_lease,
            "renew" => renew_after_expiry_is_not_found,
            "renew" => renew_after_remove_is_not_found,
            "renew" => renew_of_unknown_id_is_not_found,
            "renew" => renew_rejects_bad_ttl_and_keeps_lease,
            "remove" => remove_is_idempotent,
            "remove" => remove_of_expired_record_answers_false,
            "get" => get_of_absent_id_is_none,
            "get" => lease_ends_exactly_at_expiry,
            "list" => list_of_empty_room_is_one_empty_page,
            "list" => list_rejects_bad_page_sizes,
            "list" => list_orders_ids_by_bytes,
            "list" => list_never_returns_expired_records,
            "list" => pagination_returns_each_id_once,
            "list" => page_tokens_survive_a_text_round_trip,
            "list" => walk_during_changes_never_duplicates,
            "list" => rooms_are_isolated,
            "list" => list_room_equals_a_walk_of_pages,
            "count" => count_counts_only_live_members_of_the_room,
            "sweep" => sweep_deletes_only_expired_records,
            "concurrency" => concurrent_register_of_200_ids,
            "concurrency" => concurrent_register_of_one_id_leaves_one_record,
        }
    };
}

/// [`SCENARIOS`] from the list of [`with_scenarios!`].
macro_rules! scenarios {
    ($($clause:literal => $name:ident,)*) => {
        /// Every scenario, in table order.
        pub const SCENARIOS: &[Scenario] = &[
            $(Scenario { clause: $clause, name: stringify!($name), run: |ctx| Box::pin($name(ctx)) },)*
        ];
    };
}

with_scenarios!(scenarios);

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Failure(format!($($fmt)+)));
        }
    };
}

macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($fmt:tt)+) => {{
        let (left, right) = (&$left, &$right);
        if left != right {
            return Err(Failure(format!(
                "{}: expected {:?}, got {:?}",
                format!($($fmt)+),
                right,
                left
            )));
        }
    }};
}

/// The ttl most scenarios register with.
const TTL_MS: u64 = 30_000;

fn id(text: &str) -> Result<ConnectionId> {
    ConnectionId::new(text)
}

fn room(text: &str) -> Result<RoomName> {
    RoomName::new(text)
}

fn registration(room_name: &str, endpoint: &str, ttl_ms: u64) -> Result<Registration> {
    Ok(Registration {
        room: room(room_name)?,
        endpoint: Endpoint::new(endpoint)?,
        metadata: Metadata::new(),
        ttl: Duration::from_millis(ttl_ms),
    })
}

fn expect_kind<T: std::fmt::Debug>(
    result: Result<T>,
    kind: ErrorKind,
    what: &str,
) -> Result<(), Failure> {
    match result {
        Err(err) if err.kind() == kind => Ok(()),
        Err(err) => Err(Failure(format!(
            "{what}: expected {kind:?}, got error {err}"
        ))),
        Ok(value) => Err(Failure(format!(
            "{what}: expected {kind:?}, got Ok({value:?})"
        ))),
    }
}

/// Registers `ids` into `room_name`, 32 at a time.
async fn register_all(
    store: &Arc<dyn ConnectionStore>,
    room_name: &str,
    ids: &[String],
    ttl_ms: u64,
) -> Result<()> {
    let reg = registration(room_name, "http://127.0.0.1:9/push", ttl_ms)?;
    let registers: Vec<_> = ids
        .iter()
        .map(|text| {
            let (store, reg, text) = (store.clone(), reg.clone(), text.clone());
            async move { store.register(&ConnectionId::new(text)?, &reg).await }
        })
        .collect();
    let mut results = stream::iter(registers).buffer_unordered(32);
    while let Some(result) = results.next().await {
        result?;
    }
    Ok(())
}

fn ids_of(members: &[RoomMember]) -> Vec<String> {
    members.iter().map(|m| m.id.as_str().to_owned()).collect()
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:05}")).collect()
}

async fn register_grants_lease_from_store_clock(ctx: Ctx) -> Outcome {
    let now = ctx.clock.now_ms();
    let reg = Registration {
        metadata: Metadata::new()
            .with("source_ip", "203.0.113.9")?
            .with("connected_at", "2026-11-21T23:44:08Z")?,
        ..registration("lobby", "http://10.0.0.7:8081", TTL_MS)?
    };
    let lease = ctx.store.register(&id("c1")?, &reg).await?;
    ensure_eq!(
        lease.expires_at_ms,
        now + TTL_MS,
        "lease = store clock + ttl"
    );
    let got = ctx.store.get(&id("c1")?).await?;
    let Some(got) = got else {
        return Err(Failure("get after register returned None".into()));
    };
    ensure_eq!(got.id, id("c1")?, "id");
    ensure_eq!(got.room, reg.room, "room");
    ensure_eq!(got.endpoint, reg.endpoint, "endpoint");
    ensure_eq!(got.metadata, reg.metadata, "metadata");
    ensure_eq!(got.expires_at_ms, lease.expires_at_ms, "expiry from get");
    let listed = collect_room(ctx.store.as_ref(), &reg.room, 10).await?;
    ensure_eq!(
        listed,
        vec![RoomMember {
            id: id("c1")?,
            endpoint: reg.endpoint.clone(),
            expires_at_ms: lease.expires_at_ms
        }],
        "list after register"
    );
    ensure_eq!(ctx.store.count(&reg.room).await?, 1, "count after register");
    Ok(())
}

async fn register_replaces_existing_record(ctx: Ctx) -> Outcome {
    let c = id("c1")?;
    ctx.store
        .register(&c, &registration("a", "http://node-a", TTL_MS)?)
        .await?;
    ctx.advance(1_000);
    let second = Registration {
        metadata: Metadata::new().with("k", "v2")?,
        ..registration("b", "http://node-b", 5_000)?
    };
    let lease = ctx.store.register(&c, &second).await?;
    ensure_eq!(
        lease.expires_at_ms,
        ctx.clock.now_ms() + 5_000,
        "second lease"
    );
    let got = ctx
        .store
        .get(&c)
        .await?
        .ok_or(Failure("record gone".into()))?;
    ensure_eq!(got.room, room("b")?, "room after re-register");
    ensure_eq!(got.endpoint, Endpoint::new("http://node-b")?, "endpoint");
    ensure_eq!(got.metadata.get("k"), Some("v2"), "metadata replaced");
    ensure_eq!(ctx.store.count(&room("a")?).await?, 0, "old room count");
    ensure_eq!(ctx.store.count(&room("b")?).await?, 1, "new room count");
    ensure!(
        collect_room(ctx.store.as_ref(), &room("a")?, 10)
            .await?
            .is_empty(),
        "old room still lists the moved id"
    );
    Ok(())
}

async fn register_revives_expired_id(ctx: Ctx) -> Outcome {
    let c = id("c1")?;
    let reg = registration("r", "http://n", 100)?;
    ctx.store.register(&c, &reg).await?;
    ctx.advance(100);
    ensure!(ctx.store.get(&c).await?.is_none(), "expired id still live");
    let lease = ctx.store.register(&c, &reg).await?;
    ensure_eq!(lease.expires_at_ms, ctx.clock.now_ms() + 100, "fresh lease");
    ensure!(
        ctx.store.get(&c).await?.is_some(),
        "re-registered id not live"
    );
    ensure_eq!(ctx.store.count(&reg.room).await?, 1, "count");
    Ok(())
}

async fn register_rejects_bad_ttl_and_writes_nothing(ctx: Ctx) -> Outcome {
    let c = id("c1")?;
    for ttl in [
        Duration::ZERO,
        Duration::from_micros(10),
        MAX_TTL + Duration::from_secs(1),
    ] {
        let reg = Registration {
            ttl,
            ..registration("r", "http://n", 1)?
        };
        expect_kind(
            ctx.store.register(&c, &reg).await,
            ErrorKind::InvalidInput,
            &format!("register with ttl {ttl:?}"),
        )?;
    }
    ensure!(
        ctx.store.get(&c).await?.is_none(),
        "a rejected register wrote a record"
    );
    ensure_eq!(ctx.store.count(&room("r")?).await?, 0, "count");
    let reg = Registration {
        ttl: MAX_TTL,
        ..registration("r", "http://n", 1)?
    };
    ctx.store.register(&c, &reg).await?;
    ensure!(ctx.store.get(&c).await?.is_some(), "max ttl refused");
    Ok(())
}

async fn max_size_values_round_trip(ctx: Ctx) -> Outcome {
    let long_id = id(&format!("Az09_-.@{}", "x".repeat(MAX_ID_LEN - 8)))?;
    let long_room = room(&"R".repeat(MAX_ROOM_LEN))?;
    let endpoint = Endpoint::new(format!("https://h/{}", "e".repeat(MAX_ENDPOINT_LEN - 10)))?;
    let mut metadata = BTreeMap::new();
    for i in 0..MAX_METADATA_ENTRIES {
        let key = format!("{i:02}{}", "k".repeat(MAX_METADATA_KEY_LEN - 2));
        // Non-ASCII, quotes and backslashes must survive every encoding a backend uses.
        let value = format!("\"é\\ü{}", "v".repeat(MAX_METADATA_VALUE_LEN - 8));
        metadata.insert(key, value);
    }
    let reg = Registration {
        room: long_room.clone(),
        endpoint: endpoint.clone(),
        metadata: Metadata::from_map(metadata)?,
        ttl: Duration::from_millis(TTL_MS),
    };
    ctx.store.register(&long_id, &reg).await?;
    let got = ctx
        .store
        .get(&long_id)
        .await?
        .ok_or(Failure("max-size record not found".into()))?;
    ensure_eq!(got.room, long_room, "room");
    ensure_eq!(got.endpoint, endpoint, "endpoint");
    ensure_eq!(got.metadata, reg.metadata, "metadata");
    let listed = collect_room(ctx.store.as_ref(), &long_room, 1).await?;
    ensure_eq!(ids_of(&listed), vec![long_id.as_str().to_owned()], "list");
    ensure_eq!(listed[0].endpoint, endpoint, "listed endpoint");
    Ok(())
}

async fn renew_extends_live_lease(ctx: Ctx) -> Outcome {
    let c = id("c1")?;
    let first = ctx
        .store
        .register(&c, &registration("r", "http://n", 1_000)?)
        .await?;
    ctx.advance(900);
    let renewed = ctx.store.renew(&c, Duration::from_millis(1_000)).await?;
    ensure_eq!(
        renewed.expires_at_ms,
        ctx.clock.now_ms() + 1_000,
        "renewed lease"
    );
    ctx.advance(500);
    ensure!(
        ctx.clock.now_ms() > first.expires_at_ms,
        "test setup: past the first lease"
    );
    let got = ctx.store.get(&c).await?;
    ensure_eq!(
        got.map(|g| g.expires_at_ms),
        Some(renewed.expires_at_ms),
        "still live on the renewed lease"
    );
    ensure_eq!(ctx.store.count(&room("r")?).await?, 1, "count");
    let shorter = ctx.store.renew(&c, Duration::from_millis(10)).await?;
    ensure_eq!(
        shorter.expires_at_ms,
        ctx.clock.now_ms() + 10,
        "a shorter ttl shortens"
    );
    let listed = collect_room(ctx.store.as_ref(), &room("r")?, 5).await?;
    ensure_eq!(
        listed.first().map(|m| m.expires_at_ms),
        Some(shorter.expires_at_ms),
        "list shows the renewed expiry"
    );
    Ok(())
}

async fn renew_after_expiry_is_not_found(ctx: Ctx) -> Outcome {
    let c = id("c1")?;
    ctx.store
        .register(&c, &registration("r", "http://n", 1_000)?)
        .await?;
    ctx.advance(1_000);
    expect_kind(
        ctx.store.renew(&c, Duration::from_millis(1_000)).await,
        ErrorKind::NotFound,
        "renew at expiry",
    )?;
    ensure!(
        ctx.store.get(&c).await?.is_none(),
        "a late renew revived the record"
    );
    ensure_eq!(ctx.store.count(&room("r")?).await?, 0, "count");
    Ok(())
}

async fn renew_after_remove_is_not_found(ctx: Ctx) -> Outcome {
    let c = id("c1")?;
    ctx.store
        .register(&c, &registration("r", "http://n", TTL_MS)?)
        .await?;
    ensure!(
        ctx.store.remove(&c).await?,
        "remove of a live id answered false"
    );
    expect_kind(
        ctx.store.renew(&c, Duration::from_millis(TTL_MS)).await,
        ErrorKind::NotFound,
        "renew after remove",
    )?;
    ensure!(
        ctx.store.get(&c).await?.is_none(),
        "renew re-created a removed record"
    );
    Ok(())
}

async fn renew_of_unknown_id_is_not_found(ctx: Ctx) -> Outcome {
    expect_kind(
        ctx.store
            .renew(&id("never")?, Duration::from_millis(10))
            .await,
        ErrorKind::NotFound,
        "renew of an unknown id",
    )?;
    ensure!(
        ctx.store.get(&id("never")?).await?.is_none(),
        "renew created a record"
    );
    Ok(())
}

async fn renew_rejects_bad_ttl_and_keeps_lease(ctx: Ctx) -> Outcome {
    let c = id("c1")?;
    let lease = ctx
        .store
        .register(&c, &registration("r", "http://n", TTL_MS)?)
        .await?;
    expect_kind(
        ctx.store.renew(&c, Duration::ZERO).await,
        ErrorKind::InvalidInput,
        "renew with ttl 0",
    )?;
    expect_kind(
        ctx.store
            .renew(&c, MAX_TTL + Duration::from_millis(1))
            .await,
        ErrorKind::InvalidInput,
        "renew with ttl over the max",
    )?;
    let got = ctx.store.get(&c).await?;
    ensure_eq!(
        got.map(|g| g.expires_at_ms),
        Some(lease.expires_at_ms),
        "lease after rejected renews"
    );
    Ok(())
}

async fn remove_is_idempotent(ctx: Ctx) -> Outcome {
    let c = id("c1")?;
    ctx.store
        .register(&c, &registration("r", "http://n", TTL_MS)?)
        .await?;
    ensure_eq!(ctx.store.remove(&c).await?, true, "first remove");
    ensure_eq!(ctx.store.remove(&c).await?, false, "second remove");
    ensure_eq!(
        ctx.store.remove(&id("never")?).await?,
        false,
        "remove of unknown"
    );
    ensure!(ctx.store.get(&c).await?.is_none(), "removed id still there");
    ensure_eq!(ctx.store.count(&room("r")?).await?, 0, "count");
    ensure!(
        collect_room(ctx.store.as_ref(), &room("r")?, 10)
            .await?
            .is_empty(),
        "removed id still listed"
    );
    Ok(())
}

async fn remove_of_expired_record_answers_false(ctx: Ctx) -> Outcome {
    let c = id("c1")?;
    ctx.store
        .register(&c, &registration("r", "http://n", 10)?)
        .await?;
    ctx.advance(10);
    ensure_eq!(
        ctx.store.remove(&c).await?,
        false,
        "remove of an expired id"
    );
    ensure_eq!(
        ctx.store.sweep().await?,
        0,
        "sweep after the expired record was removed"
    );
    Ok(())
}

async fn get_of_absent_id_is_none(ctx: Ctx) -> Outcome {
    ensure!(
        ctx.store.get(&id("nobody")?).await?.is_none(),
        "get of absent id"
    );
    Ok(())
}

async fn lease_ends_exactly_at_expiry(ctx: Ctx) -> Outcome {
    let c = id("c1")?;
    let r = room("r")?;
    ctx.store
        .register(&c, &registration("r", "http://n", 1_000)?)
        .await?;
    ctx.advance(999);
    ensure!(
        ctx.store.get(&c).await?.is_some(),
        "dead 1 ms before expiry"
    );
    ensure_eq!(ctx.store.count(&r).await?, 1, "count 1 ms before expiry");
    ensure_eq!(
        collect_room(ctx.store.as_ref(), &r, 10).await?.len(),
        1,
        "list 1 ms before"
    );
    ctx.advance(1);
    ensure!(
        ctx.store.get(&c).await?.is_none(),
        "live at the expiry instant"
    );
    ensure_eq!(ctx.store.count(&r).await?, 0, "count at expiry");
    ensure_eq!(
        collect_room(ctx.store.as_ref(), &r, 10).await?.len(),
        0,
        "list at expiry"
    );
    Ok(())
}

async fn list_of_empty_room_is_one_empty_page(ctx: Ctx) -> Outcome {
    let page = ctx.store.list(&room("empty")?, None, 10).await?;
    ensure!(page.members.is_empty(), "members in an empty room");
    ensure!(page.next.is_none(), "an empty room has a next page");
    Ok(())
}

async fn list_rejects_bad_page_sizes(ctx: Ctx) -> Outcome {
    for limit in [0, MAX_PAGE_SIZE + 1, usize::MAX] {
        expect_kind(
            ctx.store.list(&room("r")?, None, limit).await,
            ErrorKind::InvalidInput,
            &format!("list with page size {limit}"),
        )?;
    }
    Ok(())
}

async fn list_orders_ids_by_bytes(ctx: Ctx) -> Outcome {
    // Every character class of the id alphabet, and ids that prefix each other: a backend
    // that joins ids with a separator in its keys must still order by the id's bytes.
    let mut ids: Vec<String> = [
        "a", "a-b", "a.b", "a_b", "aB", "ab", "a0", "A", "Z", "0", "9", "_", "a-", "a--", "b",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    register_all(&ctx.store, "r", &ids, TTL_MS).await?;
    ids.sort();
    for page_size in [1, 2, 1000] {
        let listed = collect_room(ctx.store.as_ref(), &room("r")?, page_size).await?;
        ensure_eq!(
            ids_of(&listed),
            ids,
            "byte order with page size {page_size}"
        );
    }
    Ok(())
}

async fn list_never_returns_expired_records(ctx: Ctx) -> Outcome {
    // Interleave short and long leases so expired keys sit between live ones on every page.
    let ids = numbered("m", 60);
    let (short, long): (Vec<_>, Vec<_>) = ids
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 3 != 0);
    let short: Vec<String> = short.into_iter().map(|(_, s)| s).collect();
    let long: Vec<String> = long.into_iter().map(|(_, s)| s).collect();
    register_all(&ctx.store, "r", &short, 100).await?;
    register_all(&ctx.store, "r", &long, TTL_MS).await?;
    ctx.advance(100);
    for page_size in [1, 2, 7, 1000] {
        let mut after: Option<PageToken> = None;
        let mut seen = Vec::new();
        loop {
            let page = ctx
                .store
                .list(&room("r")?, after.as_ref(), page_size)
                .await?;
            ensure!(page.members.len() <= page_size, "page over its limit");
            let now = ctx.clock.now_ms();
            for member in &page.members {
                ensure!(
                    member.expires_at_ms > now,
                    "expired member {:?} listed",
                    member.id
                );
            }
            seen.extend(ids_of(&page.members));
            match page.next {
                Some(token) => after = Some(token),
                None => break,
            }
        }
        ensure_eq!(seen, long, "live members with page size {page_size}");
    }
    ensure_eq!(
        ctx.store.count(&room("r")?).await?,
        long.len() as u64,
        "count"
    );
    Ok(())
}

async fn pagination_returns_each_id_once(ctx: Ctx) -> Outcome {
    let r = room("big")?;
    let mut registered: Vec<String> = Vec::new();
    // Page sizes 1 and 2 walk the small rooms (one request per member on an object
    // store); 1000 and an unaligned 333 walk every size up to 2500.
    for target in [0usize, 1, 2, 3, 50, 999, 1000, 1001, 2500] {
        let new = numbered("p", target)[registered.len()..].to_vec();
        register_all(&ctx.store, "big", &new, TTL_MS).await?;
        registered.extend(new);
        for page_size in [1, 2, 333, 1000] {
            if page_size < 333 && target > 50 {
                continue;
            }
            let mut after: Option<PageToken> = None;
            let mut seen: Vec<String> = Vec::new();
            let mut pages = 0;
            loop {
                let page = ctx.store.list(&r, after.as_ref(), page_size).await?;
                ensure!(
                    page.members.len() <= page_size,
                    "page size {page_size} exceeded"
                );
                pages += 1;
                seen.extend(ids_of(&page.members));
                match page.next {
                    Some(token) => after = Some(token),
                    None => break,
                }
                ensure!(
                    pages <= target + 2,
                    "walk does not end (page size {page_size})"
                );
            }
            ensure_eq!(
                seen.len(),
                target,
                "ids walked with page size {page_size} over {target}"
            );
            ensure_eq!(
                seen,
                registered,
                "ids in order, once each ({page_size} over {target})"
            );
        }
    }
    Ok(())
}

async fn page_tokens_survive_a_text_round_trip(ctx: Ctx) -> Outcome {
    let ids = numbered("t", 5);
    register_all(&ctx.store, "r", &ids, TTL_MS).await?;
    let first = ctx.store.list(&room("r")?, None, 2).await?;
    let token = first
        .next
        .ok_or(Failure("no next token after a full page".into()))?;
    let parsed = PageToken::parse(token.as_str())?;
    let second = ctx.store.list(&room("r")?, Some(&parsed), 2).await?;
    ensure_eq!(ids_of(&second.members), ids[2..4].to_vec(), "second page");
    expect_kind(
        PageToken::parse("not/a/token"),
        ErrorKind::InvalidInput,
        "bad token",
    )?;
    Ok(())
}

async fn walk_during_changes_never_duplicates(ctx: Ctx) -> Outcome {
    let r = room("r")?;
    let stable = numbered("s", 30);
    let churn = numbered("c", 30);
    register_all(&ctx.store, "r", &stable, TTL_MS).await?;
    register_all(&ctx.store, "r", &churn, TTL_MS).await?;
    let mut after: Option<PageToken> = None;
    let mut seen: Vec<String> = Vec::new();
    let mut step = 0usize;
    loop {
        let page = ctx.store.list(&r, after.as_ref(), 4).await?;
        seen.extend(ids_of(&page.members));
        // Between pages: remove a churning id, add a new one, re-register a stable one.
        if let Some(c) = churn.get(step) {
            ctx.store.remove(&id(c)?).await?;
        }
        ctx.store
            .register(
                &id(&format!("n{step:03}"))?,
                &registration("r", "http://n", TTL_MS)?,
            )
            .await?;
        ctx.store
            .register(
                &id(&stable[step % stable.len()])?,
                &registration("r", "http://n2", TTL_MS)?,
            )
            .await?;
        step += 1;
        match page.next {
            Some(token) => after = Some(token),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    ensure_eq!(
        unique.len(),
        seen.len(),
        "an id was returned twice in one walk"
    );
    for s in &stable {
        ensure!(
            seen.contains(s),
            "id {s} live throughout the walk was missed"
        );
    }
    Ok(())
}

async fn rooms_are_isolated(ctx: Ctx) -> Outcome {
    // Room names that prefix each other catch a key layout that lists by bare prefix.
    let rooms = ["a", "a-b", "ab", "a.b", "b"];
    for (i, name) in rooms.iter().enumerate() {
        let ids = numbered(&format!("{name}x"), i + 1);
        register_all(&ctx.store, name, &ids, TTL_MS).await?;
    }
    for (i, name) in rooms.iter().enumerate() {
        let listed = collect_room(ctx.store.as_ref(), &room(name)?, 1000).await?;
        ensure_eq!(
            ids_of(&listed),
            numbered(&format!("{name}x"), i + 1),
            "members of room {name}"
        );
        ensure_eq!(
            ctx.store.count(&room(name)?).await?,
            (i + 1) as u64,
            "count of room {name}"
        );
    }
    ensure_eq!(
        ctx.store.count(&room("a-")?).await?,
        0,
        "count of an unused prefix room"
    );
    Ok(())
}

async fn count_counts_only_live_members_of_the_room(ctx: Ctx) -> Outcome {
    register_all(&ctx.store, "r", &numbered("live", 7), TTL_MS).await?;
    register_all(&ctx.store, "r", &numbered("dying", 5), 50).await?;
    register_all(&ctx.store, "other", &numbered("o", 3), TTL_MS).await?;
    ensure_eq!(ctx.store.count(&room("r")?).await?, 12, "before expiry");
    ctx.advance(50);
    ensure_eq!(
        ctx.store.count(&room("r")?).await?,
        7,
        "after expiry, without sweep"
    );
    ctx.store.remove(&id("live00000")?).await?;
    ensure_eq!(ctx.store.count(&room("r")?).await?, 6, "after a remove");
    ensure_eq!(ctx.store.count(&room("other")?).await?, 3, "other room");
    ensure_eq!(ctx.store.count(&room("nobody")?).await?, 0, "unused room");
    Ok(())
}

async fn sweep_deletes_only_expired_records(ctx: Ctx) -> Outcome {
    ensure_eq!(ctx.store.sweep().await?, 0, "sweep of an empty store");
    register_all(&ctx.store, "r", &numbered("keep", 10), TTL_MS).await?;
    register_all(&ctx.store, "r", &numbered("drop", 25), 100).await?;
    register_all(&ctx.store, "s", &numbered("drop-s", 5), 100).await?;
    ensure_eq!(ctx.store.sweep().await?, 0, "sweep before anything expired");
    ctx.advance(100);
    ensure_eq!(ctx.store.sweep().await?, 30, "sweep after expiry");
    ensure_eq!(ctx.store.sweep().await?, 0, "second sweep");
    ensure_eq!(
        ctx.store.count(&room("r")?).await?,
        10,
        "live survive the sweep"
    );
    let listed = collect_room(ctx.store.as_ref(), &room("r")?, 3).await?;
    ensure_eq!(ids_of(&listed), numbered("keep", 10), "list after sweep");
    // A swept id can register again.
    ctx.store
        .register(&id("drop00000")?, &registration("r", "http://n", TTL_MS)?)
        .await?;
    ensure_eq!(
        ctx.store.count(&room("r")?).await?,
        11,
        "re-registered after sweep"
    );
    Ok(())
}

async fn concurrent_register_of_200_ids(ctx: Ctx) -> Outcome {
    let ids = numbered("conc", 200);
    let mut tasks = Vec::new();
    for chunk in ids.chunks(10) {
        let (store, chunk) = (ctx.store.clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            let reg = registration("crowd", "http://n", TTL_MS)?;
            for text in chunk {
                store.register(&ConnectionId::new(text)?, &reg).await?;
            }
            Ok::<(), store_core::StoreError>(())
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| Failure(format!("register task panicked: {e}")))??;
    }
    ensure_eq!(ctx.store.count(&room("crowd")?).await?, 200, "count");
    let listed = collect_room(ctx.store.as_ref(), &room("crowd")?, 64).await?;
    ensure_eq!(ids_of(&listed), ids, "every id listed once");
    Ok(())
}

async fn concurrent_register_of_one_id_leaves_one_record(ctx: Ctx) -> Outcome {
    let c = id("contended")?;
    let rooms: Vec<String> = (0..20).map(|i| format!("room{i:02}")).collect();
    let mut tasks = Vec::new();
    for name in &rooms {
        let (store, c, reg) = (
            ctx.store.clone(),
            c.clone(),
            registration(name, "http://n", TTL_MS)?,
        );
        tasks.push(tokio::spawn(async move { store.register(&c, &reg).await }));
    }
    for task in tasks {
        task.await
            .map_err(|e| Failure(format!("register task panicked: {e}")))??;
    }
    let got = ctx
        .store
        .get(&c)
        .await?
        .ok_or(Failure("no record after concurrent registers".into()))?;
    let mut total = 0;
    for name in &rooms {
        let r = room(name)?;
        let n = ctx.store.count(&r).await?;
        let listed = collect_room(ctx.store.as_ref(), &r, 10).await?;
        ensure_eq!(listed.len() as u64, n, "list and count agree in {name}");
        if n > 0 {
            ensure_eq!(r, got.room, "listed room differs from get's room");
        }
        total += n;
    }
    ensure_eq!(total, 1, "one id must be in exactly one room");
    Ok(())
}

async fn list_room_equals_a_walk_of_pages(ctx: Ctx) -> Outcome {
    // Members, a fifth of them expired, and another room beside.
    let n: usize = 60;
    let short = registration("big", "http://node-a", 1_000)?;
    let long = registration("big", "http://node-b", TTL_MS)?;
    for i in 0..n {
        let reg = if i % 5 == 0 { &short } else { &long };
        ctx.store.register(&id(&format!("c{i:05}"))?, reg).await?;
    }
    ctx.store
        .register(
            &id("other")?,
            &registration("small", "http://node-a", TTL_MS)?,
        )
        .await?;
    ctx.clock.advance(Duration::from_millis(1_000));
    let all = ctx.store.list_room(&room("big")?).await?;
    let walked = collect_room(ctx.store.as_ref(), &room("big")?, 100).await?;
    ensure_eq!(all.len(), n - n.div_ceil(5), "live members in one call");
    ensure_eq!(all, walked, "list_room against a walk of pages");
    ensure_eq!(
        ctx.store.list_room(&room("empty")?).await?,
        vec![],
        "an empty room"
    );
    Ok(())
}
