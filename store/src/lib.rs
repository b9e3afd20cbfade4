//! Opens a [`ConnectionStore`] from a URL, whichever backend was compiled in.
//!
//! Every backend is one row of [`BACKENDS`] (the table of schemes is in its docs): its name,
//! the URL schemes that name it, the cargo feature that compiles it in, and how it opens —
//! through its config's [`StoreConfig`], the one shape every backend crate has
//! (`Config::with_url(url)?.with_namespace(ns)?.with_clock(clock)`, then
//! `TheStore::open(config)`). [`Scheme`], the error for an unknown scheme and the one for a
//! backend not compiled in are generated from the same rows: a new backend is one row here,
//! plus its feature in `Cargo.toml`.
//!
//! A scheme whose backend was not compiled in is a [`StoreError::Config`] naming the
//! feature to enable, never a panic.
//!
//! # Layout
//! - `lib.rs`: [`BACKENDS`] and its [`Backend`] rows (which define [`Scheme`]),
//!   [`OpenOptions`], [`open`], [`open_with`], [`redact`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use store_core::{
    ConnectionStore, MemoryStore, Result, SharedClock, StoreConfig, StoreError, system_clock,
};

// One row per backend: its variant of `Scheme` (with the row's docs: the table's "backend"
// column), its name, its URL schemes as written in a URL, its cargo feature (`always`: in
// every build), and the function that opens it from a URL.
backends! {
    /// In-process [`MemoryStore`], the reference model: nothing persists.
    Memory {
        name: "memory",
        schemes: ["memory:"],
        feature: always,
        open: open_memory,
    }
    /// sled, embedded (a default feature); the URL names a directory.
    Sled {
        name: "sled",
        schemes: ["sled://"],
        feature: "sled",
        open: open_config::<store_sled::SledConfig>,
    }
    /// SQLite through rusqlite, embedded (a default feature); the URL names a file, or
    /// `:memory:`.
    Sqlite {
        name: "sqlite",
        schemes: ["sqlite://"],
        feature: "sqlite",
        open: open_config::<store_sql::SqliteConfig>,
    }
    /// PostgreSQL through sqlx.
    Postgres {
        name: "postgres",
        schemes: ["postgres://", "postgresql://"],
        feature: "postgres",
        open: open_config::<store_sql::SqlxConfig>,
    }
    /// MySQL / MariaDB through sqlx.
    Mysql {
        name: "mysql",
        schemes: ["mysql://", "mariadb://"],
        feature: "mysql",
        open: open_config::<store_sql::SqlxConfig>,
    }
    /// S3 and S3-compatible object storage (`cos` is Tencent COS).
    S3 {
        name: "s3",
        schemes: ["s3://", "cos://"],
        feature: "s3",
        open: open_config::<store_s3::S3Config>,
    }
    /// Alibaba OSS, in its own protocol.
    Oss {
        name: "oss",
        schemes: ["oss://"],
        feature: "oss",
        open: open_config::<store_oss::OssConfig>,
    }
    /// Redis, standalone or Cluster (`+cluster`, seeds `h1:p1,h2:p2`).
    Redis {
        name: "redis",
        schemes: ["redis://", "rediss://", "redis+cluster://", "rediss+cluster://"],
        feature: "redis",
        open: open_config::<store_redis::RedisConfig>,
    }
    /// Amazon DynamoDB; the URL names a table, `?region=…&endpoint=…`, credentials come
    /// from `AWS_*`.
    Dynamodb {
        name: "dynamodb",
        schemes: ["dynamodb://"],
        feature: "dynamodb",
        open: open_config::<store_dynamodb::DynamoConfig>,
    }
}

/// Generates [`Scheme`] (one variant per row, with the row's docs) and [`BACKENDS`] (with
/// the table of schemes in its docs) from the rows above.
macro_rules! backends {
    ($(
        $(#[doc = $doc:literal])+
        $variant:ident {
            name: $name:literal,
            schemes: [$first:literal $(, $scheme:literal)* $(,)?],
            feature: $feature:tt,
            open: $open:expr $(,)?
        }
    )+) => {
        /// The backend a URL names: one variant per row of [`BACKENDS`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Scheme {
            $(
                $(#[doc = $doc])+
                $variant,
            )+
        }

        /// Every backend this crate knows, compiled in or not, in the order of [`Scheme`]:
        ///
        /// | scheme | backend | cargo feature |
        /// |---|---|---|
        $(
            #[doc = concat!(
                "| `", $first, "`" $(, ", `", $scheme, "`")*, " |", $($doc,)+ " | ",
                feature_doc!($feature), " |"
            )]
        )+
        pub const BACKENDS: &[Backend] = &[$(
            Backend {
                scheme: Scheme::$variant,
                name: $name,
                schemes: &[$first $(, $scheme)*],
                feature: feature_name!($feature),
                open: compiled_in!($feature, $open),
            },
        )+];
    };
}
use backends;

/// A row's feature in the docs' table.
macro_rules! feature_doc {
    (always) => {
        "always"
    };
    ($feature:literal) => {
        concat!("`", $feature, "`")
    };
}
use feature_doc;

/// A row's feature as [`Backend::feature`] holds it.
macro_rules! feature_name {
    (always) => {
        None
    };
    ($feature:literal) => {
        Some($feature)
    };
}
use feature_name;

/// A row's open function when its feature is on in this build, else `None` (its config's
/// crate is not even named then).
macro_rules! compiled_in {
    (always, $open:expr) => {
        Some($open)
    };
    ($feature:literal, $open:expr) => {{
        #[cfg(feature = $feature)]
        const OPEN: Option<OpenFn> = Some($open);
        #[cfg(not(feature = $feature))]
        const OPEN: Option<OpenFn> = None;
        OPEN
    }};
}
use compiled_in;

/// One backend: a row of [`BACKENDS`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Backend {
    /// Its variant of [`Scheme`].
    pub scheme: Scheme,
    /// Its name (`postgres` and `mysql` are two rows on one config, `SqlxConfig`).
    pub name: &'static str,
    /// The URL schemes that name it, as written in a URL (`memory:`, `sled://`).
    pub schemes: &'static [&'static str],
    /// The cargo feature that compiles it in; `None` when it is always built.
    pub feature: Option<&'static str>,
    /// Opens it from a URL; `None` when its feature is off in this build.
    open: Option<OpenFn>,
}

impl Backend {
    /// Whether this build can open it.
    pub fn is_compiled_in(&self) -> bool {
        self.open.is_some()
    }
}

/// A store being opened.
type Opening<'a> = Pin<Box<dyn Future<Output = Result<Arc<dyn ConnectionStore>>> + Send + 'a>>;

/// How a row opens its backend from a URL.
type OpenFn = for<'a> fn(&'a str, OpenOptions) -> Opening<'a>;

/// The memory row's open: there is nothing to configure but the clock.
fn open_memory(_url: &str, options: OpenOptions) -> Opening<'_> {
    Box::pin(async move {
        Ok(Arc::new(MemoryStore::with_clock(options.clock)) as Arc<dyn ConnectionStore>)
    })
}

/// Every other row's open: the config from the URL, the namespace and clock of `options`,
/// then `TheStore::open(config)`.
#[allow(dead_code, reason = "unused when no backend feature is on")]
fn open_config<C: StoreConfig>(url: &str, options: OpenOptions) -> Opening<'_> {
    Box::pin(async move {
        let mut config = C::with_url(url)?;
        if let Some(namespace) = &options.namespace {
            config = config.with_namespace(namespace)?;
        }
        let store = config.with_clock(options.clock).open().await?;
        Ok(Arc::new(store) as Arc<dyn ConnectionStore>)
    })
}

/// How to open a store beyond its URL.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The clock leases are computed from (tests inject a manual one).
    pub clock: SharedClock,
    /// Keeps this store's data apart from others in the same storage (a table suffix, a
    /// tree prefix, a key prefix). `None` uses the URL's own setting or the default.
    pub namespace: Option<String>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            clock: system_clock(),
            namespace: None,
        }
    }
}

impl Scheme {
    /// The scheme of `url`, or a `Config` error for an unknown one.
    pub fn of(url: &str) -> Result<Scheme> {
        let scheme = url.split(':').next().unwrap_or_default();
        BACKENDS
            .iter()
            .find(|backend| backend.schemes.iter().any(|s| scheme_name(s) == scheme))
            .map(|backend| backend.scheme)
            .ok_or_else(|| {
                let known: Vec<&str> = BACKENDS.iter().flat_map(|b| b.schemes).copied().collect();
                StoreError::config(format!(
                    "unknown store URL scheme in `{}`; expected one of {}",
                    redact(url),
                    known.join(", ")
                ))
            })
    }

    /// Its row of [`BACKENDS`].
    pub fn backend(self) -> &'static Backend {
        // The rows are in the order of the variants: both come from one list.
        &BACKENDS[self as usize]
    }

    /// The cargo feature that compiles this backend in.
    pub fn feature(self) -> &'static str {
        self.backend().feature.unwrap_or("(always built)")
    }
}

/// `sled` of `sled://`, `memory` of `memory:`.
fn scheme_name(written: &str) -> &str {
    written.split(':').next().unwrap_or_default()
}

/// Opens the store `url` names, on the wall clock.
pub async fn open(url: &str) -> Result<Arc<dyn ConnectionStore>> {
    open_with(url, OpenOptions::default()).await
}

/// Opens the store `url` names with `options`.
pub async fn open_with(url: &str, options: OpenOptions) -> Result<Arc<dyn ConnectionStore>> {
    let backend = Scheme::of(url)?.backend();
    let open = backend
        .open
        .ok_or_else(|| not_compiled_in(backend.scheme))?;
    open(url, options).await
}

fn not_compiled_in(scheme: Scheme) -> StoreError {
    StoreError::config(format!(
        "the {scheme:?} backend is not compiled into this binary; rebuild with \
         `--features {}`",
        scheme.feature()
    ))
}

/// `url` with any password replaced by `***`, for messages and logs — also in a URL
/// mistyped around its `//` (`redis:/u:pw@h`, `mysql:://u:pw@h`).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once(':') else {
        return url.to_owned();
    };
    let after_slashes = rest.trim_start_matches([':', '/']);
    let (slashes, rest) = rest.split_at(rest.len() - after_slashes.len());
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}:{slashes}{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_recognised() {
        assert_eq!(Scheme::of("sled://x").unwrap(), Scheme::Sled);
        assert_eq!(Scheme::of("sqlite::memory:").unwrap(), Scheme::Sqlite);
        assert_eq!(Scheme::of("postgresql://h/db").unwrap(), Scheme::Postgres);
        assert_eq!(Scheme::of("mariadb://h/db").unwrap(), Scheme::Mysql);
        assert_eq!(Scheme::of("cos://b").unwrap(), Scheme::S3);
        assert_eq!(
            Scheme::of("rediss+cluster://h:1,h:2").unwrap(),
            Scheme::Redis
        );
        assert_eq!(
            Scheme::of("dynamodb://conns?region=eu-west-1").unwrap(),
            Scheme::Dynamodb
        );
        let err = Scheme::of("ftp://x").unwrap_err();
        assert_eq!(err.kind(), store_core::ErrorKind::Config);
    }

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db?x=1"),
            "postgres://u:***@h:5432/db?x=1"
        );
        assert_eq!(redact("sled://./data"), "sled://./data");
        assert!(!redact("mysql://root:hunter2@h/db").contains("hunter2"));
        assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(redact("memory:"), "memory:");
    }

    /// Found by `fuzz/` (store_urls): a URL mistyped around its `//` was printed whole.
    #[test]
    fn redact_hides_passwords_in_mistyped_urls() {
        assert_eq!(redact("redis:/u:hunter2@h:6379"), "redis:/u:***@h:6379");
        assert_eq!(
            redact("mysql:://root:hunter2@h/db"),
            "mysql:://root:***@h/db"
        );
        assert_eq!(redact("postgres:u:hunter2@h"), "postgres:u:***@h");
    }

    /// The table is the one list: every scheme it writes is recognised as its row's, and
    /// the rows are in the order of the variants.
    #[test]
    fn every_scheme_of_the_table_names_its_backend() {
        for (at, backend) in BACKENDS.iter().enumerate() {
            assert_eq!(backend.scheme as usize, at, "{backend:?}");
            assert_eq!(backend.scheme.backend().name, backend.name);
            for scheme in backend.schemes {
                let url = format!("{scheme}x");
                assert_eq!(Scheme::of(&url).unwrap(), backend.scheme, "{url}");
            }
        }
        let err = Scheme::of("ftp://u:hunter2@x").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        for scheme in BACKENDS.iter().flat_map(|b| b.schemes) {
            assert!(err.contains(scheme), "{err} does not list {scheme}");
        }
    }

    #[test]
    fn memory_is_always_built() {
        assert!(Scheme::Memory.backend().is_compiled_in());
        assert_eq!(Scheme::Memory.feature(), "(always built)");
        assert_eq!(Scheme::Sled.feature(), "sled");
    }

    #[tokio::test]
    async fn memory_opens() {
        let store = open("memory:").await.unwrap();
        assert_eq!(store.backend(), "memory");
    }

    #[test]
    fn missing_backend_is_a_config_error_naming_the_feature() {
        let err = not_compiled_in(Scheme::Oss);
        assert_eq!(err.kind(), store_core::ErrorKind::Config);
        assert!(err.to_string().contains("--features oss"), "{err}");
    }
}
