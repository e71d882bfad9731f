//! The REST API under `/api`. Handlers read the [`Principal`] and call the services; they
//! neither parse credentials nor check permissions of their own for keys.

mod audit;
mod connections;
mod identity;
mod json;
pub use identity::userinfo;
mod keys;
pub mod openapi;

use crate::{auth::Credential, caller::Principal, error::Error, state::AppState};
use axum::{
    extract::{DefaultBodyLimit, FromRequestParts},
    http::{header, request::Parts, HeaderValue},
    routing::{get, post, put},
    Router,
};
use tower_http::set_header::SetResponseHeaderLayer;

/// The REST API; `extra` joins it behind the same layers.
pub fn router(state: AppState, extra: Router<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/localauth/login", post(identity::login))
        .route("/userinfo", get(identity::userinfo))
        .route(
            "/groups",
            get(identity::list_groups).post(identity::create_group),
        )
        .route(
            "/users",
            get(identity::list_users).post(identity::create_user),
        )
        .route("/api-keys", get(keys::list).post(keys::create))
        .route(
            "/api-keys/{name_or_id}",
            get(keys::get).put(keys::configure).delete(keys::delete),
        )
        .route("/api-keys/{name_or_id}/deactivate", post(keys::deactivate))
        .route("/api-keys/{name_or_id}/activate", post(keys::activate))
        .route("/api-keys/{name_or_id}/reactivate", post(keys::reactivate))
        .route("/audit", get(audit::list))
        .route(
            "/connections",
            get(connections::list).post(connections::create),
        )
        .route(
            "/connections/{name}",
            put(connections::update).delete(connections::delete),
        )
        .route("/connections/{name}/exec", post(connections::exec))
        .route(
            "/sessions",
            get(connections::sessions).post(connections::create_session),
        )
        .route("/sessions/{id}", get(connections::session))
        .merge(extra)
        .fallback(|| async { Error::NotFound("no such API route".into()) })
        .layer(DefaultBodyLimit::max(crate::security::API_BODY_LIMIT))
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
#[utoipa::path(get, path = "/api/healthz", tag = "meta", responses((status = 200, body = Health)))]
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
        state
            .auth
            .authenticate(&credential, crate::auth::client_addr(parts))
            .await
    }
}
