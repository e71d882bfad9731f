//! The REST API under `/api`. Handlers read the [`Principal`] and call the services; they
//! neither parse credentials nor check permissions of their own for keys.

mod audit;
mod connections;
mod identity;
mod json;
pub use identity::userinfo;
mod keys;
pub mod mcp;
pub mod openapi;

use crate::{auth::Credential, caller::Principal, error::Error, state::AppState};
use axum::{
    extract::{DefaultBodyLimit, FromRequestParts},
    http::{header, request::Parts, HeaderValue},
    response::{IntoResponse, Response},
    Router,
};
use std::sync::OnceLock;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Every REST route, each declared once: `routes!` takes a handler's method and path from its
/// `#[utoipa::path]`, so the router and the OpenAPI document ([`openapi::document`]) cannot
/// disagree. Paths are relative to `/api`, where the server nests this router; one `routes!`
/// per path (it routes every handler it is given to each of their paths).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(openapi_json))
        .routes(routes!(identity::login))
        .routes(routes!(identity::userinfo))
        .routes(routes!(identity::list_groups, identity::create_group))
        .routes(routes!(identity::list_users, identity::create_user))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::get, keys::configure, keys::delete))
        .routes(routes!(keys::deactivate))
        .routes(routes!(keys::activate))
        .routes(routes!(keys::reactivate))
        .routes(routes!(keys::rotate))
        .routes(routes!(keys::usage))
        .routes(routes!(keys::report_leaked))
        .routes(routes!(audit::list))
        .routes(routes!(connections::list, connections::create))
        .routes(routes!(connections::update, connections::delete))
        .routes(routes!(connections::exec))
        .routes(routes!(connections::sessions, connections::create_session))
        .routes(routes!(connections::session))
}

/// `GET /api/openapi.json`: the document of [`routes`].
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document of this API", content_type = "application/json")))]
async fn openapi_json() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| {
        openapi::document(routes().into_openapi())
            .to_json()
            .unwrap_or_default()
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        doc.as_str(),
    )
        .into_response()
}

/// The REST API; `extra` joins it behind the same layers.
pub fn router(state: AppState, extra: Router<AppState>) -> Router {
    let (api, _) = routes().split_for_parts();
    api.merge(extra)
        .fallback(|| async { Error::NotFound("no such API route".into()) })
        .layer(DefaultBodyLimit::max(crate::security::API_BODY_LIMIT))
        .layer(axum::middleware::from_fn(crate::telemetry::note_route))
        // API answers carry credentials or data about them: never cache them anywhere.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the gateway answers.
    status: &'static str,
    /// `memory`, or `database` while the change feed between replicas is down.
    key_cache: &'static str,
}

/// Liveness, and whether keys are verified from memory or (while the change feed between
/// replicas is down) from the database.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = Health)))]
pub async fn healthz(
    axum::extract::State(s): axum::extract::State<AppState>,
) -> axum::Json<Health> {
    let key_cache = if s.keys.cache_is_trusted() {
        "memory"
    } else {
        "database"
    };
    axum::Json(Health {
        status: "ok",
        key_cache,
    })
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let credential = Credential::collect(parts).await?;
        state.auth.authenticate_request(&credential, parts).await
    }
}
