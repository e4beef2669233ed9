//! Phone numbers that are right (issue 3): parsing and validation through the HTTP API, the
//! `number`/`rawNumber` precedence and the PATCH re-parse rules, duplicates, enums and
//! `statusChangedAt`, the contiguous `order` of a prospect's list after every kind of write, and
//! the same invariants under concurrent writers (API.md sections 2 and 9).

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use actix_web::http::Method;
use futures_util::future::join_all;
use serde_json::{json, Value};

use phonebook::config::Config;
use phonebook::domain::phone_number::{ExtensionInput, PhoneNumber};
use phonebook::models::phone_number::{NewPhoneNumber, ParsedColumns, PhoneNumberChanges};
use phonebook::models::{recorded, ModelError, Versioned};
use phonebook::models::{PhoneNumberRow, Prospect, ProspectPhone};

use crate::backend_tests;
use crate::helpers::{assert_invalid, Response, TestApp};

const NUMBERS: &str = "/api/v2/phoneNumbers";

/// `POST /phoneNumbers` with `attributes` on `prospect`.
async fn create(app: &TestApp, prospect: &str, attributes: Value) -> Response {
    app.number(prospect, attributes).await
}

async fn patch_number(app: &TestApp, id: &str, attributes: Value) -> Response {
    app.patch(
        &format!("{NUMBERS}/{id}"),
        json!({"data": {"type": "phoneNumber", "id": id, "attributes": attributes}}),
    )
    .await
}

/// The ids of a prospect's numbers in list order, after checking that their `order` values are
/// exactly `0..n-1` both in the database and over HTTP (`sort=order`, and the full linkage).
async fn list(app: &TestApp, prospect: &str) -> Vec<String> {
    let (rows, stored) = {
        let mut conn = app.conn();
        let id = prospect.parse().unwrap();
        let rows = PhoneNumberRow::of_prospects(&mut conn, &[id]).unwrap();
        let stored = Prospect::find(&mut conn, id)
            .unwrap()
            .map(|row| row.phones.0);
        (rows, stored)
    };
    if let Some(stored) = stored {
        let from_rows: Vec<ProspectPhone> = rows
            .iter()
            .map(|row| ProspectPhone::try_from(row).expect("a stored phoneType"))
            .collect();
        assert_eq!(stored, from_rows, "the list stored on prospect {prospect}");
    }
    let positions: Vec<i32> = rows.iter().map(|row| row.position).collect();
    assert_eq!(
        positions,
        (0..rows.len() as i32).collect::<Vec<_>>(),
        "order of prospect {prospect} is not 0..n-1"
    );
    let ids: Vec<String> = rows.iter().map(|row| row.id.to_string()).collect();
    let listed = app
        .get(&format!(
            "/api/v2/prospects/{prospect}/phoneNumbers?sort=order&page[size]=100"
        ))
        .await
        .expect(200);
    let over_http: Vec<(String, i64)> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|resource| {
            (
                resource["id"].as_str().unwrap().to_owned(),
                resource["attributes"]["order"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, i64)> = ids.iter().cloned().zip(0..).collect();
    assert_eq!(over_http, expected);
    let linkage = app
        .get(&format!(
            "/api/v2/prospects/{prospect}/relationships/phoneNumbers"
        ))
        .await
        .expect(200);
    let linked: Vec<String> = linkage.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|identifier| identifier["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(linked, ids);
    ids
}

/// Creates `count` distinct valid US numbers (`+1 201-555-NNNN` from `first` on) on `prospect`;
/// returns their ids.
async fn fill(app: &TestApp, prospect: &str, first: usize, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for index in first..first + count {
        let number = format!("201-555-{index:04}");
        ids.push(
            create(app, prospect, json!({"number": number}))
                .await
                .expect(201)
                .id(),
        );
    }
    ids
}

async fn prospect_etag(app: &TestApp, prospect: &str) -> String {
    app.get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200)
        .header("etag")
        .unwrap()
        .to_owned()
}

/// Whether `text` is a well-formed extension (1 to 10 ASCII digits).
fn is_extension(text: &str) -> bool {
    (1..=10).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// One create case: attributes sent, then the values expected back.
struct Case {
    attributes: Value,
    number: &'static str,
    country: Option<&'static str>,
    extension: Option<&'static str>,
    formatted: &'static str,
    line_type: &'static str,
}

fn case(
    attributes: Value,
    number: &'static str,
    country: Option<&'static str>,
    extension: Option<&'static str>,
    formatted: &'static str,
    line_type: &'static str,
) -> Case {
    Case {
        attributes,
        number,
        country,
        extension,
        formatted,
        line_type,
    }
}

fn valid_cases() -> Vec<Case> {
    vec![
        // US, national form with the default region (US) and with a hint, and international.
        case(
            json!({"number": "(888) 938-7356"}),
            "+18889387356",
            Some("US"),
            None,
            "+1 888-938-7356",
            "toll_free",
        ),
        case(
            json!({"number": "888.938.7356", "countryCode": "US"}),
            "+18889387356",
            Some("US"),
            None,
            "+1 888-938-7356",
            "toll_free",
        ),
        case(
            json!({"number": "888 938 7356", "countryCode": "us"}),
            "+18889387356",
            Some("US"),
            None,
            "+1 888-938-7356",
            "toll_free",
        ),
        case(
            json!({"number": "+1 (201) 555-0123"}),
            "+12015550123",
            Some("US"),
            None,
            "+1 201-555-0123",
            "fixed_line_or_mobile",
        ),
        case(
            json!({"number": "1-201-555-0123"}),
            "+12015550123",
            Some("US"),
            None,
            "+1 201-555-0123",
            "fixed_line_or_mobile",
        ),
        case(
            json!({"number": "011 44 20 7946 0958"}),
            "+442079460958",
            Some("GB"),
            None,
            "+44 20 7946 0958",
            "fixed_line",
        ),
        // A `+` number ignores the hint: the stored countryCode is the number's own region.
        case(
            json!({"number": "+1 888 938 7356", "countryCode": "GB"}),
            "+18889387356",
            Some("US"),
            None,
            "+1 888-938-7356",
            "toll_free",
        ),
        // GB
        case(
            json!({"number": "020 7946 0958", "countryCode": "GB"}),
            "+442079460958",
            Some("GB"),
            None,
            "+44 20 7946 0958",
            "fixed_line",
        ),
        case(
            json!({"number": "+44 20 7946 0958"}),
            "+442079460958",
            Some("GB"),
            None,
            "+44 20 7946 0958",
            "fixed_line",
        ),
        case(
            json!({"number": "+44 (0) 20 7946 0958"}),
            "+442079460958",
            Some("GB"),
            None,
            "+44 20 7946 0958",
            "fixed_line",
        ),
        case(
            json!({"number": "00 44 20 7946 0958", "countryCode": "DE"}),
            "+442079460958",
            Some("GB"),
            None,
            "+44 20 7946 0958",
            "fixed_line",
        ),
        case(
            json!({"number": "07400 123456", "countryCode": "GB"}),
            "+447400123456",
            Some("GB"),
            None,
            "+44 7400 123456",
            "mobile",
        ),
        case(
            json!({"number": "+44 7400 123456", "countryCode": "US"}),
            "+447400123456",
            Some("GB"),
            None,
            "+44 7400 123456",
            "mobile",
        ),
        case(
            json!({"number": "0800 890 567", "countryCode": "GB"}),
            "+44800890567",
            Some("GB"),
            None,
            "+44 800 890567",
            "toll_free",
        ),
        // IN
        case(
            json!({"number": "98765 43210", "countryCode": "IN"}),
            "+919876543210",
            Some("IN"),
            None,
            "+91 98765 43210",
            "mobile",
        ),
        case(
            json!({"number": "+91 98765 43210"}),
            "+919876543210",
            Some("IN"),
            None,
            "+91 98765 43210",
            "mobile",
        ),
        case(
            json!({"number": "011 2345 6789", "countryCode": "IN"}),
            "+911123456789",
            Some("IN"),
            None,
            "+91 11 2345 6789",
            "fixed_line",
        ),
        case(
            json!({"number": "+91 11 2345 6789"}),
            "+911123456789",
            Some("IN"),
            None,
            "+91 11 2345 6789",
            "fixed_line",
        ),
        // DE
        case(
            json!({"number": "030 1234567", "countryCode": "DE"}),
            "+49301234567",
            Some("DE"),
            None,
            "+49 30 1234567",
            "fixed_line",
        ),
        case(
            json!({"number": "+49 30 1234567"}),
            "+49301234567",
            Some("DE"),
            None,
            "+49 30 1234567",
            "fixed_line",
        ),
        case(
            json!({"number": "0049 30 1234567", "countryCode": "DE"}),
            "+49301234567",
            Some("DE"),
            None,
            "+49 30 1234567",
            "fixed_line",
        ),
        case(
            json!({"number": "01512 3456789", "countryCode": "DE"}),
            "+4915123456789",
            Some("DE"),
            None,
            "+49 1512 3456789",
            "mobile",
        ),
        case(
            json!({"number": "0800 1234567", "countryCode": "DE"}),
            "+498001234567",
            Some("DE"),
            None,
            "+49 800 1234567",
            "toll_free",
        ),
        // Extensions in every marker style.
        case(
            json!({"number": "(888) 938-7356 x123"}),
            "+18889387356",
            Some("US"),
            Some("123"),
            "+1 888-938-7356 ext. 123",
            "toll_free",
        ),
        case(
            json!({"number": "888-938-7356 ext 123"}),
            "+18889387356",
            Some("US"),
            Some("123"),
            "+1 888-938-7356 ext. 123",
            "toll_free",
        ),
        case(
            json!({"number": "888-938-7356 ext. 123"}),
            "+18889387356",
            Some("US"),
            Some("123"),
            "+1 888-938-7356 ext. 123",
            "toll_free",
        ),
        case(
            json!({"number": "888-938-7356 #123"}),
            "+18889387356",
            Some("US"),
            Some("123"),
            "+1 888-938-7356 ext. 123",
            "toll_free",
        ),
        case(
            json!({"number": "+44 20 7946 0958 EXT. 42"}),
            "+442079460958",
            Some("GB"),
            Some("42"),
            "+44 20 7946 0958 ext. 42",
            "fixed_line",
        ),
        case(
            json!({"number": "030 1234567 x9", "countryCode": "DE"}),
            "+49301234567",
            Some("DE"),
            Some("9"),
            "+49 30 1234567 ext. 9",
            "fixed_line",
        ),
        // The extension given both ways, agreeing; and given only as an attribute.
        case(
            json!({"number": "888-938-7356 x123", "extension": "123"}),
            "+18889387356",
            Some("US"),
            Some("123"),
            "+1 888-938-7356 ext. 123",
            "toll_free",
        ),
        case(
            json!({"number": "+18889387356", "extension": "1234567890"}),
            "+18889387356",
            Some("US"),
            Some("1234567890"),
            "+1 888-938-7356 ext. 1234567890",
            "toll_free",
        ),
        case(
            json!({"number": "+18889387356", "extension": null}),
            "+18889387356",
            Some("US"),
            None,
            "+1 888-938-7356",
            "toll_free",
        ),
        // Only rawNumber.
        case(
            json!({"rawNumber": "020 7946 0958", "countryCode": "GB"}),
            "+442079460958",
            Some("GB"),
            None,
            "+44 20 7946 0958",
            "fixed_line",
        ),
    ]
}

async fn check_valid_cases(app: &TestApp, cases: Vec<Case>) {
    for case in cases {
        let prospect = app.prospect("Case").await;
        let response = create(app, &prospect, case.attributes.clone()).await;
        let sent = &case.attributes;
        assert_eq!(response.status, 201, "{sent}: {}", response.text);
        let raw = sent
            .get("rawNumber")
            .or_else(|| sent.get("number"))
            .unwrap();
        assert_eq!(response.attr("number"), case.number, "{sent}");
        assert_eq!(response.attr("rawNumber"), raw, "{sent}");
        assert_eq!(response.attr("countryCode"), &json!(case.country), "{sent}");
        assert_eq!(response.attr("extension"), &json!(case.extension), "{sent}");
        assert_eq!(response.attr("formattedNumber"), case.formatted, "{sent}");
        assert_eq!(response.attr("lineType"), case.line_type, "{sent}");
        // What was stored is what was answered.
        let shown = app
            .get(&format!("{NUMBERS}/{}", response.id()))
            .await
            .expect(200);
        assert_eq!(
            shown.body["data"]["attributes"],
            response.body["data"]["attributes"]
        );
    }
}

/// Apps whose default region is GB, IN or DE.
fn default_region_gb(config: &mut Config) {
    config.default_region = "GB".into();
}

fn default_region_in(config: &mut Config) {
    config.default_region = "IN".into();
}

fn default_region_de(config: &mut Config) {
    config.default_region = "DE".into();
}

backend_tests!(with default_region_gb; default_region_gb_parses_national_numbers_as_gb);
backend_tests!(with default_region_in; default_region_in_parses_national_numbers_as_in);
backend_tests!(with default_region_de; default_region_de_parses_national_numbers_as_de);

async fn default_region_gb_parses_national_numbers_as_gb(app: TestApp) {
    check_valid_cases(
        &app,
        vec![
            case(
                json!({"number": "020 7946 0958"}),
                "+442079460958",
                Some("GB"),
                None,
                "+44 20 7946 0958",
                "fixed_line",
            ),
            case(
                json!({"number": "07400 123456 ext 7"}),
                "+447400123456",
                Some("GB"),
                Some("7"),
                "+44 7400 123456 ext. 7",
                "mobile",
            ),
            case(
                json!({"number": "00 1 888 938 7356"}),
                "+18889387356",
                Some("US"),
                None,
                "+1 888-938-7356",
                "toll_free",
            ),
            case(
                json!({"number": "888 938 7356", "countryCode": "US"}),
                "+18889387356",
                Some("US"),
                None,
                "+1 888-938-7356",
                "toll_free",
            ),
        ],
    )
    .await;
    // A US national number is not a GB number.
    let prospect = app.prospect("Region").await;
    assert_invalid(
        create(&app, &prospect, json!({"number": "(888) 938-7356"})).await,
        "/data/attributes/number",
    );
}

async fn default_region_in_parses_national_numbers_as_in(app: TestApp) {
    check_valid_cases(
        &app,
        vec![
            case(
                json!({"number": "098765 43210"}),
                "+919876543210",
                Some("IN"),
                None,
                "+91 98765 43210",
                "mobile",
            ),
            case(
                json!({"rawNumber": "011 2345 6789 #55"}),
                "+911123456789",
                Some("IN"),
                Some("55"),
                "+91 11 2345 6789 ext. 55",
                "fixed_line",
            ),
        ],
    )
    .await;
}

async fn default_region_de_parses_national_numbers_as_de(app: TestApp) {
    check_valid_cases(
        &app,
        vec![
            case(
                json!({"number": "030 1234567"}),
                "+49301234567",
                Some("DE"),
                None,
                "+49 30 1234567",
                "fixed_line",
            ),
            case(
                json!({"number": "0151 23456789"}),
                "+4915123456789",
                Some("DE"),
                None,
                "+49 1512 3456789",
                "mobile",
            ),
        ],
    )
    .await;
}

backend_tests!(
    a_single_create_runs_only_statements_diesel_keeps_prepared,
    creates_normalized_numbers_from_every_form,
    refuses_what_is_not_a_valid_number,
    hostile_input_is_a_422_never_a_500,
    number_and_raw_number_precedence,
    patch_reparses_by_the_rules,
    duplicates_are_refused_per_prospect,
    enums_and_status_changed_at,
    order_is_contiguous_after_every_write,
    primary_and_phone_arrays_follow_order,
    migration_builds_the_lists_of_existing_prospects,
    concurrent_requests_keep_the_list_contiguous,
    concurrent_moves_between_prospects_never_deadlock,
    concurrent_model_writers_lose_nothing,
    concurrent_duplicate_inserts_one_wins,
    moves_and_status_need_permission_before_validation
);

async fn creates_normalized_numbers_from_every_form(app: TestApp) {
    check_valid_cases(&app, valid_cases()).await;
}

async fn refuses_what_is_not_a_valid_number(app: TestApp) {
    let prospect = app.prospect("Invalid").await;
    let long = "1".repeat(300);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"number": "1234567890123456"}),
            "/data/attributes/number",
        ),
        (
            json!({"number": "+1234567890123456"}),
            "/data/attributes/number",
        ),
        (json!({"number": "12345"}), "/data/attributes/number"),
        (json!({"number": "+44 12345"}), "/data/attributes/number"),
        (
            json!({"number": "1-800-FLOWERS"}),
            "/data/attributes/number",
        ),
        (
            json!({"number": "john@example.com"}),
            "/data/attributes/number",
        ),
        (json!({"number": ""}), "/data/attributes/number"),
        (json!({"number": "   "}), "/data/attributes/number"),
        (json!({"number": "\t\n"}), "/data/attributes/number"),
        (json!({"number": long}), "/data/attributes/number"),
        (json!({"number": "555 0100"}), "/data/attributes/number"),
        (
            json!({"number": "+1 000 000 0000"}),
            "/data/attributes/number",
        ),
        (
            json!({"number": "020 7946 0958", "countryCode": "US"}),
            "/data/attributes/number",
        ),
        (
            json!({"number": "tel:+18889387356"}),
            "/data/attributes/number",
        ),
        (json!({"number": 8889387356u64}), "/data/attributes/number"),
        (json!({"number": null}), "/data/attributes/number"),
        (json!({"rawNumber": "12345"}), "/data/attributes/rawNumber"),
        (
            json!({"rawNumber": "call me"}),
            "/data/attributes/rawNumber",
        ),
        (json!({"rawNumber": ""}), "/data/attributes/rawNumber"),
        (json!({"rawNumber": long}), "/data/attributes/rawNumber"),
        (json!({"rawNumber": "  "}), "/data/attributes/rawNumber"),
        // `number` is what is parsed when both are given.
        (
            json!({"number": "12345", "rawNumber": "(888) 938-7356"}),
            "/data/attributes/number",
        ),
        // Neither.
        (json!({"phoneType": "work"}), "/data/attributes/number"),
        // Regions.
        (
            json!({"number": "8889387356", "countryCode": "ZZ"}),
            "/data/attributes/countryCode",
        ),
        (
            json!({"number": "8889387356", "countryCode": "USA"}),
            "/data/attributes/countryCode",
        ),
        (
            json!({"number": "8889387356", "countryCode": ""}),
            "/data/attributes/countryCode",
        ),
        (
            json!({"number": "+18889387356", "countryCode": "XX"}),
            "/data/attributes/countryCode",
        ),
        (
            json!({"number": "8889387356", "countryCode": 1}),
            "/data/attributes/countryCode",
        ),
        // Extensions: conflicting, malformed, too long.
        (
            json!({"number": "888-938-7356 x123", "extension": "124"}),
            "/data/attributes/extension",
        ),
        (
            json!({"number": "888-938-7356", "extension": "12a"}),
            "/data/attributes/extension",
        ),
        (
            json!({"number": "888-938-7356", "extension": ""}),
            "/data/attributes/extension",
        ),
        (
            json!({"number": "888-938-7356", "extension": "12345678901"}),
            "/data/attributes/extension",
        ),
        (
            json!({"number": "888-938-7356 x12345678901"}),
            "/data/attributes/extension",
        ),
        (
            json!({"number": "888-938-7356", "extension": 123}),
            "/data/attributes/extension",
        ),
    ];
    for (attributes, pointer) in cases {
        let response = create(&app, &prospect, attributes.clone()).await;
        assert_eq!(response.status, 422, "{attributes}: {}", response.text);
        let detail = assert_invalid(response, pointer);
        assert!(!detail.is_empty(), "{attributes}");
    }
    // Nothing was stored.
    assert!(list(&app, &prospect).await.is_empty());
    // The details say what is wrong.
    let detail = assert_invalid(
        create(&app, &prospect, json!({"number": "1234567890123456"})).await,
        "/data/attributes/number",
    );
    assert!(detail.contains("15"), "{detail}");
    let detail = assert_invalid(
        create(
            &app,
            &prospect,
            json!({"number": "888-938-7356 x1", "extension": "2"}),
        )
        .await,
        "/data/attributes/extension",
    );
    assert!(detail.contains("conflict"), "{detail}");
}

async fn hostile_input_is_a_422_never_a_500(app: TestApp) {
    let prospect = app.prospect("Hostile").await;
    let mut inputs: Vec<String> = [
        "\0",
        "888\0 938 7356",
        "+1 888 938 7356\0",
        "😀",
        "ünïcödé",
        "٨٨٨٩٣٨٧٣٥٦",
        "８８８９３８７３５６",
        "\u{200b}8889387356",
        "\u{202e}8889387356",
        "+",
        "++1",
        "+0",
        "00",
        "011",
        "#",
        "x",
        "ext.",
        "x123",
        "#123",
        "888 938 7356 x",
        "888 938 7356 x1 x2",
        "888 938 7356 ext..1",
        "((((",
        ")",
        "+800",
        "+979 1",
        "- - -",
        "0.0.0.0",
        "\\u0000",
        "'; DROP TABLE phone_numbers; --",
        "<script>alert(1)</script>",
        "%00",
        "+1 888 938 7356;ext=1",
        "\r\n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    inputs.push("9".repeat(255));
    inputs.push("+".repeat(255));
    inputs.push("(".repeat(255));
    inputs.push("9".repeat(100_000));
    inputs.push("ü".repeat(256));
    inputs.push(format!("888 938 7356 x{}", "1".repeat(240)));
    for input in &inputs {
        for attribute in [
            "number",
            "rawNumber",
            "countryCode",
            "extension",
            "source",
            "phoneType",
            "status",
        ] {
            // rawNumber alone is what is parsed; with number it would be stored verbatim.
            let mut attributes = if attribute == "rawNumber" {
                json!({})
            } else {
                json!({"number": "+18889387356"})
            };
            attributes[attribute] = json!(input);
            let response = create(&app, &prospect, attributes).await;
            let shown: String = input.chars().take(40).collect();
            if attribute == "extension" && is_extension(input) {
                let response = response.expect(201);
                assert_eq!(response.attr("extension"), input.as_str());
                app.delete(&format!("{NUMBERS}/{}", response.id()))
                    .await
                    .expect(204);
                continue;
            }
            if attribute == "source" && !input.contains('\0') && input.chars().count() <= 255 {
                // Free text: stored verbatim (then removed so the next one is not a duplicate).
                let response = response.expect(201);
                assert_eq!(response.attr("source"), input.as_str());
                app.delete(&format!("{NUMBERS}/{}", response.id()))
                    .await
                    .expect(204);
                continue;
            }
            assert_eq!(
                response.status, 422,
                "{attribute}={shown:?}: {}",
                response.text
            );
            assert_eq!(response.error_code(), "validationError");
            // An over-long extension in the text is the extension's fault.
            let at = if input.starts_with("888 938 7356 x11")
                && ["number", "rawNumber"].contains(&attribute)
            {
                "extension"
            } else {
                attribute
            };
            assert_eq!(
                response.body["errors"][0]["source"]["pointer"],
                format!("/data/attributes/{at}"),
                "{attribute}={shown:?}"
            );
        }
    }
    // A PATCH with the same inputs is refused the same way and changes nothing.
    let id = create(&app, &prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    for input in &inputs {
        for attribute in ["number", "rawNumber", "countryCode", "extension"] {
            if attribute == "extension" && is_extension(input) {
                continue;
            }
            let response = patch_number(&app, &id, json!({attribute: input})).await;
            assert_eq!(response.status, 422, "{attribute}: {}", response.text);
            let at = if input.starts_with("888 938 7356 x11")
                && ["number", "rawNumber"].contains(&attribute)
            {
                "extension"
            } else {
                attribute
            };
            assert_eq!(
                response.body["errors"][0]["source"]["pointer"],
                format!("/data/attributes/{at}")
            );
        }
    }
    let shown = app.get(&format!("{NUMBERS}/{id}")).await.expect(200);
    assert_eq!(shown.attr("number"), "+18889387356");
    assert_eq!(shown.attr("extension"), &Value::Null);
}

async fn number_and_raw_number_precedence(app: TestApp) {
    let prospect = app.prospect("Precedence").await;
    // Only number: rawNumber is the number input verbatim.
    let only = create(&app, &prospect, json!({"number": " (888) 938-7356 "}))
        .await
        .expect(201);
    assert_eq!(only.attr("rawNumber"), " (888) 938-7356 ");
    // Both: parsed from number, rawNumber stored verbatim even though it is another number.
    let both = create(
        &app,
        &prospect,
        json!({"number": "+44 20 7946 0958", "rawNumber": "whatever the CRM had"}),
    )
    .await
    .expect(201);
    assert_eq!(both.attr("number"), "+442079460958");
    assert_eq!(both.attr("rawNumber"), "whatever the CRM had");
    // Only rawNumber: parsed from it.
    let raw = create(
        &app,
        &prospect,
        json!({"rawNumber": "030 1234567", "countryCode": "DE"}),
    )
    .await
    .expect(201);
    assert_eq!(raw.attr("number"), "+49301234567");
    assert_eq!(raw.attr("rawNumber"), "030 1234567");
    // rawNumber's own limit (255 characters) holds even when number is what is parsed.
    let response = create(
        &app,
        &prospect,
        json!({"number": "+12015550123", "rawNumber": "1".repeat(256)}),
    )
    .await;
    assert_invalid(response, "/data/attributes/rawNumber");
}

async fn patch_reparses_by_the_rules(app: TestApp) {
    let prospect = app.prospect("Patch").await;
    let id = create(
        &app,
        &prospect,
        json!({"number": "888-938-7356 x123", "phoneType": "work"}),
    )
    .await
    .expect(201)
    .id();

    // A new number becomes the new rawNumber too; its own extension replaces the stored one.
    let r = patch_number(&app, &id, json!({"number": "+44 20 7946 0958 ext 9"}))
        .await
        .expect(200);
    assert_eq!(r.attr("number"), "+442079460958");
    assert_eq!(r.attr("rawNumber"), "+44 20 7946 0958 ext 9");
    assert_eq!(r.attr("countryCode"), "GB");
    assert_eq!(r.attr("extension"), "9");
    assert_eq!(r.attr("formattedNumber"), "+44 20 7946 0958 ext. 9");
    assert_eq!(r.attr("lineType"), "fixed_line");
    assert_eq!(r.attr("phoneType"), "work");

    // A new number without an extension keeps the stored extension.
    let r = patch_number(&app, &id, json!({"number": "+1 888 938 7356"}))
        .await
        .expect(200);
    assert_eq!(r.attr("number"), "+18889387356");
    assert_eq!(r.attr("rawNumber"), "+1 888 938 7356");
    assert_eq!(r.attr("extension"), "9");
    assert_eq!(r.attr("formattedNumber"), "+1 888-938-7356 ext. 9");

    // number and rawNumber together: parsed from number, rawNumber stored as given.
    let r = patch_number(
        &app,
        &id,
        json!({"number": "(201) 555-0123", "rawNumber": "from the import"}),
    )
    .await
    .expect(200);
    assert_eq!(r.attr("number"), "+12015550123");
    assert_eq!(r.attr("rawNumber"), "from the import");
    assert_eq!(r.attr("extension"), "9");

    // Only rawNumber: parsed from it, the stored region is the hint.
    let r = patch_number(&app, &id, json!({"rawNumber": "020 7946 0958"})).await;
    assert_invalid(r, "/data/attributes/rawNumber");
    let r = patch_number(
        &app,
        &id,
        json!({"rawNumber": "020 7946 0958", "countryCode": "GB"}),
    )
    .await
    .expect(200);
    assert_eq!(r.attr("number"), "+442079460958");
    assert_eq!(r.attr("rawNumber"), "020 7946 0958");
    assert_eq!(r.attr("countryCode"), "GB");
    assert_eq!(r.attr("extension"), "9");

    // extension alone: set, and null removes it.
    let r = patch_number(&app, &id, json!({"extension": "77"}))
        .await
        .expect(200);
    assert_eq!(r.attr("extension"), "77");
    assert_eq!(r.attr("formattedNumber"), "+44 20 7946 0958 ext. 77");
    assert_eq!(r.attr("rawNumber"), "020 7946 0958");
    let r = patch_number(&app, &id, json!({"extension": null}))
        .await
        .expect(200);
    assert_eq!(r.attr("extension"), &Value::Null);
    assert_eq!(r.attr("formattedNumber"), "+44 20 7946 0958");
    let r = patch_number(&app, &id, json!({"extension": "x"})).await;
    assert_invalid(r, "/data/attributes/extension");

    // A countryCode change re-parses the stored rawNumber with the new region.
    let r = patch_number(
        &app,
        &id,
        json!({"rawNumber": "030 1234567", "countryCode": "DE"}),
    )
    .await
    .expect(200);
    assert_eq!(r.attr("number"), "+49301234567");
    let r = patch_number(&app, &id, json!({"countryCode": "zz"})).await;
    assert_invalid(r, "/data/attributes/countryCode");
    let r = patch_number(&app, &id, json!({"countryCode": "US"})).await;
    assert_invalid(r, "/data/attributes/rawNumber");
    let r = patch_number(&app, &id, json!({"rawNumber": "0151 23456789"}))
        .await
        .expect(200);
    assert_eq!(r.attr("number"), "+4915123456789");
    assert_eq!(r.attr("lineType"), "mobile");
    let r = patch_number(
        &app,
        &id,
        json!({"rawNumber": "07400 123456", "countryCode": "GB"}),
    )
    .await
    .expect(200);
    assert_eq!(r.attr("number"), "+447400123456");
    let r = patch_number(&app, &id, json!({"countryCode": "US"})).await;
    assert_invalid(r, "/data/attributes/rawNumber");

    // Failed PATCHes changed nothing.
    let shown = app.get(&format!("{NUMBERS}/{id}")).await.expect(200);
    assert_eq!(shown.attr("number"), "+447400123456");
    assert_eq!(shown.attr("rawNumber"), "07400 123456");
    assert_eq!(shown.attr("countryCode"), "GB");
    assert_eq!(shown.attr("extension"), &Value::Null);

    // An extension taken from a stored rawNumber stays removed/replaced: re-parsing the stored
    // rawNumber later does not bring the old one back.
    let other = create(&app, &prospect, json!({"number": "201-555-0100 ext. 55"}))
        .await
        .expect(201)
        .id();
    let r = patch_number(&app, &other, json!({"extension": null}))
        .await
        .expect(200);
    assert_eq!(r.attr("extension"), &Value::Null);
    assert_eq!(r.attr("rawNumber"), "201-555-0100 ext. 55");
    let r = patch_number(&app, &other, json!({"countryCode": "US"}))
        .await
        .expect(200);
    assert_eq!(r.attr("extension"), &Value::Null);
    let r = patch_number(&app, &other, json!({"extension": "66"}))
        .await
        .expect(200);
    assert_eq!(r.attr("extension"), "66");
    let r = patch_number(&app, &other, json!({"countryCode": "US"}))
        .await
        .expect(200);
    assert_eq!(r.attr("extension"), "66");
    // A new number's extension conflicting with the extension member is a conflict.
    let r = patch_number(
        &app,
        &other,
        json!({"number": "201-555-0100 x1", "extension": "2"}),
    )
    .await;
    assert_invalid(r, "/data/attributes/extension");
    // Attributes that are not about the number do not re-parse it.
    let r = patch_number(
        &app,
        &other,
        json!({"phoneType": "home", "source": "web form"}),
    )
    .await
    .expect(200);
    assert_eq!(r.attr("extension"), "66");
    assert_eq!(r.attr("rawNumber"), "201-555-0100 ext. 55");
    assert_eq!(r.attr("source"), "web form");
    // The prospect's arrays carry the extension.
    let shown = app
        .get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
    assert_eq!(shown.attr("homePhones"), &json!(["+12015550100;ext=66"]));
    assert_eq!(shown.attr("workPhones"), &json!(["+447400123456"]));
}

async fn duplicates_are_refused_per_prospect(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let bob = app.prospect("Bob").await;
    let first = create(&app, &ada, json!({"number": "(888) 938-7356"}))
        .await
        .expect(201)
        .id();
    // The same number in another form is the same number.
    for attributes in [
        json!({"number": "+1 888 938 7356"}),
        json!({"rawNumber": "888.938.7356"}),
        json!({"number": "0018889387356", "countryCode": "DE"}),
    ] {
        let detail = assert_invalid(
            create(&app, &ada, attributes).await,
            "/data/attributes/number",
        );
        assert!(detail.contains("duplicate"), "{detail}");
    }
    // A different extension is another number; the same extension again is a duplicate.
    let with_ext = create(&app, &ada, json!({"number": "888 938 7356 x1"}))
        .await
        .expect(201)
        .id();
    let detail = assert_invalid(
        create(
            &app,
            &ada,
            json!({"number": "+18889387356", "extension": "1"}),
        )
        .await,
        "/data/attributes/number",
    );
    assert!(detail.contains("duplicate"), "{detail}");
    create(&app, &ada, json!({"number": "888 938 7356 #2"}))
        .await
        .expect(201);
    // The same number on another prospect is fine.
    let on_bob = create(&app, &bob, json!({"number": "(888) 938-7356"}))
        .await
        .expect(201)
        .id();
    // A PATCH that makes a duplicate is refused.
    let detail = assert_invalid(
        patch_number(&app, &with_ext, json!({"extension": null})).await,
        "/data/attributes/number",
    );
    assert!(detail.contains("duplicate"), "{detail}");
    // Moving a number onto a prospect that already has it is refused, every way of moving.
    let r = app
        .patch(
            &format!("{NUMBERS}/{on_bob}/relationships/prospect"),
            json!({"data": {"type": "prospect", "id": ada}}),
        )
        .await;
    assert!(assert_invalid(r, "/data").contains("duplicate"));
    let r = app
        .patch(
            &format!("{NUMBERS}/{on_bob}"),
            json!({"data": {"type": "phoneNumber", "id": on_bob,
        "relationships": {"prospect": {"data": {"type": "prospect", "id": ada}}}}}),
        )
        .await;
    assert!(assert_invalid(r, "/data/relationships/prospect").contains("duplicate"));
    let lone = create(&app, &bob, json!({"number": "+49 30 1234567"}))
        .await
        .expect(201)
        .id();
    let r = app.post(&format!("/api/v2/prospects/{ada}/relationships/phoneNumbers"),
        json!({"data": [{"type": "phoneNumber", "id": lone}, {"type": "phoneNumber", "id": on_bob}]})).await;
    assert!(assert_invalid(r, "/data/1").contains("duplicate"));
    app.delete(&format!("{NUMBERS}/{lone}")).await.expect(204);
    // Nothing moved; both lists are intact.
    assert_eq!(list(&app, &bob).await, vec![on_bob.clone()]);
    assert_eq!(list(&app, &ada).await.len(), 3);
    assert_eq!(list(&app, &ada).await[0], first);
    // A move that also changes the number is judged by the new number.
    let r = app
        .patch(
            &format!("{NUMBERS}/{on_bob}"),
            json!({"data": {"type": "phoneNumber", "id": on_bob, "attributes": {"number": "+44 20 7946 0958"},
                "relationships": {"prospect": {"data": {"type": "prospect", "id": ada}}}}}),
        )
        .await
        .expect(200);
    assert_eq!(r.attr("number"), "+442079460958");
    assert_eq!(r.attr("order"), 3);
    app.patch(&format!("{NUMBERS}/{on_bob}"), json!({"data": {"type": "phoneNumber", "id": on_bob, "attributes": {"number": "+1 888 938 7356"},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": bob}}}}})).await.expect(200);
    // Once it is gone from Ada, Bob's copy may move there.
    app.delete(&format!("{NUMBERS}/{first}")).await.expect(204);
    app.patch(
        &format!("{NUMBERS}/{on_bob}/relationships/prospect"),
        json!({"data": {"type": "prospect", "id": ada}}),
    )
    .await
    .expect(200);
    assert_eq!(list(&app, &ada).await.last(), Some(&on_bob));
    assert!(list(&app, &bob).await.is_empty());
}

async fn enums_and_status_changed_at(app: TestApp) {
    let prospect = app.prospect("Enums").await;
    for (attribute, value, allowed) in [
        (
            "phoneType",
            "MOBILE",
            ["mobile", "work", "home", "voip", "other"].as_slice(),
        ),
        (
            "phoneType",
            "cell",
            ["mobile", "work", "home", "voip", "other"].as_slice(),
        ),
        (
            "status",
            "verified",
            ["unverified", "valid", "invalid", "do_not_call", "historic"].as_slice(),
        ),
        (
            "status",
            "",
            ["unverified", "valid", "invalid", "do_not_call", "historic"].as_slice(),
        ),
    ] {
        let detail = assert_invalid(
            create(
                &app,
                &prospect,
                json!({"number": "+18889387356", attribute: value}),
            )
            .await,
            &format!("/data/attributes/{attribute}"),
        );
        for name in allowed {
            assert!(detail.contains(name), "{attribute}: {detail} lacks {name}");
        }
    }
    for attribute in ["phoneType", "status"] {
        assert_invalid(
            create(
                &app,
                &prospect,
                json!({"number": "+18889387356", attribute: null}),
            )
            .await,
            &format!("/data/attributes/{attribute}"),
        );
        assert_invalid(
            create(
                &app,
                &prospect,
                json!({"number": "+18889387356", attribute: 1}),
            )
            .await,
            &format!("/data/attributes/{attribute}"),
        );
    }

    // Defaults.
    let created = create(&app, &prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201);
    let id = created.id();
    assert_eq!(created.attr("phoneType"), "other");
    assert_eq!(created.attr("status"), "unverified");
    assert_eq!(created.attr("source"), &Value::Null);
    let created_at = created.attr("createdAt").clone();
    assert_eq!(created.attr("statusChangedAt"), &created_at);

    // Every value is accepted.
    let mut previous = created_at.clone();
    for status in ["valid", "invalid", "do_not_call", "historic", "unverified"] {
        let r = patch_number(&app, &id, json!({"status": status}))
            .await
            .expect(200);
        assert_eq!(r.attr("status"), status);
        assert_eq!(
            r.attr("statusChangedAt"),
            r.attr("updatedAt"),
            "a status change sets statusChangedAt"
        );
        assert!(r.attr("statusChangedAt").as_str() >= previous.as_str());
        previous = r.attr("statusChangedAt").clone();
    }
    let changed_at = previous;
    // Same status again, other attributes, number re-parse, order: statusChangedAt stays.
    for attributes in [
        json!({"status": "unverified"}),
        json!({"phoneType": "voip"}),
        json!({"source": "import"}),
        json!({"number": "201-555-0123"}),
        json!({"order": 0}),
    ] {
        let r = patch_number(&app, &id, attributes.clone())
            .await
            .expect(200);
        assert_eq!(r.attr("statusChangedAt"), &changed_at, "{attributes}");
        assert_eq!(r.attr("status"), "unverified");
    }
    for phone_type in ["mobile", "work", "home", "voip", "other"] {
        let r = patch_number(&app, &id, json!({"phoneType": phone_type}))
            .await
            .expect(200);
        assert_eq!(r.attr("phoneType"), phone_type);
    }
    let detail = assert_invalid(
        patch_number(&app, &id, json!({"status": "Valid"})).await,
        "/data/attributes/status",
    );
    assert!(detail.contains("do_not_call"), "{detail}");
    // statusChangedAt is read-only: sent back, it is ignored.
    let r = patch_number(
        &app,
        &id,
        json!({"statusChangedAt": "2000-01-01T00:00:00.000Z", "status": "unverified"}),
    )
    .await
    .expect(200);
    assert_eq!(r.attr("statusChangedAt"), &changed_at);
    // Filtering by it finds the number.
    let found = app
        .get(&format!(
            "{NUMBERS}?filter[status]=unverified&filter[prospect][id]={prospect}"
        ))
        .await
        .expect(200);
    assert_eq!(found.body["data"].as_array().unwrap().len(), 1);
}

async fn order_is_contiguous_after_every_write(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let bob = app.prospect("Bob").await;
    // Append by default.
    let ids = fill(&app, &ada, 100, 4).await;
    assert_eq!(list(&app, &ada).await, ids);
    // Insert at k shifts the others.
    let at1 = create(&app, &ada, json!({"number": "201-555-0200", "order": 1}))
        .await
        .expect(201);
    assert_eq!(at1.attr("order"), 1);
    let at1 = at1.id();
    assert_eq!(
        list(&app, &ada).await,
        vec![
            ids[0].clone(),
            at1.clone(),
            ids[1].clone(),
            ids[2].clone(),
            ids[3].clone()
        ]
    );
    // Insert at 0 makes the primary number.
    let at0 = create(
        &app,
        &ada,
        json!({"number": "201-555-0201", "order": 0, "phoneType": "mobile"}),
    )
    .await
    .expect(201)
    .id();
    assert_eq!(list(&app, &ada).await[0], at0);
    // Past the end is clamped.
    let far = create(
        &app,
        &ada,
        json!({"number": "201-555-0202", "order": 1_000_000}),
    )
    .await
    .expect(201);
    assert_eq!(far.attr("order"), 6);
    let far = far.id();
    let huge = create(
        &app,
        &ada,
        json!({"number": "201-555-0203", "order": i64::MAX}),
    )
    .await
    .expect(201);
    assert_eq!(huge.attr("order"), 7);
    app.delete(&format!("{NUMBERS}/{}", huge.id()))
        .await
        .expect(204);
    // Negative and non-integers are 422, nothing stored.
    for order in [
        json!(-1),
        json!(i64::MIN),
        json!("1"),
        json!(1.5),
        json!(null),
        json!(u64::MAX),
    ] {
        let r = create(
            &app,
            &ada,
            json!({"number": "201-555-0204", "order": order}),
        )
        .await;
        assert_invalid(r, "/data/attributes/order");
        let id = &ids[2];
        let r = patch_number(&app, id, json!({"order": order})).await;
        assert_invalid(r, "/data/attributes/order");
    }
    let before = list(&app, &ada).await;
    assert_eq!(
        before,
        vec![
            at0.clone(),
            ids[0].clone(),
            at1.clone(),
            ids[1].clone(),
            ids[2].clone(),
            ids[3].clone(),
            far.clone()
        ]
    );

    // Move within the list, downwards and upwards, and past the end.
    let expect_move = |list: &[String], id: &str, to: usize| {
        let mut list: Vec<String> = list.iter().filter(|x| *x != id).cloned().collect();
        list.insert(to.min(list.len()), id.to_owned());
        list
    };
    let mut expected = before.clone();
    for (id, to) in [
        (&at0, 3usize),
        (&far, 0),
        (&ids[1], 6),
        (&ids[3], 100),
        (&at1, 2),
        (&at1, 2),
        (&ids[0], 0),
    ] {
        let r = patch_number(&app, id, json!({"order": to}))
            .await
            .expect(200);
        expected = expect_move(&expected, id, to);
        assert_eq!(
            r.attr("order").as_u64().unwrap() as usize,
            to.min(expected.len() - 1)
        );
        assert_eq!(list(&app, &ada).await, expected, "move {id} to {to}");
    }
    // Shifted numbers changed representation: their ETag changed.
    let second = &expected[1].clone();
    let etag = app
        .get(&format!("{NUMBERS}/{second}"))
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    patch_number(&app, second, json!({"order": 0}))
        .await
        .expect(200);
    expected = expect_move(&expected, second, 0);
    let first_now = &expected[1];
    let etag_after = app
        .get(&format!("{NUMBERS}/{second}"))
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    assert_ne!(etag, etag_after);
    assert_eq!(
        app.get(&format!("{NUMBERS}/{first_now}"))
            .await
            .attr("order"),
        1
    );

    // Delete re-packs: first, middle, last.
    for index in [0usize, 2, expected.len() - 3] {
        let id = expected.remove(index);
        app.delete(&format!("{NUMBERS}/{id}")).await.expect(204);
        assert_eq!(list(&app, &ada).await, expected);
    }

    // Moving to another prospect: the old list re-packs, the new one appends.
    let bob_ids = fill(&app, &bob, 500, 2).await;
    let mut bob_expected = bob_ids.clone();
    let moving = expected[1].clone();
    app.patch(
        &format!("{NUMBERS}/{moving}/relationships/prospect"),
        json!({"data": {"type": "prospect", "id": bob}}),
    )
    .await
    .expect(200);
    expected.retain(|id| *id != moving);
    bob_expected.push(moving.clone());
    assert_eq!(list(&app, &ada).await, expected);
    assert_eq!(list(&app, &bob).await, bob_expected);
    // PATCH with the relationship and an order inserts there.
    let moving = expected[0].clone();
    let r = app
        .patch(
            &format!("{NUMBERS}/{moving}"),
            json!({"data": {"type": "phoneNumber", "id": moving, "attributes": {"order": 0},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": bob}}}}}),
        )
        .await
        .expect(200);
    assert_eq!(r.attr("order"), 0);
    expected.retain(|id| *id != moving);
    bob_expected.insert(0, moving.clone());
    assert_eq!(list(&app, &ada).await, expected);
    assert_eq!(list(&app, &bob).await, bob_expected);
    // Same prospect named in the relationship with an order: a move within the list.
    let r = app
        .patch(
            &format!("{NUMBERS}/{moving}"),
            json!({"data": {"type": "phoneNumber", "id": moving, "attributes": {"order": 99},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": bob}}}}}),
        )
        .await
        .expect(200);
    assert_eq!(r.attr("order"), bob_expected.len() - 1);
    bob_expected = expect_move(&bob_expected, &moving, 99);
    assert_eq!(list(&app, &bob).await, bob_expected);
    // POST /prospects/{id}/relationships/phoneNumbers moves several, appended in the given order.
    let moving: Vec<String> = vec![bob_expected[2].clone(), bob_expected[0].clone()];
    app.post(&format!("/api/v2/prospects/{ada}/relationships/phoneNumbers"),
        json!({"data": moving.iter().map(|id| json!({"type": "phoneNumber", "id": id})).collect::<Vec<_>>()})).await.expect(204);
    bob_expected.retain(|id| !moving.contains(id));
    expected.extend(moving.iter().cloned());
    assert_eq!(list(&app, &ada).await, expected);
    assert_eq!(list(&app, &bob).await, bob_expected);
    // Listing numbers already there leaves them where they are, and changes nothing.
    let etag = prospect_etag(&app, &ada).await;
    app.post(
        &format!("/api/v2/prospects/{ada}/relationships/phoneNumbers"),
        json!({"data": [{"type": "phoneNumber", "id": expected[0]}]}),
    )
    .await
    .expect(204);
    assert_eq!(list(&app, &ada).await, expected);
    assert_eq!(prospect_etag(&app, &ada).await, etag);
    // A failing POST (one unknown number) moves nothing.
    let r = app.post(&format!("/api/v2/prospects/{bob}/relationships/phoneNumbers"),
        json!({"data": [{"type": "phoneNumber", "id": expected[1]}, {"type": "phoneNumber", "id": "999999"}]})).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(list(&app, &ada).await, expected);
    assert_eq!(list(&app, &bob).await, bob_expected);
    // Deleting the prospect deletes its numbers; the other list is untouched.
    app.delete(&format!("/api/v2/prospects/{bob}"))
        .await
        .expect(204);
    assert_eq!(list(&app, &ada).await, expected);
}

async fn primary_and_phone_arrays_follow_order(app: TestApp) {
    let prospect = app.prospect("Arrays").await;
    let work1 = create(
        &app,
        &prospect,
        json!({"number": "201-555-0100", "phoneType": "work"}),
    )
    .await
    .expect(201)
    .id();
    let etag0 = prospect_etag(&app, &prospect).await;
    let mobile = create(
        &app,
        &prospect,
        json!({"number": "+44 7400 123456", "phoneType": "mobile"}),
    )
    .await
    .expect(201)
    .id();
    let etag1 = prospect_etag(&app, &prospect).await;
    assert_ne!(etag0, etag1, "a new number changes the prospect's ETag");
    let work2 = create(
        &app,
        &prospect,
        json!({"number": "201-555-0101 x12", "phoneType": "work", "order": 0}),
    )
    .await
    .expect(201)
    .id();
    create(
        &app,
        &prospect,
        json!({"number": "+49 30 1234567", "phoneType": "home"}),
    )
    .await
    .expect(201);
    create(
        &app,
        &prospect,
        json!({"number": "888 938 7356", "phoneType": "voip", "extension": "5"}),
    )
    .await
    .expect(201);
    create(&app, &prospect, json!({"number": "+91 98765 43210"}))
        .await
        .expect(201);
    let shown = app
        .get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
    assert_eq!(
        shown.attr("workPhones"),
        &json!(["+12015550101;ext=12", "+12015550100"])
    );
    assert_eq!(shown.attr("mobilePhones"), &json!(["+447400123456"]));
    assert_eq!(shown.attr("homePhones"), &json!(["+49301234567"]));
    assert_eq!(shown.attr("voipPhones"), &json!(["+18889387356;ext=5"]));
    assert_eq!(shown.attr("otherPhones"), &json!(["+919876543210"]));
    // The primary number is the one at order 0.
    let primary = app
        .get(&format!(
            "/api/v2/prospects/{prospect}/phoneNumbers?filter[order]=0"
        ))
        .await
        .expect(200);
    assert_eq!(primary.body["data"][0]["id"], work2.as_str());
    // Reordering changes the arrays and the prospect's ETag.
    let before = prospect_etag(&app, &prospect).await;
    patch_number(&app, &work1, json!({"order": 0}))
        .await
        .expect(200);
    let after = prospect_etag(&app, &prospect).await;
    assert_ne!(before, after);
    let shown = app
        .get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
    assert_eq!(
        shown.attr("workPhones"),
        &json!(["+12015550100", "+12015550101;ext=12"])
    );
    // So does a change of type, an extension, a delete, and a move away.
    patch_number(&app, &mobile, json!({"phoneType": "work"}))
        .await
        .expect(200);
    let shown = app
        .get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
    assert_eq!(
        shown.attr("workPhones"),
        &json!(["+12015550100", "+12015550101;ext=12", "+447400123456"])
    );
    assert_eq!(shown.attr("mobilePhones"), &json!([]));
    assert_ne!(shown.header("etag").unwrap(), after);
    let mut etag = shown.header("etag").unwrap().to_owned();
    patch_number(&app, &mobile, json!({"extension": "3"}))
        .await
        .expect(200);
    let next = prospect_etag(&app, &prospect).await;
    assert_ne!(etag, next);
    etag = next;
    app.delete(&format!("{NUMBERS}/{work2}")).await.expect(204);
    let next = prospect_etag(&app, &prospect).await;
    assert_ne!(etag, next);
    etag = next;
    let other = app.prospect("Other").await;
    let other_etag = prospect_etag(&app, &other).await;
    app.patch(
        &format!("{NUMBERS}/{mobile}/relationships/prospect"),
        json!({"data": {"type": "prospect", "id": other}}),
    )
    .await
    .expect(200);
    assert_ne!(etag, prospect_etag(&app, &prospect).await);
    assert_ne!(other_etag, prospect_etag(&app, &other).await);
    let shown = app
        .get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
    assert_eq!(shown.attr("workPhones"), &json!(["+12015550100"]));
    let shown = app
        .get(&format!("/api/v2/prospects/{other}"))
        .await
        .expect(200);
    assert_eq!(shown.attr("workPhones"), &json!(["+447400123456;ext=3"]));
    // A collection of prospects shows the arrays too.
    let listed = app.get("/api/v2/prospects?sort=id").await.expect(200);
    assert_eq!(
        listed.body["data"][0]["attributes"]["workPhones"],
        json!(["+12015550100"])
    );
    assert_eq!(
        listed.body["data"][1]["attributes"]["workPhones"],
        json!(["+447400123456;ext=3"])
    );
}

async fn migration_builds_the_lists_of_existing_prospects(app: TestApp) {
    // The migration that added the stored lists, run again over prospects whose numbers were
    // written through the API: it must build exactly the lists those writes keep.
    let ada = app.prospect("Ada").await;
    let bob = app.prospect("Bob").await;
    let empty = app.prospect("Empty").await;
    create(
        &app,
        &ada,
        json!({"number": "201-555-0100", "phoneType": "work"}),
    )
    .await
    .expect(201);
    create(
        &app,
        &ada,
        json!({"number": "+44 7400 123456", "phoneType": "mobile", "order": 0}),
    )
    .await
    .expect(201);
    create(
        &app,
        &ada,
        json!({"number": "888 938 7356", "phoneType": "voip", "extension": "5"}),
    )
    .await
    .expect(201);
    create(&app, &bob, json!({"number": "201-555-0100"}))
        .await
        .expect(201);
    let ids: Vec<i64> = [&ada, &bob, &empty].map(|id| id.parse().unwrap()).to_vec();
    let stored = || {
        let mut conn = app.conn();
        let mut lists: Vec<(i64, Vec<ProspectPhone>)> = Prospect::by_ids(&mut conn, &ids)
            .unwrap()
            .into_iter()
            .map(|row| (row.id, row.phones.0))
            .collect();
        lists.sort_by_key(|(id, _)| *id);
        lists
    };
    let kept = stored();
    let shown: Vec<(&str, &str)> = kept[0]
        .1
        .iter()
        .map(|phone| (phone.number.as_str(), phone.extension.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            ("+447400123456", ""),
            ("+12015550100", ""),
            ("+18889387356", "5")
        ]
    );
    assert_eq!((kept[1].1.len(), kept[2].1.len()), (1, 0));
    // Both migrations that build the lists: the first in its original (object) form, the
    // second into today's; and the second's way back.
    let [objects, arrays, back] = if app.database_url.starts_with("sqlite") {
        [
            include_str!("../../migrations/sqlite/2026-11-23-000002_prospect_phones/up.sql"),
            include_str!(
                "../../migrations/sqlite/2026-12-03-000003_compact_prospect_phones/up.sql"
            ),
            include_str!(
                "../../migrations/sqlite/2026-12-03-000003_compact_prospect_phones/down.sql"
            ),
        ]
    } else {
        [
            include_str!("../../migrations/postgres/2026-11-23-000002_prospect_phones/up.sql"),
            include_str!(
                "../../migrations/postgres/2026-12-03-000003_compact_prospect_phones/up.sql"
            ),
            include_str!(
                "../../migrations/postgres/2026-12-03-000003_compact_prospect_phones/down.sql"
            ),
        ]
    };
    let text_of_ada = || -> String {
        use diesel::prelude::*;
        phonebook::db::schema::prospects::table
            .find(ids[0])
            .select(phonebook::db::schema::prospects::phones)
            .first(&mut *app.conn())
            .expect("the stored list")
    };
    app.execute("ALTER TABLE prospects DROP COLUMN phones");
    app.execute(objects);
    let old_form = text_of_ada();
    assert!(old_form.contains("\"phone_type\""), "{old_form}");
    app.execute(arrays);
    assert_eq!(stored(), kept);
    app.execute(back);
    assert_eq!(text_of_ada(), old_form);
    app.execute(arrays);
    assert_eq!(stored(), kept);
    let shown = app
        .get(&format!("/api/v2/prospects/{ada}"))
        .await
        .expect(200);
    assert_eq!(shown.attr("voipPhones"), &json!(["+18889387356;ext=5"]));
}

async fn concurrent_requests_keep_the_list_contiguous(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let bob = app.prospect("Bob").await;
    let seeded = fill(&app, &ada, 100, 4).await;
    // Many requests at once: appends, inserts at the front, moves within the list, moves between
    // the two prospects, deletes. The handlers run on the blocking pool, really in parallel.
    let mut requests = Vec::new();
    for index in 0..12 {
        let (ada, bob) = (ada.clone(), bob.clone());
        let seeded = seeded.clone();
        let app = &app;
        requests.push(async move {
            match index % 4 {
                0 => {
                    create(
                        app,
                        &ada,
                        json!({"number": format!("201-555-{:04}", 300 + index)}),
                    )
                    .await
                    .status
                }
                1 => {
                    create(
                        app,
                        &bob,
                        json!({"number": format!("201-555-{:04}", 300 + index), "order": 0}),
                    )
                    .await
                    .status
                }
                2 => {
                    patch_number(app, &seeded[index % 3], json!({"order": index % 5}))
                        .await
                        .status
                }
                _ => {
                    app.post(
                        &format!("/api/v2/prospects/{bob}/relationships/phoneNumbers"),
                        json!({"data": [{"type": "phoneNumber", "id": seeded[3]}]}),
                    )
                    .await
                    .status
                }
            }
        });
    }
    let statuses = join_all(requests).await;
    for status in &statuses {
        assert!([200, 201, 204].contains(status), "{statuses:?}");
    }
    let ada_list = list(&app, &ada).await;
    let bob_list = list(&app, &bob).await;
    assert_eq!(ada_list.len() + bob_list.len(), 4 + 6);
    assert!(bob_list.contains(&seeded[3]));

    // Two requests racing to add the same number: exactly one wins, the other is told it is a
    // duplicate.
    for round in 0..3 {
        let number = format!("+1 201 555 {:04}", 900 + round);
        let racing =
            join_all((0..4).map(|_| create(&app, &ada, json!({"number": number.clone()})))).await;
        let won = racing.iter().filter(|r| r.status == 201).count();
        assert_eq!(
            won,
            1,
            "round {round}: {:?}",
            racing.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        for lost in racing.iter().filter(|r| r.status != 201) {
            assert_eq!(lost.status, 422, "{}", lost.text);
            assert!(lost.body["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("duplicate"));
        }
    }
    assert_eq!(list(&app, &ada).await.len(), ada_list.len() + 3);
}

async fn concurrent_moves_between_prospects_never_deadlock(app: TestApp) {
    // Moving several numbers in one request locks several prospects; other requests lock them
    // too. Whatever the interleaving, every request succeeds and every list stays 0..n-1.
    let p: Vec<String> = vec![
        app.prospect("P1").await,
        app.prospect("P2").await,
        app.prospect("P3").await,
    ];
    for round in 0..15 {
        let base = 1000 + round * 10;
        let n3 = fill(&app, &p[2], base, 1).await.remove(0);
        let n1 = fill(&app, &p[0], base + 1, 1).await.remove(0);
        let m1 = fill(&app, &p[0], base + 2, 1).await.remove(0);
        let m3 = fill(&app, &p[2], base + 3, 1).await.remove(0);
        let paths = [
            format!("/api/v2/prospects/{}/relationships/phoneNumbers", p[1]),
            format!("{NUMBERS}/{m1}/relationships/prospect"),
            format!("{NUMBERS}/{m3}"),
        ];
        let many = app.post(
            &paths[0],
            json!({"data": [{"type": "phoneNumber", "id": n3}, {"type": "phoneNumber", "id": n1}]}),
        );
        let one_to_3 = app.patch(&paths[1], json!({"data": {"type": "prospect", "id": p[2]}}));
        let three_to_1 = app.patch(
            &paths[2],
            json!({"data": {"type": "phoneNumber", "id": m3, "attributes": {"order": 0},
            "relationships": {"prospect": {"data": {"type": "prospect", "id": p[0]}}}}}),
        );
        let (many, one_to_3, three_to_1) =
            futures_util::future::join3(many, one_to_3, three_to_1).await;
        assert_eq!(many.status, 204, "round {round}: {}", many.text);
        assert_eq!(one_to_3.status, 200, "round {round}: {}", one_to_3.text);
        assert_eq!(three_to_1.status, 200, "round {round}: {}", three_to_1.text);
        let lists = [
            list(&app, &p[0]).await,
            list(&app, &p[1]).await,
            list(&app, &p[2]).await,
        ];
        assert!(
            lists[1].ends_with(&[n3.clone(), n1.clone()]),
            "round {round}"
        );
        assert!(lists[2].contains(&m1) && lists[0][0] == m3, "round {round}");
        assert_eq!(lists.iter().map(Vec::len).sum::<usize>(), 4 * (round + 1));
    }
}

async fn concurrent_model_writers_lose_nothing(app: TestApp) {
    let ada: i64 = app.prospect("Ada").await.parse().unwrap();
    let bob: i64 = app.prospect("Bob").await.parse().unwrap();
    const THREADS: usize = 4;
    const PER_THREAD: usize = 12;
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let pool = app.state.pool.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut conn = pool.get().expect("connection");
                barrier.wait();
                let mut created = Vec::new();
                for step in 0..PER_THREAD {
                    let prospect = if step % 3 == 2 { bob } else { ada };
                    let order = match step % 4 {
                        0 => None,
                        1 => Some(0),
                        2 => Some(2),
                        _ => Some(1_000),
                    };
                    let new = new_number(prospect, thread * 100 + step, order);
                    let row = recorded(&mut conn, None, |conn, journal| {
                        PhoneNumberRow::create(conn, journal, &new)
                    })
                    .unwrap_or_else(|error| panic!("create: {error:?}"));
                    created.push(row.id);
                    // Move one of ours: within its list, or to the other prospect.
                    let id = created[(step * 7) % created.len()];
                    let changes = PhoneNumberChanges {
                        order: Some((step % 5) as i64),
                        prospect_id: (step % 2 == 0).then_some(if step % 4 == 0 {
                            ada
                        } else {
                            bob
                        }),
                        ..PhoneNumberChanges::default()
                    };
                    // Read before any lock, as a request's checks read it.
                    let read = PhoneNumberRow::find(&mut conn, id)
                        .unwrap_or_else(|error| panic!("find: {error:?}"))
                        .expect("one of ours");
                    recorded(&mut conn, None, |conn, journal| {
                        PhoneNumberRow::update(conn, journal, read.clone(), &changes, &|_| true)
                    })
                    .unwrap_or_else(|error| panic!("update: {error:?}"));
                    // Now and then delete one of ours.
                    if step % 5 == 4 {
                        let id = created.remove(0);
                        recorded(&mut conn, None, |conn, journal| {
                            PhoneNumberRow::delete(conn, journal, id, &|_| true)
                        })
                        .unwrap_or_else(|error| panic!("delete: {error:?}"));
                    }
                }
                created
            })
        })
        .collect();
    let mut expected = BTreeSet::new();
    for handle in handles {
        expected.extend(handle.join().expect("writer thread"));
    }
    let ada_list = list(&app, &ada.to_string()).await;
    let bob_list = list(&app, &bob.to_string()).await;
    let stored: BTreeSet<i64> = ada_list
        .iter()
        .chain(&bob_list)
        .map(|id| id.parse().unwrap())
        .collect();
    assert_eq!(stored, expected, "no number lost, none left over");
    assert_eq!(stored.len(), ada_list.len() + bob_list.len());
}

async fn concurrent_duplicate_inserts_one_wins(app: TestApp) {
    let ada: i64 = app.prospect("Ada").await.parse().unwrap();
    const THREADS: usize = 4;
    for round in 0..5 {
        let barrier = Arc::new(Barrier::new(THREADS));
        let results: Vec<Result<PhoneNumberRow, ModelError>> = (0..THREADS)
            .map(|_| {
                let pool = app.state.pool.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let mut conn = pool.get().expect("connection");
                    barrier.wait();
                    recorded(&mut conn, None, |conn, journal| {
                        PhoneNumberRow::create(conn, journal, &new_number(ada, 700 + round, None))
                    })
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|handle| handle.join().expect("thread"))
            .collect();
        let won = results.iter().filter(|result| result.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {results:?}");
        for result in results.iter().filter(|result| result.is_err()) {
            match result {
                Err(ModelError::Duplicate { number, .. }) => {
                    assert!(number.starts_with('+'), "{number}");
                }
                other => panic!("expected a duplicate, got {other:?}"),
            }
        }
    }
    assert_eq!(list(&app, &ada.to_string()).await.len(), 5);
}

async fn moves_and_status_need_permission_before_validation(app: TestApp) {
    // A member may not move a number onto someone else's prospect, whatever the body says.
    let (_, token) = app.user(
        "member@example.com",
        phonebook::permissions::Role::Member,
        "phoneNumbers.all prospects.all",
    );
    let admins = app.prospect("Admin's").await;
    let id = create(&app, &admins, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    let body = json!({"data": {"type": "phoneNumber", "id": id, "attributes": {"status": "nope"}}});
    let r = app
        .send(
            Method::PATCH,
            &format!("{NUMBERS}/{id}"),
            Some(&token),
            Some(&body),
            &[],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
}

/// A distinct valid US number (`+1 201-555-NNNN`) for the model-level tests, parsed by the
/// domain type exactly as the resource layer does.
fn new_number(prospect_id: i64, index: usize, order: Option<i64>) -> NewPhoneNumber {
    let raw = format!("(201) 555-{index:04}");
    let parsed =
        PhoneNumber::parse(&raw, None, "US", ExtensionInput::Absent).expect("valid number");
    NewPhoneNumber {
        prospect_id,
        parsed: ParsedColumns {
            number: parsed.e164().to_owned(),
            raw_number: raw.clone(),
            country_code: parsed.region().map(str::to_owned),
            extension: String::new(),
            formatted_number: parsed.formatted().to_owned(),
            line_type: parsed.line_type().as_str().to_owned(),
        },
        phone_type: "other".into(),
        status: "unverified".into(),
        source: None,
        sms_opt_out: false,
        notes: None,
        order,
    }
}

/// Every statement of a single create, of a prospect and of a number, is one diesel keeps
/// prepared: only the transaction's own `BEGIN` and `COMMIT` run as plain SQL. A `sql_query`, a `diesel::update` or a multi-row insert
/// on this path would be prepared again on every create (on PostgreSQL one more round trip).
async fn a_single_create_runs_only_statements_diesel_keeps_prepared(app: TestApp) {
    let transaction_control = |sql: &String| {
        let sql = sql.trim_matches('"');
        sql.starts_with("BEGIN") || sql == "COMMIT"
    };
    let before = app.statements_not_kept().len();
    let prospect = app.prospect("Kept").await;
    let not_kept = app.statements_not_kept()[before..].to_vec();
    assert!(
        not_kept.iter().all(transaction_control) && not_kept.len() == 2,
        "prospect: {not_kept:?}"
    );
    for (round, number) in ["+12125550101", "+12125550102"].into_iter().enumerate() {
        let before = app.statements_not_kept().len();
        create(&app, &prospect, json!({"number": number}))
            .await
            .expect(201);
        let not_kept = app.statements_not_kept()[before..].to_vec();
        assert!(
            not_kept.iter().all(transaction_control) && not_kept.len() == 2,
            "create {round}: {not_kept:?}"
        );
    }
}
