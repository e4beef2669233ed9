//! HTTP details of API.md section 13: `HEAD` wherever `GET` is (the GET's status and headers, no
//! body), and links that are RFC 3986 URIs (brackets percent-encoded) and lead where they say.

use std::collections::BTreeSet;

use actix_web::http::Method;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use phonebook::config::Config;

use crate::backend_tests;
use crate::helpers::{raw, Response, TestApp};

backend_tests!(with generous_limit; head_answers_every_get_route_as_its_get_does);
backend_tests!(with tight_limit; head_counts_against_the_rate_limit);
backend_tests!(
    conditional_head_answers_304,
    every_link_is_a_uri_and_leads_to_its_resource,
    links_keep_the_query_as_sent_with_brackets_encoded
);

/// The limiter on (the suite runs without it), so that its headers are compared too.
fn generous_limit(config: &mut Config) {
    config.rate_limit_per_hour = 1_000;
}

fn tight_limit(config: &mut Config) {
    config.rate_limit_per_hour = 4;
}

/// Headers that differ between any two requests: the generated request id (we send our own), and
/// the rate limiter's state, which each request moves on.
const PER_REQUEST: [&str; 3] = ["x-request-id", "x-ratelimit-remaining", "x-ratelimit-reset"];

fn comparable_headers(response: &Response) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = response
        .headers
        .iter()
        .filter(|(name, _)| !PER_REQUEST.contains(&name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or("<binary>").to_owned(),
            )
        })
        .collect();
    headers.sort();
    headers
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Response {
    raw(app, method, path, token, headers, None).await
}

/// GET then HEAD of `path`: the same status, the same headers (`Content-Length` included: the
/// HEAD's body declares the GET body's length), one more request counted, and no body.
async fn assert_head_like_get(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
) {
    let mut headers = vec![("X-Request-Id", "head-check")];
    headers.extend_from_slice(extra);
    let get = send(app, Method::GET, path, token, &headers).await;
    let head = send(app, Method::HEAD, path, token, &headers).await;
    assert_eq!(head.status, get.status, "HEAD {path}");
    assert_eq!(
        comparable_headers(&head),
        comparable_headers(&get),
        "HEAD {path}"
    );
    assert_eq!(head.header("x-request-id"), Some("head-check"));
    assert!(
        head.text.is_empty(),
        "HEAD {path} has a body: {}",
        head.text
    );
    if get.status != 304 {
        assert_eq!(
            head.declared_length,
            Some(get.text.len() as u64),
            "HEAD {path}: Content-Length is the GET body's"
        );
    }
    let remaining = |response: &Response| {
        response
            .header("x-ratelimit-remaining")
            .map(|value| value.parse::<i64>().expect("a number"))
    };
    if token.is_some() && get.status != 401 {
        assert_eq!(
            remaining(&head),
            remaining(&get).map(|left| left - 1),
            "HEAD {path} counts as a request"
        );
    } else {
        assert_eq!(remaining(&head), None);
    }
}

async fn head_answers_every_get_route_as_its_get_does(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let number = app
        .number(
            &prospect,
            json!({"number": "+18889387356", "phoneType": "work"}),
        )
        .await
        .expect(201)
        .id();
    let entry = app.get("/api/v2").await.expect(200);
    let user = entry.body["meta"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app.admin_token.clone();
    let mut covered = 0;
    for (path, methods) in phonebook::router::ROUTES {
        assert_eq!(
            methods.contains(&"GET"),
            methods.contains(&"HEAD"),
            "{path}: HEAD wherever GET is"
        );
        if !methods.contains(&"GET") {
            continue;
        }
        let id = if path.starts_with("/api/v2/phoneNumbers/") {
            &number
        } else if path.starts_with("/api/v2/prospects/") {
            &prospect
        } else {
            &user
        };
        let concrete = path.replace("{id}", id);
        // As it is, with JSON:API's Accept, without a token, and for a record that does not exist.
        assert_head_like_get(&app, &concrete, Some(&token), &[]).await;
        assert_head_like_get(
            &app,
            &concrete,
            Some(&token),
            &[("Accept", "application/vnd.api+json")],
        )
        .await;
        assert_head_like_get(&app, &concrete, None, &[]).await;
        if path.contains("{id}") {
            assert_head_like_get(&app, &path.replace("{id}", "99999"), Some(&token), &[]).await;
        }
        // Errors of the query and of negotiation.
        assert_head_like_get(&app, &format!("{concrete}?foo=1"), Some(&token), &[]).await;
        assert_head_like_get(
            &app,
            &concrete,
            Some(&token),
            &[("Accept", "application/vnd.api+json; charset=utf-8")],
        )
        .await;
        covered += 1;
    }
    assert!(covered >= 12, "{covered} GET routes");
    // With the query parameters each kind of GET takes, and the profile of a paginated response.
    for path in [
        "/api/v2/phoneNumbers?include=prospect.owner&sort=-updatedAt&page[size]=1&count=true".to_owned(),
        format!("/api/v2/phoneNumbers?filter%5Bprospect%5D%5Bid%5D={prospect}&fields[phoneNumber]=number"),
        format!("/api/v2/prospects/{prospect}/phoneNumbers?sort=order&provideAuthorizationMeta=true"),
        format!("/api/v2/prospects/{prospect}?include=phoneNumbers,owner"),
        format!("/api/v2/phoneNumbers/{number}/prospect?fields[prospect]=firstName"),
        "/api/v2/users?filter[role]=admin&sort=-email".to_owned(),
        "/api/v2/phoneNumbers?page[size]=1001".to_owned(),
    ] {
        assert_head_like_get(&app, &path, Some(&token), &[]).await;
    }
    let head = send(
        &app,
        Method::HEAD,
        "/api/v2/phoneNumbers",
        Some(&token),
        &[],
    )
    .await;
    assert!(head
        .header("content-type")
        .is_some_and(|value| value.contains("profile=")));
    assert_eq!(head.header("vary"), Some("Accept"));
    let head = send(
        &app,
        Method::HEAD,
        &format!("/api/v2/phoneNumbers/{number}"),
        Some(&token),
        &[],
    )
    .await
    .expect(200);
    assert!(head.header("etag").is_some());
}

async fn head_counts_against_the_rate_limit(app: TestApp) {
    let token = app.admin_token.clone();
    let mut left = Vec::new();
    for method in [Method::GET, Method::HEAD, Method::HEAD, Method::GET] {
        let response = send(&app, method, "/api/v2/users", Some(&token), &[])
            .await
            .expect(200);
        assert_eq!(response.header("x-ratelimit-limit"), Some("4"));
        left.push(response.header("x-ratelimit-remaining").unwrap().to_owned());
    }
    assert_eq!(left, ["3", "2", "1", "0"]);
    let head = send(&app, Method::HEAD, "/api/v2/users", Some(&token), &[])
        .await
        .expect(429);
    let get = send(&app, Method::GET, "/api/v2/users", Some(&token), &[])
        .await
        .expect(429);
    assert!(head.text.is_empty());
    assert!(head.header("retry-after").is_some());
    let names = |response: &Response| -> BTreeSet<String> {
        response
            .headers
            .keys()
            .map(|name| name.to_string())
            .collect()
    };
    assert_eq!(names(&head), names(&get));
}

async fn conditional_head_answers_304(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let number = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    for path in [
        format!("/api/v2/phoneNumbers/{number}"),
        format!("/api/v2/prospects/{prospect}"),
        format!("/api/v2/phoneNumbers/{number}/prospect"),
    ] {
        let token = app.admin_token.clone();
        let get = send(&app, Method::GET, &path, Some(&token), &[])
            .await
            .expect(200);
        let tag = get.header("etag").expect("ETag").to_owned();
        for matching in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"other\", {tag}"),
            "*".into(),
        ] {
            let head = send(
                &app,
                Method::HEAD,
                &path,
                Some(&token),
                &[("If-None-Match", &matching)],
            )
            .await
            .expect(304);
            assert_eq!(head.header("etag"), Some(tag.as_str()));
            assert!(head.text.is_empty());
            let get = send(
                &app,
                Method::GET,
                &path,
                Some(&token),
                &[("If-None-Match", &matching)],
            )
            .await
            .expect(304);
            assert_eq!(comparable_headers(&head), comparable_headers(&get));
        }
        let head = send(
            &app,
            Method::HEAD,
            &path,
            Some(&token),
            &[("If-None-Match", "\"other\"")],
        )
        .await
        .expect(200);
        assert_eq!(head.header("etag"), Some(tag.as_str()));
        assert_eq!(head.declared_length, Some(get.text.len() as u64));
    }
}

/// Every link of a document, at any depth: the members of each `links` object (but the error
/// type links, which name specifications) and the collection URLs of the entry point's `meta`.
fn links_of(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (name, member) in map {
                match (name.as_str(), member) {
                    ("links" | "collections", Value::Object(links)) => {
                        for (link_name, link) in links {
                            if let (false, Some(href)) = (link_name == "type", link.as_str()) {
                                out.push(href.to_owned());
                            }
                        }
                    }
                    _ => links_of(member, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| links_of(item, out)),
        _ => {}
    }
}

/// Panics unless `link` is an absolute RFC 3986 URI whose query, decoded, names no parameter twice;
/// answers its path and query, for following it.
fn checked(link: &str) -> String {
    let uri = fluent_uri::Uri::parse(link)
        .unwrap_or_else(|error| panic!("{link} is not an RFC 3986 URI: {error}"));
    assert!(
        uri.scheme().as_str() == "http" && uri.authority().is_some(),
        "{link} is not absolute"
    );
    let query = uri.query().map(|query| query.as_str()).unwrap_or("");
    assert!(!link.contains('[') && !link.contains(']'), "{link}");
    let names: Vec<String> = query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let name = piece.split_once('=').map_or(piece, |(name, _)| name);
            percent_decode_str(name).decode_utf8_lossy().into_owned()
        })
        .collect();
    // Only the items of a `filter[f][]` list share a name, each with its own value.
    let pieces: BTreeSet<&str> = query.split('&').collect();
    let distinct: BTreeSet<&String> = names.iter().filter(|name| !name.ends_with("[]")).collect();
    let singles = names.iter().filter(|name| !name.ends_with("[]")).count();
    assert_eq!(distinct.len(), singles, "{link} repeats a parameter");
    assert_eq!(
        pieces.len(),
        query.split('&').count(),
        "{link} repeats a parameter"
    );
    let at = link.find("/api/v2").expect("a link under /api/v2");
    link[at..].to_owned()
}

async fn every_link_is_a_uri_and_leads_to_its_resource(app: TestApp) {
    let mut prospects = Vec::new();
    for (name, numbers) in [
        ("Ada", ["+18889387356", "+14155550100", "+442079460958"]),
        ("Grace", ["+18005550199", "+33142685300", "+4930901820"]),
    ] {
        let prospect = app.prospect(name).await;
        for (at, number) in numbers.iter().enumerate() {
            let phone_type = ["work", "home", "mobile"][at];
            app.number(
                &prospect,
                json!({"number": number, "phoneType": phone_type}),
            )
            .await
            .expect(201);
        }
        prospects.push(prospect);
    }
    let (ada, grace) = (&prospects[0], &prospects[1]);
    let number = app
        .get("/api/v2/phoneNumbers?page[size]=1")
        .await
        .expect(200)
        .body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let entry = app.get("/api/v2").await.expect(200);
    let admin = entry.body["meta"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut starts = vec![
        "/api/v2".to_owned(),
        "/api/v2/phoneNumbers".to_owned(),
        "/api/v2/phoneNumbers?page[size]=1".to_owned(),
        "/api/v2/phoneNumbers?page%5Bsize%5D=2&sort=-updatedAt,number&include=prospect.owner".to_owned(),
        format!("/api/v2/phoneNumbers?filter[prospect][id]={ada},{grace}&filter[phoneType]=work,home&page[size]=1&count=true"),
        format!("/api/v2/phoneNumbers?filter%5Bprospect%5D%5Bid%5D={ada}&filter[order]=0..1&page[size]=1&page[size]=1"),
        "/api/v2/phoneNumbers?newFilterSyntax=true&filter[order][gte]=1&filter[phoneType][]=home&filter[phoneType][]=mobile&page[size]=1".to_owned(),
        "/api/v2/phoneNumbers?filter[number]=+18889387356&fields[phoneNumber]=number,prospect".to_owned(),
        "/api/v2/phoneNumbers?filter[createdAt]=2000-01-01T00:00:00%2B02:00..inf&sort=-id&page[size]=2".to_owned(),
        "/api/v2/prospects?include=phoneNumbers,owner&sort=firstName&page[size]=1&provideAuthorizationMeta=true".to_owned(),
        format!("/api/v2/prospects?filter[firstName]=Ada,Grace&filter[owner][id]={admin}&fields[prospect]=firstName,phoneNumbers,owner&page[size]=1"),
        format!("/api/v2/prospects/{ada}/phoneNumbers?sort=-order&page[size]=1&include=prospect"),
        format!("/api/v2/prospects/{grace}/phoneNumbers?filter[phoneType]=mobile"),
        format!("/api/v2/prospects/{ada}?include=phoneNumbers"),
        format!("/api/v2/prospects/{ada}/owner"),
        format!("/api/v2/prospects/{ada}/relationships/phoneNumbers"),
        format!("/api/v2/prospects/{ada}/relationships/owner"),
        format!("/api/v2/phoneNumbers/{number}?include=prospect.owner"),
        format!("/api/v2/phoneNumbers/{number}/prospect?include=owner"),
        format!("/api/v2/phoneNumbers/{number}/relationships/prospect"),
        "/api/v2/users?sort=-email&page[size]=1&filter[role]=admin,member".to_owned(),
        format!("/api/v2/users/{admin}"),
    ];
    // A walk backwards too: `prev` from a page reached through `next`.
    let mut seen = BTreeSet::new();
    let mut followed = 0;
    while let Some(path) = starts.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let response = app.get(&path).await.expect(200);
        if path == "/api/v2/openapi.json" {
            continue; // `describedby`: not a JSON:API document.
        }
        let mut links = Vec::new();
        links_of(&response.body, &mut links);
        assert!(!links.is_empty(), "{path} has no links");
        for link in links {
            let target = checked(&link);
            // Follow everything of the starting documents, and the page links of the pages
            // reached, so cursors are followed in both directions.
            if target.contains("page%5B") || !seen.contains(&target) && seen.len() < 400 {
                starts.push(target);
            }
            followed += 1;
        }
    }
    assert!(followed > 200, "{followed} links checked");
    assert!(seen.iter().any(|path| path.contains("page%5Bbefore%5D")));
    assert!(seen.iter().any(|path| path.contains("page%5Bafter%5D")));
    // Location of a created resource.
    let created = app
        .number(ada, json!({"number": "+16175550123"}))
        .await
        .expect(201);
    checked(created.header("location").unwrap());
}

async fn links_keep_the_query_as_sent_with_brackets_encoded(app: TestApp) {
    // Two of each, so that every listing below has a second page.
    for _ in 0..2 {
        let prospect = app.prospect("Zoë \"Z\"").await;
        app.number(&prospect, json!({"number": "+18889387356"}))
            .await
            .expect(201);
        app.number(&prospect, json!({"number": "+18005550199"}))
            .await
            .expect(201);
    }
    let cases = [
        (
            "/api/v2/prospects?filter[firstName]=Zo%C3%AB%20%22Z%22&page[size]=1",
            "/api/v2/prospects?filter%5BfirstName%5D=Zo%C3%AB%20%22Z%22&page%5Bsize%5D=1",
        ),
        (
            "/api/v2/phoneNumbers?filter%5Bnumber%5D=+18889387356&page[size]=1&page%5Bsize%5D=1",
            "/api/v2/phoneNumbers?filter%5Bnumber%5D=+18889387356&page%5Bsize%5D=1",
        ),
        (
            "/api/v2/phoneNumbers?sort=-id&page[size]=1&sort=-id",
            "/api/v2/phoneNumbers?sort=-id&page%5Bsize%5D=1",
        ),
    ];
    for (request, expected_self) in cases {
        let response = app.get(request).await.expect(200);
        let self_link = checked(response.body["links"]["self"].as_str().unwrap());
        assert_eq!(self_link, expected_self);
        assert_eq!(
            response.body["data"].as_array().unwrap().len(),
            1,
            "{request}"
        );
        let first = checked(response.body["links"]["first"].as_str().unwrap());
        assert_eq!(first, expected_self);
        let next = checked(response.body["links"]["next"].as_str().unwrap());
        let (base, cursor) = next
            .rsplit_once("&page%5Bafter%5D=")
            .expect("a cursor last");
        assert_eq!(base, expected_self);
        assert!(!cursor.is_empty());
        let page = app.get(&next).await.expect(200);
        assert_eq!(page.body["data"].as_array().unwrap().len(), 1, "{next}");
        // The next page's own links, built from a request with an encoded cursor.
        let prev = checked(page.body["links"]["prev"].as_str().unwrap());
        assert!(
            prev.starts_with(&format!("{expected_self}&page%5Bbefore%5D=")),
            "{prev}"
        );
        assert_eq!(checked(page.body["links"]["self"].as_str().unwrap()), next);
    }
}
