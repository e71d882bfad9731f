//! The OpenAPI 3 document of the REST API, derived from the routes' annotations (handed in by
//! the router that serves it at `/api/openapi.json`). Answers every route can give (bad body,
//! too large, throttled, database down, not authenticated) are added here once rather than on
//! every handler.

use utoipa::{
    openapi::{
        path::Operation,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, Header, HeaderBuilder, ObjectBuilder, Ref, RefOr, Response as ApiResponse,
        ResponseBuilder, Type,
    },
    Modify, OpenApi,
};

/// What is not a route: the title, what the document says of itself, shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "hoop gateway API",
        description = "Managed API keys (`hpk_…`), users, groups, connections and the audit log. \
                       Authenticate with `Authorization: Bearer <hpk_ key or user token>` \
                       (or the legacy static key in `Api-Key`). A method a path does not list \
                       is answered `405` with an `Allow` header naming the methods it has \
                       (`components.responses.MethodNotAllowed`)."
    ),
    // The default, said outright: the API is on the host that serves this document.
    servers((url = "/", description = "The gateway serving this document")),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

/// The whole document: every route's own annotation (`routes`, the router's document), under
/// `/api` where the server nests the router, and then the answers and security schemes they
/// share.
pub fn document(routes: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi().nest("/api", routes);
    // Cargo passes an empty license when Cargo.toml declares none; utoipa would publish it as
    // `{"name": ""}`, which no validator accepts. A declared one comes through as its SPDX
    // identifier, which is what OpenAPI 3.1 asks for.
    if doc.info.license.as_ref().is_some_and(|l| l.name.is_empty()) {
        doc.info.license = None;
    }
    Security.modify(&mut doc);
    CommonAnswers.modify(&mut doc);
    doc
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
            let ops = [
                (&mut item.get, false),
                (&mut item.put, true),
                (&mut item.post, true),
                (&mut item.delete, true),
            ];
            for (op, writes) in ops {
                if let Some(op) = op {
                    add_common(op, path, writes);
                }
            }
        }
        openapi
            .components
            .get_or_insert_with(Default::default)
            .responses
            .insert(
                "MethodNotAllowed".to_owned(),
                RefOr::T(method_not_allowed()),
            );
    }
}

/// `writes`: the cross-origin refusal applies (every method but GET), login included.
fn add_common(op: &mut Operation, path: &str, writes: bool) {
    // An answer whose handler gave only its schema still needs a sentence.
    for (status, answer) in op.responses.responses.iter_mut() {
        if let RefOr::T(answer) = answer {
            if answer.description.is_empty() {
                answer.description = plain_meaning(status).to_owned();
            }
        }
    }
    // A handler that names no security scheme needs no credentials: say so (`security: []`),
    // rather than leave a client to guess whether a document-wide default applies.
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    if !secured {
        op.security = Some(Vec::new());
    }
    let answers = &mut op.responses.responses;
    let mut add = |status: &str, response: ApiResponse| {
        answers
            .entry(status.to_owned())
            .or_insert(RefOr::T(response));
    };
    // Public and reading nothing (the health check, this document): nothing to refuse.
    if !secured && !writes {
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
    if secured || login {
        let mut unauthenticated = error(if login {
            "Wrong email or password"
        } else {
            "Missing, unknown, malformed or deactivated credentials"
        });
        unauthenticated.headers.insert(
            "WWW-Authenticate".to_owned(),
            header(
                Type::String,
                "`Bearer`: the scheme to authenticate with (RFC 9110, 11.6.1)",
            ),
        );
        add("401", unauthenticated);
        let mut throttled = error("Too many failed authentications from this address");
        throttled.headers.insert(
            "Retry-After".to_owned(),
            header(Type::Integer, "Seconds to wait before trying again"),
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

fn header(schema_type: Type, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(schema_type))
        .description(Some(description))
        .build()
}

/// What axum answers a method a path does not have: no body, and the methods it has.
fn method_not_allowed() -> ApiResponse {
    let mut response = ResponseBuilder::new()
        .description("The path exists but not with this method")
        .build();
    response.headers.insert(
        "Allow".to_owned(),
        header(Type::String, "The methods this path has, comma-separated"),
    );
    response
}

/// What a status means here, for the answers a handler lists without a description.
fn plain_meaning(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "204" => "Done; no body",
        "404" => "No such resource, or none this caller can see",
        "409" => "Taken: another one has this name (or, for a user, this email)",
        "422" => "A value breaks a rule",
        _ => "See the status code",
    }
}
