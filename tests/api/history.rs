//! Reading the record back: the audit log and the exec history, filtered and paged.

use crate::both_backends;
use crate::connections::{exec, make_connection, sqlite_target};
use crate::helpers::*;
use hoop::wire::{audit::Event, keys::KeyChanges, sessions::Session};
use reqwest::StatusCode;

both_backends!(
    audit_filters_by_actor_action_and_target,
    sessions_filter_by_caller_and_connection_and_page,
);

fn actions(events: &[Event]) -> Vec<(&str, &str)> {
    events
        .iter()
        .map(|e| (e.action.as_str(), e.target.name.as_str()))
        .collect()
}

async fn audit_filters_by_actor_action_and_target(app: &TestApp) {
    let (first, _) = app.create_key("first", &["admin"]).await;
    let (_, robot) = app.create_key("robot", &["admin"]).await;
    app.configure_key(
        "first",
        KeyChanges {
            name: Some("renamed".into()),
            ..KeyChanges::default()
        },
    )
    .await;
    let (status, _) = app
        .post(
            "/api/api-keys",
            &robot,
            serde_json::json!({"name": "made-by-robot", "groups": ["admin"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let by_robot = app.audit("actor=robot").await;
    assert_eq!(actions(&by_robot), [("api_key.created", "made-by-robot")]);
    let updates = app.audit("action=api_key.updated").await;
    assert_eq!(actions(&updates), [("api_key.updated", "renamed")]);
    // A target by id finds its events under every name; by name, those recorded under it.
    let by_id = app.audit(&format!("target={}", first.id)).await;
    assert_eq!(
        actions(&by_id),
        [("api_key.updated", "renamed"), ("api_key.created", "first")]
    );
    assert_eq!(
        actions(&app.audit("target=first").await),
        [("api_key.created", "first")]
    );
    let both = app
        .audit(&format!("action=api_key.created&target={}", first.id))
        .await;
    assert_eq!(actions(&both), [("api_key.created", "first")]);
    assert!(app.audit("actor=nobody").await.is_empty());
    // A blank field of a submitted form is no filter; matching is exact.
    assert_eq!(app.audit("actor=&action=").await, app.audit("").await);
    assert!(app.audit("action=api_key").await.is_empty());

    // Pages of a filtered log hold only matching events, and go on where the last one ended.
    let created = app.audit("action=api_key.created&limit=2").await;
    assert_eq!(
        actions(&created),
        [
            ("api_key.created", "made-by-robot"),
            ("api_key.created", "robot")
        ]
    );
    let older = app
        .audit(&format!(
            "action=api_key.created&limit=2&before={}",
            created[1].id
        ))
        .await;
    assert_eq!(actions(&older), [("api_key.created", "first")]);
}

async fn sessions_filter_by_caller_and_connection_and_page(app: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    app.create_group("eng").await;
    for name in ["one", "two"] {
        let target = sqlite_target(dir.path(), name).await;
        make_connection(app, name, "sqlite", &target, &["eng"]).await;
    }
    let (bot, a) = app.create_key("bot-a", &["eng"]).await;
    let (_, b) = app.create_key("bot-b", &["eng"]).await;
    for (key, connection) in [(&a, "one"), (&a, "two"), (&b, "one"), (&a, "one")] {
        let (status, _) = exec(app, key, connection, "SELECT 1 AS x").await;
        assert_eq!(status, StatusCode::OK);
    }
    let list = |query: String, bearer: String| async move {
        let (status, body) = app.get(&format!("/api/sessions?{query}"), &bearer).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        serde_json::from_value::<Vec<Session>>(body).unwrap()
    };
    let who = |sessions: &[Session]| -> Vec<(String, String)> {
        sessions
            .iter()
            .map(|s| (s.actor.clone(), s.connection.clone()))
            .collect()
    };
    let admin = app.admin_token.clone();
    let pair = |actor: &str, connection: &str| (actor.to_owned(), connection.to_owned());

    assert_eq!(
        who(&list("caller=bot-a".into(), admin.clone()).await),
        [
            pair("bot-a", "one"),
            pair("bot-a", "two"),
            pair("bot-a", "one")
        ]
    );
    // A key's id names it as well as its name does (its page asks by id: names change).
    assert_eq!(
        list(format!("caller={}", bot.id), admin.clone()).await,
        list("caller=bot-a".into(), admin.clone()).await
    );
    assert_eq!(
        who(&list("connection=one".into(), admin.clone()).await),
        [
            pair("bot-a", "one"),
            pair("bot-b", "one"),
            pair("bot-a", "one")
        ]
    );
    assert_eq!(
        who(&list("caller=bot-b&connection=two".into(), admin.clone()).await),
        []
    );
    // A caller who is not an admin filters within its own sessions only.
    assert_eq!(
        who(&list("connection=one".into(), b.clone()).await),
        [pair("bot-b", "one")]
    );
    assert!(list("caller=bot-a".into(), b.clone()).await.is_empty());

    // Pages: every session once, newest first, each page going on from the last one.
    let everything = list(String::new(), admin.clone()).await;
    assert_eq!(everything.len(), 4);
    let mut paged = Vec::new();
    let mut query = "limit=3".to_owned();
    loop {
        let page = list(query.clone(), admin.clone()).await;
        let Some(last) = page.last() else { break };
        query = format!("limit=3&before={}", last.id);
        paged.extend(page);
    }
    assert_eq!(paged, everything);
    // A session that does not exist has nothing older (not the first page again).
    assert!(
        list(format!("before={}", uuid::Uuid::new_v4()), admin.clone())
            .await
            .is_empty()
    );

    for (query, want) in [
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=501", StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=ten", StatusCode::BAD_REQUEST),
        ("before=not-a-uuid", StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = app.get(&format!("/api/sessions?{query}"), &admin).await;
        assert_eq!(status, want, "{query}: {body}");
        assert!(body["message"].is_string(), "{query}: {body}");
    }
}
