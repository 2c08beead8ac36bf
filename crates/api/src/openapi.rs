//! `GET /api/openapi.json`: the OpenAPI description of every route, its schemas and the
//! bearer scheme, generated from the handlers' own annotations; `/docs` renders it.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{
    containers, error, exec, health, logs, maintenance, metrics, setup, terminal, tickets,
};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "slipwayd", description = "slipway's management API: dev environments from a warm pool."),
    paths(
        health::health,
        metrics::metrics,
        containers::list,
        containers::get,
        containers::create,
        containers::destroy,
        setup::setup,
        exec::exec,
        logs::logs,
        terminal::terminal,
        tickets::issue,
        maintenance::prune,
        openapi_json,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, exec::ExecExit)),
    modifiers(&BearerScheme, &ContainerLinks),
    tags(
        (name = "containers", description = "dev environments"),
        (name = "maintenance", description = "pruning"),
        (name = "health", description = "health and metrics"),
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme the routes name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Links from a create's answer to what can be done with the container it made (clients and
/// stateful fuzzers follow them). The streams are left out: they stay open while it lives.
struct ContainerLinks;

/// The operations a new container's id leads to.
const CONTAINER_OPERATIONS: &[(&str, &str)] = &[
    ("GetContainer", "get"),
    ("SetUpContainer", "setup"),
    ("ExecInContainer", "exec"),
    ("IssueTicket", "issue"),
    ("DestroyContainer", "destroy"),
];

impl Modify for ContainerLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::link::LinkBuilder;
        use utoipa::openapi::RefOr;
        let Some(create) = openapi
            .paths
            .paths
            .get_mut("/api/containers")
            .and_then(|item| item.post.as_mut())
        else {
            return;
        };
        for status in ["200", "201"] {
            let Some(RefOr::T(answer)) = create.responses.responses.get_mut(status) else {
                continue;
            };
            for (name, operation) in CONTAINER_OPERATIONS {
                let link = LinkBuilder::new()
                    .operation_id(*operation)
                    .parameter("id", "$response.body#/id")
                    .build();
                answer.links.insert((*name).to_owned(), RefOr::T(link));
            }
        }
    }
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "health",
    responses((status = 200, description = "this document"), (status = 401, body = error::ErrorBody)),
    security(("bearer" = [])))]
/// `GET /api/openapi.json`.
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Where the rendered documentation is served.
pub const DOCS_PATH: &str = "/docs";

/// `/docs`: Swagger UI (its files are compiled in, so it works offline) over the same
/// document, served at `/docs/openapi.json` without a token: it describes the API, which is
/// the same on every host, and holds no data. "Authorize" takes the bearer secret for tries.
pub(crate) fn docs<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    utoipa_swagger_ui::SwaggerUi::new(DOCS_PATH)
        .url(format!("{DOCS_PATH}/openapi.json"), ApiDoc::openapi())
        // Swagger UI would otherwise send the document to swagger.io's online validator.
        .config(utoipa_swagger_ui::Config::default().validator_url("none"))
        .into()
}
