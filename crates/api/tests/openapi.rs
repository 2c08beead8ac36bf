//! The OpenAPI document: it parses as OpenAPI 3, every `$ref` resolves, and every route the
//! router serves is in it (and every path in it is served).

mod support;

use slipway_api::openapi::ApiDoc;
use slipway_api::API_ROUTES;
use support::{call, router, Fixture, SECRET};
use utoipa::OpenApi;

fn refs(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                if key == "$ref" {
                    found.push(value.as_str().unwrap().to_owned());
                }
                refs(value, found);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_describes_every_route_and_resolves_every_reference() {
    let fixture = Fixture::new(None, "slipway-test/busybox:1", 0);
    let state = fixture.open_records().await;
    let router = router(&state);
    let served = call(&router, "GET", "/api/openapi.json", Some(SECRET), None).await;
    assert_eq!(served.status, 200);
    let document = served.body;
    assert_eq!(document, serde_json::to_value(ApiDoc::openapi()).unwrap());
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let mut found = Vec::new();
    refs(&document, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("an unexpected reference {reference}"));
        assert!(
            document["components"]["schemas"][name].is_object(),
            "{reference} does not resolve"
        );
    }

    // A create's answer links to operations that exist, by the id it returns.
    let operations: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let links = document["paths"]["/api/containers"]["post"]["responses"]["201"]["links"]
        .as_object()
        .expect("a create links to what can be done with the container");
    assert!(links.len() >= 4, "{links:?}");
    for link in links.values() {
        let target = link["operationId"].as_str().unwrap();
        assert!(operations.contains(&target), "a link to {target}");
        assert_eq!(link["parameters"]["id"], "$response.body#/id");
    }

    let routes: Vec<(String, String)> = API_ROUTES
        .iter()
        .chain([("GET", "/health")].iter())
        .map(|(method, path)| (method.to_lowercase(), path.replace("0a1b2c3d", "{id}")))
        .collect();
    for (method, path) in &routes {
        let operation = &document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(operation["responses"].is_object(), "{method} {path}");
        if path != "/health" {
            assert!(
                operation["security"].is_array(),
                "{method} {path} does not name the bearer scheme"
            );
        }
    }
    let documented: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        routes.len(),
        "a documented path the router doesn't serve"
    );
}

#[tokio::test]
async fn docs_render_the_same_document_offline_without_a_token() {
    let fixture = Fixture::new(None, "slipway-test/busybox:1", 0);
    let state = fixture.open_records().await;
    let router = router(&state);
    let page = call(&router, "GET", "/docs/", None, None).await;
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.raw);
    assert!(html.contains("swagger-ui"), "{html}");
    // The page's scripts and styles are served from the binary, not a CDN.
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        assert!(html.contains(asset), "the page loads {asset}");
        let served = call(&router, "GET", &format!("/docs/{asset}"), None, None).await;
        assert_eq!(served.status, 200, "{asset}");
        assert!(served.raw.len() > 100, "{asset}");
    }
    assert!(
        !html.contains("https://"),
        "nothing is fetched from elsewhere"
    );
    let initializer = call(&router, "GET", "/docs/swagger-initializer.js", None, None).await;
    let initializer = String::from_utf8_lossy(&initializer.raw);
    assert!(initializer.contains("/docs/openapi.json"), "{initializer}");
    assert!(
        initializer.contains(r#""validatorUrl": "none""#),
        "the document is not sent to an online validator: {initializer}"
    );
    let document = call(&router, "GET", "/docs/openapi.json", None, None).await;
    assert_eq!(document.status, 200);
    assert_eq!(
        document.body,
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    );
}
