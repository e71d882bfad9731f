//! The body of every error answer.

use serde::{Deserialize, Serialize};

/// A sentence for humans, and for a rejected value (409, 422) the request field it came from.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub message: String,
    /// The request field the error is about (`name`, `groups`, `email`, …), on 409 and 422
    /// answers about one value; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}
