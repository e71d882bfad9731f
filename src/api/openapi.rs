//! The OpenAPI 3 document of the REST API, generated from the handlers' annotations and served
//! at `/api/openapi.json`. Answers every route can give (bad body, too large, throttled,
//! database down, not authenticated) are added here once rather than on every handler.

use super::{audit, connections, identity, keys};
use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use std::sync::OnceLock;
use utoipa::{
    openapi::{
        path::Operation,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, Response as ApiResponse,
        ResponseBuilder, Type,
    },
    Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hoop gateway API",
        description = "Managed API keys (`hpk_…`), users, groups, connections and the audit log. \
                       Authenticate with `Authorization: Bearer <hpk_ key or user token>` \
                       (or the legacy static key in `Api-Key`)."
    ),
    paths(
        super::healthz,
        openapi_json,
        identity::login,
        identity::userinfo,
        identity::list_groups,
        identity::create_group,
        identity::list_users,
        identity::create_user,
        keys::list,
        keys::create,
        keys::get,
        keys::configure,
        keys::delete,
        keys::deactivate,
        keys::activate,
        keys::reactivate,
        audit::list,
        connections::list,
        connections::create,
        connections::update,
        connections::delete,
        connections::exec,
        connections::sessions,
        connections::create_session,
        connections::session,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&Security, &CommonAnswers),
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`: this document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document of this API", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        doc.as_str(),
    )
        .into_response()
}

/// The names handlers use in `security(...)`.
pub const BEARER: &str = "bearer";
pub const LEGACY: &str = "api_key";

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A managed API key (`hpk_` + 43 characters) or a user access token \
                         from `POST /api/localauth/login`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            LEGACY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Api-Key",
                "The legacy static key `<org-id>|<random>` (the `API_KEY` setting); always admin.",
            ))),
        );
    }
}

struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = path == "/api/healthz" || path == "/api/openapi.json";
            let ops = [
                (&mut item.get, false),
                (&mut item.put, true),
                (&mut item.post, true),
                (&mut item.delete, true),
            ];
            for (op, writes) in ops {
                if let Some(op) = op {
                    add_common(op, path, public, writes);
                }
            }
        }
    }
}

/// `writes`: the cross-origin refusal applies (every method but GET), login included.
fn add_common(op: &mut Operation, path: &str, public: bool, writes: bool) {
    let answers = &mut op.responses.responses;
    let mut add = |status: &str, response: ApiResponse| {
        answers
            .entry(status.to_owned())
            .or_insert(RefOr::T(response));
    };
    if public {
        return;
    }
    add("400", error("The request could not be read: malformed JSON or query string, or a missing JSON content type"));
    add("413", error("The request body is larger than 1 MiB"));
    if op.request_body.is_some() {
        add(
            "422",
            error("The body is JSON of the wrong shape, or a value breaks a rule"),
        );
    }
    add("503", error("The database is unavailable; try again"));
    let login = path == "/api/localauth/login";
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    if secured || login {
        add(
            "401",
            error(if login {
                "Wrong email or password"
            } else {
                "Missing, unknown, malformed or deactivated credentials"
            }),
        );
        let mut throttled = error("Too many failed authentications from this address");
        throttled.headers.insert(
            "Retry-After".to_owned(),
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("Seconds to wait before trying again"))
                .build(),
        );
        add("429", throttled);
    }
    if secured && writes {
        add(
            "403",
            error("Not allowed for this caller, or a state-changing request sent by another site"),
        );
    } else if secured {
        add("403", error("Not allowed for this caller"));
    } else if writes {
        add(
            "403",
            error("A state-changing request sent by another site (cross-origin): refused"),
        );
    }
}

fn error(description: &str) -> ApiResponse {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}
