//! More than one instance (API.md section 12): what one process hands out works on another one on
//! the same database, and on the same one after a restart.

use diesel::RunQueryDsl;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{ids, prospect_doc, EmptyPostgres, TestApp};
use crate::servers::Server;

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

/// Instances started at the same moment on an empty PostgreSQL database: they migrate one after
/// the other, exactly one makes the bootstrap admin, and all of them serve.
#[test]
fn instances_started_together_on_an_empty_database_make_one_admin() {
    let Some(database) = EmptyPostgres::new() else {
        return;
    };
    let token = "bootstrap-token-for-the-instances-test-0123456789";
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("PHONEBOOK_BOOTSTRAP_TOKEN", token),
    ];
    let mut servers: Vec<Server> = (0..4).map(|_| Server::spawn(&env)).collect();
    for server in &mut servers {
        server.wait_healthy();
    }
    let created = servers
        .iter()
        .filter(|server| server.output().contains("Created user admin@localhost"))
        .count();
    assert_eq!(created, 1, "exactly one instance bootstraps");
    for server in &servers {
        let entry = server.get("/api/v2", Some(token)).expect("request");
        assert_eq!(entry.status, 200, "{}", entry.text);
        assert_eq!(entry.body["meta"]["user"]["email"], "admin@localhost");
    }
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = |sql: &str| {
        diesel::sql_query(sql)
            .get_result::<Count>(&mut database.conn())
            .expect("count")
            .n
    };
    assert_eq!(count("SELECT COUNT(*) AS n FROM users"), 1);
    assert_eq!(count("SELECT COUNT(*) AS n FROM api_tokens"), 1);
    assert_eq!(count("SELECT COUNT(*) AS n FROM server_keys"), 1);
}
