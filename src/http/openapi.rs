//! What the OpenAPI document says beyond each handler's own annotations, applied to
//! every operation at once so that it cannot drift route by route:
//!
//! - every error is `application/problem+json` with the `Problem` schema, and every
//!   `/api/` operation may answer any 4xx (`4XX`: malformed JSON, a wrong media
//!   type, a body too large, validation, rate limits…) and 503 with `Retry-After`
//!   (the database or Redis unavailable);
//! - the login, refresh and register bodies may also be HTML form posts;
//! - list parameters carry their real bounds, and `sort` the fields each list sorts by;
//! - role names are the configured roles.

use serde_json::{Value, json};

use crate::domain::filter::Schema;

const PROBLEM: &str = "application/problem+json";

/// Patterns of request fields, as the validators in `domain` apply them (`\w`:
/// letters and digits of any script, and `_`).
pub const USERNAME: &str = r"^\s*[\w.+@-]{3,64}\s*$";
/// At most 200 characters, none of them a control character.
pub const NAME: &str = r"^[^\x00-\x1f\x7f-\x9f]{0,200}$";
/// A date as `YYYY-MM-DD`, years 1900 to 2100.
pub const DATE: &str = r"^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";
/// Up to 2,000 characters; line breaks and tabs, but no other control characters.
pub const NOTES: &str = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]{0,2000}$";
/// 1 to 100 characters, not only spaces, no control characters.
pub const TOKEN_NAME: &str = r"^(?=.*\S)[^\x00-\x1f\x7f-\x9f]{1,100}$";
/// Latitude and longitude in degrees, separated by spaces or a comma.
pub const PLACE: &str = concat!(
    r"^[\s,]*[-+]?(90(\.0+)?|[1-8]?[0-9](\.[0-9]+)?)",
    r"[\s,]+[-+]?(180(\.0+)?|(1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]+)?)[\s,]*$"
);

/// An id: a UUID written as 8-4-4-4-12 hex digits.
pub const ID: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// The patterns of request fields: (schema, property, pattern).
const PATTERNS: &[(&str, &str, &str)] = &[
    ("RegisterRequest", "username", USERNAME),
    ("NewUserRequest", "username", USERNAME),
    ("UserPatch", "username", USERNAME),
    ("MePatch", "username", USERNAME),
    ("RegisterRequest", "name", NAME),
    ("NewUserRequest", "name", NAME),
    ("UserPatch", "name", NAME),
    ("MePatch", "name", NAME),
    ("CreateToken", "name", TOKEN_NAME),
    ("NewRun", "date", DATE),
    ("RunPatch", "date", DATE),
    ("NewRun", "notes", NOTES),
    ("RunPatch", "notes", NOTES),
    ("CreateToken", "user_id", ID),
];
/// Query parameters that take an id: (path, parameter).
const ID_PARAMETERS: &[(&str, &str)] = &[("/api/v1/tokens", "user_id")];

/// Each list endpoint and the fields its `sort` takes.
const SORTS: &[(&str, &Schema)] = &[
    ("/api/v1/users", &crate::accounts::store::SCHEMA),
    ("/api/v1/tokens", &crate::tokens::store::SCHEMA),
    ("/api/v1/auth/sessions", &crate::auth::sessions::SCHEMA),
    ("/api/v1/audit", &crate::audit::SCHEMA),
    ("/api/v1/runs", &crate::runs::store::ALL),
    ("/api/v1/files", &crate::files::store::SCHEMA),
];
/// The weekly report sorts by its week only.
const WEEKLY: &str = "/api/v1/runs/reports/weekly";
const WEEKLY_SORT: &str = r"^\s*(-?week_start\s*)?$";

/// Operations that also take `application/x-www-form-urlencoded` (as OAuth-style
/// clients and plain HTML forms send).
const FORM_BODIES: &[&str] = &["/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/register"];

/// Applies the rules above to a generated document; `roles` are the role names.
pub fn refine(doc: &mut Value, roles: &[&str]) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for operation in item.values_mut().filter_map(Value::as_object_mut) {
            problems(operation, path.starts_with("/api/"));
            if FORM_BODIES.contains(&path.as_str()) {
                form_body(operation);
            }
            for (_, name) in ID_PARAMETERS.iter().filter(|(p, _)| p == path) {
                id_parameter(operation, name);
            }
            if let Some((_, schema)) = SORTS.iter().find(|(p, _)| p == path) {
                let names: Vec<&str> = schema.fields.iter().map(|f| f.name).collect();
                sort_parameter(operation, &fields_pattern(&names), &names.join(", "));
            } else if path == WEEKLY {
                sort_parameter(operation, WEEKLY_SORT, "week_start");
            }
        }
    }
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for schema in schemas.values_mut() {
            role_names(schema, roles);
        }
        for (name, property, pattern) in PATTERNS {
            if let Some(property) =
                schemas.get_mut(*name).and_then(|s| s.pointer_mut(&format!("/properties/{property}")))
            {
                property["pattern"] = json!(pattern);
            }
        }
        let place =
            schemas.get_mut("LocationInput").and_then(|s| s.get_mut("oneOf")).and_then(Value::as_array_mut);
        for variant in place.into_iter().flatten() {
            if variant.get("type") == Some(&json!("string")) {
                variant["pattern"] = json!(PLACE);
            }
        }
    }
}

fn problem_content() -> Value {
    json!({ PROBLEM: { "schema": { "$ref": "#/components/schemas/Problem" } } })
}

fn problems(operation: &mut serde_json::Map<String, Value>, api: bool) {
    let responses = operation.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for (status, response) in responses.iter_mut() {
        let error = status.starts_with('4') || status.starts_with('5');
        if error && let Some(response) = response.as_object_mut() {
            response.insert("content".into(), problem_content());
        }
    }
    if api {
        responses.entry("4XX").or_insert_with(|| {
            json!({ "description": "The request was refused: see `code` and, for invalid fields, `errors`.",
                    "content": problem_content() })
        });
        responses.entry("503").or_insert_with(|| {
            json!({ "description": "A service this request needs is unavailable; retry after `Retry-After` seconds.",
                    "headers": { "Retry-After": { "schema": { "type": "integer", "minimum": 1 } } },
                    "content": problem_content() })
        });
    }
}

fn form_body(operation: &mut serde_json::Map<String, Value>) {
    let Some(content) = operation.get_mut("requestBody").and_then(|b| b.get_mut("content")) else { return };
    let Some(json_body) = content.get("application/json").cloned() else { return };
    if let Some(content) = content.as_object_mut() {
        content.insert("application/x-www-form-urlencoded".into(), json_body);
    }
}

/// A comma-separated list of `names`, each optionally prefixed by `-` (descending) or
/// `+`, with spaces around; or nothing (the default order).
fn fields_pattern(names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|name| name.replace('.', "\\.")).collect();
    let field = format!("\\s*[-+]?({})\\s*", names.join("|"));
    format!("^({field}(,{field})*|\\s*)$")
}

fn id_parameter(operation: &mut serde_json::Map<String, Value>, name: &str) {
    let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { return };
    for parameter in parameters.iter_mut() {
        if parameter.get("name").and_then(Value::as_str) == Some(name) {
            parameter["schema"]["pattern"] = json!(ID);
            parameter["schema"]["format"] = json!("uuid");
        }
    }
}

fn sort_parameter(operation: &mut serde_json::Map<String, Value>, pattern: &str, fields: &str) {
    let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { return };
    for parameter in parameters.iter_mut() {
        if parameter.get("name").and_then(Value::as_str) == Some("sort") {
            parameter["schema"]["pattern"] = Value::String(pattern.to_owned());
            parameter["description"] =
                Value::String(format!("Comma-separated fields, `-` for descending: {fields}."));
        }
    }
}

/// Every string array named `roles` lists the configured role names.
fn role_names(schema: &mut Value, roles: &[&str]) {
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    if let Some(items) = properties.get_mut("roles").and_then(|r| r.get_mut("items")) {
        items["enum"] = json!(roles);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_problems_and_every_api_operation_documents_4xx_and_503() {
        let mut doc = json!({"paths": {
            "/api/v1/users": {"get": {"responses": {"200": {"description": "ok"},
                "403": {"description": "no", "content": {"application/json": {}}}},
                "parameters": [{"name": "sort", "in": "query", "schema": {"type": "string"}}]}},
            "/healthz": {"get": {"responses": {"200": {"description": "ok"}}}}
        }});
        refine(&mut doc, &["admin", "user"]);
        let users = &doc["paths"]["/api/v1/users"]["get"];
        assert!(users["responses"]["403"]["content"][PROBLEM].is_object());
        assert!(users["responses"]["403"]["content"]["application/json"].is_null());
        assert!(users["responses"]["4XX"]["content"][PROBLEM].is_object());
        assert!(users["responses"]["503"]["headers"]["Retry-After"].is_object());
        assert!(doc["paths"]["/healthz"]["get"]["responses"]["4XX"].is_null(), "not an API operation");
        let pattern = users["parameters"][0]["schema"]["pattern"].as_str().unwrap();
        assert!(pattern.contains("username") && pattern.contains("created_at"), "{pattern}");
    }
}
