//! The query language of collection endpoints (API.md section 4 and the query rules of section 9):
//! include, sparse fieldsets, sort, cursor pagination (the cursor-pagination profile), counts,
//! the filter grammar, unknown and repeated parameters, and the statement cost of includes.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use phonebook::db::schema::prospects;
use phonebook::models::Prospect;
use phonebook::permissions::Role;

use crate::backend_tests;
use crate::helpers::{included_keys, Response, TestApp};

const PROFILE: &str = "https://jsonapi.org/profiles/ethanresnick/cursor-pagination";

/// Percent-encodes a query value completely.
fn enc(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

/// The ids of a collection's primary data, in order.
fn ids(response: &Response) -> Vec<String> {
    response.body["data"]
        .as_array()
        .expect("collection data")
        .iter()
        .map(|resource| resource["id"].as_str().expect("id").to_owned())
        .collect()
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).clone()).collect()
}

/// A top-level link as a request path (`/api/v2/...`), `None` when it is `null`.
fn link(response: &Response, name: &str) -> Option<String> {
    let value = &response.body["links"][name];
    assert!(
        value.is_null() || value.is_string(),
        "links.{name} must be present as a string or null: {}",
        response.text
    );
    value.as_str().map(|url| {
        let at = url.find("/api/v2").expect("link under /api/v2");
        url[at..].to_owned()
    })
}

/// The decoded (name, value) pairs of a link's query string.
fn link_params(path: &str) -> Vec<(String, String)> {
    let query = path.split_once('?').map(|(_, query)| query).unwrap_or("");
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let decode = |text: &str| {
                percent_decode_str(&text.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(name), decode(value))
        })
        .collect()
}

/// Asserts that the links a server built never name one parameter twice.
fn assert_links_do_not_repeat(response: &Response) {
    for name in ["self", "first", "prev", "next"] {
        if let Some(path) = link(response, name) {
            // Only the list items of `filter[f][]` may share a name (with different values).
            let params = link_params(&path);
            let pairs: BTreeSet<&(String, String)> = params.iter().collect();
            assert_eq!(
                pairs.len(),
                params.len(),
                "links.{name} repeats a parameter: {path}"
            );
            let names: BTreeSet<&String> = params.iter().map(|(name, _)| name).collect();
            let lists = params
                .iter()
                .filter(|(name, _)| name.ends_with("[]"))
                .count();
            let list_names = names.iter().filter(|name| name.ends_with("[]")).count();
            assert_eq!(
                names.len() + lists - list_names,
                params.len(),
                "links.{name} repeats a parameter: {path}"
            );
        }
    }
}

fn assert_profile_applied(response: &Response) {
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/vnd.api+json") && content_type.contains(PROFILE),
        "Content-Type must name the cursor profile: {content_type}"
    );
    assert_eq!(
        response.body["jsonapi"]["profile"],
        json!([PROFILE]),
        "{}",
        response.text
    );
}

/// Asserts a 400 `invalidQueryParameter` at `parameter`.
#[track_caller]
fn assert_bad_parameter(response: Response, parameter: &str) -> Response {
    let response = response.expect(400);
    assert_eq!(
        response.error_code(),
        "invalidQueryParameter",
        "{}",
        response.text
    );
    assert_eq!(
        response.body["errors"][0]["source"]["parameter"], parameter,
        "{}",
        response.text
    );
    response
}

/// Asserts a cursor-profile error of type `kind` at `parameter`.
#[track_caller]
fn assert_profile_error(response: Response, parameter: &str, kind: &str) -> Response {
    let response = assert_bad_parameter(response, parameter);
    assert_eq!(
        response.body["errors"][0]["links"]["type"],
        format!("{PROFILE}/{kind}"),
        "{}",
        response.text
    );
    assert!(
        response
            .header("content-type")
            .unwrap_or_default()
            .contains(PROFILE),
        "profile errors name the profile in Content-Type"
    );
    response
}

/// Creates a prospect with `attributes`, owned by `owner` when given (the admin otherwise).
async fn prospect_with(app: &TestApp, attributes: Value, owner: Option<i64>) -> String {
    let mut data = json!({"type": "prospect", "attributes": attributes});
    if let Some(owner) = owner {
        data["relationships"] =
            json!({"owner": {"data": {"type": "user", "id": owner.to_string()}}});
    }
    app.post("/api/v2/prospects", json!({ "data": data }))
        .await
        .expect(201)
        .id()
}

async fn number(app: &TestApp, prospect: &str, attributes: Value) -> String {
    app.number(prospect, attributes).await.expect(201).id()
}

/// A US number from the fictional 555-01XX block.
fn fictional(n: u32) -> String {
    format!("+1201555{:04}", 100 + n % 100)
}

/// The phone numbers of the filter fixture.
struct Fixture {
    p1: String,
    p2: String,
    /// `(888) 938-7356`, work, valid, source "import", order 0 of p1, created 2026-01-01.
    n1: String,
    /// mobile, unverified, source null, order 1 of p1, created 2026-01-02.
    n2: String,
    /// home, invalid, source "web form", order 2 of p1, created 2026-01-03.
    n3: String,
    /// mobile, valid, source "a,b", order 0 of p2, created 2026-01-04.
    n4: String,
    /// other, do_not_call, source "x..y", order 1 of p2, created 2026-01-05.
    n5: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let p1 = app.prospect("Ada").await;
    let p2 = app.prospect("Grace").await;
    let n1 = number(app, &p1, json!({"number": "(888) 938-7356", "phoneType": "work", "status": "valid", "source": "import"})).await;
    let n2 = number(
        app,
        &p1,
        json!({"number": fictional(1), "phoneType": "mobile"}),
    )
    .await;
    let n3 = number(app, &p1, json!({"number": fictional(2), "phoneType": "home", "status": "invalid", "source": "web form"})).await;
    let n4 = number(
        app,
        &p2,
        json!({"number": fictional(3), "phoneType": "mobile", "status": "valid", "source": "a,b"}),
    )
    .await;
    let n5 = number(app, &p2, json!({"number": fictional(4), "phoneType": "other", "status": "do_not_call", "source": "x..y"})).await;
    for (day, id) in [&n1, &n2, &n3, &n4, &n5].iter().enumerate() {
        app.execute(&format!(
            "UPDATE phone_numbers SET created_at = '2026-01-0{} 00:00:00' WHERE id = {id}",
            day + 1
        ));
    }
    Fixture {
        p1,
        p2,
        n1,
        n2,
        n3,
        n4,
        n5,
    }
}

/// The ids `path` lists (one page of up to 1000).
async fn listed(app: &TestApp, path: &str) -> BTreeSet<String> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let response = app
        .get(&format!("{path}{separator}page[size]=1000"))
        .await
        .expect(200);
    ids(&response).into_iter().collect()
}

/// Inserts `count` numbers on each of `prospects` fresh prospects with plain SQL (fast bulk setup).
fn seed_numbers(app: &TestApp, prospects: usize, count: usize) {
    let owner = 1; // the bootstrap admin
    let mut sql = String::new();
    for p in 0..prospects {
        sql.push_str(&format!(
            "INSERT INTO prospects (owner_id, first_name, version, created_at, updated_at) \
             VALUES ({owner}, 'Seed {p}', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00');\n"
        ));
    }
    app.execute(&sql);
    let mut sql = String::new();
    for p in 0..prospects {
        for n in 0..count {
            let number = fictional((p * count + n) as u32);
            sql.push_str(&format!(
                "INSERT INTO phone_numbers (prospect_id, number, raw_number, country_code, extension, \
                 phone_type, position, status, status_changed_at, source, formatted_number, line_type, \
                 version, created_at, updated_at) \
                 SELECT id, '{number}', '{number}', 'US', '', 'mobile', {n}, 'unverified', \
                 '2026-01-01 00:00:00', NULL, '{number}', 'fixed_line_or_mobile', 1, \
                 '2026-01-01 00:00:00', '2026-01-01 00:00:{:02}' FROM prospects WHERE first_name = 'Seed {p}';\n",
                n % 60
            ));
        }
    }
    app.execute(&sql);
    // Rows written by hand: store each prospect's list on its row, as the API's writes do.
    let mut conn = app.conn();
    for id in prospects::table
        .select(prospects::id)
        .load::<i64>(&mut *conn)
        .unwrap()
    {
        Prospect::rebuild_phones(&mut conn, id).unwrap();
    }
}

/// Follows `links.next` from `start`; answers the pages' ids in order. `between` runs before every
/// request after the first (to insert rows while the client walks).
async fn walk_forward<F, Fut>(
    app: &TestApp,
    start: &str,
    mut between: F,
) -> (Vec<Vec<Value>>, Response)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut pages = Vec::new();
    let mut response = app.get(start).await.expect(200);
    assert!(
        link(&response, "prev").is_none(),
        "the first page has no prev"
    );
    loop {
        assert_profile_applied(&response);
        assert_links_do_not_repeat(&response);
        let first = link(&response, "first").expect("links.first");
        assert!(
            link_params(&first)
                .iter()
                .all(|(name, _)| name != "page[after]" && name != "page[before]"),
            "{first}"
        );
        pages.push(response.body["data"].as_array().expect("data").clone());
        let Some(next) = link(&response, "next") else {
            break;
        };
        between().await;
        response = app.get(&next).await.expect(200);
        assert!(
            link(&response, "prev").is_some(),
            "a page reached by next has a prev"
        );
    }
    (pages, response)
}

/// Follows `links.prev` from `last` (a page already fetched); answers the pages, first page first.
async fn walk_backward<F, Fut>(app: &TestApp, last: Response, mut between: F) -> Vec<Vec<Value>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut pages = vec![last.body["data"].as_array().expect("data").clone()];
    let mut response = last;
    while let Some(prev) = link(&response, "prev") {
        between().await;
        response = app.get(&prev).await.expect(200);
        assert_profile_applied(&response);
        assert_links_do_not_repeat(&response);
        assert!(
            link(&response, "next").is_some(),
            "a page reached by prev has a next"
        );
        pages.push(response.body["data"].as_array().expect("data").clone());
    }
    pages.reverse();
    pages
}

/// Checks a walk: no resource twice, every one of `expected` present, and the whole sequence
/// sorted by `key` (which must include the id tie-break).
fn check_walk<K: Ord + std::fmt::Debug>(
    pages: &[Vec<Value>],
    expected: &BTreeSet<String>,
    key: impl Fn(&Value) -> K,
    what: &str,
) {
    let all: Vec<&Value> = pages.iter().flatten().collect();
    let seen: Vec<String> = all
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "{what}: a resource appeared twice: {seen:?}"
    );
    for id in expected {
        assert!(seen.contains(id), "{what}: {id} was skipped: {seen:?}");
    }
    let keys: Vec<K> = all.iter().map(|r| key(r)).collect();
    for pair in keys.windows(2) {
        assert!(
            pair[0] < pair[1],
            "{what}: out of order: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
}

fn id_of(resource: &Value) -> i64 {
    resource["id"].as_str().unwrap().parse().unwrap()
}

backend_tests!(
    include_loads_nested_paths_deduplicated_with_full_linkage,
    sparse_fieldsets_apply_to_primary_and_included_resources,
    sort_orders_by_several_keys_with_the_id_tie_break,
    pagination_links_sizes_and_errors,
    pages_past_the_end_still_link_back,
    walking_by_default_sort_in_both_directions_while_rows_are_inserted,
    walking_by_updated_at_descending_while_rows_are_inserted,
    walking_prospects_by_a_nullable_title_while_rows_are_inserted,
    count_is_a_separate_query_only_when_asked,
    every_filter_form_on_phone_numbers,
    filter_errors_are_400_at_the_parameter,
    prospects_and_users_filter_sort_and_page,
    repeated_identical_parameters_are_one_and_links_never_repeat,
    include_costs_one_query_per_level_whatever_the_page_size
);

async fn include_loads_nested_paths_deduplicated_with_full_linkage(app: TestApp) {
    let (member, _) = app.user("member@example.com", Role::Member, "prospects.all");
    let a = prospect_with(&app, json!({"firstName": "A"}), None).await;
    let b = prospect_with(&app, json!({"firstName": "B"}), None).await;
    let c = prospect_with(&app, json!({"firstName": "C"}), Some(member)).await;
    let mut numbers = BTreeMap::new();
    for (i, prospect) in [&a, &a, &a, &b, &c, &c].iter().enumerate() {
        let id = number(&app, prospect, json!({"number": fictional(i as u32)})).await;
        numbers
            .entry((*prospect).clone())
            .or_insert_with(Vec::new)
            .push(id);
    }

    let response = app
        .get("/api/v2/phoneNumbers?include=prospect.owner")
        .await
        .expect(200);
    let included = response.body["included"].as_array().expect("included");
    let keys = included_keys(&response.body);
    let unique: BTreeSet<&(String, String)> = keys.iter().collect();
    assert_eq!(
        unique.len(),
        keys.len(),
        "included is deduplicated: {keys:?}"
    );
    let prospects: BTreeSet<&str> = keys
        .iter()
        .filter(|(t, _)| t == "prospect")
        .map(|(_, id)| id.as_str())
        .collect();
    assert_eq!(
        prospects,
        [a.as_str(), b.as_str(), c.as_str()].into_iter().collect()
    );
    let users: BTreeSet<String> = keys
        .iter()
        .filter(|(t, _)| t == "user")
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(
        users,
        ["1".to_owned(), member.to_string()].into_iter().collect()
    );
    // Full linkage: every included prospect is the prospect of a primary number, every included
    // user the owner of an included prospect; included prospects show all their numbers in order.
    let linked: BTreeSet<&str> = response.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["relationships"]["prospect"]["data"]["id"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(linked, prospects);
    let mut owners = BTreeSet::new();
    for resource in included.iter().filter(|r| r["type"] == "prospect") {
        owners.insert(
            resource["relationships"]["owner"]["data"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        let linkage: Vec<&str> = resource["relationships"]["phoneNumbers"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = numbers[resource["id"].as_str().unwrap()]
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(linkage, expected);
        assert!(resource["links"]["self"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/prospects/{}", resource["id"].as_str().unwrap())));
    }
    assert_eq!(owners, users);

    // `include=prospect` stops at prospects.
    let response = app
        .get("/api/v2/phoneNumbers?include=prospect")
        .await
        .expect(200);
    assert!(response.body["included"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["type"] == "prospect"));
    assert_eq!(response.body["included"].as_array().unwrap().len(), 3);

    // Asked for but nothing to include, and `include=`: an empty `included`; not asked: none.
    let empty = app
        .get("/api/v2/phoneNumbers?include=prospect&filter[id]=999999")
        .await
        .expect(200);
    assert_eq!(empty.body["included"], json!([]));
    let none = app.get("/api/v2/phoneNumbers?include=").await.expect(200);
    assert_eq!(none.body["included"], json!([]));
    assert_eq!(ids(&none).len(), 6);
    let absent = app.get("/api/v2/phoneNumbers").await.expect(200);
    assert!(absent.body.get("included").is_none());

    // Prospects include their numbers (in order) and owners.
    let response = app
        .get(&format!(
            "/api/v2/prospects?include=phoneNumbers,owner&filter[id]={a},{c}"
        ))
        .await
        .expect(200);
    let included = included_keys(&response.body);
    let expected: BTreeSet<(String, String)> = numbers[&a]
        .iter()
        .chain(&numbers[&c])
        .map(|id| ("phoneNumber".to_owned(), id.clone()))
        .chain([
            ("user".to_owned(), "1".to_owned()),
            ("user".to_owned(), member.to_string()),
        ])
        .collect();
    assert_eq!(included.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(included.len(), expected.len());

    // The to-many related endpoint includes too.
    let response = app
        .get(&format!(
            "/api/v2/prospects/{c}/phoneNumbers?include=prospect.owner"
        ))
        .await
        .expect(200);
    assert_eq!(ids(&response), numbers[&c]);
    let included: Vec<&str> = response.body["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(included, ["prospect", "user"]);

    for (path, bad) in [
        ("/api/v2/phoneNumbers", "owner"),
        ("/api/v2/phoneNumbers", "prospects"),
        ("/api/v2/phoneNumbers", "prospect.phoneNumbers"),
        ("/api/v2/phoneNumbers", "prospect,,prospect.owner"),
        ("/api/v2/prospects", "phoneNumbers.prospect"),
        ("/api/v2/prospects", "prospect"),
        ("/api/v2/users", "owner"),
    ] {
        assert_bad_parameter(app.get(&format!("{path}?include={bad}")).await, "include");
    }
}

async fn sparse_fieldsets_apply_to_primary_and_included_resources(app: TestApp) {
    let p = app.prospect("Ada").await;
    number(&app, &p, json!({"number": fictional(1)})).await;
    let response = app
        .get("/api/v2/phoneNumbers?include=prospect.owner&fields[phoneNumber]=number,prospect&fields[prospect]=firstName,owner&fields[user]=email")
        .await
        .expect(200);
    let data = &response.body["data"][0];
    assert_eq!(data["attributes"], json!({"number": fictional(1)}));
    assert_eq!(
        data["relationships"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["prospect"]
    );
    for resource in response.body["included"].as_array().unwrap() {
        match resource["type"].as_str().unwrap() {
            "prospect" => {
                assert_eq!(resource["attributes"], json!({"firstName": "Ada"}));
                assert_eq!(
                    resource["relationships"]
                        .as_object()
                        .unwrap()
                        .keys()
                        .collect::<Vec<_>>(),
                    ["owner"]
                );
            }
            "user" => assert_eq!(
                resource["attributes"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .collect::<Vec<_>>(),
                ["email"]
            ),
            other => panic!("unexpected included type {other}"),
        }
    }

    // Attributes only: no relationships; the empty fieldset: neither.
    let response = app
        .get("/api/v2/phoneNumbers?fields[phoneNumber]=status,order")
        .await
        .expect(200);
    let data = &response.body["data"][0];
    assert_eq!(
        data["attributes"],
        json!({"status": "unverified", "order": 0})
    );
    assert!(
        data.get("relationships")
            .is_none_or(|r| r.as_object().is_some_and(|r| r.is_empty())),
        "{data}"
    );
    let response = app
        .get("/api/v2/phoneNumbers?fields[phoneNumber]=")
        .await
        .expect(200);
    assert!(response.body["data"][0]
        .get("attributes")
        .is_none_or(|a| a.as_object().is_some_and(|a| a.is_empty())));

    // Prospect fields: the phone arrays and relationships are fields too.
    let response = app
        .get(&format!(
            "/api/v2/prospects?fields[prospect]=mobilePhones,phoneNumbers&filter[id]={p}"
        ))
        .await
        .expect(200);
    let data = &response.body["data"][0];
    assert_eq!(data["attributes"], json!({"mobilePhones": []}));
    assert_eq!(
        data["relationships"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["phoneNumbers"]
    );

    for (path, parameter) in [
        (
            "/api/v2/phoneNumbers?fields[phoneNumber]=nope",
            "fields[phoneNumber]",
        ),
        (
            "/api/v2/phoneNumbers?fields[phoneNumber]=number,,status",
            "fields[phoneNumber]",
        ),
        (
            "/api/v2/phoneNumbers?fields[phoneNumber]=id",
            "fields[phoneNumber]",
        ),
        (
            "/api/v2/phoneNumbers?fields[prospect]=number",
            "fields[prospect]",
        ),
        (
            "/api/v2/phoneNumbers?fields[phoneNumbers]=number",
            "fields[phoneNumbers]",
        ),
        ("/api/v2/prospects?fields[user]=password", "fields[user]"),
        ("/api/v2/users?fields[user]=owner", "fields[user]"),
    ] {
        assert_bad_parameter(app.get(path).await, parameter);
    }
}

async fn sort_orders_by_several_keys_with_the_id_tie_break(app: TestApp) {
    let p = app.prospect("Ada").await;
    let q = app.prospect("Bob").await;
    for (i, (prospect, status, phone_type)) in [
        (&p, "valid", "work"),
        (&p, "invalid", "home"),
        (&q, "valid", "home"),
        (&q, "valid", "work"),
        (&p, "invalid", "work"),
        (&q, "unverified", "home"),
    ]
    .iter()
    .enumerate()
    {
        number(
            &app,
            prospect,
            json!({"number": fictional(i as u32), "status": status, "phoneType": phone_type}),
        )
        .await;
    }
    let all = app
        .get("/api/v2/phoneNumbers?fields[phoneNumber]=status,order,phoneType")
        .await
        .expect(200);
    let rows: Vec<(i64, String, i64, String)> = all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                id_of(r),
                r["attributes"]["status"].as_str().unwrap().to_owned(),
                r["attributes"]["order"].as_i64().unwrap(),
                r["attributes"]["phoneType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // Default: id ascending.
    let mut by_id = rows.clone();
    by_id.sort_by_key(|r| r.0);
    assert_eq!(rows, by_id);

    let order = |response: &Response| -> Vec<i64> {
        response.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect()
    };
    let mut expected = rows.clone();
    expected.sort_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    let response = app
        .get("/api/v2/phoneNumbers?sort=status,-order")
        .await
        .expect(200);
    assert_eq!(
        order(&response),
        expected.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert_profile_applied(&response);

    // Ties are broken by ascending id, whichever way the key sorts.
    for (sort, descending) in [("phoneType", false), ("-phoneType", true)] {
        let mut expected = rows.clone();
        expected.sort_by(|a, b| {
            let by_type = if descending {
                b.3.cmp(&a.3)
            } else {
                a.3.cmp(&b.3)
            };
            by_type.then(a.0.cmp(&b.0))
        });
        let response = app
            .get(&format!("/api/v2/phoneNumbers?sort={sort}"))
            .await
            .expect(200);
        assert_eq!(
            order(&response),
            expected.iter().map(|r| r.0).collect::<Vec<_>>(),
            "{sort}"
        );
    }
    let response = app.get("/api/v2/phoneNumbers?sort=-id").await.expect(200);
    assert_eq!(
        order(&response),
        by_id.iter().rev().map(|r| r.0).collect::<Vec<_>>()
    );

    for sort in ["rawNumber", "nope", "source", "-lineType", "prospect"] {
        assert_profile_error(
            app.get(&format!("/api/v2/phoneNumbers?sort={sort}")).await,
            "sort",
            "unsupported-sort",
        );
    }
    assert_profile_error(
        app.get("/api/v2/users?sort=role").await,
        "sort",
        "unsupported-sort",
    );
    assert_profile_error(
        app.get("/api/v2/prospects?sort=homePhones").await,
        "sort",
        "unsupported-sort",
    );
    for sort in ["", "status,", "status,,order", "-"] {
        assert_bad_parameter(
            app.get(&format!("/api/v2/phoneNumbers?sort={sort}")).await,
            "sort",
        );
    }
}

async fn pagination_links_sizes_and_errors(app: TestApp) {
    seed_numbers(&app, 11, 5);
    let first = app.get("/api/v2/phoneNumbers").await.expect(200);
    assert_eq!(ids(&first).len(), 50, "default page size");
    assert_profile_applied(&first);
    assert!(link(&first, "prev").is_none());
    assert_eq!(
        link(&first, "first").as_deref(),
        Some("/api/v2/phoneNumbers")
    );
    assert_eq!(
        link(&first, "self").as_deref(),
        Some("/api/v2/phoneNumbers")
    );
    let next = link(&first, "next").expect("next");
    let second = app.get(&next).await.expect(200);
    assert_eq!(ids(&second).len(), 5);
    assert!(link(&second, "next").is_none(), "last page");
    assert_eq!(link(&second, "self").as_deref(), Some(next.as_str()));
    assert_eq!(
        link(&second, "first").as_deref(),
        Some("/api/v2/phoneNumbers"),
        "first drops the cursor"
    );
    let prev = link(&second, "prev").expect("prev");
    let back = app.get(&prev).await.expect(200);
    assert_eq!(ids(&back), ids(&first));
    assert!(
        link(&back, "prev").is_none(),
        "nothing before the first page"
    );
    assert!(link(&back, "next").is_some());
    assert!(first
        .body
        .get("meta")
        .is_none_or(|meta| meta.get("count").is_none()));

    // page[size] keeps to the links; 1000 is the maximum.
    let small = app
        .get("/api/v2/phoneNumbers?page[size]=7&sort=-updatedAt")
        .await
        .expect(200);
    assert_eq!(ids(&small).len(), 7);
    for name in ["first", "next"] {
        let params = link_params(&link(&small, name).unwrap());
        assert!(
            params.contains(&("page[size]".into(), "7".into())),
            "{name}: {params:?}"
        );
        assert!(
            params.contains(&("sort".into(), "-updatedAt".into())),
            "{name}: {params:?}"
        );
    }
    assert_eq!(
        ids(&app
            .get("/api/v2/phoneNumbers?page[size]=1000")
            .await
            .expect(200))
        .len(),
        55
    );

    for size in ["0", "-1", "abc", "1.5", "", "+5", "%205"] {
        let response = assert_bad_parameter(
            app.get(&format!("/api/v2/phoneNumbers?page[size]={size}"))
                .await,
            "page[size]",
        );
        assert!(response.body["errors"][0].get("meta").is_none());
    }
    for size in ["1001", "99999999999999999999"] {
        let response = assert_profile_error(
            app.get(&format!("/api/v2/phoneNumbers?page[size]={size}"))
                .await,
            "page[size]",
            "max-size-exceeded",
        );
        assert_eq!(
            response.body["errors"][0]["meta"],
            json!({"page": {"maxSize": 1000}})
        );
    }

    // Cursors: both directions at once, tampered, or bound to another query.
    let cursor = |path: &str| {
        link_params(path)
            .into_iter()
            .find(|(n, _)| n == "page[after]")
            .map(|(_, v)| v)
            .expect("cursor")
    };
    let after = cursor(&link(&small, "next").unwrap());
    assert_profile_error(
        app.get(&format!(
            "/api/v2/phoneNumbers?page[after]={after}&page[before]={after}&sort=-updatedAt"
        ))
        .await,
        "page[before]",
        "range-pagination-not-supported",
    );
    let mut tampered = after.clone().into_bytes();
    let at = tampered.len() / 2;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_bad_parameter(
        app.get(&format!(
            "/api/v2/phoneNumbers?sort=-updatedAt&page[after]={tampered}"
        ))
        .await,
        "page[after]",
    );
    assert_bad_parameter(
        app.get(&format!(
            "/api/v2/phoneNumbers?sort=-updatedAt&page[before]={tampered}"
        ))
        .await,
        "page[before]",
    );
    for garbage in [
        "x",
        "%FF%FE",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &"A".repeat(20_000),
    ] {
        assert_bad_parameter(
            app.get(&format!("/api/v2/phoneNumbers?page[after]={garbage}"))
                .await,
            "page[after]",
        );
    }
    assert_bad_parameter(
        app.get("/api/v2/phoneNumbers?page[after]=").await,
        "page[after]",
    );
    // Valid for its own query only.
    app.get(&format!(
        "/api/v2/phoneNumbers?sort=-updatedAt&page[after]={after}"
    ))
    .await
    .expect(200);
    for other in ["sort=updatedAt", "", "sort=-updatedAt&filter[status]=valid"] {
        assert_bad_parameter(
            app.get(&format!("/api/v2/phoneNumbers?{other}&page[after]={after}"))
                .await,
            "page[after]",
        );
    }
    assert_bad_parameter(
        app.get(&format!(
            "/api/v2/prospects?sort=-updatedAt&page[after]={after}"
        ))
        .await,
        "page[after]",
    );
    let filtered = app
        .get("/api/v2/phoneNumbers?filter[status]=unverified&page[size]=2")
        .await
        .expect(200);
    let bound = cursor(&link(&filtered, "next").unwrap());
    app.get(&format!(
        "/api/v2/phoneNumbers?filter[status]=unverified&page[after]={bound}"
    ))
    .await
    .expect(200);
    assert_bad_parameter(
        app.get(&format!(
            "/api/v2/phoneNumbers?filter[status]=valid&page[after]={bound}"
        ))
        .await,
        "page[after]",
    );
    assert_bad_parameter(
        app.get(&format!(
            "/api/v2/phoneNumbers?filter[status]=unverified,valid&page[after]={bound}"
        ))
        .await,
        "page[after]",
    );
    // A cursor of one prospect's numbers does not page another's, nor the whole collection.
    let prospects = ids(&app.get("/api/v2/prospects?page[size]=2").await.expect(200));
    let related = app
        .get(&format!(
            "/api/v2/prospects/{}/phoneNumbers?page[size]=2",
            prospects[0]
        ))
        .await
        .expect(200);
    assert_profile_applied(&related);
    let related_cursor = cursor(&link(&related, "next").unwrap());
    app.get(&format!(
        "/api/v2/prospects/{}/phoneNumbers?page[after]={related_cursor}",
        prospects[0]
    ))
    .await
    .expect(200);
    assert_bad_parameter(
        app.get(&format!(
            "/api/v2/prospects/{}/phoneNumbers?page[after]={related_cursor}",
            prospects[1]
        ))
        .await,
        "page[after]",
    );
    assert_bad_parameter(
        app.get(&format!(
            "/api/v2/phoneNumbers?page[after]={related_cursor}"
        ))
        .await,
        "page[after]",
    );

    // An empty collection: no prev, no next.
    let empty = app
        .get("/api/v2/phoneNumbers?filter[status]=historic")
        .await
        .expect(200);
    assert_eq!(empty.body["data"], json!([]));
    assert!(link(&empty, "prev").is_none() && link(&empty, "next").is_none());
    assert_profile_applied(&empty);
}

async fn pages_past_the_end_still_link_back(app: TestApp) {
    let p = app.prospect("Ada").await;
    let mut numbers = Vec::new();
    for i in 0..3 {
        numbers.push(number(&app, &p, json!({"number": fictional(i)})).await);
    }
    let first = app
        .get("/api/v2/phoneNumbers?page[size]=2")
        .await
        .expect(200);
    let next = link(&first, "next").expect("next");
    // The rows of the next page disappear before the client follows the link.
    app.delete(&format!("/api/v2/phoneNumbers/{}", numbers[2]))
        .await
        .expect(204);
    let empty = app.get(&next).await.expect(200);
    assert_eq!(empty.body["data"], json!([]));
    assert!(link(&empty, "next").is_none());
    let prev = link(&empty, "prev")
        .expect("an empty page after a cursor links back to the rows before it");
    assert_eq!(
        ids(&app.get(&prev).await.expect(200)),
        numbers[..2].to_vec()
    );

    // The same backward: the rows before a page vanish before the client follows `prev`.
    let more = number(&app, &p, json!({"number": fictional(7)})).await;
    let first = app
        .get("/api/v2/phoneNumbers?page[size]=2")
        .await
        .expect(200);
    let second = app
        .get(&link(&first, "next").expect("next"))
        .await
        .expect(200);
    assert_eq!(ids(&second), std::slice::from_ref(&more));
    let prev = link(&second, "prev").expect("prev");
    for id in &numbers[..2] {
        app.delete(&format!("/api/v2/phoneNumbers/{id}"))
            .await
            .expect(204);
    }
    let empty = app.get(&prev).await.expect(200);
    assert_eq!(empty.body["data"], json!([]));
    assert!(link(&empty, "prev").is_none());
    let next =
        link(&empty, "next").expect("an empty page before a cursor links on to the rows after it");
    assert_eq!(ids(&app.get(&next).await.expect(200)), [more]);
}

async fn walking_by_default_sort_in_both_directions_while_rows_are_inserted(app: TestApp) {
    let prospects = [app.prospect("A").await, app.prospect("B").await];
    let mut original = BTreeSet::new();
    for i in 0..17u32 {
        original.insert(
            number(
                &app,
                &prospects[i as usize % 2],
                json!({"number": fictional(i)}),
            )
            .await,
        );
    }
    let mut next_number = 50u32;
    let mut insert = || {
        next_number += 1;
        let (app, prospect, n) = (&app, prospects[0].clone(), next_number);
        async move {
            number(app, &prospect, json!({"number": fictional(n)})).await;
        }
    };
    let (pages, last) = walk_forward(&app, "/api/v2/phoneNumbers?page[size]=4", &mut insert).await;
    check_walk(&pages, &original, id_of, "forward by id");
    let seen_forward: usize = pages.iter().map(Vec::len).sum();
    let backward = walk_backward(&app, last, &mut insert).await;
    check_walk(&backward, &original, id_of, "backward by id");
    let seen_backward: usize = backward.iter().map(Vec::len).sum();
    // Rows inserted after the forward walk passed the end are behind the backward walk.
    assert_eq!(seen_backward, seen_forward);
    assert!(
        seen_forward > original.len(),
        "rows appended during the walk are reached"
    );
}

async fn walking_by_updated_at_descending_while_rows_are_inserted(app: TestApp) {
    let prospects = [
        app.prospect("A").await,
        app.prospect("B").await,
        app.prospect("C").await,
    ];
    let mut original = BTreeSet::new();
    for i in 0..23u32 {
        original.insert(
            number(
                &app,
                &prospects[i as usize % 3],
                json!({"number": fictional(i)}),
            )
            .await,
        );
    }
    // Ties on the sort key: a third of the rows share one updatedAt.
    app.execute("UPDATE phone_numbers SET updated_at = '2026-01-01 00:00:00' WHERE id % 3 = 0");
    let mut next_number = 50u32;
    let mut insert = || {
        next_number += 1;
        let (app, prospect, n) = (&app, prospects[1].clone(), next_number);
        async move {
            number(app, &prospect, json!({"number": fictional(n)})).await;
        }
    };
    let key = |r: &Value| {
        (
            std::cmp::Reverse(r["attributes"]["updatedAt"].as_str().unwrap().to_owned()),
            id_of(r),
        )
    };
    let (pages, last) = walk_forward(
        &app,
        "/api/v2/phoneNumbers?sort=-updatedAt&page[size]=4&fields[phoneNumber]=updatedAt",
        &mut insert,
    )
    .await;
    check_walk(&pages, &original, key, "forward by -updatedAt");
    let backward = walk_backward(&app, last, &mut insert).await;
    check_walk(&backward, &original, key, "backward by -updatedAt");
    let seen: usize = backward.iter().map(Vec::len).sum();
    assert!(
        seen > original.len(),
        "rows inserted at the front are reached walking back"
    );
}

async fn walking_prospects_by_a_nullable_title_while_rows_are_inserted(app: TestApp) {
    let titles = [
        None,
        Some("CEO"),
        Some("cto"),
        None,
        Some("CEO"),
        Some(""),
        Some("Zed"),
        None,
        Some("ceo"),
        Some("CEO"),
        None,
        Some("Ärztin"),
    ];
    let mut original = BTreeSet::new();
    for title in titles {
        original.insert(prospect_with(&app, json!({"firstName": "P", "title": title}), None).await);
    }
    let mut inserted = 0usize;
    let mut insert = || {
        inserted += 1;
        let (app, title) = (
            &app,
            [None, Some("CEO"), Some("B"), Some("zz")][inserted % 4],
        );
        async move {
            prospect_with(app, json!({"title": title}), None).await;
        }
    };
    let key = |r: &Value| {
        (
            r["attributes"]["title"].as_str().unwrap_or("").to_owned(),
            id_of(r),
        )
    };
    let (pages, last) = walk_forward(
        &app,
        "/api/v2/prospects?sort=title&page[size]=3",
        &mut insert,
    )
    .await;
    check_walk(&pages, &original, key, "forward by title");
    let backward = walk_backward(&app, last, &mut insert).await;
    check_walk(&backward, &original, key, "backward by title");
    // Descending, with a second key.
    let key = |r: &Value| {
        (
            std::cmp::Reverse(r["attributes"]["title"].as_str().unwrap_or("").to_owned()),
            std::cmp::Reverse(id_of(r)),
        )
    };
    let (pages, last) = walk_forward(
        &app,
        "/api/v2/prospects?sort=-title,-id&page[size]=5",
        &mut insert,
    )
    .await;
    check_walk(&pages, &original, key, "forward by -title,-id");
    let backward = walk_backward(&app, last, &mut insert).await;
    check_walk(&backward, &original, key, "backward by -title,-id");
}

async fn count_is_a_separate_query_only_when_asked(app: TestApp) {
    seed_numbers(&app, 3, 4);
    let response = app
        .get("/api/v2/phoneNumbers?count=true&page[size]=5")
        .await
        .expect(200);
    assert_eq!(response.body["meta"]["count"], 12);
    assert_eq!(ids(&response).len(), 5);
    let next = link(&response, "next").unwrap();
    assert!(link_params(&next).contains(&("count".into(), "true".into())));
    assert_eq!(
        app.get(&next).await.expect(200).body["meta"]["count"],
        12,
        "count ignores the cursor"
    );
    let response = app
        .get("/api/v2/phoneNumbers?count=true&filter[position]=0")
        .await;
    assert_bad_parameter(response, "filter[position]");
    let response = app
        .get("/api/v2/phoneNumbers?count=true&filter[order]=0,1")
        .await
        .expect(200);
    assert_eq!(response.body["meta"]["count"], 6);
    assert_eq!(
        app.get("/api/v2/prospects?count=true")
            .await
            .expect(200)
            .body["meta"]["count"],
        3
    );
    assert_eq!(
        app.get("/api/v2/users?count=true").await.expect(200).body["meta"]["count"],
        1
    );

    let statements = |path: &'static str| {
        let app = &app;
        async move {
            let before = app.statement_count();
            let response = app.get(path).await.expect(200);
            (app.statement_count() - before, response)
        }
    };
    let (plain, response) = statements("/api/v2/phoneNumbers?page[size]=5").await;
    assert!(response.body.get("meta").is_none());
    let (counted, _) = statements("/api/v2/phoneNumbers?page[size]=5&count=true").await;
    let (not_counted, response) = statements("/api/v2/phoneNumbers?page[size]=5&count=false").await;
    assert!(response.body.get("meta").is_none());
    assert_eq!(counted, plain + 1, "count=true adds exactly one query");
    assert_eq!(not_counted, plain, "count=false runs no count query");
    for value in ["1", "yes", "", "TRUE"] {
        assert_bad_parameter(
            app.get(&format!("/api/v2/phoneNumbers?count={value}"))
                .await,
            "count",
        );
    }
}

async fn every_filter_form_on_phone_numbers(app: TestApp) {
    let f = fixture(&app).await;
    let s = |ids: &[&String]| set(ids);
    let all = s(&[&f.n1, &f.n2, &f.n3, &f.n4, &f.n5]);
    let cases: Vec<(String, BTreeSet<String>)> = vec![
        ("filter[status]=valid".into(), s(&[&f.n1, &f.n4])),
        ("filter[status]=valid,invalid".into(), s(&[&f.n1, &f.n3, &f.n4])),
        ("filter[phoneType]=mobile".into(), s(&[&f.n2, &f.n4])),
        ("filter[lineType]=toll_free".into(), s(&[&f.n1])),
        ("filter[countryCode]=US".into(), all.clone()),
        ("filter[countryCode]=__null__".into(), s(&[])),
        ("filter[order]=0".into(), s(&[&f.n1, &f.n4])),
        ("filter[order]=1..2".into(), s(&[&f.n2, &f.n3, &f.n5])),
        ("filter[order]=1..inf".into(), s(&[&f.n2, &f.n3, &f.n5])),
        ("filter[order]=neginf..0".into(), s(&[&f.n1, &f.n4])),
        ("filter[order]=neginf..inf".into(), all.clone()),
        ("filter[order]=2..1".into(), s(&[])),
        ("filter[createdAt]=2026-01-02T00:00:00Z..2026-01-03T00:00:00Z".into(), s(&[&f.n2, &f.n3])),
        ("filter[createdAt]=neginf..2026-01-01T00:00:00.000Z".into(), s(&[&f.n1])),
        ("filter[createdAt]=2026-01-04T00:00:00Z..inf".into(), s(&[&f.n4, &f.n5])),
        (format!("filter[createdAt]={}", enc("2026-01-02T01:00:00+01:00")), s(&[&f.n2])),
        ("filter[createdAt]=2026-01-02T01:00:00+01:00".into(), s(&[&f.n2])),
        ("filter[createdAt]=2026-01-01T00:00:00Z,2026-01-05T00:00:00Z".into(), s(&[&f.n1, &f.n5])),
        ("filter[statusChangedAt]=neginf..inf".into(), all.clone()),
        ("filter[updatedAt]=2000-01-01T00:00:00Z..inf".into(), all.clone()),
        ("filter[source]=__null__".into(), s(&[&f.n2])),
        ("filter[source]=__notnull__".into(), s(&[&f.n1, &f.n3, &f.n4, &f.n5])),
        ("filter[source]=web+form".into(), s(&[&f.n3])),
        ("filter[source]=import,web%20form".into(), s(&[&f.n1, &f.n3])),
        ("filter[source]=Import".into(), s(&[])),
        ("filter[status]=__notnull__".into(), all.clone()),
        ("filter[status]=__null__".into(), s(&[])),
        (format!("filter[prospect][id]={}", f.p2), s(&[&f.n4, &f.n5])),
        (format!("filter[prospect][id]={},{}", f.p1, f.p2), all.clone()),
        (format!("filter[id]={},{}", f.n1, f.n3), s(&[&f.n1, &f.n3])),
        (format!("filter[id]={}..{}", f.n2, f.n4), s(&[&f.n2, &f.n3, &f.n4])),
        (format!("filter[number]={}", enc("(888) 938-7356")), s(&[&f.n1])),
        ("filter[number]=8889387356".into(), s(&[&f.n1])),
        ("filter[number]=%2B18889387356".into(), s(&[&f.n1])),
        (format!("filter[number]=+18889387356,{}", enc(&fictional(3))), s(&[&f.n1, &f.n4])),
        (format!("filter[status]=valid&filter[prospect][id]={}", f.p1), s(&[&f.n1])),
        ("filter[status]=valid&filter[phoneType]=mobile,work&filter[order]=0..0".into(), s(&[&f.n1, &f.n4])),
        // newFilterSyntax: lists whose values hold `,` and `..`, and comparisons.
        ("newFilterSyntax=true&filter[source][]=a,b&filter[source][]=x..y".into(), s(&[&f.n4, &f.n5])),
        ("newFilterSyntax=true&filter[source]=a,b".into(), s(&[&f.n4])),
        ("filter[source]=x..y&newFilterSyntax=true".into(), s(&[&f.n5])),
        ("newFilterSyntax=true&filter[source]=__null__".into(), s(&[&f.n2])),
        ("newFilterSyntax=true&filter[status][]=valid&filter[status][]=invalid".into(), s(&[&f.n1, &f.n3, &f.n4])),
        ("newFilterSyntax=true&filter[order][gte]=1&filter[order][lt]=2".into(), s(&[&f.n2, &f.n5])),
        ("newFilterSyntax=true&filter[order][gt]=0".into(), s(&[&f.n2, &f.n3, &f.n5])),
        ("newFilterSyntax=true&filter[order][lte]=0".into(), s(&[&f.n1, &f.n4])),
        ("newFilterSyntax=true&filter[createdAt][gt]=2026-01-03T00:00:00Z".into(), s(&[&f.n4, &f.n5])),
        ("newFilterSyntax=true&filter[createdAt][gte]=2026-01-03T00:00:00Z&filter[createdAt][lte]=2026-01-04T00:00:00Z".into(), s(&[&f.n3, &f.n4])),
        (format!("newFilterSyntax=true&filter[createdAt][lt]={}", enc("2026-01-02T00:00:00+00:00")), s(&[&f.n1])),
        (format!("newFilterSyntax=true&filter[prospect][id][]={}&filter[prospect][id][]={}", f.p1, f.p2), all.clone()),
        (format!("newFilterSyntax=true&filter[id][gt]={}", f.n4), s(&[&f.n5])),
        ("newFilterSyntax=false&filter[order]=1..2".into(), s(&[&f.n2, &f.n3, &f.n5])),
        // Percent-encoded brackets mean the same.
        ("filter%5Bstatus%5D=valid".into(), s(&[&f.n1, &f.n4])),
        (format!("filter%5Bprospect%5D%5Bid%5D={}", f.p2), s(&[&f.n4, &f.n5])),
        ("newFilterSyntax=true&filter%5Border%5D%5Bgte%5D=2".into(), s(&[&f.n3])),
    ];
    for (query, expected) in cases {
        assert_eq!(
            listed(&app, &format!("/api/v2/phoneNumbers?{query}")).await,
            expected,
            "{query}"
        );
    }
    // The same support under a prospect.
    assert_eq!(
        listed(
            &app,
            &format!(
                "/api/v2/prospects/{}/phoneNumbers?filter[status]=valid,invalid",
                f.p1
            )
        )
        .await,
        s(&[&f.n1, &f.n3])
    );
    assert_eq!(
        listed(
            &app,
            &format!(
                "/api/v2/prospects/{}/phoneNumbers?filter[prospect][id]={}",
                f.p1, f.p2
            )
        )
        .await,
        s(&[])
    );
    assert_eq!(
        listed(
            &app,
            &format!(
                "/api/v2/prospects/{}/phoneNumbers?newFilterSyntax=true&filter[order][gte]=1",
                f.p2
            )
        )
        .await,
        s(&[&f.n5])
    );
    let related = app
        .get(&format!(
            "/api/v2/prospects/{}/phoneNumbers?sort=-order&count=true&page[size]=2",
            f.p1
        ))
        .await
        .expect(200);
    assert_eq!(ids(&related), [f.n3.clone(), f.n2.clone()]);
    assert_eq!(related.body["meta"]["count"], 3);
    assert_eq!(
        ids(&app.get(&link(&related, "next").unwrap()).await.expect(200)),
        std::slice::from_ref(&f.n1)
    );
}

async fn filter_errors_are_400_at_the_parameter(app: TestApp) {
    fixture(&app).await;
    for (query, parameter) in [
        ("filter[phoneType]=MOBILE", "filter[phoneType]"),
        ("filter[status]=Valid", "filter[status]"),
        ("filter[lineType]=landline", "filter[lineType]"),
        ("filter[source]=a..b", "filter[source]"),
        ("filter[number]=%2B1..%2B2", "filter[number]"),
        ("filter[status]=valid..valid", "filter[status]"),
        ("filter[countryCode]=A..Z", "filter[countryCode]"),
        (
            "newFilterSyntax=true&filter[source][gte]=a",
            "filter[source][gte]",
        ),
        (
            "newFilterSyntax=true&filter[number][lt]=%2B18889387356",
            "filter[number][lt]",
        ),
        ("filter[rawNumber]=1", "filter[rawNumber]"),
        ("filter[formattedNumber]=1", "filter[formattedNumber]"),
        ("filter[extension]=1", "filter[extension]"),
        ("filter[nope]=1", "filter[nope]"),
        ("filter[prospect]=1", "filter[prospect]"),
        ("filter[owner][id]=1", "filter[owner][id]"),
        ("filter[order]=x", "filter[order]"),
        ("filter[order]=1.5", "filter[order]"),
        ("filter[order]=1..", "filter[order]"),
        ("filter[order]=inf..1", "filter[order]"),
        ("filter[order]=1..3,5", "filter[order]"),
        ("filter[createdAt]=yesterday", "filter[createdAt]"),
        ("filter[createdAt]=2026-01-01", "filter[createdAt]"),
        ("filter[id]=abc", "filter[id]"),
        ("filter[id]=0", "filter[id]"),
        ("filter[prospect][id]=x", "filter[prospect][id]"),
        ("filter[number]=not-a-number", "filter[number]"),
        ("filter[number]=12", "filter[number]"),
        ("filter[status]=", "filter[status]"),
        ("filter[status]=valid,", "filter[status]"),
        ("filter[status]=valid,,invalid", "filter[status]"),
        ("filter[source]=a,__null__", "filter[source]"),
        ("filter[order][gte]=1", "filter[order][gte]"),
        ("filter[status][]=valid", "filter[status][]"),
        ("newFilterSyntax=true&filter[order]=1..2", "filter[order]"),
        (
            "newFilterSyntax=true&filter[status][]=valid&filter[status][]=",
            "filter[status][]",
        ),
        (
            "newFilterSyntax=true&filter[order][between]=1",
            "filter[order][between]",
        ),
        ("newFilterSyntax=yes", "newFilterSyntax"),
        ("filter%5Bnope%5D=1", "filter[nope]"),
        ("foo=1", "foo"),
        ("fooBar=1", "fooBar"),
        ("includes=prospect", "includes"),
        ("Include=prospect", "Include"),
        ("page[number]=2", "page[number]"),
        ("page=2", "page"),
        ("sort[]=id", "sort[]"),
        ("access_token=abc", "access_token"),
    ] {
        assert_bad_parameter(
            app.get(&format!("/api/v2/phoneNumbers?{query}")).await,
            parameter,
        );
    }
}

async fn prospects_and_users_filter_sort_and_page(app: TestApp) {
    let (member, _) = app.user("member@example.com", Role::Member, "prospects.all");
    let (viewer, _) = app.user("viewer@example.com", Role::Viewer, "prospects.read");
    let ada = prospect_with(
        &app,
        json!({"firstName": "Ada", "lastName": "Lovelace", "company": "Engines"}),
        None,
    )
    .await;
    let grace = prospect_with(
        &app,
        json!({"firstName": "Grace", "lastName": "Hopper", "title": "RADM"}),
        Some(member),
    )
    .await;
    let alan = prospect_with(
        &app,
        json!({"firstName": "Alan", "lastName": "Turing", "title": "Dr"}),
        Some(member),
    )
    .await;
    app.execute(&format!(
        "UPDATE prospects SET created_at = '2001-02-01 00:00:00' WHERE id = {grace}"
    ));
    let s = |ids: &[&String]| set(ids);
    for (query, expected) in [
        (format!("filter[owner][id]={member}"), s(&[&grace, &alan])),
        ("filter[owner][id]=1".into(), s(&[&ada])),
        ("filter[firstName]=Ada".into(), s(&[&ada])),
        ("filter[firstName]=Ada,Alan".into(), s(&[&ada, &alan])),
        ("filter[firstName]=ada".into(), s(&[])),
        ("filter[title]=__null__".into(), s(&[&ada])),
        ("filter[title]=__notnull__".into(), s(&[&grace, &alan])),
        ("filter[company]=Engines".into(), s(&[&ada])),
        (format!("filter[id]={ada},{alan}"), s(&[&ada, &alan])),
        (
            "filter[createdAt]=2001-02-01T00:00:00Z".into(),
            s(&[&grace]),
        ),
        (
            "filter[createdAt]=neginf..2001-03-01T00:00:00Z".into(),
            s(&[&grace]),
        ),
        (
            "newFilterSyntax=true&filter[createdAt][gt]=2001-03-01T00:00:00Z".into(),
            s(&[&ada, &alan]),
        ),
        (
            "filter[updatedAt]=2000-01-01T00:00:00Z..inf".into(),
            s(&[&ada, &grace, &alan]),
        ),
    ] {
        assert_eq!(
            listed(&app, &format!("/api/v2/prospects?{query}")).await,
            expected,
            "{query}"
        );
    }
    let sorted = app
        .get("/api/v2/prospects?sort=-lastName")
        .await
        .expect(200);
    assert_eq!(ids(&sorted), [alan.clone(), ada.clone(), grace.clone()]);
    assert_profile_applied(&sorted);
    let sorted = app
        .get("/api/v2/prospects?sort=company,firstName")
        .await
        .expect(200);
    assert_eq!(
        ids(&sorted),
        [alan.clone(), grace.clone(), ada.clone()],
        "null company sorts first"
    );
    for (query, parameter) in [
        ("filter[lastName]=a..b", "filter[lastName]"),
        (
            "newFilterSyntax=true&filter[firstName][gt]=A",
            "filter[firstName][gt]",
        ),
        ("filter[homePhones]=x", "filter[homePhones]"),
        ("filter[phoneNumbers][id]=1", "filter[phoneNumbers][id]"),
        ("filter[owner]=1", "filter[owner]"),
        ("filter[owner][id]=me", "filter[owner][id]"),
        ("filter[prospect][id]=1", "filter[prospect][id]"),
        ("filter[firstName]=", "filter[firstName]"),
    ] {
        assert_bad_parameter(
            app.get(&format!("/api/v2/prospects?{query}")).await,
            parameter,
        );
    }

    let s_users = |ids: &[i64]| ids.iter().map(i64::to_string).collect::<BTreeSet<_>>();
    for (query, expected) in [
        ("filter[role]=member".to_owned(), s_users(&[member])),
        (
            "filter[role]=member,viewer".to_owned(),
            s_users(&[member, viewer]),
        ),
        (
            "filter[email]=viewer@example.com".to_owned(),
            s_users(&[viewer]),
        ),
        (format!("filter[id]={viewer}"), s_users(&[viewer])),
        (
            "filter[updatedAt]=2000-01-01T00:00:00Z..inf".to_owned(),
            s_users(&[1, member, viewer]),
        ),
    ] {
        assert_eq!(
            listed(&app, &format!("/api/v2/users?{query}")).await,
            expected,
            "{query}"
        );
    }
    for (query, parameter) in [
        ("filter[role]=MEMBER", "filter[role]"),
        ("filter[name]=x", "filter[name]"),
        ("filter[createdAt]=neginf..inf", "filter[createdAt]"),
        ("filter[email]=a..b", "filter[email]"),
        ("include=prospects", "include"),
    ] {
        assert_bad_parameter(app.get(&format!("/api/v2/users?{query}")).await, parameter);
    }
    let users = app
        .get("/api/v2/users?sort=-email&page[size]=2")
        .await
        .expect(200);
    assert_profile_applied(&users);
    let mut emails: Vec<String> = users.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["attributes"]["email"].as_str().unwrap().to_owned())
        .collect();
    let rest = app.get(&link(&users, "next").unwrap()).await.expect(200);
    assert!(link(&rest, "next").is_none());
    emails.extend(
        rest.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["attributes"]["email"].as_str().unwrap().to_owned()),
    );
    let mut expected = emails.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(emails, expected);
    assert_eq!(emails.len(), 3);
}

async fn repeated_identical_parameters_are_one_and_links_never_repeat(app: TestApp) {
    seed_numbers(&app, 2, 3);
    let response = app
        .get("/api/v2/phoneNumbers?page[size]=2&filter[status]=unverified&page%5Bsize%5D=2&filter[status]=unverified&sort=-id&sort=-id&include=prospect&include=prospect")
        .await
        .expect(200);
    assert_eq!(ids(&response).len(), 2);
    assert_links_do_not_repeat(&response);
    let next = link(&response, "next").unwrap();
    // Sync clients re-send their first-page parameters beside `links.next`.
    let resent = app
        .get(&format!(
            "{next}&page[size]=2&sort=-id&filter%5Bstatus%5D=unverified"
        ))
        .await
        .expect(200);
    assert_eq!(ids(&resent).len(), 2);
    assert_links_do_not_repeat(&resent);
    let followed = app.get(&next).await.expect(200);
    assert_eq!(ids(&resent), ids(&followed));
    // A repeated list filter counts once; lists bind the same cursor in any order.
    let lists = app.get("/api/v2/phoneNumbers?page[size]=2&newFilterSyntax=true&filter[status][]=valid&filter[status][]=unverified&filter[status][]=valid").await.expect(200);
    assert_links_do_not_repeat(&lists);
    assert_eq!(ids(&lists).len(), 2);
    for (query, parameter) in [
        ("page[size]=2&page[size]=3", "page[size]"),
        ("sort=id&sort=-id", "sort"),
        (
            "filter[status]=valid&filter[status]=invalid",
            "filter[status]",
        ),
        ("include=prospect&include=", "include"),
        ("count=true&count=false", "count"),
        ("page[size]=2&page%5Bsize%5D=3", "page[size]"),
    ] {
        assert_bad_parameter(
            app.get(&format!("/api/v2/phoneNumbers?{query}")).await,
            parameter,
        );
    }
}

async fn include_costs_one_query_per_level_whatever_the_page_size(app: TestApp) {
    let (member, _) = app.user("member@example.com", Role::Member, "prospects.all");
    seed_numbers(&app, 40, 3);
    app.execute(&format!(
        "UPDATE prospects SET owner_id = {member} WHERE id % 2 = 0"
    ));
    // A token's first read after a commit authenticates with a query and later ones come
    // from the credential cache: one read first, so every count below is of the same kind.
    app.get("/api/v2").await.expect(200);
    let statements = |path: String| {
        let app = &app;
        async move {
            let before = app.statement_count();
            let response = app.get(&path).await.expect(200);
            (app.statement_count() - before, response)
        }
    };
    for extra in [
        "",
        "&provideAuthorizationMeta=true",
        "&count=true&fields[prospect]=firstName",
    ] {
        let (one, small) = statements(format!(
            "/api/v2/phoneNumbers?include=prospect.owner&page[size]=1{extra}"
        ))
        .await;
        let (hundred, large) = statements(format!(
            "/api/v2/phoneNumbers?include=prospect.owner&page[size]=100{extra}"
        ))
        .await;
        assert_eq!(ids(&small).len(), 1);
        assert_eq!(ids(&large).len(), 100);
        let prospects = large.body["included"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "prospect")
            .count();
        let users = large.body["included"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "user")
            .count();
        assert_eq!(
            (prospects, users),
            (34, 2),
            "100 numbers over 34 prospects of 2 owners"
        );
        assert_eq!(one, hundred, "statements for page size 1 and 100 {extra}");
        if extra.contains("provideAuthorizationMeta") {
            for resource in large.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .chain(large.body["included"].as_array().unwrap())
            {
                assert_eq!(
                    resource["meta"]["canWrite"],
                    resource["type"] != "user",
                    "{resource}"
                );
            }
        }
    }
    // Each include level is at most one query. On PostgreSQL a listing reads the prospects it
    // includes in its own statement (a join; each prospect row keeps its list of numbers), on
    // SQLite in one more, in one read transaction with the page (its BEGIN and COMMIT count
    // here too); their owners are one more. One number's prospect is one query too.
    let (plain, _) = statements("/api/v2/phoneNumbers?page[size]=100".into()).await;
    let (level_one, included) =
        statements("/api/v2/phoneNumbers?page[size]=100&include=prospect".into()).await;
    let (level_two, _) =
        statements("/api/v2/phoneNumbers?page[size]=100&include=prospect.owner".into()).await;
    let prospects = if app.database_url.starts_with("sqlite") {
        3
    } else {
        0
    };
    assert_eq!((level_one - plain, level_two - level_one), (prospects, 1));
    let number = ids(&included)[0].clone();
    let (alone, _) = statements(format!("/api/v2/phoneNumbers/{number}")).await;
    let (with_prospect, shown) =
        statements(format!("/api/v2/phoneNumbers/{number}?include=prospect")).await;
    assert_eq!(with_prospect - alone, 1);
    assert_eq!(
        shown.body["included"][0]["relationships"]["phoneNumbers"]["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let (one, _) =
        statements("/api/v2/prospects?include=phoneNumbers,owner&page[size]=1".into()).await;
    let (many, large) =
        statements("/api/v2/prospects?include=phoneNumbers,owner&page[size]=40".into()).await;
    assert_eq!(large.body["included"].as_array().unwrap().len(), 120 + 2);
    assert_eq!(one, many, "prospect includes do not grow with the page");
}

backend_tests!(pagination_queries_read_their_order_from_an_index);

async fn pagination_queries_read_their_order_from_an_index(app: TestApp) {
    let (member, _) = app.user("member@example.com", Role::Member, "prospects.all");
    seed_numbers(&app, 30, 4);
    app.execute(&format!(
        "UPDATE prospects SET owner_id = {member} WHERE id % 10 = 0"
    ));
    let columns = "id, prospect_id, number, status, updated_at";
    // The statements `PhoneNumberRow::list` and `Prospect::list` issue, as diesel spells them
    // (first pages and keyset pages, both directions), and the index each must read.
    let by_id = "primary key";
    for (sql, index) in [
        (format!("SELECT {columns} FROM phone_numbers WHERE prospect_id = 7 ORDER BY id ASC LIMIT 51"), "phone_numbers_prospect_id"),
        (format!("SELECT {columns} FROM phone_numbers WHERE prospect_id = 7 AND id > 20 ORDER BY id ASC LIMIT 51"), "phone_numbers_prospect_id"),
        (format!("SELECT {columns} FROM phone_numbers WHERE prospect_id = 7 AND id < 90 ORDER BY id DESC LIMIT 51"), "phone_numbers_prospect_id"),
        (format!("SELECT {columns} FROM phone_numbers ORDER BY id ASC LIMIT 51"), by_id),
        (format!("SELECT {columns} FROM phone_numbers WHERE id > 20 ORDER BY id ASC LIMIT 51"), by_id),
        (format!("SELECT {columns} FROM phone_numbers ORDER BY updated_at DESC, id ASC LIMIT 51"), "phone_numbers_updated_at_desc"),
        (format!("SELECT {columns} FROM phone_numbers WHERE updated_at <= '2026-01-01 00:00:30' \
                 AND (updated_at < '2026-01-01 00:00:30' OR id > 20) ORDER BY updated_at DESC, id ASC LIMIT 51"), "phone_numbers_updated_at_desc"),
        (format!("SELECT {columns} FROM phone_numbers WHERE updated_at >= '2026-01-01 00:00:30' \
                 AND (updated_at > '2026-01-01 00:00:30' OR id < 20) ORDER BY updated_at ASC, id DESC LIMIT 51"), "phone_numbers_updated_at_desc"),
        (format!("SELECT {columns} FROM phone_numbers WHERE updated_at >= '2026-01-01 00:00:30' \
                 AND (updated_at > '2026-01-01 00:00:30' OR id > 20) ORDER BY updated_at ASC, id ASC LIMIT 51"), "phone_numbers_updated_at"),
        ("SELECT id, updated_at FROM prospects ORDER BY updated_at DESC, id ASC LIMIT 51".to_owned(), "prospects_updated_at_desc"),
        (format!("SELECT id, updated_at FROM prospects WHERE owner_id = {member} AND id > 3 ORDER BY id ASC LIMIT 51"), "prospects_owner_id"),
    ] {
        // Sorts priced out too: a plan that still sorts has no index to read the order from.
        let plan = app.plan(&sql, &["enable_sort", "enable_seqscan", "enable_bitmapscan"]);
        assert!(!plan.contains("TEMP B-TREE") && !plan.contains("Sort"), "{sql}\nsorts:\n{plan}");
        let reads = if index == by_id {
            // SQLite's rowid table is the id index; PostgreSQL's is `*_pkey`.
            plan.contains("PRIMARY KEY") || plan.trim() == "SCAN phone_numbers" || plan.contains("phone_numbers_pkey")
        } else {
            plan.split_whitespace().any(|word| word == index)
        };
        assert!(reads, "{sql}\nshould read {index}:\n{plan}");
    }
}
