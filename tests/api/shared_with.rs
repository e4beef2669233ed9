//! `sharedWith` (API.md section 11): the other prospects that have a number with the same
//! `number`, shown only when asked for, with its related and relationship endpoints (paginated),
//! read-only, and loaded in one statement per page.

use std::collections::BTreeSet;

use actix_web::http::Method;
use diesel::prelude::*;
use serde_json::{json, Value};

use phonebook::db::schema::prospects;
use phonebook::models::shared::Sharers;
use phonebook::models::Prospect;
use phonebook::permissions::Role;

use crate::backend_tests;
use crate::helpers::{as_user, ids, included_keys, Response, TestApp};

backend_tests!(
    shown_only_when_asked_for,
    linkage_lists_the_other_prospects_once_each_in_id_order,
    more_than_a_hundred_sharers,
    include_puts_the_sharers_in_included,
    related_endpoint_filters_sorts_and_pages,
    relationship_endpoint_pages_its_linkage,
    writes_are_forbidden_and_change_nothing,
    scopes,
    one_statement_per_page_whatever_its_size,
    sharers_are_read_from_the_number_index
);

const SHARED: &str = "+12015550100";

/// Creates a number; answers its id.
async fn number(app: &TestApp, prospect: &str, attributes: Value) -> String {
    app.number(prospect, attributes).await.expect(201).id()
}

/// The `sharedWith` relationship object of a resource.
fn shared_with(resource: &Value) -> &Value {
    &resource["relationships"]["sharedWith"]
}

/// The ids of a linkage array.
fn linked(linkage: &Value) -> Vec<String> {
    let items = linkage.as_array().expect("to-many linkage");
    items
        .iter()
        .map(|item| {
            assert_eq!(item["type"], "prospect");
            item["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Prospects written by hand, one a `(first name, number)`, each with that one number.
fn insert_holders(app: &TestApp, holders: impl IntoIterator<Item = (String, String)>) {
    let mut sql = String::new();
    for (name, number) in holders {
        sql.push_str(&format!(
            "INSERT INTO prospects (owner_id, first_name, version, created_at, updated_at) \
             VALUES (1, '{name}', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00');\n\
             INSERT INTO phone_numbers (prospect_id, number, raw_number, country_code, extension, \
             phone_type, position, status, status_changed_at, source, formatted_number, line_type, \
             version, created_at, updated_at) \
             SELECT id, '{number}', '{number}', 'US', '', 'mobile', 0, 'unverified', \
             '2026-01-01 00:00:00', NULL, '{number}', 'fixed_line_or_mobile', 1, \
             '2026-01-01 00:00:00', '2026-01-01 00:00:00' FROM prospects \
             WHERE first_name = '{name}';\n"
        ));
    }
    app.execute(&sql);
}

/// `count` prospects written by hand, each with one number `number`; answers their ids in order.
fn seed_sharers(app: &TestApp, count: usize, number: &str) -> Vec<String> {
    insert_holders(
        app,
        (0..count).map(|at| (format!("Sharer {at:03}"), number.to_owned())),
    );
    let mut conn = app.conn();
    let ids = prospects::table
        .filter(prospects::first_name.like("Sharer %"))
        .order(prospects::id)
        .select(prospects::id)
        .load::<i64>(&mut *conn)
        .unwrap();
    for &id in &ids {
        Prospect::rebuild_phones(&mut conn, id).unwrap();
    }
    ids.iter().map(i64::to_string).collect()
}

/// Follows `links.next` from `start`; answers every page's ids (of `data`, resources or linkage).
async fn walk(app: &TestApp, start: &str) -> Vec<String> {
    let (mut all, mut next) = (Vec::new(), Some(start.to_owned()));
    while let Some(link) = next {
        let page = app.get(&link).await.expect(200);
        all.extend(linked_or_ids(&page));
        next = page.body["links"]["next"].as_str().map(str::to_owned);
    }
    all
}

fn linked_or_ids(page: &Response) -> Vec<String> {
    let data = page.body["data"].as_array().unwrap();
    data.iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn shown_only_when_asked_for(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let bob = app.prospect("Bob").await;
    let mine = number(&app, &ada, json!({"number": SHARED})).await;
    number(&app, &bob, json!({"number": SHARED})).await;
    let path = format!("/api/v2/phoneNumbers/{mine}");
    let plain = app.get(&path).await.expect(200);
    let relationships = &plain.body["data"]["relationships"];
    assert!(relationships.get("sharedWith").is_none(), "{relationships}");
    assert!(relationships.get("prospect").is_some());
    let listed = app.get("/api/v2/phoneNumbers").await.expect(200);
    for resource in listed.body["data"].as_array().unwrap() {
        assert!(shared_with(resource).is_null(), "{resource}");
    }

    // Named in the fieldset: shown, with the other fields of the fieldset only.
    let sparse = app
        .get(&format!("{path}?fields[phoneNumber]=number,sharedWith"))
        .await
        .expect(200);
    let data = &sparse.body["data"];
    assert_eq!(
        data["attributes"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["number"]
    );
    assert!(data["relationships"].get("prospect").is_none());
    let relationship = shared_with(data);
    assert_eq!(linked(&relationship["data"]), [bob.as_str()]);
    assert_eq!(relationship["meta"]["count"], 1);
    let links = &relationship["links"];
    assert!(links["self"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/phoneNumbers/{mine}/relationships/sharedWith")));
    assert!(links["related"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/phoneNumbers/{mine}/sharedWith")));

    // Named in `include`: shown beside every other field.
    let included = app
        .get(&format!("{path}?include=sharedWith"))
        .await
        .expect(200);
    let data = &included.body["data"];
    assert_eq!(data["attributes"], plain.body["data"]["attributes"]);
    assert_eq!(
        data["relationships"]["prospect"]["data"]["id"],
        ada.as_str()
    );
    assert_eq!(linked(&shared_with(data)["data"]), [bob.as_str()]);

    // The ETag is the number's version's, whatever the representation shows.
    assert_eq!(sparse.header("etag"), plain.header("etag"));

    // A number nobody shares shows an empty linkage and a count of 0.
    let lonely = number(&app, &ada, json!({"number": "+14155552671"})).await;
    let alone = app
        .get(&format!(
            "/api/v2/phoneNumbers/{lonely}?fields[phoneNumber]=sharedWith"
        ))
        .await
        .expect(200);
    let relationship = shared_with(&alone.body["data"]);
    assert_eq!(relationship["data"], json!([]));
    assert_eq!(relationship["meta"]["count"], 0);

    // Included numbers of a prospect show it when their fieldset names it.
    let prospect = app
        .get(&format!(
            "/api/v2/prospects/{ada}?include=phoneNumbers&fields[phoneNumber]=sharedWith"
        ))
        .await
        .expect(200);
    let numbers = prospect.body["included"].as_array().unwrap();
    assert_eq!(numbers.len(), 2);
    assert_eq!(linked(&shared_with(&numbers[0])["data"]), [bob.as_str()]);
    assert_eq!(shared_with(&numbers[1])["meta"]["count"], 0);
}

async fn linkage_lists_the_other_prospects_once_each_in_id_order(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let bob = app.prospect("Bob").await;
    let cy = app.prospect("Cy").await;
    let dee = app.prospect("Dee").await;
    let eve = app.prospect("Eve").await;
    let mine = number(&app, &ada, json!({"number": SHARED})).await;
    // Ada's own second copy (another extension) never makes her a sharer of her own number.
    number(&app, &ada, json!({"number": SHARED, "extension": "7"})).await;
    // Cy has the number twice (two extensions): one sharer; extensions are ignored.
    number(&app, &cy, json!({"number": SHARED, "extension": "12"})).await;
    number(&app, &cy, json!({"number": SHARED})).await;
    // Written in another notation, it is the same number.
    number(
        &app,
        &eve,
        json!({"number": "(201) 555-0100", "countryCode": "US"}),
    )
    .await;
    number(&app, &bob, json!({"number": SHARED, "extension": "3"})).await;
    number(&app, &dee, json!({"number": "+12015550101"})).await;

    let response = app
        .get(&format!(
            "/api/v2/phoneNumbers/{mine}?fields[phoneNumber]=sharedWith"
        ))
        .await
        .expect(200);
    let relationship = shared_with(&response.body["data"]);
    assert_eq!(
        linked(&relationship["data"]),
        [bob.clone(), cy.clone(), eve.clone()]
    );
    assert_eq!(relationship["meta"]["count"], 3);

    // Seen from Cy's number: Ada (once, for her two copies), Bob, Eve.
    let listed = app
        .get(&format!(
            "/api/v2/phoneNumbers?filter[prospect][id]={cy}&fields[phoneNumber]=extension,sharedWith"
        ))
        .await
        .expect(200);
    for resource in listed.body["data"].as_array().unwrap() {
        assert_eq!(
            linked(&shared_with(resource)["data"]),
            [ada.clone(), bob.clone(), eve.clone()],
            "{resource}"
        );
    }
    let related = app
        .get(&format!("/api/v2/phoneNumbers/{mine}/sharedWith"))
        .await
        .expect(200);
    assert_eq!(ids(&related), [bob, cy, eve]);
}

async fn more_than_a_hundred_sharers(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let mine = number(&app, &ada, json!({"number": SHARED})).await;
    let sharers = seed_sharers(&app, 130, SHARED);
    let response = app
        .get(&format!(
            "/api/v2/phoneNumbers/{mine}?fields[phoneNumber]=sharedWith"
        ))
        .await
        .expect(200);
    let relationship = shared_with(&response.body["data"]);
    assert_eq!(linked(&relationship["data"]), sharers[..100]);
    assert_eq!(relationship["meta"]["count"], 130);

    let related = walk(
        &app,
        &format!("/api/v2/phoneNumbers/{mine}/sharedWith?page[size]=40"),
    )
    .await;
    assert_eq!(related, sharers);
    let linkage = walk(
        &app,
        &format!("/api/v2/phoneNumbers/{mine}/relationships/sharedWith?page[size]=40"),
    )
    .await;
    assert_eq!(linkage, sharers);
    // Each sharer sees Ada and the 129 others, the first 100 of them listed.
    let theirs = app
        .get(&format!(
            "/api/v2/phoneNumbers?filter[prospect][id]={}&fields[phoneNumber]=sharedWith",
            sharers[0]
        ))
        .await
        .expect(200);
    let relationship = shared_with(&theirs.body["data"][0]);
    assert_eq!(relationship["meta"]["count"], 130);
    let first = linked(&relationship["data"]);
    assert_eq!(first.len(), 100);
    assert_eq!(first[0], ada);
    assert_eq!(first[1..], sharers[1..100]);
}

async fn include_puts_the_sharers_in_included(app: TestApp) {
    let (member, _) = app.user("member@example.com", Role::Member, "prospects.all");
    let ada = app.prospect("Ada").await;
    let bob = app.prospect("Bob").await;
    let cy = app.prospect("Cy").await;
    app.execute(&format!(
        "UPDATE prospects SET owner_id = {member} WHERE id = {cy}"
    ));
    let a = number(&app, &ada, json!({"number": SHARED})).await;
    let b = number(&app, &bob, json!({"number": SHARED})).await;
    number(&app, &cy, json!({"number": SHARED})).await;
    number(&app, &cy, json!({"number": "+14155552671"})).await;

    // Ada's and Bob's numbers share with each other and Cy: each prospect included once.
    let response = app
        .get(&format!(
            "/api/v2/phoneNumbers?filter[id]={a},{b}&include=prospect,sharedWith&fields[prospect]=firstName"
        ))
        .await
        .expect(200);
    let included = response.body["included"].as_array().unwrap();
    let keys: Vec<(&str, &str)> = included
        .iter()
        .map(|r| (r["type"].as_str().unwrap(), r["id"].as_str().unwrap()))
        .collect();
    let unique: BTreeSet<&(&str, &str)> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
    let prospects: BTreeSet<&str> = keys.iter().map(|(_, id)| *id).collect();
    assert_eq!(
        prospects,
        [ada.as_str(), bob.as_str(), cy.as_str()]
            .into_iter()
            .collect()
    );
    for resource in included {
        assert_eq!(
            resource["attributes"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["firstName"],
            "sparse fieldsets apply to included sharers: {resource}"
        );
    }

    // Only the sharers, and their owners one level down.
    let response = app
        .get(&format!(
            "/api/v2/phoneNumbers/{a}?include=sharedWith.owner"
        ))
        .await
        .expect(200);
    let keys: BTreeSet<(String, String)> = included_keys(&response.body).into_iter().collect();
    let expected: BTreeSet<(String, String)> = [
        ("prospect".into(), bob.clone()),
        ("prospect".into(), cy.clone()),
        ("user".into(), "1".into()),
        ("user".into(), member.to_string()),
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected);
    let included = response.body["included"].as_array().unwrap();
    let cy_shown = included.iter().find(|r| r["id"] == cy.as_str()).unwrap();
    let cy_numbers = &cy_shown["relationships"]["phoneNumbers"]["data"];
    assert_eq!(cy_numbers.as_array().unwrap().len(), 2, "{cy_shown}");

    let refused = app
        .get("/api/v2/phoneNumbers?include=sharedWith.phoneNumbers")
        .await
        .expect(400);
    assert_eq!(refused.body["errors"][0]["source"]["parameter"], "include");
}

async fn related_endpoint_filters_sorts_and_pages(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let mine = number(&app, &ada, json!({"number": SHARED})).await;
    let mut sharers = Vec::new();
    for name in ["Zoe", "Bob", "Mia", "Bob"] {
        let prospect = app.prospect(name).await;
        number(&app, &prospect, json!({"number": SHARED})).await;
        sharers.push(prospect);
    }
    let other = app.prospect("Bob").await;
    number(&app, &other, json!({"number": "+14155552671"})).await;
    let base = format!("/api/v2/phoneNumbers/{mine}/sharedWith");

    let all = app.get(&base).await.expect(200);
    assert_eq!(ids(&all), sharers);
    assert!(all.body["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/phoneNumbers/{mine}/sharedWith")));
    assert_eq!(all.body["data"][0]["type"], "prospect");

    let bobs = app
        .get(&format!("{base}?filter[firstName]=Bob&count=true"))
        .await
        .expect(200);
    assert_eq!(ids(&bobs), [sharers[1].clone(), sharers[3].clone()]);
    assert_eq!(bobs.body["meta"]["count"], 2);

    let sorted = app
        .get(&format!("{base}?sort=-firstName"))
        .await
        .expect(200);
    assert_eq!(
        ids(&sorted),
        [
            sharers[0].clone(),
            sharers[2].clone(),
            sharers[1].clone(),
            sharers[3].clone()
        ]
    );
    let walked = walk(&app, &format!("{base}?sort=firstName&page[size]=1")).await;
    assert_eq!(
        walked,
        [
            sharers[1].clone(),
            sharers[3].clone(),
            sharers[2].clone(),
            sharers[0].clone()
        ]
    );
    let included = app
        .get(&format!("{base}?include=phoneNumbers&page[size]=1"))
        .await
        .expect(200);
    assert_eq!(included.body["included"][0]["type"], "phoneNumber");

    app.get(&format!("{base}?sort=phoneType")).await.expect(400);
    app.get("/api/v2/phoneNumbers/999999/sharedWith")
        .await
        .expect(404);
    app.get("/api/v2/phoneNumbers/x/sharedWith")
        .await
        .expect(404);
    let token = app.admin_token.clone();
    let head = app.send(Method::HEAD, &base, Some(&token), None, &[]).await;
    assert_eq!(
        head.expect(200).declared_length,
        Some(all.text.len() as u64)
    );
}

async fn relationship_endpoint_pages_its_linkage(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let mine = number(&app, &ada, json!({"number": SHARED})).await;
    let sharers = seed_sharers(&app, 5, SHARED);
    let path = format!("/api/v2/phoneNumbers/{mine}/relationships/sharedWith");
    let first = app
        .get(&format!("{path}?page[size]=2&count=true"))
        .await
        .expect(200);
    assert_eq!(linked(&first.body["data"]), sharers[..2]);
    assert_eq!(first.body["meta"]["count"], 5);
    let links = &first.body["links"];
    assert!(links["related"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/phoneNumbers/{mine}/sharedWith")));
    assert!(links["prev"].is_null());
    let second = app.get(links["next"].as_str().unwrap()).await.expect(200);
    assert_eq!(linked(&second.body["data"]), sharers[2..4]);
    let back = app
        .get(second.body["links"]["prev"].as_str().unwrap())
        .await
        .expect(200);
    assert_eq!(linked(&back.body["data"]), sharers[..2]);

    for refused in [
        "include=sharedWith",
        "sort=id",
        "filter[firstName]=A",
        "fields[prospect]=firstName",
    ] {
        let response = app.get(&format!("{path}?{refused}")).await.expect(400);
        assert_eq!(
            response.body["errors"][0]["source"]["parameter"],
            refused.split('=').next().unwrap()
        );
    }
    app.get("/api/v2/phoneNumbers/999999/relationships/sharedWith")
        .await
        .expect(404);
    let token = app.admin_token.clone();
    let head = app.send(Method::HEAD, &path, Some(&token), None, &[]).await;
    head.expect(200);
}

async fn writes_are_forbidden_and_change_nothing(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let bob = app.prospect("Bob").await;
    let mine = number(&app, &ada, json!({"number": SHARED})).await;
    let before = app
        .get(&format!("/api/v2/phoneNumbers/{mine}"))
        .await
        .expect(200);
    let linkage = json!({"data": [{"type": "prospect", "id": bob}]});
    let path = format!("/api/v2/phoneNumbers/{mine}/relationships/sharedWith");
    for method in [Method::POST, Method::PATCH, Method::DELETE] {
        let token = app.admin_token.clone();
        let response = app
            .send(method.clone(), &path, Some(&token), Some(&linkage), &[])
            .await
            .expect(403);
        assert_eq!(response.error_code(), "forbidden", "{method}");
        let detail = response.body["errors"][0]["detail"].as_str().unwrap();
        assert!(detail.contains("read-only"), "{detail}");
    }
    let relationships = json!({"sharedWith": linkage});
    let patched = app
        .patch(
            &format!("/api/v2/phoneNumbers/{mine}"),
            json!({"data": {"type": "phoneNumber", "id": mine,
                "attributes": {"notes": "changed"}, "relationships": relationships}}),
        )
        .await
        .expect(403);
    assert_eq!(patched.error_code(), "forbidden");
    let created = app
        .post(
            "/api/v2/phoneNumbers",
            json!({"data": {"type": "phoneNumber", "attributes": {"number": "+14155552671"},
                "relationships": {"prospect": {"data": {"type": "prospect", "id": bob}},
                    "sharedWith": {"data": []}}}}),
        )
        .await
        .expect(403);
    assert_eq!(created.error_code(), "forbidden");
    // In /operations too: as a relationship of an added number, or as the target of an update.
    let add = json!({"op": "add", "data": {"type": "phoneNumber",
        "attributes": {"number": "+14155552671"},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": bob}},
            "sharedWith": {"data": []}}}});
    let update = json!({"op": "update",
        "ref": {"type": "phoneNumber", "id": mine, "relationship": "sharedWith"}, "data": []});
    for operation in [add, update] {
        let refused = app
            .post(
                "/api/v2/operations",
                json!({"atomic:operations": [operation]}),
            )
            .await
            .expect(403);
        assert_eq!(refused.error_code(), "forbidden", "{}", refused.body);
    }
    let after = app
        .get(&format!("/api/v2/phoneNumbers/{mine}"))
        .await
        .expect(200);
    assert_eq!(after.body, before.body);
    assert_eq!(app.count("phone_numbers"), 1);
}

async fn scopes(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let bob = app.prospect("Bob").await;
    let mine = number(&app, &ada, json!({"number": SHARED})).await;
    number(&app, &bob, json!({"number": SHARED})).await;
    let (_, numbers_only) = app.user("n@example.com", Role::Viewer, "phoneNumbers.read");
    let (_, prospects_only) = app.user("p@example.com", Role::Viewer, "prospects.read");
    let (_, member) = app.user(
        "m@example.com",
        Role::Member,
        "phoneNumbers.all prospects.read",
    );
    let related = format!("/api/v2/phoneNumbers/{mine}/sharedWith");
    let relationship = format!("/api/v2/phoneNumbers/{mine}/relationships/sharedWith");
    let get = |path: String, token: String| {
        let app = &app;
        async move { as_user(app, Method::GET, &path, &token, None).await }
    };

    // The related endpoint returns prospects: it needs their read scope, and that alone.
    let shown = get(related.clone(), prospects_only.clone())
        .await
        .expect(200);
    assert_eq!(ids(&shown), [bob.as_str()]);
    let refused = get(related.clone(), numbers_only.clone()).await.expect(403);
    assert!(refused.body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("prospects.read"));
    // The relationship endpoint is the number's: it needs the numbers' read scope.
    let linkage = get(relationship.clone(), numbers_only.clone())
        .await
        .expect(200);
    assert_eq!(linked(&linkage.body["data"]), [bob.as_str()]);
    get(relationship.clone(), prospects_only.clone())
        .await
        .expect(403);
    // Including the sharers needs the prospects' read scope too.
    get(
        format!("/api/v2/phoneNumbers/{mine}?include=sharedWith"),
        numbers_only.clone(),
    )
    .await
    .expect(403);
    let linked_only = get(
        format!("/api/v2/phoneNumbers/{mine}?fields[phoneNumber]=sharedWith"),
        numbers_only.clone(),
    )
    .await
    .expect(200);
    assert_eq!(
        linked(&shared_with(&linked_only.body["data"])["data"]),
        [bob.as_str()]
    );
    // A member sees every sharer, as /prospects shows every prospect.
    let seen = get(related, member.clone()).await.expect(200);
    assert_eq!(ids(&seen), [bob.as_str()]);
    // Writing needs the write scope first (a viewer without it: scope 403).
    for (token, code) in [
        (&prospects_only, "unauthorizedOauthScope"),
        (&member, "forbidden"),
    ] {
        let body = json!({"data": []});
        let refused = as_user(&app, Method::PATCH, &relationship, token, Some(&body))
            .await
            .expect(403);
        assert_eq!(refused.error_code(), code);
    }
}

async fn one_statement_per_page_whatever_its_size(app: TestApp) {
    // 100 prospects of one number each, pairs of them sharing a value, and 120 more sharing the
    // first value.
    insert_holders(
        &app,
        (0..100).map(|at| {
            (
                format!("Page {at:03}"),
                format!("+1201555{:04}", 2000 + at / 2),
            )
        }),
    );
    seed_sharers(&app, 120, "+12015552000");
    app.get("/api/v2").await.expect(200);
    let statements = |path: String| {
        let app = &app;
        async move {
            let before = app.statement_count();
            let response = app.get(&path).await.expect(200);
            (app.statement_count() - before, response)
        }
    };
    for size in [1, 100] {
        let page = format!("/api/v2/phoneNumbers?page[size]={size}");
        let (plain, _) = statements(format!("{page}&fields[phoneNumber]=number")).await;
        let (shown, response) =
            statements(format!("{page}&fields[phoneNumber]=number,sharedWith")).await;
        assert_eq!(shown, plain + 1, "page size {size}");
        let data = response.body["data"].as_array().unwrap();
        assert_eq!(data.len(), size);
        assert_eq!(shared_with(&data[0])["meta"]["count"], 121);
        assert_eq!(linked(&shared_with(&data[0])["data"]).len(), 100);
        if size == 100 {
            assert_eq!(shared_with(&data[99])["meta"]["count"], 1);
        }
        let (included, response) = statements(format!("{page}&include=sharedWith")).await;
        assert_eq!(
            included,
            plain + 2,
            "page size {size}: linkage, then the sharers"
        );
        assert!(!response.body["included"].as_array().unwrap().is_empty());
    }
}

async fn sharers_are_read_from_the_number_index(app: TestApp) {
    seed_sharers(&app, 50, SHARED);
    seed_sharers_of_other_numbers(&app, 200);
    let ids: Vec<String> = (1..=3).map(|id| id.to_string()).collect();
    let sql = Sharers::statement(&ids);
    let plan = app.plan(&sql, &["enable_seqscan"]);
    assert!(
        plan.split_whitespace()
            .any(|word| word == "phone_numbers_number"),
        "{sql}\nshould read phone_numbers_number:\n{plan}"
    );
}

/// `count` numbers, each of its own value, on prospect 1 (so that a scan would cost more than
/// the index).
fn seed_sharers_of_other_numbers(app: &TestApp, count: usize) {
    let rows: Vec<String> = (0..count)
        .map(|at| {
            let value = format!("+1202555{:04}", at);
            format!(
                "((SELECT MIN(id) FROM prospects), '{value}', '{value}', 'US', '', 'mobile', {at}, \
                 'unverified', '2026-01-01 00:00:00', NULL, '{value}', 'fixed_line_or_mobile', 1, \
                 '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        })
        .collect();
    app.execute(&format!(
        "INSERT INTO phone_numbers (prospect_id, number, raw_number, country_code, extension, \
         phone_type, position, status, status_changed_at, source, formatted_number, line_type, \
         version, created_at, updated_at) VALUES {}",
        rows.join(", ")
    ));
}
