//! The API's JSON body: `axum::Json` whose rejections are our JSON errors.

use crate::error::Error;
use axum::{
    extract::{rejection::JsonRejection, FromRequest},
    http::StatusCode,
};

/// `axum::Json` whose rejections are our JSON errors: syntax errors are 400, a body of the
/// wrong shape is 422.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for Error {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => Error::Invalid(e.body_text()),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Error::body_too_large(crate::security::API_BODY_LIMIT)
            }
            other => Error::BadRequest(other.body_text()),
        }
    }
}
