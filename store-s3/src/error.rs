//! The one place `aws-sdk-s3` errors become [`StoreError`]s.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use store_core::StoreError;

const STORE: &str = "s3";

/// Maps an SDK error: 404 → `NotFound`, 403 → `PermissionDenied`, 409/412 → `Conflict`,
/// 429/5xx/timeouts/connection failures → `Unavailable` (temporary), the rest → `Backend`.
pub(crate) fn parse_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let status = match &err {
        SdkError::ServiceError(ctx) => Some(status_of(ctx.raw())),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            return StoreError::Unavailable {
                store: STORE,
                source: Box::new(err),
            };
        }
        SdkError::ConstructionFailure(_) => {
            return StoreError::config(format!("s3: cannot build the request: {err:?}"));
        }
        _ => None,
    };
    let code = err.code().unwrap_or_default().to_owned();
    let message = err.message().unwrap_or_default().to_owned();
    let described = format!("{code}: {message}");
    match status.flatten() {
        Some(404) => StoreError::NotFound { id: described },
        Some(403) => StoreError::PermissionDenied {
            store: STORE,
            source: described.into(),
        },
        Some(409 | 412) => StoreError::Conflict {
            message: format!("s3 {described}"),
        },
        Some(429 | 500..=599) => StoreError::Unavailable {
            store: STORE,
            source: described.into(),
        },
        _ if code == "SlowDown" || code == "RequestTimeout" => StoreError::Unavailable {
            store: STORE,
            source: described.into(),
        },
        _ => StoreError::Backend {
            store: STORE,
            source: Box::new(err),
        },
    }
}

/// The HTTP status of a raw response, if `R` is the SDK's HTTP response type.
fn status_of<R: std::fmt::Debug + 'static>(raw: &R) -> Option<u16> {
    (raw as &dyn std::any::Any)
        .downcast_ref::<aws_smithy_runtime_api::http::Response>()
        .map(|response| response.status().as_u16())
}
