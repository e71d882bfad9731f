//! `GET /api/api-keys` with paging, search, filters and sorting.

use crate::both_backends;
use crate::helpers::*;
use chrono::{DateTime, TimeDelta, Utc};
use hoop::{
    store::Store,
    wire::keys::{ApiKey, ApiKeyPage, KeyStatus},
};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

both_backends!(
    pages_walk_every_key_once_in_every_order,
    filters_select_keys,
    bad_parameters_are_refused,
    without_parameters_the_plain_array,
);

/// Runs `sql` with the binds on the app's store (times and ids only).
async fn exec(app: &TestApp, sql: &str, at: Option<DateTime<Utc>>, id: Uuid) {
    match &app.state.store {
        Store::Sqlite(s) => {
            sqlx::query(sql)
                .bind(at)
                .bind(id)
                .execute(&s.pool)
                .await
                .unwrap();
        }
        Store::Postgres(pool) => {
            sqlx::query(sql)
                .bind(at)
                .bind(id)
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

/// Keys whose names, creation and last-use times share values, some never used, in two groups,
/// one deactivated and one expired.
async fn seed(app: &TestApp) -> Vec<ApiKey> {
    app.create_group("ops").await;
    let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.250Z")
        .unwrap()
        .with_timezone(&Utc);
    let keys = [
        // name, groups, created (minutes after t0), last used (minutes after t0)
        ("alpha", &["admin"][..], 0, None),
        ("Beta", &["ops"][..], 0, Some(5)),
        ("ci_bot", &["ops"][..], 0, Some(5)),
        ("ci-bot", &["ops", "admin"][..], 1, None),
        ("gamma.1", &["admin"][..], 1, Some(5)),
        ("delta", &["ops"][..], 2, Some(7)),
        ("Epsilon", &["admin"][..], 2, None),
        ("zeta", &["ops"][..], 2, Some(1)),
        ("ETA", &["admin"][..], 3, Some(7)),
    ];
    for (name, groups, created, used) in keys {
        let (key, _) = app.create_key(name, groups).await;
        exec(
            app,
            "UPDATE api_keys SET created_at = $1 WHERE id = $2",
            Some(t0 + TimeDelta::minutes(created)),
            key.id,
        )
        .await;
        exec(
            app,
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2",
            used.map(|m| t0 + TimeDelta::minutes(m)),
            key.id,
        )
        .await;
    }
    app.key_action("delta", "deactivate").await;
    let eta = app.api_key("ETA").await;
    exec(
        app,
        "UPDATE api_keys SET expires_at = $1 WHERE id = $2",
        Some(Utc::now() - TimeDelta::hours(1)),
        eta.id,
    )
    .await;
    app.api_keys().await
}

async fn page(app: &TestApp, query: &str) -> ApiKeyPage {
    let (status, body) = app
        .get(&format!("/api/api-keys?{query}"), &app.admin_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    serde_json::from_value(body).unwrap()
}

/// Every page of `query`, `limit` at a time.
async fn walk(app: &TestApp, query: &str, limit: u32) -> Vec<ApiKey> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("{query}&limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page = page(app, &q).await;
        assert!(page.items.len() <= limit as usize);
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(all.len() <= 100, "paging does not end");
    }
    all
}

fn names(keys: &[ApiKey]) -> Vec<&str> {
    keys.iter().map(|k| k.name.as_str()).collect()
}

async fn pages_walk_every_key_once_in_every_order(app: &TestApp) {
    let all = seed(app).await;
    // The bootstrap may have made keys too: the expected order covers whatever exists.
    assert!(all.len() >= 9);
    type SortKey = Box<dyn Fn(&ApiKey) -> (String, Option<DateTime<Utc>>)>;
    let by: [(&str, SortKey); 3] = [
        ("name", Box::new(|k| (k.name.to_lowercase(), None))),
        (
            "created_at",
            Box::new(|k| (String::new(), Some(k.created_at))),
        ),
        // Never used (None) sorts lowest.
        (
            "last_used_at",
            Box::new(|k| (String::new(), k.last_used_at)),
        ),
    ];
    for (sort, key) in by {
        let mut expected = all.clone();
        expected.sort_by(|a, b| key(a).cmp(&key(b)).then(a.id.cmp(&b.id)));
        for descending in [false, true] {
            if descending {
                expected.reverse();
            }
            let sort = format!("{}{sort}", if descending { "-" } else { "" });
            for limit in [1, 2, 4, 500] {
                let walked = walk(app, &format!("sort={sort}"), limit).await;
                assert_eq!(
                    names(&walked),
                    names(&expected),
                    "sort={sort} limit={limit}"
                );
            }
        }
    }
    // The default order is creation, oldest first; each page's keys carry their clients.
    let first = page(app, "limit=3").await;
    assert_eq!(first.items.len(), 3);
    assert!(first.next_cursor.is_some());
    let full: Vec<&ApiKey> = first
        .items
        .iter()
        .map(|k| all.iter().find(|a| a.id == k.id).unwrap())
        .collect();
    assert_eq!(first.items.iter().collect::<Vec<_>>(), full);
}

async fn filters_select_keys(app: &TestApp) {
    seed(app).await;
    let find = |query: &'static str| async move {
        let mut n: Vec<String> = walk(app, &format!("sort=name&{query}"), 2)
            .await
            .into_iter()
            .map(|k| k.name)
            .collect();
        n.sort();
        n
    };
    assert_eq!(find("q=BOT").await, ["ci-bot", "ci_bot"]);
    // `_` and `%` are no wildcards.
    assert_eq!(find("q=i_b").await, ["ci_bot"]);
    assert_eq!(find("q=%25").await, Vec::<String>::new());
    assert_eq!(find("q=%5C").await, Vec::<String>::new());
    assert_eq!(find("status=deactivated").await, ["delta"]);
    assert_eq!(find("status=expired").await, ["ETA"]);
    let active = find("status=active").await;
    assert!(active.contains(&"alpha".to_owned()));
    assert!(!active.contains(&"delta".to_owned()) && !active.contains(&"ETA".to_owned()));
    assert_eq!(
        find("group=ops").await,
        ["Beta", "ci-bot", "ci_bot", "delta", "zeta"]
    );
    assert_eq!(find("group=ops&q=bot").await, ["ci-bot", "ci_bot"]);
    assert_eq!(find("group=ops&status=active&q=ET").await, ["Beta", "zeta"]);
    assert_eq!(find("group=nowhere").await, Vec::<String>::new());
    // The page's keys are the full objects, groups and status included.
    let deactivated = page(app, "status=deactivated").await;
    assert_eq!(deactivated.items[0].status, KeyStatus::Deactivated);
    assert_eq!(deactivated.items[0].groups, ["ops"]);
    assert_eq!(deactivated.next_cursor, None);
}

async fn bad_parameters_are_refused(app: &TestApp) {
    seed(app).await;
    let first = page(app, "sort=name&limit=2").await;
    let cursor = first.next_cursor.unwrap();
    let mut tampered = cursor.clone();
    tampered.insert(3, 'x');
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=many", "limit"),
        ("status=retired", "status"),
        ("sort=id", "sort"),
        ("sort=%2Bname", "sort"),
        ("group=no%20such", "group"),
        ("cursor=%21%21", "cursor"),
        (&format!("cursor={tampered}&sort=name") as &str, "cursor"),
        // A cursor is valid only for the order it came from.
        (&format!("cursor={cursor}&sort=-name") as &str, "cursor"),
        (&format!("cursor={cursor}") as &str, "cursor"),
    ] {
        let (status, body) = app
            .get(&format!("/api/api-keys?{query}"), &app.admin_token)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
        assert!(body["message"].is_string(), "{query}: {body}");
    }
    for query in ["limit=1&limit=2", "q=a&q=b"] {
        let (status, body) = app
            .get(&format!("/api/api-keys?{query}"), &app.admin_token)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
    assert_eq!(
        page(app, "limit=500").await.items.len(),
        app.api_keys().await.len()
    );
    assert_eq!(page(app, "limit=1").await.items.len(), 1);

    // Only admins list keys, paged or not, whatever the parameters.
    let (_, raw) = app.create_key("worker", &["ops"]).await;
    for query in ["", "?limit=5", "?status=retired"] {
        assert_eq!(
            app.status_with(&format!("/api/api-keys{query}"), &raw)
                .await,
            StatusCode::FORBIDDEN,
            "{query}"
        );
    }
}

async fn without_parameters_the_plain_array(app: &TestApp) {
    seed(app).await;
    let (status, body) = app.get("/api/api-keys", &app.admin_token).await;
    assert_eq!(status, StatusCode::OK);
    let list = body.as_array().expect("a plain array");
    assert!(list.len() >= 9);
    // Any parameter, even an empty one, asks for a page.
    let (_, body) = app.get("/api/api-keys?q=", &app.admin_token).await;
    assert!(body["items"].is_array(), "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), list.len());
    assert_eq!(body["next_cursor"], Value::Null);

    // A page's keys carry their recent clients, as the full list's do.
    let (_, raw) = app.create_key("user-1", &["admin"]).await;
    app.userinfo(&raw).await;
    app.state.keys.flush_usage().await;
    let found = page(app, "q=user-1").await;
    assert_eq!(found.items.len(), 1);
    assert_eq!(
        found.items[0].recent_clients.len(),
        1,
        "{:?}",
        found.items[0]
    );
    assert_eq!(found.items[0].recent_clients[0].ip, "127.0.0.1");
}
