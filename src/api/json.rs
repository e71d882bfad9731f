//! The API's JSON body: `axum::Json` whose rejections are our JSON errors.

use crate::{domain::Violation, error::Error};
use axum::{
    extract::{rejection::JsonRejection, FromRequest},
    http::StatusCode,
};
use std::borrow::Cow;

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
            JsonRejection::JsonDataError(e) => Error::Invalid(Violation {
                field: field_of(&e).map(Cow::Owned),
                message: e.body_text(),
            }),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Error::body_too_large(crate::security::API_BODY_LIMIT)
            }
            other if crate::security::paced_body::is_too_slow(&other) => Error::TooSlow,
            other => Error::BadRequest(other.body_text()),
        }
    }
}

/// The top-level request field a body of the wrong shape went wrong in (`groups` for
/// `{"groups": "admin"}`), as serde tracked it; none when the body as a whole is wrong (a
/// missing field, say).
fn field_of(e: &axum::extract::rejection::JsonDataError) -> Option<String> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(e) = s.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            return match e.path().iter().next()? {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                _ => None,
            };
        }
        source = s.source();
    }
    None
}

/// A JSON body that may be left out: no body (or only whitespace), or a body of `null`, is
/// `T::default()`. A body that is there is read exactly as [`Json`] reads one, content type
/// included.
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Error> {
        let limit = crate::security::API_BODY_LIMIT;
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
            let e = e.into_inner();
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Error::body_too_large(limit)
            } else if crate::security::paced_body::is_too_slow(&*e) {
                Error::TooSlow
            } else {
                Error::BadRequest(format!("cannot read the request body: {e}"))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        let Json(value) = Json::<Option<T>>::from_request(req, state).await?;
        Ok(Self(value.unwrap_or_default()))
    }
}
