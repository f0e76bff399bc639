//! The API's description in OpenAPI 3.1, made from the route table ([`ROUTES`]): every route
//! with its method, path parameters, summary and the credentials its role needs. The host
//! serves it at `GET /openapi.json`.

use serde_json::{Map, Value, json};

use crate::routes::{ROUTES, Role, Route};
use crate::webhook::SIGNATURE_HEADER;

/// The security scheme staff routes name: a bearer token holding the route's scope.
pub const STAFF_SCHEME: &str = "staffToken";

/// The security scheme the provider's routes name: the signature header over a timestamp
/// and the body.
pub const PROVIDER_SCHEME: &str = "providerSignature";

/// The API's description: an OpenAPI 3.1 document listing every route of [`ROUTES`].
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(route.verb.name().to_ascii_lowercase(), operation(route));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "giftcert shop",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Gift certificates sold the way Centra's Shop API sells them and \
                taken as payment the way BigCommerce's Storefront API takes them, with a back \
                office for staff.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                STAFF_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A staff token; each route needs one of its scopes.",
                },
                PROVIDER_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": SIGNATURE_HEADER,
                    "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" \
                        under the shared webhook secret>.",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    })
}

/// One route's operation object.
fn operation(route: &Route) -> Value {
    let parameters: Vec<Value> = route
        .parameters()
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": {"type": "string"},
            })
        })
        .collect();
    let security = match route.role {
        Role::Shopper => json!([]),
        Role::Staff(scope) => json!([{ STAFF_SCHEME: [scope.name()] }]),
        Role::Provider => json!([{ PROVIDER_SCHEME: [] }]),
    };
    let error = json!({
        "description": "A refusal, naming what was wrong.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    });
    json!({
        "operationId": route.operation_id(),
        "summary": route.summary,
        "parameters": parameters,
        "security": security,
        "responses": {
            "200": {"description": "Done."},
            "4XX": error,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scope;

    /// Every route of the table is described once, under its path and method, with its path
    /// parameters, its summary and the credentials its role needs.
    #[test]
    fn the_document_describes_every_route_with_its_role() {
        let document = document();
        let mut ids = std::collections::HashSet::new();
        for route in ROUTES {
            let what = format!("{} {}", route.verb.name(), route.path);
            let operation = &document["paths"][route.path][route.verb.name().to_lowercase()];
            assert!(operation.is_object(), "{what} missing");
            assert_eq!(operation["summary"], route.summary, "{what}");
            assert!(!route.summary.is_empty(), "{what}");
            assert!(ids.insert(route.operation_id()), "{what}: id twice");
            assert_eq!(operation["operationId"], route.operation_id().as_str());
            let named: Vec<&str> = operation["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .map(|p| p["name"].as_str().expect("name"))
                .collect();
            assert_eq!(named, route.parameters().collect::<Vec<_>>(), "{what}");
            let security = &operation["security"];
            match route.role {
                Role::Shopper => assert_eq!(security, &json!([]), "{what}"),
                Role::Staff(scope) => {
                    assert_eq!(security[0][STAFF_SCHEME][0], scope.name(), "{what}")
                }
                Role::Provider => assert!(security[0][PROVIDER_SCHEME].is_array(), "{what}"),
            }
        }
        let described: usize = document["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|item| item.as_object().expect("item").len())
            .sum();
        assert_eq!(described, ROUTES.len());
        let capture = &document["paths"]["/checkouts/{id}/capture"]["post"];
        assert_eq!(
            capture["security"][0][STAFF_SCHEME][0],
            Scope::PaymentsWrite.name()
        );
        assert_eq!(
            document["paths"]["/checkouts/{id}/gift-certificates/{code}"]["delete"]["operationId"],
            "removeCode"
        );
    }

    #[test]
    fn a_route_names_its_path_parameters_in_order() {
        let route = ROUTES
            .iter()
            .find(|r| r.path == "/selections/{id}/gift-certificates/{certificate}/amount/{amount}")
            .expect("routed");
        assert_eq!(
            route.parameters().collect::<Vec<_>>(),
            ["id", "certificate", "amount"]
        );
        let listing = ROUTES
            .iter()
            .find(|r| r.path == "/gift-certificates")
            .expect("routed");
        assert_eq!(listing.parameters().count(), 0);
        assert_eq!(listing.operation_id(), "listing");
    }
}
