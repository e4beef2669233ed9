//! The OpenAPI document: it lists exactly the routes of the route table, and it is served as plain
//! JSON (as `/health` is) at the entry point's `describedby` link.

use std::collections::BTreeSet;

use actix_web::http::Method;

use crate::backend_tests;
use crate::helpers::{raw, TestApp, JSONAPI};

backend_tests!(health_and_openapi_are_plain_json);

#[test]
fn openapi_lists_exactly_the_routes_of_the_route_table() {
    let document: serde_json::Value =
        serde_json::from_str(phonebook::resources::entry::openapi_json())
            .expect("openapi.yaml parses");
    let mut documented: Vec<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|item| item.keys())
                .filter(|key| {
                    ["get", "head", "post", "patch", "delete", "put"].contains(&key.as_str())
                })
                .map(move |method| (path.clone(), method.to_uppercase()))
        })
        .collect();
    let mut served: Vec<(String, String)> = phonebook::router::ROUTES
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .iter()
                .map(move |method| (path.to_string(), method.to_string()))
        })
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served);
}

async fn health_and_openapi_are_plain_json(app: TestApp) {
    let health = raw(
        &app,
        Method::GET,
        "/health",
        None,
        &[("Accept", JSONAPI)],
        None,
    )
    .await
    .expect(200);
    assert!(health
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    for accept in [
        None,
        Some(JSONAPI),
        Some("application/vnd.api+json; charset=utf-8"),
        Some("text/html"),
    ] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let response = raw(
            &app,
            Method::GET,
            "/api/v2/openapi.json",
            None,
            &headers,
            None,
        )
        .await
        .expect(200);
        assert!(
            response
                .header("content-type")
                .unwrap()
                .starts_with("application/json"),
            "{accept:?}"
        );
        assert!(response.body["openapi"]
            .as_str()
            .unwrap()
            .starts_with("3.1"));
        assert!(
            response.body["paths"]["/phoneNumbers"].is_object()
                || response.body["paths"]["/api/v2/phoneNumbers"].is_object()
        );
    }
    let entry = app.get("/api/v2").await.expect(200);
    let describedby = entry.body["links"]["describedby"].as_str().unwrap();
    let path = describedby.split_once("://").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    raw(&app, Method::GET, path, None, &[], None)
        .await
        .expect(200);
    app.get("/api/v2?foo=1").await.expect(400);
}

// ---------------------------------------------------------------------------------------------
// The parameter values each operation accepts, from the typed resource declarations.

use phonebook::jsonapi::schema::{Field, FieldKind, Relationship as _};
use phonebook::schema::{
    self as declared, ChangeField, PhoneNumberField, ProspectField, ResourceType, UserField,
    WebhookField,
};
use serde_json::{json, Map, Value};

/// How an operation reads its query string (`jsonapi::query::Endpoint`), and the type of its
/// primary data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Query {
    /// A collection or to-many related endpoint of this type.
    Collection(ResourceType),
    /// One resource of this type (GET, and the document a POST or PATCH answers with).
    Single(ResourceType),
    /// A paginated relationship endpoint: `page[size]` and `count` only.
    Linkage,
    /// No query parameter at all.
    None,
}

/// Every operation of the route table: how its query is read, whether `If-Match` applies, and
/// whether a GET answers with an ETag (and so 304).
#[derive(Clone, Copy)]
struct Operation {
    path: &'static str,
    method: &'static str,
    query: Query,
    if_match: bool,
    etag: bool,
}

const fn op(path: &'static str, method: &'static str, query: Query) -> Operation {
    Operation {
        path,
        method,
        query,
        if_match: false,
        etag: false,
    }
}

const fn conditional(mut operation: Operation) -> Operation {
    if matches!(operation.method.as_bytes(), b"GET" | b"HEAD") {
        operation.etag = true;
    } else {
        operation.if_match = true;
    }
    operation
}

fn operations() -> Vec<Operation> {
    use Query::{Collection, Linkage, None, Single};
    use ResourceType::{Change, PhoneNumber, Prospect, User, Webhook};
    let mut operations = vec![
        op("/health", "GET", None),
        op("/api/v2", "GET", None),
        op("/api/v2/openapi.json", "GET", None),
        op("/api/v2/phoneNumbers", "GET", Collection(PhoneNumber)),
        op("/api/v2/phoneNumbers", "POST", Single(PhoneNumber)),
        conditional(op("/api/v2/phoneNumbers/{id}", "GET", Single(PhoneNumber))),
        conditional(op(
            "/api/v2/phoneNumbers/{id}",
            "PATCH",
            Single(PhoneNumber),
        )),
        conditional(op("/api/v2/phoneNumbers/{id}", "DELETE", None)),
        conditional(op(
            "/api/v2/phoneNumbers/{id}/prospect",
            "GET",
            Single(Prospect),
        )),
        op(
            "/api/v2/phoneNumbers/{id}/relationships/prospect",
            "GET",
            None,
        ),
        conditional(op(
            "/api/v2/phoneNumbers/{id}/relationships/prospect",
            "PATCH",
            None,
        )),
        op(
            "/api/v2/phoneNumbers/{id}/sharedWith",
            "GET",
            Collection(Prospect),
        ),
        op(
            "/api/v2/phoneNumbers/{id}/relationships/sharedWith",
            "GET",
            Linkage,
        ),
        op(
            "/api/v2/phoneNumbers/{id}/relationships/sharedWith",
            "POST",
            None,
        ),
        op(
            "/api/v2/phoneNumbers/{id}/relationships/sharedWith",
            "PATCH",
            None,
        ),
        op(
            "/api/v2/phoneNumbers/{id}/relationships/sharedWith",
            "DELETE",
            None,
        ),
        op("/api/v2/prospects", "GET", Collection(Prospect)),
        op("/api/v2/prospects", "POST", Single(Prospect)),
        conditional(op("/api/v2/prospects/{id}", "GET", Single(Prospect))),
        conditional(op("/api/v2/prospects/{id}", "PATCH", Single(Prospect))),
        conditional(op("/api/v2/prospects/{id}", "DELETE", None)),
        op(
            "/api/v2/prospects/{id}/phoneNumbers",
            "GET",
            Collection(PhoneNumber),
        ),
        op("/api/v2/prospects/{id}/owner", "GET", Single(User)),
        op(
            "/api/v2/prospects/{id}/relationships/phoneNumbers",
            "GET",
            None,
        ),
        op(
            "/api/v2/prospects/{id}/relationships/phoneNumbers",
            "POST",
            None,
        ),
        op(
            "/api/v2/prospects/{id}/relationships/phoneNumbers",
            "PATCH",
            None,
        ),
        op(
            "/api/v2/prospects/{id}/relationships/phoneNumbers",
            "DELETE",
            None,
        ),
        op("/api/v2/prospects/{id}/relationships/owner", "GET", None),
        conditional(op(
            "/api/v2/prospects/{id}/relationships/owner",
            "PATCH",
            None,
        )),
        op("/api/v2/users", "GET", Collection(User)),
        op("/api/v2/users/{id}", "GET", Single(User)),
        op("/api/v2/operations", "POST", None),
        op("/api/v2/changes", "GET", Collection(Change)),
        op("/api/v2/changes/{id}", "GET", Single(Change)),
        op("/api/v2/changes/{id}/actor", "GET", Single(User)),
        op("/api/v2/changes/{id}/relationships/actor", "GET", None),
        op("/api/v2/webhooks", "GET", Collection(Webhook)),
        op("/api/v2/webhooks", "POST", Single(Webhook)),
        op("/api/v2/webhooks/{id}", "GET", Single(Webhook)),
        op("/api/v2/webhooks/{id}", "PATCH", Single(Webhook)),
        op("/api/v2/webhooks/{id}", "DELETE", None),
    ];
    let heads: Vec<Operation> = operations
        .iter()
        .filter(|operation| operation.method == "GET")
        .map(|get| Operation {
            method: "HEAD",
            ..*get
        })
        .collect();
    operations.extend(heads);
    operations
}

/// An alternation of literal names.
fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    format!("(?:{})", names.join("|"))
}

/// One item of a filter value of `kind`, as a regular expression. Where the parser's rule cannot
/// be written as one (a phone number the numbering plan calls valid, a date that exists), the
/// expression describes a part of what is accepted: every value it matches is accepted.
fn filter_item(kind: FieldKind) -> String {
    match kind {
        FieldKind::Id => "0*[1-9][0-9]{0,17}".into(),
        FieldKind::Int => "-?[0-9]{1,18}".into(),
        FieldKind::DateTime => concat!(
            "[1-8][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])",
            "T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?",
            "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
        )
        .into(),
        FieldKind::Enum(names) => one_of(names.iter().copied()),
        FieldKind::PhoneNumber => "\\+18(?:00|33|44|55|66|77|88)[2-9][0-9]{6}".into(),
        // Not empty, no `,` (the list separator), no `..` (a range, which strings do not have),
        // no U+0000, and not a null marker (which must be the whole value).
        FieldKind::Str | FieldKind::StrList => {
            "(?!__(?:not)?null__(?:,|$))(?:\\.|\\.?[^,.\\x00]+(?:\\.[^,.\\x00]+)*\\.?)".into()
        }
        FieldKind::Bool => "(?:true|false)".into(),
        FieldKind::Object => unreachable!("objects are not filterable"),
        // Digits only: the parser also drops any other character, which a pattern of the values
        // it still accepts could not say briefly.
        FieldKind::DigitsSuffix => "0*[1-9][0-9]{3,14}".into(),
    }
}

/// The legacy filter grammar over items of `kind`: a null marker, a list, or (integers and
/// datetimes) a range with `neginf`/`inf` for open ends.
fn filter_pattern(kind: FieldKind) -> String {
    let item = filter_item(kind);
    let mut value = format!("__null__|__notnull__|{item}(?:,{item})*");
    if kind.is_ordered() {
        value.push_str(&format!("|(?:neginf|{item})\\.\\.(?:inf|{item})"));
    }
    format!("^(?:{value})$")
}

fn query_parameter(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema})
}

fn list_parameter(name: &str, schema: Value) -> Value {
    let mut parameter = query_parameter(name, schema);
    parameter["style"] = "form".into();
    parameter["explode"] = false.into();
    parameter
}

/// The parameters a response of `F`'s type takes, by component name.
fn parameters_of<F: Field<Rel = declared::Relationship>>(collection: bool) -> Vec<(String, Value)> {
    let type_name = F::TYPE.name();
    let mut parameters = Vec::new();
    let includes: Vec<String> = F::INCLUDES
        .iter()
        .map(|path| {
            path.iter()
                .map(|rel| rel.name())
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    // Lists whose empty form means something (`include=`, `fields[TYPE]=`) are strings with a
    // pattern: as arrays, `[]` and `[""]` would be written alike.
    let list_of = |names: Vec<String>| match names.is_empty() {
        true => "^$".to_owned(),
        false => {
            let item = one_of(
                names
                    .iter()
                    .map(|name| name.replace('.', "\\."))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str),
            );
            format!("^(?:{item}(?:,{item})*)?$")
        }
    };
    let include = json!({"type": "string", "pattern": list_of(includes)});
    parameters.push((
        format!("include.{type_name}"),
        query_parameter("include", include),
    ));
    for kind in ResourceType::ALL {
        let name = format!("fields.{}", kind.name());
        let members = declared::members(kind)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let schema = json!({"type": "string", "pattern": list_of(members)});
        parameters.push((
            name,
            query_parameter(&format!("fields[{}]", kind.name()), schema),
        ));
    }
    parameters.push((
        "provideAuthorizationMeta".into(),
        query_parameter(
            "provideAuthorizationMeta",
            json!({"type": "boolean", "default": false}),
        ),
    ));
    if !collection {
        return parameters;
    }
    // Each sortable field's keys: its name, and `-name` where it sorts descending too.
    let sortable: Vec<Vec<String>> = F::ALL
        .iter()
        .filter(|field| field.spec().sortable)
        .map(|field| match field.spec().descending {
            true => vec![field.name().to_string(), format!("-{}", field.name())],
            false => vec![field.name().to_string()],
        })
        .collect();
    let keys: Vec<String> = sortable.iter().flatten().cloned().collect();
    let once: Vec<Value> = sortable
        .iter()
        .map(|forms| json!({"contains": {"enum": forms}, "minContains": 0, "maxContains": 1}))
        .collect();
    let sort = json!({
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": keys},
        "allOf": once,
    });
    parameters.push((format!("sort.{type_name}"), list_parameter("sort", sort)));
    parameters.push((
        "pageSize".into(),
        query_parameter(
            "page[size]",
            json!({
                "type": "integer",
                "minimum": 1,
                "maximum": phonebook::jsonapi::query::MAX_PAGE_SIZE,
                "default": phonebook::jsonapi::query::DEFAULT_PAGE_SIZE,
            }),
        ),
    ));
    parameters.push((
        "count".into(),
        query_parameter("count", json!({"type": "boolean", "default": false})),
    ));
    for field in F::ALL.iter().filter(|field| field.spec().filterable) {
        let spec = field.spec();
        let schema = json!({"type": "string", "pattern": filter_pattern(spec.kind)});
        parameters.push((
            format!("filter.{type_name}.{}", spec.name),
            query_parameter(&format!("filter[{}]", spec.name), schema),
        ));
    }
    for rel in declared::Relationship::of(F::TYPE).filter(|rel| rel.spec().filterable_by_id) {
        let schema = json!({"type": "string", "pattern": filter_pattern(FieldKind::Id)});
        parameters.push((
            format!("filter.{type_name}.{}.id", rel.name()),
            query_parameter(&format!("filter[{}][id]", rel.name()), schema),
        ));
    }
    parameters
}

fn expected_parameters(query: Query) -> Vec<(String, Value)> {
    let (kind, collection) = match query {
        Query::Collection(kind) => (kind, true),
        Query::Single(kind) => (kind, false),
        Query::Linkage => {
            let all = parameters_of::<ProspectField>(true);
            let paging = ["pageSize", "count"];
            return (all.into_iter())
                .filter(|(name, _)| paging.contains(&name.as_str()))
                .collect();
        }
        Query::None => return Vec::new(),
    };
    match kind {
        ResourceType::PhoneNumber => parameters_of::<PhoneNumberField>(collection),
        ResourceType::Prospect => parameters_of::<ProspectField>(collection),
        ResourceType::User => parameters_of::<UserField>(collection),
        ResourceType::Change => parameters_of::<ChangeField>(collection),
        ResourceType::Webhook => parameters_of::<WebhookField>(collection),
    }
}

fn served_document() -> Value {
    serde_json::from_str(phonebook::resources::entry::openapi_json()).expect("the document parses")
}

/// `value`, or what its `$ref` (a local `#/…` pointer) names.
fn resolved<'d>(document: &'d Value, value: &'d Value) -> &'d Value {
    match value["$ref"].as_str() {
        Some(pointer) => document
            .pointer(pointer.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{pointer} names nothing")),
        None => value,
    }
}

/// The parameters of an operation (its path's and its own), resolved, by `in` and `name`.
fn parameters_in(document: &Value, path: &str, method: &str) -> Map<String, Value> {
    let item = &document["paths"][path];
    let operation = &item[method.to_lowercase()];
    let mut parameters = Map::new();
    for list in [&item["parameters"], &operation["parameters"]] {
        for parameter in list.as_array().into_iter().flatten() {
            let parameter = resolved(document, parameter);
            let key = format!(
                "{} {}",
                parameter["in"].as_str().unwrap(),
                parameter["name"].as_str().unwrap()
            );
            parameters.insert(key, parameter.clone());
        }
    }
    parameters
}

/// The members of a parameter object that say what it accepts (not its description or examples).
fn accepting(parameter: &Value) -> Value {
    let mut out = Map::new();
    for key in ["name", "in", "required", "style", "explode", "schema"] {
        if let Some(value) = parameter.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    Value::Object(out)
}

#[test]
fn each_operation_documents_exactly_the_query_parameters_it_accepts() {
    let document = served_document();
    // `OPENAPI_EXPECTED_PARAMETERS=FILE` writes the expected components there, to update the
    // document from after a declaration changed.
    if let Ok(path) = std::env::var("OPENAPI_EXPECTED_PARAMETERS") {
        let all: Map<String, Value> = operations()
            .iter()
            .flat_map(|operation| expected_parameters(operation.query))
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&all).unwrap()).unwrap();
    }
    let mut unlisted = Vec::new();
    for operation in operations() {
        let label = format!("{} {}", operation.method, operation.path);
        assert!(
            document["paths"][operation.path][operation.method.to_lowercase()].is_object(),
            "{label} is not documented"
        );
        let parameters = parameters_in(&document, operation.path, operation.method);
        let expected = expected_parameters(operation.query);
        let documented: BTreeSet<&str> = parameters
            .keys()
            .filter_map(|key| key.strip_prefix("query "))
            .collect();
        let wanted: BTreeSet<&str> = expected
            .iter()
            .map(|(_, parameter)| parameter["name"].as_str().unwrap())
            .collect();
        assert_eq!(documented, wanted, "{label}: query parameters");
        for (component, parameter) in &expected {
            let key = format!("query {}", parameter["name"].as_str().unwrap());
            assert_eq!(
                accepting(&parameters[&key]),
                *parameter,
                "{label}: {key} (expected as components.parameters.{component})"
            );
            let in_components = &document["components"]["parameters"][component];
            if accepting(in_components) != *parameter {
                unlisted.push((component.clone(), parameter.clone()));
            }
        }
        let header = |name: &str| parameters.contains_key(&format!("header {name}"));
        // `If-Match` is described once (components.parameters.ifMatch), not on the operations:
        // whether a value matches depends on the record, so a fuzzer could not tell its 412s from
        // refusals of valid requests. The operations it applies to document the 412.
        assert!(!header("If-Match"), "{label}: If-Match");
        assert_eq!(
            header("If-None-Match"),
            operation.etag,
            "{label}: If-None-Match"
        );
        assert!(header("X-Request-Id"), "{label}: X-Request-Id");
        // Every POST takes a key (the middleware reads it on each), nothing else does.
        assert_eq!(
            header("Idempotency-Key"),
            operation.method == "POST",
            "{label}: Idempotency-Key"
        );
    }
    let if_match = &document["components"]["parameters"]["ifMatch"];
    assert!(if_match["x-not-listed-on-operations"].is_string());
    assert!(
        unlisted.is_empty(),
        "components.parameters differ from the declarations: {:?}",
        unlisted
            .iter()
            .map(|(name, _)| name)
            .collect::<BTreeSet<_>>()
    );
}

/// The statuses an operation can answer, from what it does: every `/api/v2` operation can be
/// refused by negotiation (406), authentication (401), the rate limit (429), the database (503)
/// or a fault (500); the rest follows from its query, path, body, preconditions and scope.
fn expected_statuses(operation: &Operation) -> BTreeSet<u16> {
    let Operation { path, method, .. } = *operation;
    let mut statuses = BTreeSet::new();
    match path {
        "/health" => return BTreeSet::from([200, 503]),
        "/api/v2/openapi.json" => return BTreeSet::from([200]),
        _ => {}
    }
    statuses.extend([401, 406, 429, 500, 503]);
    let detach =
        path.ends_with("/relationships/phoneNumbers") && ["PATCH", "DELETE"].contains(&method);
    // Writes to the read-only `sharedWith` are 403 whatever they send; a POST's Idempotency-Key
    // can still be malformed (400), in use (409) or reused for another request (422).
    if path.ends_with("/relationships/sharedWith") && method != "GET" && method != "HEAD" {
        statuses.insert(403);
        match method {
            "POST" => statuses.extend([400, 409, 415, 422]),
            "PATCH" => statuses.extend([415]),
            _ => {}
        }
        return statuses;
    }
    let body = ["POST", "PATCH"].contains(&method);
    let atomic = path == "/api/v2/operations";
    statuses.insert(match (method, detach) {
        (_, true) => 403,
        ("POST", _) if path.ends_with("/relationships/phoneNumbers") => 204,
        ("POST", _) if !atomic => 201,
        ("DELETE", _) => 204,
        _ => 200,
    });
    if detach {
        if method == "PATCH" {
            statuses.insert(415);
        }
        return statuses;
    }
    // Any query parameter the endpoint does not take is a 400, and so is a malformed body.
    statuses.insert(400);
    if path != "/api/v2" {
        statuses.insert(403);
    }
    if path.contains("{id}")
        || (body
            && !path.starts_with("/api/v2/prospects/{id}/relationships/owner")
            // A webhook has no relationships whose target could be missing.
            && path != "/api/v2/webhooks"
            && method == "POST")
        || atomic
    {
        statuses.insert(404);
    }
    if body {
        statuses.extend([409, 413, 415, 422]);
    }
    if operation.if_match {
        statuses.insert(412);
    }
    if operation.etag {
        statuses.insert(304);
    }
    statuses
}

#[test]
fn each_operation_documents_every_status_it_can_answer() {
    let document = served_document();
    for operation in operations() {
        let label = format!("{} {}", operation.method, operation.path);
        let responses = document["paths"][operation.path][operation.method.to_lowercase()]
            ["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{label} has no responses"));
        let documented: BTreeSet<u16> = responses
            .keys()
            .map(|status| status.parse().expect("a status code"))
            .collect();
        assert_eq!(
            documented,
            expected_statuses(&operation),
            "{label}: statuses"
        );
    }
}

/// Values each filter pattern must accept (and the parser does) or refuse (and the parser does).
#[test]
fn filter_patterns_agree_with_the_parser_on_samples() {
    use phonebook::jsonapi::query::{self, Endpoint, Options};
    let matches = |pattern: &str, value: &str| {
        jsonschema::validator_for(&json!({"type": "string", "pattern": pattern}))
            .expect("the pattern compiles")
            .is_valid(&json!(value))
    };
    let normalize = |value: &str| {
        phonebook::domain::phone_number::normalize_filter_value(value, "US").map_err(|e| e.detail)
    };
    let options = Options {
        endpoint: Endpoint::Collection,
        members: &declared::members,
        normalize_phone: &normalize,
    };
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "id",
            &[
                "1",
                "007",
                "1,2,3",
                "1..9",
                "neginf..5",
                "5..inf",
                "__null__",
                "9223372036854775",
            ],
            &["0", "-1", "1,,2", "1..", "a", "inf..1", "1,__null__", ""],
        ),
        (
            "order",
            &["0", "-3", "1,2", "-1..1", "neginf..inf", "__notnull__"],
            &["1.5", "x", "1..2,3", ""],
        ),
        (
            "createdAt",
            &[
                "2026-01-02T03:04:05Z",
                "2026-01-02T03:04:05.123+02:00",
                "2026-01-02T03:04:05Z..inf",
                "2026-01-02T03:04:05Z,2027-01-02T03:04:05.1-05:30",
            ],
            &[
                "2026-01-02",
                "2026-13-01T00:00:00Z",
                "now",
                "2026-01-02T03:04:05Z..2026",
            ],
        ),
        (
            "phoneType",
            &["work", "work,home", "__null__"],
            &["WORK", "work..home", "work,", "fax"],
        ),
        (
            "number",
            &["+18889387356", "+18005550199,+18889387356"],
            &["abc", "+1888..+1800", ""],
        ),
        (
            "source",
            &[
                "import", "web form", "a.b", ".", "a.", "x,y", "Zoë", "__null__",
            ],
            &["", "a..b", "a,,b", ",", "x,__null__", "a\u{0}b"],
        ),
    ];
    for (field, good, bad) in cases {
        let spec = PhoneNumberField::named(field).expect("a field").spec();
        let pattern = filter_pattern(spec.kind);
        for value in *good {
            assert!(
                matches(&pattern, value),
                "filter[{field}]={value:?} should match"
            );
            let raw = format!(
                "filter[{field}]={}",
                percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
            );
            assert!(
                query::parse::<PhoneNumberField>(&raw, &options).is_ok(),
                "filter[{field}]={value:?} is refused"
            );
        }
        for value in *bad {
            assert!(
                !matches(&pattern, value),
                "filter[{field}]={value:?} should not match"
            );
            let raw = format!(
                "filter[{field}]={}",
                percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
            );
            assert!(
                query::parse::<PhoneNumberField>(&raw, &options).is_err(),
                "filter[{field}]={value:?} is accepted"
            );
        }
    }
}

/// The `Idempotency-Key` pattern accepts exactly the keys the service reads: every value of one
/// and two printable characters, and the edges of the length limits.
#[test]
fn the_idempotency_key_pattern_agrees_with_the_parser() {
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
    let document = served_document();
    let parameter = &document["components"]["parameters"]["idempotencyKey"];
    let validator = jsonschema::validator_for(&parameter["schema"]).expect("the schema compiles");
    let printable: Vec<char> = ('!'..='~').collect();
    let mut samples: Vec<String> =
        vec![String::new(), " ".into(), "a b".into(), "caf\u{e9}".into()];
    samples.extend(printable.iter().map(char::to_string));
    for a in &printable {
        samples.extend(printable.iter().map(|b| format!("{a}{b}")));
    }
    for length in [253, 254, 255, 256, 257, 258] {
        for (first, last) in [('k', 'k'), ('"', 'k'), ('k', '"'), ('"', '"')] {
            let middle = "k".repeat(length - 2);
            samples.push(format!("{first}{middle}{last}"));
        }
    }
    for sample in samples {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&sample) {
            headers.insert(HeaderName::from_static("idempotency-key"), value);
        }
        assert_eq!(
            validator.is_valid(&json!(sample)),
            phonebook::idempotency::parse_key(&headers).is_ok(),
            "Idempotency-Key: {sample:?}"
        );
    }
}

/// A webhook's `url` is documented with the domain's pattern, which takes exactly what the write's
/// check takes: on every combination of sample scheme, host, port and path, and at the length
/// limit.
#[test]
fn the_webhook_url_pattern_agrees_with_the_check() {
    use phonebook::domain::webhook_url;
    let document = served_document();
    let url = &document["components"]["schemas"]["WebhookInputAttributes"]["properties"]["url"];
    assert_eq!(url["pattern"], webhook_url::PATTERN);
    let validator =
        jsonschema::validator_for(&json!({"type": "string", "pattern": url["pattern"]}))
            .expect("the pattern compiles");
    let schemes = [
        "http://", "https://", "HTTP://", "http:/", "http:", "ftp://", "",
    ];
    let hosts = [
        "a",
        "example.com",
        "a-b.c-d",
        "a1.b2",
        "a--b",
        "-a",
        "a-",
        "a.1",
        "1.a",
        "a.",
        ".a",
        "",
        "127.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "256.1.1.1",
        "01.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "xn--a",
        "u@a",
        "[::1]",
        "a_b",
        "\u{e9}",
    ];
    let ports = [
        "", ":", ":0", ":80", ":0080", ":65535", ":65536", ":99999", ":123456", ":x", ":1:2",
    ];
    let tails = [
        "",
        "/",
        "/a/b",
        "//",
        "/%41",
        "/%4",
        "/%zz",
        "%41",
        "?",
        "?q=1&r=/?",
        "/a?b#c",
        "#c",
        "/ ",
        "/\u{e9}",
        "/\\",
        "/[",
        "/a:b@c;d=e!$'()*+,~",
        "?a%2",
        "/\u{0}",
    ];
    // With `https://a`, the first of these makes a URL of exactly the limit.
    let room = webhook_url::MAX_CHARS - "https://a/".len();
    let longest = format!("/{}", "b".repeat(room));
    let too_long = format!("/{}", "b".repeat(room + 1));
    let tails: Vec<&str> = tails.into_iter().chain([&*longest, &*too_long]).collect();
    assert!(webhook_url::is_valid(&format!("https://a{longest}")));
    assert!(!webhook_url::is_valid(&format!("https://a{too_long}")));
    for scheme in schemes {
        for host in hosts {
            for port in ports {
                for tail in &tails {
                    let sample = format!("{scheme}{host}{port}{tail}");
                    assert_eq!(
                        validator.is_valid(&json!(sample)),
                        webhook_url::is_valid(&sample),
                        "url {sample:?}"
                    );
                }
            }
        }
    }
}
