//! Permissions (API.md sections 5 and 9): authorization meta against the real outcome of every
//! write for every kind of token, 401s and their challenges, scope and role refusals in every
//! write route, owner changes, tokens at rest and in logs, the `token` command line, and the
//! per-user rate limit.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::Method;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Response, TestApp};
use phonebook::config::Config;
use phonebook::db::schema::api_tokens;
use phonebook::models::ApiToken;
use phonebook::permissions::Role;

/// What `token create` gives a token without `--scopes`.
const DEFAULT_SCOPES: &str = "prospects.all phoneNumbers.all users.read";
const META: &str = "provideAuthorizationMeta=true";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    app.send(method, path, Some(token), body.as_ref(), &[])
        .await
}

/// Another token for an existing user.
fn extra_token(app: &TestApp, user_id: i64, scopes: &str) -> String {
    let token = phonebook::auth::generate_token();
    ApiToken::create(
        &mut app.conn(),
        user_id,
        &phonebook::auth::hash_token(&token),
        scopes,
        None,
    )
    .expect("token");
    token
}

/// The bootstrap admin's user id.
async fn admin_id(app: &TestApp) -> i64 {
    let entry = app.get("/api/v2").await.expect(200);
    entry.body["meta"]["user"]["id"]
        .as_str()
        .expect("meta.user.id")
        .parse()
        .expect("numeric id")
}

/// Creates a prospect owned by `owner` (as the admin).
async fn prospect_of(app: &TestApp, first_name: &str, owner: i64) -> String {
    app.post(
        "/api/v2/prospects",
        json!({"data": {"type": "prospect", "attributes": {"firstName": first_name},
            "relationships": {"owner": {"data": {"type": "user", "id": owner.to_string()}}}}}),
    )
    .await
    .expect(201)
    .id()
}

/// Creates a number on a prospect (as the admin); `n` picks a distinct valid number.
async fn number_on(app: &TestApp, prospect: &str, n: u32) -> String {
    app.number(
        prospect,
        json!({"number": format!("+1 888 938 {:04}", 7300 + n)}),
    )
    .await
    .expect(201)
    .id()
}

fn patch_number_body(id: &str) -> Value {
    json!({"data": {"type": "phoneNumber", "id": id, "attributes": {"source": "permission check"}}})
}

fn patch_prospect_body(id: &str) -> Value {
    json!({"data": {"type": "prospect", "id": id, "attributes": {"title": "permission check"}}})
}

fn move_body(number: &str, prospect: &str) -> Value {
    json!({"data": {"type": "phoneNumber", "id": number,
        "relationships": {"prospect": {"data": {"type": "prospect", "id": prospect}}}}})
}

fn owner_body(prospect: &str, owner: i64) -> Value {
    json!({"data": {"type": "prospect", "id": prospect,
        "relationships": {"owner": {"data": {"type": "user", "id": owner.to_string()}}}}})
}

fn user_linkage(owner: i64) -> Value {
    json!({"data": {"type": "user", "id": owner.to_string()}})
}

/// Whether a stored scope string grants `scope` (`kind.all` grants read, write and delete).
fn grants(scopes: &str, scope: &str) -> bool {
    let (kind, _) = scope.split_once('.').expect("kind.access");
    scopes
        .split_whitespace()
        .any(|held| held == scope || held == format!("{kind}.all"))
}

#[track_caller]
fn assert_missing_scope(response: &Response, scope: &str) {
    assert_eq!(response.status, 403, "{}", response.text);
    assert_eq!(
        response.error_code(),
        "unauthorizedOauthScope",
        "{}",
        response.text
    );
    let detail = response.body["errors"][0]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains(scope),
        "the detail should name `{scope}`: {detail}"
    );
}

#[track_caller]
fn assert_role_denied(response: &Response, what: &str) {
    assert_eq!(response.status, 403, "{what}: {}", response.text);
    assert_eq!(
        response.error_code(),
        "unauthorizedRequest",
        "{what}: {}",
        response.text
    );
}

/// Everything a client can see of the data, read as the admin (for "nothing changed").
async fn snapshot(app: &TestApp) -> (Value, Value) {
    let prospects = app
        .get("/api/v2/prospects?include=phoneNumbers,owner&page[size]=100")
        .await
        .expect(200);
    let numbers = app
        .get("/api/v2/phoneNumbers?page[size]=100")
        .await
        .expect(200);
    (
        json!([prospects.body["data"], prospects.body["included"]]),
        numbers.body["data"].clone(),
    )
}

// ---------------------------------------------------------------------------------------------
// 1. Authorization meta equals the outcome of the write, for every kind of token
// ---------------------------------------------------------------------------------------------

/// A caller: a user (with its role) holding a token with some scopes.
struct Kind {
    label: &'static str,
    user: i64,
    role: Role,
    scopes: &'static str,
    token: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expected {
    Allowed,
    MissingScope,
    Role,
}

/// API.md section 5, independently of the server: scope first, then role and ownership.
fn expected(kind: &Kind, scope: &str, owner: i64) -> Expected {
    if !grants(kind.scopes, scope) {
        Expected::MissingScope
    } else if kind.role == Role::Admin || (kind.role == Role::Member && owner == kind.user) {
        Expected::Allowed
    } else {
        Expected::Role
    }
}

#[track_caller]
fn assert_outcome(response: &Response, expected: Expected, scope: &str, what: &str) {
    match expected {
        Expected::Allowed => assert!(
            (200..300).contains(&response.status),
            "{what}: expected success, got {} {}",
            response.status,
            response.text
        ),
        Expected::MissingScope => assert_missing_scope(response, scope),
        Expected::Role => assert_role_denied(response, what),
    }
}

type MetaMap = BTreeMap<(String, String), (bool, bool)>;

/// Reads `meta.canWrite` / `meta.canDelete` of every resource object (primary and included);
/// a record seen twice must carry the same meta.
#[track_caller]
fn collect_meta(document: &Value, into: &mut MetaMap, label: &str) -> usize {
    let data = match &document["data"] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    let included = document["included"].as_array().cloned().unwrap_or_default();
    let mut seen = 0;
    for resource in data.iter().chain(included.iter()) {
        let kind = resource["type"].as_str().expect("type").to_owned();
        let id = resource["id"].as_str().expect("id").to_owned();
        let meta = &resource["meta"];
        let pair = (
            meta["canWrite"]
                .as_bool()
                .unwrap_or_else(|| panic!("{label}: {kind} {id} has no meta.canWrite: {resource}")),
            meta["canDelete"].as_bool().unwrap_or_else(|| {
                panic!("{label}: {kind} {id} has no meta.canDelete: {resource}")
            }),
        );
        if kind == "user" {
            assert_eq!(pair, (false, false), "{label}: users are read-only");
        }
        if let Some(previous) = into.insert((kind.clone(), id.clone()), pair) {
            assert_eq!(
                previous, pair,
                "{label}: {kind} {id} shown with different meta"
            );
        }
        seen += 1;
    }
    seen
}

/// Reads everything `kind` may read, with authorization meta.
async fn read_meta(
    app: &TestApp,
    kind: &Kind,
    numbers: &[String],
    prospects: &[String],
) -> MetaMap {
    let mut meta = MetaMap::new();
    let (numbers_read, prospects_read, users_read) = (
        grants(kind.scopes, "phoneNumbers.read"),
        grants(kind.scopes, "prospects.read"),
        grants(kind.scopes, "users.read"),
    );
    let token = kind.token.as_str();
    let label = kind.label;
    if numbers_read {
        let mut include = Vec::new();
        if prospects_read {
            include.push("prospect");
            if users_read {
                include.push("prospect.owner");
            }
        }
        let include = if include.is_empty() {
            String::new()
        } else {
            format!("&include={}", include.join(","))
        };
        let listed = call(
            app,
            token,
            Method::GET,
            &format!("/api/v2/phoneNumbers?{META}{include}"),
            None,
        )
        .await
        .expect(200);
        collect_meta(&listed.body, &mut meta, label);
        for id in numbers {
            let one = call(
                app,
                token,
                Method::GET,
                &format!("/api/v2/phoneNumbers/{id}?{META}{include}"),
                None,
            )
            .await
            .expect(200);
            collect_meta(&one.body, &mut meta, label);
        }
    }
    if prospects_read {
        let mut include = Vec::new();
        if numbers_read {
            include.push("phoneNumbers");
        }
        if users_read {
            include.push("owner");
        }
        let include = if include.is_empty() {
            String::new()
        } else {
            format!("&include={}", include.join(","))
        };
        let listed = call(
            app,
            token,
            Method::GET,
            &format!("/api/v2/prospects?{META}{include}"),
            None,
        )
        .await
        .expect(200);
        collect_meta(&listed.body, &mut meta, label);
        for id in prospects {
            let one = call(
                app,
                token,
                Method::GET,
                &format!("/api/v2/prospects/{id}?{META}{include}"),
                None,
            )
            .await
            .expect(200);
            collect_meta(&one.body, &mut meta, label);
        }
    }
    if users_read {
        let users = call(
            app,
            token,
            Method::GET,
            &format!("/api/v2/users?{META}"),
            None,
        )
        .await
        .expect(200);
        assert!(
            collect_meta(&users.body, &mut meta, label) >= 4,
            "{label}: users listed"
        );
    }
    meta
}

/// For one kind of token: a fresh prospect (with a number) per owner; every record's meta is
/// read where the token allows it, then every record is PATCHed and DELETEd with that token and
/// the outcomes are compared with the meta (and with API.md).
async fn meta_matches_outcomes(app: &TestApp, kind: &Kind, owners: &[i64]) {
    let label = kind.label;
    let mut prospects = Vec::new();
    let mut numbers = Vec::new();
    let mut owner_of = BTreeMap::new();
    for (index, owner) in owners.iter().enumerate() {
        let prospect = prospect_of(app, &format!("Owned by {owner}"), *owner).await;
        let number = number_on(app, &prospect, index as u32).await;
        owner_of.insert(prospect.clone(), *owner);
        owner_of.insert(number.clone(), *owner);
        prospects.push(prospect);
        numbers.push(number);
    }
    let mut meta = read_meta(app, kind, &numbers, &prospects).await;
    let readable = |scope: &str| grants(kind.scopes, scope);
    for id in &numbers {
        if readable("phoneNumbers.read") {
            assert!(
                meta.contains_key(&("phoneNumber".into(), id.clone())),
                "{label}: number {id} without meta"
            );
        }
    }
    for id in &prospects {
        if readable("prospects.read") {
            assert!(
                meta.contains_key(&("prospect".into(), id.clone())),
                "{label}: prospect {id} without meta"
            );
        }
    }

    let mut compared = 0;
    // PATCH every record; a successful PATCH also shows the record's meta.
    for (type_name, ids, path, scope) in [
        (
            "phoneNumber",
            &numbers,
            "phoneNumbers",
            "phoneNumbers.write",
        ),
        ("prospect", &prospects, "prospects", "prospects.write"),
    ] {
        for id in ids {
            let body = if type_name == "phoneNumber" {
                patch_number_body(id)
            } else {
                patch_prospect_body(id)
            };
            let response = call(
                app,
                &kind.token,
                Method::PATCH,
                &format!("/api/v2/{path}/{id}?{META}"),
                Some(body),
            )
            .await;
            let what = format!("{label}: PATCH {type_name} {id} of user {}", owner_of[id]);
            assert_outcome(&response, expected(kind, scope, owner_of[id]), scope, &what);
            let key = (type_name.to_owned(), id.clone());
            if let Some((can_write, _)) = meta.get(&key) {
                assert_eq!(
                    *can_write,
                    response.status == 200,
                    "{what}: canWrite disagrees ({})",
                    response.text
                );
                compared += 1;
            }
            if response.status == 200 {
                collect_meta(&response.body, &mut meta, label);
                assert!(
                    meta[&key].0,
                    "{what}: a PATCH that succeeded says canWrite false"
                );
            }
        }
    }
    // DELETE every number, then every prospect.
    for (type_name, ids, path, scope) in [
        (
            "phoneNumber",
            &numbers,
            "phoneNumbers",
            "phoneNumbers.delete",
        ),
        ("prospect", &prospects, "prospects", "prospects.delete"),
    ] {
        for id in ids {
            let response = call(
                app,
                &kind.token,
                Method::DELETE,
                &format!("/api/v2/{path}/{id}"),
                None,
            )
            .await;
            let what = format!("{label}: DELETE {type_name} {id} of user {}", owner_of[id]);
            assert_outcome(&response, expected(kind, scope, owner_of[id]), scope, &what);
            if let Some((_, can_delete)) = meta.get(&(type_name.to_owned(), id.clone())) {
                assert_eq!(
                    *can_delete,
                    response.status == 204,
                    "{what}: canDelete disagrees ({})",
                    response.text
                );
                compared += 1;
            }
        }
    }
    assert!(
        compared > 0,
        "{label}: no meta was compared with an outcome"
    );
}

backend_tests!(
    authorization_meta_is_what_patch_and_delete_answer,
    authorization_meta_only_when_asked
);

async fn authorization_meta_is_what_patch_and_delete_answer(app: TestApp) {
    let admin = admin_id(&app).await;
    let (member, member_token) = app.user("member@example.com", Role::Member, DEFAULT_SCOPES);
    let (member2, member2_token) = app.user("member2@example.com", Role::Member, DEFAULT_SCOPES);
    let (viewer, viewer_token) = app.user("viewer@example.com", Role::Viewer, DEFAULT_SCOPES);
    let kinds = [
        Kind {
            label: "admin",
            user: admin,
            role: Role::Admin,
            scopes: "prospects.all phoneNumbers.all users.all",
            token: app.admin_token.clone(),
        },
        Kind {
            label: "member",
            user: member,
            role: Role::Member,
            scopes: DEFAULT_SCOPES,
            token: member_token,
        },
        Kind {
            label: "second member",
            user: member2,
            role: Role::Member,
            scopes: DEFAULT_SCOPES,
            token: member2_token,
        },
        Kind {
            label: "viewer",
            user: viewer,
            role: Role::Viewer,
            scopes: DEFAULT_SCOPES,
            token: viewer_token,
        },
        Kind {
            label: "admin phoneNumbers.read",
            user: admin,
            role: Role::Admin,
            scopes: "phoneNumbers.read",
            token: extra_token(&app, admin, "phoneNumbers.read"),
        },
        Kind {
            label: "member prospects.write",
            user: member,
            role: Role::Member,
            scopes: "prospects.write",
            token: extra_token(&app, member, "prospects.write"),
        },
        Kind {
            label: "member phoneNumbers.all prospects.read",
            user: member,
            role: Role::Member,
            scopes: "phoneNumbers.all prospects.read",
            token: extra_token(&app, member, "phoneNumbers.all prospects.read"),
        },
        Kind {
            label: "admin phoneNumbers.all prospects.read",
            user: admin,
            role: Role::Admin,
            scopes: "phoneNumbers.all prospects.read",
            token: extra_token(&app, admin, "phoneNumbers.all prospects.read"),
        },
        Kind {
            label: "member prospects.all phoneNumbers.read phoneNumbers.delete",
            user: member,
            role: Role::Member,
            scopes: "prospects.all phoneNumbers.read phoneNumbers.delete",
            token: extra_token(
                &app,
                member,
                "prospects.all phoneNumbers.read phoneNumbers.delete",
            ),
        },
        Kind {
            label: "admin prospects.delete phoneNumbers.write",
            user: admin,
            role: Role::Admin,
            scopes: "prospects.delete phoneNumbers.write",
            token: extra_token(&app, admin, "prospects.delete phoneNumbers.write"),
        },
        Kind {
            label: "viewer prospects.read users.read",
            user: viewer,
            role: Role::Viewer,
            scopes: "prospects.read users.read",
            token: extra_token(&app, viewer, "prospects.read users.read"),
        },
    ];
    for kind in &kinds {
        meta_matches_outcomes(&app, kind, &[admin, member, member2]).await;
    }
}

async fn authorization_meta_only_when_asked(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    number_on(&app, &prospect, 1).await;
    let plain = app
        .get("/api/v2/phoneNumbers?include=prospect")
        .await
        .expect(200);
    assert!(
        plain.body["data"][0].get("meta").is_none(),
        "{}",
        plain.text
    );
    assert!(
        plain.body["included"][0].get("meta").is_none(),
        "{}",
        plain.text
    );
    let off = app
        .get("/api/v2/prospects?provideAuthorizationMeta=false")
        .await
        .expect(200);
    assert!(off.body["data"][0].get("meta").is_none(), "{}", off.text);
    let (_, viewer) = app.user("viewer@example.com", Role::Viewer, DEFAULT_SCOPES);
    let on = call(
        &app,
        &viewer,
        Method::GET,
        &format!("/api/v2/prospects/{prospect}/owner?{META}"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        on.body["data"]["meta"],
        json!({"canWrite": false, "canDelete": false})
    );
    let related = call(
        &app,
        &viewer,
        Method::GET,
        &format!("/api/v2/prospects/{prospect}/phoneNumbers?{META}"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        related.body["data"][0]["meta"],
        json!({"canWrite": false, "canDelete": false})
    );
    let admin = app
        .get(&format!("/api/v2/prospects/{prospect}/phoneNumbers?{META}"))
        .await
        .expect(200);
    assert_eq!(
        admin.body["data"][0]["meta"],
        json!({"canWrite": true, "canDelete": true})
    );
}

// ---------------------------------------------------------------------------------------------
// 2. 401s, scopes, roles, other users' records
// ---------------------------------------------------------------------------------------------

const CHALLENGE: &str = r#"Bearer realm="phonebook""#;
const INVALID_TOKEN: &str = r#"Bearer realm="phonebook", error="invalid_token""#;

#[track_caller]
fn assert_unauthorized(response: &Response, challenge: &str, what: &str) {
    assert_eq!(response.status, 401, "{what}: {}", response.text);
    assert_eq!(response.error_code(), "unauthorized", "{what}");
    assert_eq!(
        response.header("www-authenticate"),
        Some(challenge),
        "{what}"
    );
}

backend_tests!(
    unauthenticated_requests_are_401_with_the_right_challenge,
    expired_and_revoked_tokens_stop_working_at_once,
    a_tokens_repeated_reads_skip_its_lookup_until_a_token_may_have_been_revoked,
    a_token_revoked_by_the_command_line_is_refused_on_its_next_read,
    a_connection_that_joins_the_pool_is_not_trusted_to_have_heard_of_revocations,
    missing_scopes_are_named,
    scope_is_checked_before_role_and_existence_before_role,
    members_cannot_reach_other_users_records_in_any_write_route,
    only_admins_change_owners
);

async fn unauthenticated_requests_are_401_with_the_right_challenge(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let create = json!({"data": {"type": "prospect", "attributes": {"firstName": "Eve"}}});
    for (method, path, body) in [
        (Method::GET, "/api/v2".to_owned(), None),
        (Method::GET, "/api/v2/prospects".to_owned(), None),
        (Method::GET, "/api/v2/prospects?bogus=1".to_owned(), None),
        (Method::POST, "/api/v2/prospects".to_owned(), Some(&create)),
        (
            Method::DELETE,
            format!("/api/v2/prospects/{prospect}"),
            None,
        ),
        (Method::GET, "/api/v2/users".to_owned(), None),
    ] {
        let what = format!("{method} {path}");
        let missing = app.send(method.clone(), &path, None, body, &[]).await;
        assert_unauthorized(&missing, CHALLENGE, &what);
        let unknown = app
            .send(
                method.clone(),
                &path,
                Some("pb_not-a-real-token"),
                body,
                &[],
            )
            .await;
        assert_unauthorized(&unknown, INVALID_TOKEN, &what);
    }
    let operations = app
        .send(
            Method::POST,
            "/api/v2/operations",
            None,
            Some(&json!({"atomic:operations": []})),
            &[],
        )
        .await;
    assert_unauthorized(&operations, CHALLENGE, "operations");
    // Tokens in the query string are not accepted.
    let admin_token = app.admin_token.clone();
    for parameter in ["access_token", "token", "api_key"] {
        let query = app
            .send(
                Method::GET,
                &format!("/api/v2/prospects?{parameter}={admin_token}"),
                None,
                None,
                &[],
            )
            .await;
        assert_unauthorized(&query, CHALLENGE, parameter);
    }
    // Other schemes and an empty bearer are not a token.
    for value in [
        format!("Basic {admin_token}"),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        admin_token.clone(),
    ] {
        let response = app
            .send(
                Method::GET,
                "/api/v2/prospects",
                None,
                None,
                &[("Authorization", value.as_str())],
            )
            .await;
        assert_eq!(response.status, 401, "{value}");
    }
    // Nothing was written.
    assert_eq!(
        app.get("/api/v2/prospects").await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn expired_and_revoked_tokens_stop_working_at_once(app: TestApp) {
    let (user, token) = app.user("member@example.com", Role::Member, DEFAULT_SCOPES);
    let second = extra_token(&app, user, "prospects.read");
    let now = phonebook::clock::now();
    let expired = phonebook::auth::generate_token();
    let lasting = phonebook::auth::generate_token();
    for (plain, expires_at) in [
        (&expired, now - chrono::Duration::seconds(1)),
        (&lasting, now + chrono::Duration::days(1)),
    ] {
        ApiToken::create(
            &mut app.conn(),
            user,
            &phonebook::auth::hash_token(plain),
            DEFAULT_SCOPES,
            Some(expires_at),
        )
        .unwrap();
    }
    let expired_response = call(&app, &expired, Method::GET, "/api/v2", None).await;
    assert_unauthorized(&expired_response, INVALID_TOKEN, "expired");
    call(&app, &lasting, Method::GET, "/api/v2", None)
        .await
        .expect(200);
    call(&app, &token, Method::GET, "/api/v2", None)
        .await
        .expect(200);
    call(&app, &second, Method::GET, "/api/v2/prospects", None)
        .await
        .expect(200);

    // `phonebook token revoke` calls this: every token of the user, honoured on the very
    // next request.
    let revoked = ApiToken::revoke_all(&mut app.conn(), user).unwrap();
    assert_eq!(revoked, 4);
    // A request refused before it reaches the database (400), its credential in the cache, sees
    // the revocation too: 401 comes first.
    let response = call(&app, &second, Method::GET, "/api/v2/prospects?foo=1", None).await;
    assert_unauthorized(&response, INVALID_TOKEN, "second, with a bad query");
    for (label, plain) in [
        ("default", &token),
        ("second", &second),
        ("lasting", &lasting),
    ] {
        let response = call(&app, plain, Method::GET, "/api/v2/prospects", None).await;
        assert_unauthorized(&response, INVALID_TOKEN, label);
    }
    // Other users are untouched; a new token for the same user works.
    app.get("/api/v2").await.expect(200);
    let fresh = extra_token(&app, user, DEFAULT_SCOPES);
    call(&app, &fresh, Method::GET, "/api/v2", None)
        .await
        .expect(200);
}

async fn a_tokens_repeated_reads_skip_its_lookup_until_a_token_may_have_been_revoked(app: TestApp) {
    let (_, token) = app.user("member@example.com", Role::Member, DEFAULT_SCOPES);
    let statements = || {
        let (app, token) = (&app, &token);
        async move {
            let before = app.statement_count();
            let response = call(app, token, Method::GET, "/api/v2/prospects", None).await;
            assert_eq!(response.status, 200, "{}", response.body);
            app.statement_count() - before
        }
    };
    // The first read looks the token up; the next ones take it from the credential cache.
    let first = statements().await;
    let cached = statements().await;
    assert_eq!(first, cached + 1, "the token's lookup is one statement");
    assert_eq!(statements().await, cached);
    // SQLite cannot tell a revocation from any other commit, so every commit costs the next
    // read a lookup; PostgreSQL is told of revocations alone.
    app.execute("UPDATE users SET name = 'Renamed' WHERE id = 1");
    let after_write = statements().await;
    if app.database_url.starts_with("sqlite") {
        assert_eq!(after_write, cached + 1, "the first read after a commit");
    } else {
        assert_eq!(after_write, cached, "a commit that revokes nothing");
    }
    assert_eq!(statements().await, cached);
    // Another user's revocation empties the cache on both: one lookup, then cached again. On
    // PostgreSQL the read's own statement brings the notification if the look before it was
    // too early for it.
    let (other, _) = app.user("other@example.com", Role::Member, DEFAULT_SCOPES);
    statements().await;
    ApiToken::revoke_all(&mut app.conn(), other).unwrap();
    assert_eq!(
        statements().await,
        cached + 1,
        "the first read after a revocation"
    );
    assert_eq!(statements().await, cached);
}

/// A connection the pool opens later began to listen for revocations late (PostgreSQL), or has no
/// earlier look to compare with (SQLite): the first check that finds it says the cached
/// credentials may be stale.
async fn a_connection_that_joins_the_pool_is_not_trusted_to_have_heard_of_revocations(
    app: TestApp,
) {
    use phonebook::auth::credentials::{check_credentials, CredentialCache, CredentialCheck};
    use phonebook::db::{Backend, DatabaseUrl, PoolOptions};

    let url = DatabaseUrl::parse(&app.database_url).unwrap();
    let pool = phonebook::db::pool(
        &url,
        PoolOptions {
            size: 2,
            timeout: Duration::from_secs(10),
            statement_counter: None,
            on_connect: Some(phonebook::auth::credentials::listen_for_revocations),
            min_idle: 1,
        },
    )
    .unwrap();
    let cache = CredentialCache::default();
    let check = || check_credentials(&pool, url.backend, &cache);
    assert_eq!(check(), CredentialCheck::Stale, "nothing was checked yet");
    assert_eq!(check(), CredentialCheck::Current);
    // With its one connection taken, the pool opens another to keep one idle.
    let busy = pool.get().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pool.state().connections < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pool opened no connection"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(check(), CredentialCheck::Stale, "a connection joined");
    assert_eq!(check(), CredentialCheck::Current);
    drop(busy);
    if url.backend == Backend::Postgres {
        // A revocation reaches a listening connection by its next statement.
        let (user, _) = app.user("member@example.com", Role::Member, DEFAULT_SCOPES);
        ApiToken::revoke_all(&mut app.conn(), user).unwrap();
        let mut conn = pool.get().unwrap();
        diesel::sql_query("SELECT 1").execute(&mut *conn).unwrap();
        drop(conn);
        assert_eq!(check(), CredentialCheck::Stale, "a revocation");
    }
}

async fn a_token_revoked_by_the_command_line_is_refused_on_its_next_read(app: TestApp) {
    let (_, token) = app.user("member@example.com", Role::Member, DEFAULT_SCOPES);
    // The second read takes the credential from the cache.
    for _ in 0..2 {
        call(&app, &token, Method::GET, "/api/v2/prospects", None)
            .await
            .expect(200);
    }
    // `phonebook token revoke` is another process, with its own connection.
    let revoke = Command::new(env!("CARGO_BIN_EXE_phonebook"))
        .args(["token", "revoke", "--email", "member@example.com"])
        .env("DATABASE_URL", &app.database_url)
        .env_remove("PHONEBOOK_BOOTSTRAP_TOKEN")
        .env_remove("RUST_LOG")
        .output()
        .expect("run phonebook");
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    let response = call(&app, &token, Method::GET, "/api/v2/prospects", None).await;
    assert_unauthorized(
        &response,
        INVALID_TOKEN,
        "the next read after the revocation",
    );
    // Only that user's tokens went.
    app.get("/api/v2/prospects").await.expect(200);
}

async fn missing_scopes_are_named(app: TestApp) {
    let (member, _) = app.user("member@example.com", Role::Member, DEFAULT_SCOPES);
    let mine = prospect_of(&app, "Mine", member).await;
    let number = number_on(&app, &mine, 1).await;
    let numbers_read = extra_token(&app, member, "phoneNumbers.read");
    let prospects_read = extra_token(&app, member, "prospects.read");
    let both_read = extra_token(&app, member, "phoneNumbers.read prospects.read");
    let prospects_write = extra_token(&app, member, "prospects.write");
    let prospects_all = extra_token(&app, member, "prospects.all users.read");
    let new_number = json!({"data": {"type": "phoneNumber", "attributes": {"number": "+1 888 938 7390"},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": mine}}}}});
    let cases: Vec<(&String, Method, String, Option<Value>, &str)> = vec![
        (
            &numbers_read,
            Method::GET,
            "/api/v2/prospects".into(),
            None,
            "prospects.read",
        ),
        (
            &numbers_read,
            Method::GET,
            format!("/api/v2/prospects/{mine}"),
            None,
            "prospects.read",
        ),
        (
            &numbers_read,
            Method::GET,
            "/api/v2/users".into(),
            None,
            "users.read",
        ),
        (
            &numbers_read,
            Method::GET,
            "/api/v2/phoneNumbers?include=prospect".into(),
            None,
            "prospects.read",
        ),
        (
            &numbers_read,
            Method::GET,
            format!("/api/v2/phoneNumbers/{number}?include=prospect"),
            None,
            "prospects.read",
        ),
        (
            &numbers_read,
            Method::GET,
            format!("/api/v2/phoneNumbers/{number}/prospect"),
            None,
            "prospects.read",
        ),
        (
            &numbers_read,
            Method::POST,
            "/api/v2/phoneNumbers".into(),
            Some(new_number.clone()),
            "phoneNumbers.write",
        ),
        (
            &numbers_read,
            Method::PATCH,
            format!("/api/v2/phoneNumbers/{number}"),
            Some(patch_number_body(&number)),
            "phoneNumbers.write",
        ),
        (
            &numbers_read,
            Method::DELETE,
            format!("/api/v2/phoneNumbers/{number}"),
            None,
            "phoneNumbers.delete",
        ),
        (
            &prospects_read,
            Method::GET,
            "/api/v2/prospects?include=phoneNumbers".into(),
            None,
            "phoneNumbers.read",
        ),
        (
            &prospects_read,
            Method::GET,
            "/api/v2/prospects?include=owner".into(),
            None,
            "users.read",
        ),
        (
            &prospects_read,
            Method::GET,
            format!("/api/v2/prospects/{mine}/owner"),
            None,
            "users.read",
        ),
        (
            &prospects_read,
            Method::GET,
            "/api/v2/phoneNumbers".into(),
            None,
            "phoneNumbers.read",
        ),
        (
            &both_read,
            Method::GET,
            "/api/v2/phoneNumbers?include=prospect.owner".into(),
            None,
            "users.read",
        ),
        (
            &both_read,
            Method::GET,
            format!("/api/v2/phoneNumbers/{number}?include=prospect.owner"),
            None,
            "users.read",
        ),
        // `write` does not grant `read`, nor `delete`.
        (
            &prospects_write,
            Method::GET,
            format!("/api/v2/prospects/{mine}"),
            None,
            "prospects.read",
        ),
        (
            &prospects_write,
            Method::DELETE,
            format!("/api/v2/prospects/{mine}"),
            None,
            "prospects.delete",
        ),
        // `prospects.all` grants nothing on numbers.
        (
            &prospects_all,
            Method::POST,
            "/api/v2/phoneNumbers".into(),
            Some(new_number.clone()),
            "phoneNumbers.write",
        ),
        (
            &prospects_all,
            Method::GET,
            format!("/api/v2/prospects/{mine}?include=phoneNumbers"),
            None,
            "phoneNumbers.read",
        ),
        // Scope comes before the body's shape and before the record's existence.
        (
            &numbers_read,
            Method::POST,
            "/api/v2/phoneNumbers".into(),
            Some(json!({})),
            "phoneNumbers.write",
        ),
        (
            &numbers_read,
            Method::DELETE,
            "/api/v2/phoneNumbers/999999".into(),
            None,
            "phoneNumbers.delete",
        ),
        (
            &prospects_read,
            Method::PATCH,
            "/api/v2/prospects/999999".into(),
            Some(patch_prospect_body("999999")),
            "prospects.write",
        ),
    ];
    let before = snapshot(&app).await;
    for (token, method, path, body, scope) in cases {
        let what = format!("{method} {path}");
        let response = call(&app, token, method, &path, body).await;
        assert_eq!(response.status, 403, "{what}: {}", response.text);
        assert_missing_scope(&response, scope);
    }
    // Atomic operations check the scope of each operation.
    let numbers_all = extra_token(&app, member, "phoneNumbers.all");
    let ops = json!({"atomic:operations": [
        {"op": "update", "data": patch_number_body(&number)["data"]},
        {"op": "add", "data": {"type": "prospect", "attributes": {"firstName": "Eve"}}},
    ]});
    let response = call(
        &app,
        &numbers_all,
        Method::POST,
        "/api/v2/operations",
        Some(ops),
    )
    .await;
    assert_missing_scope(&response, "prospects.write");
    assert_eq!(
        snapshot(&app).await,
        before,
        "a refused request changed data"
    );
    // With the scopes, the same requests go through.
    call(
        &app,
        &prospects_write,
        Method::PATCH,
        &format!("/api/v2/prospects/{mine}"),
        Some(patch_prospect_body(&mine)),
    )
    .await
    .expect(200);
    call(
        &app,
        &prospects_all,
        Method::GET,
        &format!("/api/v2/prospects/{mine}?include=owner"),
        None,
    )
    .await
    .expect(200);
    call(
        &app,
        &both_read,
        Method::GET,
        &format!("/api/v2/phoneNumbers/{number}?include=prospect"),
        None,
    )
    .await
    .expect(200);
}

async fn scope_is_checked_before_role_and_existence_before_role(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let (viewer, viewer_token) = app.user("viewer@example.com", Role::Viewer, DEFAULT_SCOPES);
    let viewer_read = extra_token(&app, viewer, "prospects.read");
    let response = call(
        &app,
        &viewer_read,
        Method::DELETE,
        &format!("/api/v2/prospects/{prospect}"),
        None,
    )
    .await;
    assert_missing_scope(&response, "prospects.delete");
    let response = call(
        &app,
        &viewer_token,
        Method::DELETE,
        &format!("/api/v2/prospects/{prospect}"),
        None,
    )
    .await;
    assert_role_denied(&response, "viewer delete");
    // scope 403 → 404 → role 403
    let response = call(
        &app,
        &viewer_read,
        Method::DELETE,
        "/api/v2/prospects/999999",
        None,
    )
    .await;
    assert_missing_scope(&response, "prospects.delete");
    call(
        &app,
        &viewer_token,
        Method::DELETE,
        "/api/v2/prospects/999999",
        None,
    )
    .await
    .expect(404);
    let (member, member_token) = app.user("member@example.com", Role::Member, DEFAULT_SCOPES);
    let member_read = extra_token(&app, member, "prospects.read phoneNumbers.read");
    let response = call(
        &app,
        &member_read,
        Method::PATCH,
        &format!("/api/v2/prospects/{prospect}"),
        Some(patch_prospect_body(&prospect)),
    )
    .await;
    assert_missing_scope(&response, "prospects.write");
    let response = call(
        &app,
        &member_token,
        Method::PATCH,
        &format!("/api/v2/prospects/{prospect}"),
        Some(patch_prospect_body(&prospect)),
    )
    .await;
    assert_role_denied(&response, "member patch");
    // Role comes before validation: an invalid write on someone else's record is 403.
    let invalid =
        json!({"data": {"type": "prospect", "id": prospect, "attributes": {"firstName": 7}}});
    let response = call(
        &app,
        &member_token,
        Method::PATCH,
        &format!("/api/v2/prospects/{prospect}"),
        Some(invalid.clone()),
    )
    .await;
    assert_role_denied(&response, "member invalid patch");
    app.patch(&format!("/api/v2/prospects/{prospect}"), invalid)
        .await
        .expect(422);
    // A viewer creates nothing, even with every scope.
    let create = json!({"data": {"type": "prospect", "attributes": {"firstName": "Eve"}}});
    let response = call(
        &app,
        &viewer_token,
        Method::POST,
        "/api/v2/prospects",
        Some(create),
    )
    .await;
    assert_role_denied(&response, "viewer create");
    let ops = json!({"atomic:operations": [{"op": "remove", "ref": {"type": "prospect", "id": prospect}}]});
    let response = call(
        &app,
        &viewer_token,
        Method::POST,
        "/api/v2/operations",
        Some(ops),
    )
    .await;
    assert_role_denied(&response, "viewer remove operation");
    app.get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
}

async fn members_cannot_reach_other_users_records_in_any_write_route(app: TestApp) {
    let admin = admin_id(&app).await;
    let (member, token) = app.user("member@example.com", Role::Member, DEFAULT_SCOPES);
    let (other, _) = app.user("other@example.com", Role::Member, DEFAULT_SCOPES);
    let mine = prospect_of(&app, "Mine", member).await;
    let my_number = number_on(&app, &mine, 1).await;
    let mine2 = prospect_of(&app, "Mine too", member).await;
    let my_number2 = number_on(&app, &mine2, 2).await;
    for owner in [other, admin] {
        let theirs = prospect_of(&app, "Theirs", owner).await;
        let their_number = number_on(&app, &theirs, 3).await;
        let before = snapshot(&app).await;
        let number_on_theirs = json!({"data": {"type": "phoneNumber", "attributes": {"number": "+1 888 938 7391"},
            "relationships": {"prospect": {"data": {"type": "prospect", "id": theirs}}}}});
        let prospect_link = |id: &str| json!({"data": {"type": "prospect", "id": id}});
        let numbers_link = |id: &str| json!({"data": [{"type": "phoneNumber", "id": id}]});
        let attempts: Vec<(&str, Method, String, Option<Value>)> = vec![
            (
                "PATCH their prospect",
                Method::PATCH,
                format!("/api/v2/prospects/{theirs}"),
                Some(patch_prospect_body(&theirs)),
            ),
            (
                "DELETE their prospect",
                Method::DELETE,
                format!("/api/v2/prospects/{theirs}"),
                None,
            ),
            (
                "PATCH their number",
                Method::PATCH,
                format!("/api/v2/phoneNumbers/{their_number}"),
                Some(patch_number_body(&their_number)),
            ),
            (
                "DELETE their number",
                Method::DELETE,
                format!("/api/v2/phoneNumbers/{their_number}"),
                None,
            ),
            (
                "POST a number on their prospect",
                Method::POST,
                "/api/v2/phoneNumbers".into(),
                Some(number_on_theirs.clone()),
            ),
            (
                "move my number to them",
                Method::PATCH,
                format!("/api/v2/phoneNumbers/{my_number}"),
                Some(move_body(&my_number, &theirs)),
            ),
            (
                "move their number to me",
                Method::PATCH,
                format!("/api/v2/phoneNumbers/{their_number}"),
                Some(move_body(&their_number, &mine)),
            ),
            (
                "relationship: my number to them",
                Method::PATCH,
                format!("/api/v2/phoneNumbers/{my_number}/relationships/prospect"),
                Some(prospect_link(&theirs)),
            ),
            (
                "relationship: their number to me",
                Method::PATCH,
                format!("/api/v2/phoneNumbers/{their_number}/relationships/prospect"),
                Some(prospect_link(&mine)),
            ),
            (
                "add their number to my prospect",
                Method::POST,
                format!("/api/v2/prospects/{mine}/relationships/phoneNumbers"),
                Some(numbers_link(&their_number)),
            ),
            (
                "add my number to their prospect",
                Method::POST,
                format!("/api/v2/prospects/{theirs}/relationships/phoneNumbers"),
                Some(numbers_link(&my_number)),
            ),
            (
                "give my prospect away",
                Method::PATCH,
                format!("/api/v2/prospects/{mine}"),
                Some(owner_body(&mine, owner)),
            ),
            (
                "take their prospect",
                Method::PATCH,
                format!("/api/v2/prospects/{theirs}"),
                Some(owner_body(&theirs, member)),
            ),
            (
                "give my prospect away (relationship)",
                Method::PATCH,
                format!("/api/v2/prospects/{mine}/relationships/owner"),
                Some(user_linkage(owner)),
            ),
            (
                "take their prospect (relationship)",
                Method::PATCH,
                format!("/api/v2/prospects/{theirs}/relationships/owner"),
                Some(user_linkage(member)),
            ),
            (
                "create a prospect for them",
                Method::POST,
                "/api/v2/prospects".into(),
                Some(
                    json!({"data": {"type": "prospect", "attributes": {"firstName": "Gift"},
                    "relationships": {"owner": {"data": {"type": "user", "id": owner.to_string()}}}}}),
                ),
            ),
        ];
        for (what, method, path, body) in attempts {
            let response = call(&app, &token, method, &path, body).await;
            assert_role_denied(&response, what);
        }
        let operations: Vec<(&str, Value)> = vec![
            (
                "add a number on their prospect",
                json!([{"op": "add", "data": number_on_theirs["data"]}]),
            ),
            (
                "update their number",
                json!([{"op": "update", "data": patch_number_body(&their_number)["data"]}]),
            ),
            (
                "update their prospect",
                json!([{"op": "update", "ref": {"type": "prospect", "id": theirs}, "data": patch_prospect_body(&theirs)["data"]}]),
            ),
            (
                "remove their number",
                json!([{"op": "remove", "ref": {"type": "phoneNumber", "id": their_number}}]),
            ),
            (
                "remove their prospect",
                json!([{"op": "remove", "ref": {"type": "prospect", "id": theirs}}]),
            ),
            (
                "move my number to them",
                json!([{"op": "update", "ref": {"type": "phoneNumber", "id": my_number, "relationship": "prospect"}, "data": {"type": "prospect", "id": theirs}}]),
            ),
            (
                "move their number to me",
                json!([{"op": "update", "data": move_body(&their_number, &mine)["data"]}]),
            ),
            (
                "give my prospect away",
                json!([{"op": "update", "data": owner_body(&mine, owner)["data"]}]),
            ),
            (
                "add a prospect for them",
                json!([{"op": "add", "data": {"type": "prospect", "attributes": {"firstName": "Gift"},
                "relationships": {"owner": {"data": {"type": "user", "id": owner.to_string()}}}}}]),
            ),
            // An allowed operation first: the refusal rolls it back.
            (
                "allowed, then refused",
                json!([
                    {"op": "update", "data": patch_number_body(&my_number)["data"]},
                    {"op": "add", "data": {"type": "prospect", "lid": "p", "attributes": {"firstName": "Mine 3"}}},
                    {"op": "remove", "ref": {"type": "phoneNumber", "id": their_number}},
                ]),
            ),
        ];
        for (what, ops) in operations {
            let count = ops.as_array().unwrap().len();
            let response = call(
                &app,
                &token,
                Method::POST,
                "/api/v2/operations",
                Some(json!({"atomic:operations": ops})),
            )
            .await;
            assert_role_denied(&response, what);
            let pointer = response.body["errors"][0]["source"]["pointer"]
                .as_str()
                .unwrap_or_default();
            assert!(
                pointer.starts_with(&format!("/atomic:operations/{}", count - 1)),
                "{what}: {pointer}"
            );
        }
        assert_eq!(
            snapshot(&app).await,
            before,
            "refused writes changed data (owner {owner})"
        );
    }
    // The same member may do all of it on its own records, with no prospects scope for
    // creating and moving numbers.
    let numbers_only = extra_token(&app, member, "phoneNumbers.write");
    let created = json!({"data": {"type": "phoneNumber", "attributes": {"number": "+1 888 938 7392"},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": mine}}}}});
    let created = call(
        &app,
        &numbers_only,
        Method::POST,
        "/api/v2/phoneNumbers",
        Some(created),
    )
    .await
    .expect(201)
    .id();
    call(
        &app,
        &numbers_only,
        Method::PATCH,
        &format!("/api/v2/phoneNumbers/{my_number}"),
        Some(move_body(&my_number, &mine2)),
    )
    .await
    .expect(200);
    call(
        &app,
        &numbers_only,
        Method::PATCH,
        &format!("/api/v2/phoneNumbers/{my_number}/relationships/prospect"),
        Some(json!({"data": {"type": "prospect", "id": mine}})),
    )
    .await
    .expect(200);
    call(&app, &numbers_only, Method::POST, &format!("/api/v2/prospects/{mine2}/relationships/phoneNumbers"),
        Some(json!({"data": [{"type": "phoneNumber", "id": my_number}, {"type": "phoneNumber", "id": created}]}))).await.expect(204);
    let moved = app
        .get(&format!(
            "/api/v2/prospects/{mine2}/relationships/phoneNumbers"
        ))
        .await
        .expect(200);
    let ids: Vec<&str> = moved.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [my_number2.as_str(), my_number.as_str(), created.as_str()]
    );
    call(
        &app,
        &token,
        Method::PATCH,
        &format!("/api/v2/prospects/{mine}"),
        Some(patch_prospect_body(&mine)),
    )
    .await
    .expect(200);
    // Re-sending its own owner is not a change of owner.
    call(
        &app,
        &token,
        Method::PATCH,
        &format!("/api/v2/prospects/{mine}"),
        Some(owner_body(&mine, member)),
    )
    .await
    .expect(200);
    let own = json!({"data": {"type": "prospect", "attributes": {"firstName": "Self"},
        "relationships": {"owner": {"data": {"type": "user", "id": member.to_string()}}}}});
    let own = call(
        &app,
        &token,
        Method::POST,
        "/api/v2/prospects?include=owner",
        Some(own),
    )
    .await
    .expect(201);
    assert_eq!(
        own.body["data"]["relationships"]["owner"]["data"]["id"],
        member.to_string()
    );
    let implicit = json!({"data": {"type": "prospect", "attributes": {"firstName": "Implicit"}}});
    let implicit = call(
        &app,
        &token,
        Method::POST,
        "/api/v2/prospects",
        Some(implicit),
    )
    .await
    .expect(201);
    assert_eq!(
        implicit.body["data"]["relationships"]["owner"]["data"]["id"],
        member.to_string()
    );
    call(
        &app,
        &token,
        Method::DELETE,
        &format!("/api/v2/prospects/{mine}"),
        None,
    )
    .await
    .expect(204);
}

async fn only_admins_change_owners(app: TestApp) {
    let (member, member_token) = app.user("member@example.com", Role::Member, DEFAULT_SCOPES);
    let (other, _) = app.user("other@example.com", Role::Member, DEFAULT_SCOPES);
    let prospect = prospect_of(&app, "Ada", member).await;
    let owner_of = |response: &Response| {
        response.body["data"]["relationships"]["owner"]["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let response = call(
        &app,
        &member_token,
        Method::PATCH,
        &format!("/api/v2/prospects/{prospect}/relationships/owner"),
        Some(user_linkage(other)),
    )
    .await;
    assert_role_denied(&response, "member owner relationship");
    let changed = app
        .patch(
            &format!("/api/v2/prospects/{prospect}"),
            owner_body(&prospect, other),
        )
        .await
        .expect(200);
    assert_eq!(owner_of(&changed), other.to_string());
    let relationship = app
        .patch(
            &format!("/api/v2/prospects/{prospect}/relationships/owner"),
            user_linkage(member),
        )
        .await
        .expect(200);
    assert_eq!(relationship.body["data"]["id"], member.to_string());
    let shown = app
        .get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
    assert_eq!(owner_of(&shown), member.to_string());
    // The admin may create a prospect for someone else, and the owner's rights follow.
    let gift = json!({"data": {"type": "prospect", "attributes": {"firstName": "Gift"},
        "relationships": {"owner": {"data": {"type": "user", "id": member.to_string()}}}}});
    let gift = app.post("/api/v2/prospects", gift).await.expect(201).id();
    call(
        &app,
        &member_token,
        Method::PATCH,
        &format!("/api/v2/prospects/{gift}"),
        Some(patch_prospect_body(&gift)),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/api/v2/prospects/{gift}/relationships/owner"),
        user_linkage(other),
    )
    .await
    .expect(200);
    let response = call(
        &app,
        &member_token,
        Method::PATCH,
        &format!("/api/v2/prospects/{gift}"),
        Some(patch_prospect_body(&gift)),
    )
    .await;
    assert_role_denied(&response, "after the owner changed");
}

// ---------------------------------------------------------------------------------------------
// 3. Tokens at rest and in logs
// ---------------------------------------------------------------------------------------------

backend_tests!(tokens_are_stored_only_as_hashes);

async fn tokens_are_stored_only_as_hashes(app: TestApp) {
    let (_, member_token) = app.user("member@example.com", Role::Member, DEFAULT_SCOPES);
    let rows: Vec<ApiToken> = api_tokens::table
        .select(ApiToken::as_select())
        .load(&mut *app.conn())
        .expect("tokens");
    assert_eq!(rows.len(), 2);
    for plain in [&app.admin_token, &member_token] {
        let hash = phonebook::auth::hash_token(plain);
        assert!(rows.iter().any(|row| row.token_hash == hash));
        for row in &rows {
            let stored = format!("{row:?}");
            assert!(
                !stored.contains(plain.as_str()),
                "plaintext token stored: {stored}"
            );
            let secret = plain.trim_start_matches("pb_");
            assert!(!stored.contains(secret), "token body stored: {stored}");
        }
    }
    for row in &rows {
        assert_eq!(row.token_hash.len(), 64);
        assert!(row.token_hash.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}

/// A temporary SQLite database for the command line.
struct CliDatabase {
    _dir: tempfile::TempDir,
    url: String,
}

impl CliDatabase {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("cli.db").display());
        CliDatabase { _dir: dir, url }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_phonebook"));
        command
            .args(args)
            .env("DATABASE_URL", &self.url)
            .env_remove("PHONEBOOK_BOOTSTRAP_TOKEN")
            .env_remove("PHONEBOOK_RATE_LIMIT")
            .env_remove("RUST_LOG");
        command
    }

    /// Runs a command to completion: (success, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let output = self.command(args).output().expect("run phonebook");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn create_user(&self, email: &str, role: &str) {
        let (ok, _, stderr) = self.run(&[
            "user", "create", "--name", email, "--email", email, "--role", role,
        ]);
        assert!(ok, "user create: {stderr}");
    }

    fn create_token(&self, email: &str, extra: &[&str]) -> String {
        let mut args = vec!["token", "create", "--email", email];
        args.extend_from_slice(extra);
        let (ok, token, stderr) = self.run(&args);
        assert!(ok, "token create: {stderr}");
        assert!(
            !token.is_empty() && !token.contains(char::is_whitespace),
            "{token:?}"
        );
        token
    }

    fn tokens(&self) -> Vec<ApiToken> {
        let pool = phonebook::db::pool(
            &phonebook::db::DatabaseUrl::parse(&self.url).expect("url"),
            phonebook::db::PoolOptions {
                size: 1,
                timeout: Duration::from_secs(10),
                statement_counter: None,
                on_connect: Some(phonebook::auth::credentials::listen_for_revocations),
                min_idle: 1,
            },
        )
        .expect("pool");
        let mut conn = pool.get().expect("connection");
        api_tokens::table
            .select(ApiToken::as_select())
            .load(&mut *conn)
            .expect("tokens")
    }
}

/// One HTTP/1.1 request over a fresh connection: (status, raw response head and body).
fn http(port: u16, method: &str, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, response)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("free port")
}

/// Runs `phonebook serve` with `rust_log`, sends requests carrying tokens (valid, invalid, in
/// the query string, in a JSON body), stops it and checks that no token text appears in what
/// it wrote.
fn serve_and_check_logs(rust_log: &str) {
    let db = CliDatabase::new();
    db.create_user("admin@example.com", "admin");
    let token = db.create_token("admin@example.com", &[]);
    let invalid = phonebook::auth::generate_token();
    let port = free_port();
    let mut server = db
        .command(&["serve"])
        .env("PHONEBOOK_BIND", format!("127.0.0.1:{port}"))
        .env("PHONEBOOK_RATE_LIMIT", "2")
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stderr = server.stderr.take().expect("stderr");
    let stdout = server.stdout.take().expect("stdout");
    let collect = |pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(pipe).lines() {
                match line {
                    Ok(line) => lines.push(line),
                    Err(_) => break,
                }
            }
            lines.join("\n")
        })
    };
    let stderr = collect(Box::new(stderr));
    let stdout = collect(Box::new(stdout));
    let mut ready = false;
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let bearer = format!("Bearer {token}");
    let invalid_bearer = format!("Bearer {invalid}");
    let mut statuses = Vec::new();
    if ready {
        statuses = vec![
            http(
                port,
                "GET",
                "/api/v2/prospects",
                &[("Authorization", &bearer)],
            )
            .0,
            http(
                port,
                "GET",
                "/api/v2/prospects",
                &[("Authorization", &invalid_bearer)],
            )
            .0,
            http(
                port,
                "GET",
                &format!("/api/v2/prospects?access_token={token}"),
                &[],
            )
            .0,
            http(
                port,
                "GET",
                &format!("/api/v2/prospects?access_token={token}"),
                &[("Authorization", &bearer)],
            )
            .0,
            // Third authenticated request: over the limit of 2.
            http(port, "GET", "/api/v2", &[("Authorization", &bearer)]).0,
        ];
    }
    server.kill().expect("stop serve");
    server.wait().expect("wait for serve");
    let (stderr, stdout) = (
        stderr.join().expect("stderr"),
        stdout.join().expect("stdout"),
    );
    assert!(ready, "serve did not start: {stderr}");
    assert_eq!(statuses, [200, 401, 401, 400, 429], "{stderr}");
    // The capture works: the access log is there.
    assert!(
        stderr.contains("GET /api/v2/prospects 200"),
        "no access log captured: {stderr}"
    );
    for (label, secret) in [("valid token", &token), ("invalid token", &invalid)] {
        let body = secret.trim_start_matches("pb_");
        for (stream, text) in [("stderr", &stderr), ("stdout", &stdout)] {
            assert!(
                !text.contains(body),
                "{label} in {stream} (RUST_LOG={rust_log}):\n{text}"
            );
        }
    }
}

#[test]
fn tokens_never_appear_in_logs() {
    serve_and_check_logs("info");
}

#[test]
fn tokens_never_appear_in_debug_logs() {
    serve_and_check_logs("debug");
}

// ---------------------------------------------------------------------------------------------
// 4. The `token` command line
// ---------------------------------------------------------------------------------------------

#[test]
fn token_create_rejects_unknown_scopes() {
    let db = CliDatabase::new();
    db.create_user("member@example.com", "member");
    for scopes in [
        "users.write",
        "users.delete",
        "phoneNumbers.read bogus",
        "prospects.READ",
        "prospects",
        "phonenumbers.read",
        "",
    ] {
        let (ok, stdout, stderr) = db.run(&[
            "token",
            "create",
            "--email",
            "member@example.com",
            "--scopes",
            scopes,
        ]);
        assert!(!ok, "{scopes:?} accepted: {stdout}");
        assert!(stdout.is_empty(), "{scopes:?} printed a token: {stdout}");
        assert!(!stderr.is_empty(), "{scopes:?}: no explanation");
    }
    let (_, _, stderr) = db.run(&[
        "token",
        "create",
        "--email",
        "member@example.com",
        "--scopes",
        "users.write",
    ]);
    assert!(
        stderr.contains("users.write"),
        "the error should name the scope: {stderr}"
    );
    assert!(db.tokens().is_empty(), "a token was created");
    // Known scopes are stored as given; no --scopes means the default set.
    db.create_token(
        "member@example.com",
        &["--scopes", "phoneNumbers.all prospects.read"],
    );
    db.create_token("member@example.com", &[]);
    let mut stored: Vec<String> = db.tokens().into_iter().map(|token| token.scopes).collect();
    stored.sort();
    assert_eq!(stored, ["phoneNumbers.all prospects.read", DEFAULT_SCOPES]);
}

#[actix_web::test]
async fn token_create_expires_in() {
    let db = CliDatabase::new();
    db.create_user("member@example.com", "member");
    let short = db.create_token("member@example.com", &["--expires-in", "1s"]);
    let long = db.create_token("member@example.com", &["--expires-in", "30d"]);
    let forever = db.create_token("member@example.com", &[]);
    let tokens = db.tokens();
    let expiry = |plain: &str| {
        let hash = phonebook::auth::hash_token(plain);
        tokens
            .iter()
            .find(|row| row.token_hash == hash)
            .expect("stored")
            .expires_at
    };
    let now = phonebook::clock::now();
    let in_30_days = expiry(&long).expect("30d expiry") - now;
    assert!(
        (in_30_days - chrono::Duration::days(30))
            .num_seconds()
            .abs()
            <= 60,
        "{in_30_days}"
    );
    assert_eq!(expiry(&forever), None);
    // The 1 s token is served, then refused once its second has passed.
    let state = actix_web::web::Data::new(
        phonebook::state::AppState::new(
            phonebook::db::pool(
                &phonebook::db::DatabaseUrl::parse(&db.url).unwrap(),
                phonebook::db::PoolOptions {
                    size: 2,
                    timeout: Duration::from_secs(10),
                    statement_counter: None,
                    on_connect: Some(phonebook::auth::credentials::listen_for_revocations),
                    min_idle: 1,
                },
            )
            .unwrap(),
            crate::helpers::test_config(&db.url),
        )
        .expect("state"),
    );
    let service = actix_web::test::init_service(phonebook::router::build(state)).await;
    let get = |token: &str| {
        actix_web::test::TestRequest::get()
            .uri("/api/v2")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request()
    };
    let deadline = expiry(&short).expect("1s expiry");
    // Created (before `now`) with one second to live.
    assert!(
        deadline <= now + chrono::Duration::seconds(1)
            && deadline > now - chrono::Duration::seconds(60),
        "{deadline} vs {now}"
    );
    while phonebook::clock::now() <= deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let expired = actix_web::test::call_service(&service, get(&short)).await;
    assert_eq!(expired.status().as_u16(), 401);
    assert_eq!(
        expired
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some(INVALID_TOKEN)
    );
    for live in [&long, &forever] {
        let response = actix_web::test::call_service(&service, get(live)).await;
        assert_eq!(response.status().as_u16(), 200);
    }
    // `token revoke` ends every token of the user at once.
    let (ok, _, stderr) = db.run(&["token", "revoke", "--email", "member@example.com"]);
    assert!(ok, "{stderr}");
    for revoked in [&long, &forever] {
        let response = actix_web::test::call_service(&service, get(revoked)).await;
        assert_eq!(response.status().as_u16(), 401);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Rate limit
// ---------------------------------------------------------------------------------------------

/// Apps with a rate limit of 3 per hour.
fn rate_limit_of_3(config: &mut Config) {
    config.rate_limit_per_hour = 3;
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// (limit, remaining, reset) from the `X-RateLimit-*` headers.
#[track_caller]
fn rate(response: &Response) -> (u32, u32, u64) {
    let number = |name: &str| -> u64 {
        response
            .header(name)
            .unwrap_or_else(|| panic!("no {name} on a {} response", response.status))
            .parse()
            .unwrap_or_else(|_| panic!("{name} is not an integer"))
    };
    (
        number("x-ratelimit-limit") as u32,
        number("x-ratelimit-remaining") as u32,
        number("x-ratelimit-reset"),
    )
}

/// 3 per hour: one request comes back every 1200 s.
const INTERVAL: u64 = 1200;

backend_tests!(
    with rate_limit_of_3;
    rate_limit_headers_exhaustion_and_retry_after,
    rate_limit_is_per_user_across_tokens,
);

async fn rate_limit_headers_exhaustion_and_retry_after(app: TestApp) {
    let token = app.admin_token.clone();
    // 401s are not counted and carry no rate headers.
    for _ in 0..5 {
        let response = call(&app, "pb_unknown", Method::GET, "/api/v2", None)
            .await
            .expect(401);
        assert!(response.header("x-ratelimit-limit").is_none());
        let response = app
            .send(Method::GET, "/api/v2", None, None, &[])
            .await
            .expect(401);
        assert!(response.header("x-ratelimit-remaining").is_none());
    }
    // Every authenticated response carries the headers, whatever its status.
    let start = unix_now();
    let first = call(&app, &token, Method::GET, "/api/v2", None)
        .await
        .expect(200);
    let second = call(&app, &token, Method::GET, "/api/v2/prospects/999999", None)
        .await
        .expect(404);
    let third = call(&app, &token, Method::GET, "/api/v2/prospects?bogus=1", None)
        .await
        .expect(400);
    let end = unix_now();
    for (used, response) in [(1, &first), (2, &second), (3, &third)] {
        let (limit, remaining, reset) = rate(response);
        assert_eq!(limit, 3);
        assert_eq!(remaining, 3 - used);
        // Back at 3 once the `used` requests have come back, one per 1200 s.
        assert!(
            reset >= start + used as u64 * INTERVAL - 1
                && reset <= end + used as u64 * INTERVAL + 1,
            "request {used}: reset {reset}, now {start}..{end}"
        );
    }
    let limited = call(&app, &token, Method::GET, "/api/v2", None)
        .await
        .expect(429);
    assert_eq!(limited.error_code(), "rateLimitExceeded");
    let retry_after = limited.header("retry-after").expect("Retry-After");
    assert!(
        retry_after.bytes().all(|b| b.is_ascii_digit()),
        "whole seconds: {retry_after}"
    );
    let retry_after: u64 = retry_after.parse().unwrap();
    assert!(
        (1..=INTERVAL).contains(&retry_after) && retry_after >= INTERVAL - 5,
        "{retry_after}"
    );
    let (limit, remaining, reset) = rate(&limited);
    assert_eq!((limit, remaining), (3, 0));
    // Full again when the awaited request and the two after it have come back.
    let now = unix_now();
    assert!(
        reset + 2 >= now + retry_after + 2 * INTERVAL
            && reset <= now + retry_after + 2 * INTERVAL + 2,
        "reset {reset}, retry after {retry_after}, now {now}"
    );
    assert!(reset <= start + 3 * INTERVAL + 2);
    // Still limited, whatever the route or method (and nothing is written).
    let create = json!({"data": {"type": "prospect", "attributes": {"firstName": "Eve"}}});
    let refused = call(
        &app,
        &token,
        Method::POST,
        "/api/v2/prospects",
        Some(create),
    )
    .await
    .expect(429);
    assert_eq!(refused.error_code(), "rateLimitExceeded");
    assert!(refused.header("retry-after").is_some());
    assert_eq!(app.conn_prospect_count(), 0);
}

async fn rate_limit_is_per_user_across_tokens(app: TestApp) {
    let admin = admin_id(&app).await; // 1 of 3
    let second = extra_token(&app, admin, "prospects.read");
    let third = extra_token(&app, admin, "phoneNumbers.read");
    let (_, member) = app.user("member@example.com", Role::Member, DEFAULT_SCOPES);
    let response = call(&app, &second, Method::GET, "/api/v2/prospects", None)
        .await
        .expect(200);
    assert_eq!(rate(&response).1, 1);
    // A scope refusal is authenticated too: it counts and shows the headers.
    let response = call(&app, &third, Method::GET, "/api/v2/prospects", None)
        .await
        .expect(403);
    assert_eq!(rate(&response).1, 0);
    for token in [&app.admin_token, &second, &third] {
        let response = call(&app, token, Method::GET, "/api/v2", None)
            .await
            .expect(429);
        assert_eq!(response.error_code(), "rateLimitExceeded");
    }
    // Another user has a budget of its own.
    let response = call(&app, &member, Method::GET, "/api/v2", None)
        .await
        .expect(200);
    assert_eq!(rate(&response).0, 3);
    assert_eq!(rate(&response).1, 2);
    let response = call(
        &app,
        &member,
        Method::DELETE,
        "/api/v2/prospects/999999",
        None,
    )
    .await
    .expect(404);
    assert_eq!(rate(&response).1, 1);
}

backend_tests!(no_rate_limit_headers_when_the_limiter_is_off);

async fn no_rate_limit_headers_when_the_limiter_is_off(app: TestApp) {
    assert_eq!(app.state.config.rate_limit_per_hour, 0);
    for _ in 0..20 {
        let response = app.get("/api/v2/prospects").await.expect(200);
        for name in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "retry-after",
        ] {
            assert!(
                response.header(name).is_none(),
                "{name} sent with the limiter off"
            );
        }
    }
}

#[test]
fn rate_limit_setting() {
    let config = |value: &str| {
        let value = value.to_owned();
        phonebook::config::Config::from_lookup(move |name| match name {
            "DATABASE_URL" => Some("sqlite://unused.db".into()),
            "PHONEBOOK_RATE_LIMIT" => Some(value.clone()),
            _ => None,
        })
    };
    assert_eq!(config("0").unwrap().rate_limit_per_hour, 0);
    assert_eq!(config("250").unwrap().rate_limit_per_hour, 250);
    assert!(config("-1").is_err());
    assert!(config("lots").is_err());
    let default = phonebook::config::Config::from_lookup(|name| {
        (name == "DATABASE_URL").then(|| "sqlite://unused.db".to_owned())
    })
    .unwrap();
    assert_eq!(default.rate_limit_per_hour, 10_000);
}

impl TestApp {
    /// Prospects in the database, counted directly (no request, so no rate limit).
    fn conn_prospect_count(&self) -> i64 {
        phonebook::db::schema::prospects::table
            .count()
            .get_result(&mut *self.conn())
            .expect("count")
    }
}

/// A body limit of 100 bytes and a rate limit of 1 per hour.
fn body_limit_of_100_and_rate_limit_of_1(config: &mut Config) {
    config.max_body_bytes = 100;
    config.rate_limit_per_hour = 1;
}

backend_tests!(
    with body_limit_of_100_and_rate_limit_of_1;
    auth_and_rate_limit_come_before_the_body,
);

/// Authentication and the rate limit come before the body is read: a body over the size limit
/// is 401 without a valid token and 429 past the limit, and 413 only for a caller let in.
async fn auth_and_rate_limit_come_before_the_body(app: TestApp) {
    let big = json!({"data": {"type": "prospect", "attributes": {"firstName": "x".repeat(200)}}});
    let token = app.admin_token.clone();
    let unknown = app
        .send(
            Method::POST,
            "/api/v2/prospects",
            Some("pb_unknown"),
            Some(&big),
            &[],
        )
        .await;
    assert_unauthorized(&unknown, INVALID_TOKEN, "unknown token, big body");
    let missing = app
        .send(Method::POST, "/api/v2/prospects", None, Some(&big), &[])
        .await;
    assert_unauthorized(&missing, CHALLENGE, "no token, big body");
    let ops = json!({"atomic:operations": [{"op": "add", "data": big["data"]}]});
    let unknown = app
        .send(
            Method::POST,
            "/api/v2/operations",
            Some("pb_unknown"),
            Some(&ops),
            &[],
        )
        .await;
    assert_unauthorized(&unknown, INVALID_TOKEN, "unknown token, big operations");
    let too_large = app
        .send(
            Method::POST,
            "/api/v2/prospects",
            Some(&token),
            Some(&big),
            &[],
        )
        .await
        .expect(413);
    assert_eq!(rate(&too_large).1, 0);
    let limited = app
        .send(
            Method::PATCH,
            "/api/v2/prospects/1",
            Some(&token),
            Some(&big),
            &[],
        )
        .await
        .expect(429);
    assert_eq!(limited.error_code(), "rateLimitExceeded");
}
