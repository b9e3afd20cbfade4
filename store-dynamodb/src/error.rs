//! The one function that turns `aws-sdk-dynamodb` errors into [`StoreError`]s.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use store_core::StoreError;

/// The backend's name in errors and reports.
pub(crate) const BACKEND: &str = "dynamodb";

/// The error code of a conditional write whose condition did not hold.
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

/// Maps an SDK error of any operation.
///
/// DynamoDB answers most failures with HTTP 400 and a code, so the code decides:
///
/// - `Unavailable` (retry later): no answer in time, no connection, a malformed
///   answer, HTTP 5xx, and the throttling codes (`ProvisionedThroughputExceededException`,
///   `ThrottlingException`, `RequestLimitExceeded`, `LimitExceededException`), and
///   writes that lost to another writer's transaction or another region's write
///   (`TransactionConflictException`, `ReplicatedWriteConflictException`,
///   `TransactionInProgressException`) — which the SDK has already retried.
/// - `PermissionDenied`: the credentials or the IAM policy (`AccessDeniedException`,
///   `UnrecognizedClientException`, `InvalidSignatureException`, expired or missing
///   tokens).
/// - `Config`: the table does not exist (`ResourceNotFoundException`: create it or let the
///   store do it), or the request could not be built.
/// - `Conflict`: a conditional write lost (`ConditionalCheckFailedException`) where the
///   store did not expect it.
/// - `Backend` for the rest (`ValidationException`: an item over 400 KB, a schema that is
///   not this store's), with DynamoDB's code and message.
pub fn map_dynamodb_error<E>(error: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return unavailable(Box::new(error));
        }
        SdkError::ConstructionFailure(_) => {
            return StoreError::config(format!("DynamoDB: cannot build the request: {error:?}"));
        }
        SdkError::ServiceError(context) => context.raw().status().as_u16(),
        _ => 0,
    };
    let code = error.code().unwrap_or_default().to_owned();
    let described = format!("{code}: {}", error.message().unwrap_or_default());
    match code.as_str() {
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "LimitExceededException"
        | "TransactionInProgressException"
        | "TransactionConflictException"
        | "ReplicatedWriteConflictException"
        | "InternalServerError"
        | "ServiceUnavailable" => unavailable(described.into()),
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException"
        | "ExpiredTokenException"
        | "InvalidClientTokenId" => StoreError::PermissionDenied {
            store: BACKEND,
            source: described.into(),
        },
        "ResourceNotFoundException" => StoreError::config(format!(
            "DynamoDB: the table does not exist ({described}); create it, or open the store \
             with create=true"
        )),
        CONDITION_FAILED => StoreError::Conflict {
            message: format!("DynamoDB {described}"),
        },
        _ if (500..=599).contains(&status) => unavailable(described.into()),
        // The SDK's own text of a service error is "service error": keep code and message.
        _ => StoreError::Backend {
            store: BACKEND,
            source: described.into(),
        },
    }
}

/// Whether `error` says a conditional write's condition did not hold: an expected outcome
/// of the store's guarded writes, not a failure.
pub(crate) fn is_condition_failed<E: ProvideErrorMetadata>(
    error: &SdkError<E, HttpResponse>,
) -> bool {
    matches!(error, SdkError::ServiceError(_)) && error.code() == Some(CONDITION_FAILED)
}

fn unavailable(source: store_core::BoxError) -> StoreError {
    StoreError::Unavailable {
        store: BACKEND,
        source,
    }
}

/// An item that does not have the shape this store writes: somebody else wrote into the
/// table, or the server is not DynamoDB-compatible enough.
pub(crate) fn unexpected(what: &str) -> StoreError {
    StoreError::Backend {
        store: BACKEND,
        source: format!("unexpected item: {what}").into(),
    }
}
