//! More than one instance (API.md section 12): what one process hands out works on another one on
//! the same database, and on the same one after a restart.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{ids, prospect_doc, TestApp};

backend_tests!(a_cursor_works_on_another_instance_and_after_a_restart);

/// The path and query of an absolute link.
pub fn path_of(link: &serde_json::Value) -> String {
    let link = link.as_str().expect("a link");
    link[link.find("/api/v2").expect("an API link")..].to_owned()
}

async fn a_cursor_works_on_another_instance_and_after_a_restart(app: TestApp) {
    for name in ["Ada", "Grace", "Edsger"] {
        app.post(
            "/api/v2/prospects",
            prospect_doc(json!({"firstName": name})),
        )
        .await
        .expect(201);
    }
    let first = app.get("/api/v2/prospects?page[size]=2").await.expect(200);
    let next = path_of(&first.body["links"]["next"]);
    let expected = ids(&app.get(&next).await.expect(200));

    let other = app.another().await;
    assert_eq!(ids(&other.get(&next).await.expect(200)), expected);
    drop(app);
    let restarted = other.another().await;
    drop(other);
    let page = restarted.get(&next).await.expect(200);
    assert_eq!(ids(&page), expected);
    // ... and what the new process hands out, the first one would take: one key for all.
    let back = path_of(&page.body["links"]["prev"]);
    restarted.get(&back).await.expect(200);
}
