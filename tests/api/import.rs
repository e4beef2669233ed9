//! `phonebook import` and `phonebook export` (API.md section 14), run as the built binary against
//! each test app's database; what they wrote is read back through the API.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{ids, TestApp};

fn phonebook(app: &TestApp, args: &[&str]) -> Output {
    crate::helpers::phonebook(&app.database_url, args)
}

/// Writes `content` to `name` in a fresh directory (kept alive by the returned guard).
fn file(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write the file");
    (dir, path)
}

/// Runs an import that must read the file to its end; returns its last stderr line.
#[track_caller]
fn import(app: &TestApp, path: &Path, extra: &[&str]) -> String {
    let mut args = vec!["import", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = phonebook(app, &args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "import failed: {stderr}");
    stderr.lines().last().unwrap_or_default().to_owned()
}

/// The reject report's rows: (line, reason, the row's own fields).
fn report(path: &Path) -> Vec<(u64, String, Vec<String>)> {
    let report = path.with_file_name(format!(
        "{}.rejected.csv",
        path.file_stem().unwrap().to_str().unwrap()
    ));
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(report)
        .expect("the reject report");
    let header = reader.headers().expect("header").clone();
    assert_eq!(&header[0], "line");
    assert_eq!(&header[1], "reason");
    reader
        .records()
        .map(|record| {
            let record = record.expect("a report row");
            let fields = record.iter().skip(2).map(str::to_owned).collect();
            (
                record[0].parse().expect("a line number"),
                record[1].to_owned(),
                fields,
            )
        })
        .collect()
}

async fn data(app: &TestApp, path: &str) -> Vec<Value> {
    let response = app.get(path).await.expect(200);
    response.body["data"]
        .as_array()
        .expect("a collection")
        .clone()
}

/// The prospect with `external_id` and its numbers, in `order`.
async fn prospect_with_numbers(app: &TestApp, external_id: &str) -> (Value, Vec<Value>) {
    let found = data(
        app,
        &format!("/api/v2/prospects?filter[externalId]={external_id}"),
    )
    .await;
    assert_eq!(found.len(), 1, "one prospect {external_id}");
    let id = found[0]["id"].as_str().unwrap();
    let numbers = data(
        app,
        &format!("/api/v2/prospects/{id}/phoneNumbers?sort=order"),
    )
    .await;
    (found[0].clone(), numbers)
}

/// The detail the API gives `POST /phoneNumbers` for these attributes.
async fn api_detail(app: &TestApp, attributes: Value) -> String {
    let prospect = app.prospect("Probe").await;
    let response = app.number(&prospect, attributes).await.expect(422);
    response.body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .to_owned()
}

const CONTACTS: &str = "\
externalId,firstName,lastName,company,number,countryCode,extension,phoneType,status,smsOptOut,notes
crm-1,Ada,Lovelace,Analytical Engines,+1 888 938 7356,,,work,valid,false,prefers mornings
crm-1,Ignored,Ignored,,(212) 555-0100,,12,mobile,,TRUE,
crm-2,Grace,Hopper,US Navy,020 7946 0958,GB,,home,,,
crm-3,Alan,Turing,,not a number,,,,,,
crm-4,Wrong,Columns,,+1 888 938 7356
crm-2,,,,+44 20 7946 0958,,,,,,
crm-5,Only,Prospect,,,,,,,,
crm-6,Bad,Type,,+1 212 555 0101,,,pager,,,
crm-7,Bad,Flag,,+1 212 555 0102,,,,,maybe,
";

async fn good_rows_are_written_and_bad_rows_reported(app: TestApp) {
    let (_dir, path) = file("contacts.csv", CONTACTS.as_bytes());
    let summary = import(&app, &path, &[]);
    assert!(summary.contains("imported 4, rejected 5"), "{summary}");
    let (ada, numbers) = prospect_with_numbers(&app, "crm-1").await;
    // The first row of an externalId sets the prospect's attributes.
    assert_eq!(ada["attributes"]["firstName"], "Ada");
    assert_eq!(ada["attributes"]["company"], "Analytical Engines");
    let shown: Vec<_> = numbers
        .iter()
        .map(|n| {
            let a = &n["attributes"];
            (
                a["number"].clone(),
                a["extension"].clone(),
                a["phoneType"].clone(),
                a["order"].clone(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (json!("+18889387356"), Value::Null, json!("work"), json!(0)),
            (
                json!("+12125550100"),
                json!("12"),
                json!("mobile"),
                json!(1)
            ),
        ]
    );
    assert_eq!(numbers[0]["attributes"]["status"], "valid");
    assert_eq!(numbers[0]["attributes"]["notes"], "prefers mornings");
    assert_eq!(numbers[0]["attributes"]["smsOptOut"], false);
    assert_eq!(numbers[1]["attributes"]["smsOptOut"], true);
    assert_eq!(numbers[1]["attributes"]["rawNumber"], "(212) 555-0100");
    // A row's countryCode parses its number; the duplicate of it on line 7 is refused.
    let (_, grace) = prospect_with_numbers(&app, "crm-2").await;
    assert_eq!(grace.len(), 1);
    assert_eq!(grace[0]["attributes"]["number"], "+442079460958");
    let (_, none) = prospect_with_numbers(&app, "crm-5").await;
    assert!(none.is_empty());
    // A rejected row creates nothing, not even its prospect.
    assert!(data(&app, "/api/v2/prospects?filter[externalId]=crm-3")
        .await
        .is_empty());

    // Every write is in the change feed, made by no user.
    let changes = data(&app, "/api/v2/changes?page[size]=100").await;
    assert!(changes
        .iter()
        .all(|change| change["relationships"]["actor"]["data"].is_null()));
    let created = |kind: &str| {
        let kind = json!(kind);
        let created = changes.iter().filter(|change| {
            let attributes = &change["attributes"];
            attributes["action"] == "created" && attributes["resourceType"] == kind
        });
        created.count()
    };
    assert_eq!((created("prospect"), created("phoneNumber")), (3, 3));

    let rejected = report(&path);
    let lines: Vec<u64> = rejected.iter().map(|(line, _, _)| *line).collect();
    assert_eq!(lines, [5, 6, 7, 9, 10]);
    // The API's words, after the attribute they concern.
    let bad_number = api_detail(&app, json!({"number": "not a number"})).await;
    assert_eq!(rejected[0].1, format!("number: {bad_number}"));
    assert_eq!(rejected[0].2[0], "crm-3", "the row's own fields follow");
    assert!(rejected[1].1.contains("5 fields"), "{}", rejected[1].1);
    assert_eq!(rejected[1].2.len(), 5);
    assert!(rejected[2].1.contains("duplicate"), "{}", rejected[2].1);
    let bad_type = api_detail(
        &app,
        json!({"number": "+12125550101", "phoneType": "pager"}),
    )
    .await;
    assert_eq!(rejected[3].1, format!("phoneType: {bad_type}"));
    let bad_flag = api_detail(
        &app,
        json!({"number": "+12125550102", "smsOptOut": "maybe"}),
    )
    .await;
    assert_eq!(rejected[4].1, format!("smsOptOut: {bad_flag}"));
}

async fn running_the_same_file_again_writes_nothing_new(app: TestApp) {
    let (_dir, path) = file("contacts.csv", CONTACTS.as_bytes());
    import(&app, &path, &[]);
    let (numbers, prospects, changes) = (
        app.count("phone_numbers"),
        app.count("prospects"),
        app.count("changes"),
    );
    let summary = import(&app, &path, &[]);
    assert!(
        summary.contains("0 prospects and 0 numbers created"),
        "{summary}"
    );
    assert_eq!(app.count("phone_numbers"), numbers);
    assert_eq!(app.count("prospects"), prospects);
    assert_eq!(app.count("changes"), changes);
    let duplicates = report(&path)
        .into_iter()
        .filter(|(_, reason, _)| reason.contains("duplicate"))
        .count();
    assert_eq!(
        duplicates, 4,
        "each number written the first time is now a duplicate"
    );
}

async fn a_dry_run_reports_and_writes_nothing(app: TestApp) {
    let (_dir, path) = file("contacts.csv", CONTACTS.as_bytes());
    let before = (app.count("prospects"), app.count("changes"));
    let summary = import(&app, &path, &["--dry-run"]);
    assert!(summary.contains("nothing written"), "{summary}");
    assert!(summary.contains("would import 4, rejected 5"), "{summary}");
    assert_eq!(report(&path).len(), 5);
    assert_eq!(app.count("phone_numbers"), 0);
    assert_eq!((app.count("prospects"), app.count("changes")), before);
}

async fn files_that_are_not_imports_stop_before_writing(app: TestApp) {
    let binary: &[u8] = &[0x89, b'P', b'N', b'G', 0, 0xff, 0xfe, b'\n', 1, 2, 3];
    for (name, content, says) in [
        ("empty.csv", &b""[..], "empty"),
        ("binary.csv", binary, "not a CSV file"),
        (
            "headless.csv",
            b"crm-1,Ada,+18889387356\n",
            "not a header row",
        ),
        ("twice.csv", b"externalId,number,number\n", "twice"),
        (
            "noprospect.csv",
            b"number,phoneType\n+18889387356,work\n",
            "prospectId",
        ),
    ] {
        let (_dir, path) = file(name, content);
        let output = phonebook(&app, &["import", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name} must fail");
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert!(stderr.contains("nothing was imported"), "{name}: {stderr}");
        assert!(!path
            .with_file_name(name.replace(".csv", ".rejected.csv"))
            .exists());
    }
    assert_eq!(app.count("phone_numbers"), 0);
}

async fn region_applies_to_rows_without_a_country_code(app: TestApp) {
    let content = "externalId,number,countryCode\nde-1,030 1234567,\nde-1,020 7946 0958,GB\n";
    let (_dir, path) = file("de.csv", content.as_bytes());
    let summary = import(&app, &path, &["--region", "DE"]);
    assert!(summary.contains("imported 2, rejected 0"), "{summary}");
    let (_, numbers) = prospect_with_numbers(&app, "de-1").await;
    let e164: Vec<_> = numbers
        .iter()
        .map(|n| n["attributes"]["number"].clone())
        .collect();
    assert_eq!(e164, [json!("+49301234567"), json!("+442079460958")]);
}

/// A fresh, empty app on the same backend as `app`.
async fn empty_like(app: &TestApp) -> TestApp {
    if app.database_url.starts_with("sqlite") {
        TestApp::sqlite().await
    } else {
        TestApp::postgres()
            .await
            .expect("PostgreSQL, as the app has it")
    }
}

async fn an_export_imports_back_into_an_empty_database(app: TestApp) {
    let (_dir, path) = file("contacts.csv", CONTACTS.as_bytes());
    import(&app, &path, &[]);
    // A prospect without externalId is exported too, by id (and not re-created elsewhere).
    let anonymous = app.prospect("Anonymous").await;
    app.number(&anonymous, json!({"number": "+12125550199"}))
        .await
        .expect(201);
    let output = phonebook(&app, &["export"]);
    assert!(output.status.success());
    let exported = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(
        exported.lines().count(),
        1 + 4 + 1,
        "header, a row per number and crm-5's"
    );
    let jsonl = phonebook(&app, &["export", "--format", "jsonl"]);
    let objects: Vec<Value> = String::from_utf8(jsonl.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 5);
    assert_eq!(objects[0]["externalId"], "crm-1");
    assert_eq!(objects[0]["smsOptOut"], false);

    let copy = empty_like(&app).await;
    let (_copy_dir, copy_path) = file("export.csv", exported.as_bytes());
    let summary = import(&copy, &copy_path, &[]);
    assert!(summary.contains("imported 4, rejected 1"), "{summary}");
    for external_id in ["crm-1", "crm-2", "crm-5"] {
        let (original, original_numbers) = prospect_with_numbers(&app, external_id).await;
        let (copied, copied_numbers) = prospect_with_numbers(&copy, external_id).await;
        for name in ["firstName", "lastName", "title", "company"] {
            assert_eq!(
                copied["attributes"][name], original["attributes"][name],
                "{name}"
            );
        }
        let kept = |numbers: &[Value]| -> Vec<Value> {
            let names = [
                "number",
                "rawNumber",
                "countryCode",
                "extension",
                "phoneType",
                "status",
                "source",
                "smsOptOut",
                "notes",
                "order",
            ];
            let attributes = numbers.iter().map(|n| &n["attributes"]);
            attributes
                .map(|a| json!(names.map(|name| a[name].clone())))
                .collect()
        };
        assert_eq!(
            kept(&copied_numbers),
            kept(&original_numbers),
            "{external_id}"
        );
    }
    assert_eq!(ids(&copy.get("/api/v2/prospects").await).len(), 3);
}

async fn ctrl_c_stops_after_the_current_batch(app: TestApp) {
    let rows = 20_000;
    let mut content = String::from("externalId,number\n");
    for row in 0..rows {
        content.push_str(&format!(
            "bulk-{},+1 212 555 {:04}\n",
            row / 5,
            row % 10_000
        ));
    }
    let (_dir, path) = file("bulk.csv", content.as_bytes());
    let mut child = Command::new(env!("CARGO_BIN_EXE_phonebook"))
        .args(["import", path.to_str().unwrap()])
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the import");
    let started = Instant::now();
    while app.count("phone_numbers") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first batch never landed"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before its first batch"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(interrupted.unwrap().success());
    let output = child.wait_with_output().expect("the import ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let written = app.count("phone_numbers");
    if written < rows {
        assert!(stderr.contains("stopped by Ctrl-C"), "{stderr}");
    }
    // Whole batches only: what was written stays, nothing of a batch half-done.
    assert_eq!(written % import_batch(), 0, "{written} numbers");
}

fn import_batch() -> i64 {
    phonebook::import::BATCH_ROWS as i64
}

backend_tests!(
    good_rows_are_written_and_bad_rows_reported,
    running_the_same_file_again_writes_nothing_new,
    a_dry_run_reports_and_writes_nothing,
    files_that_are_not_imports_stop_before_writing,
    region_applies_to_rows_without_a_country_code,
    an_export_imports_back_into_an_empty_database,
    ctrl_c_stops_after_the_current_batch
);
