//! The web app's server side: login sessions, page guards, and server functions that check
//! the caller on the server whatever the UI shows.

use crate::both_backends;
use crate::helpers::*;
use reqwest::{header, redirect::Policy, Client, StatusCode};
use serde_json::{json, Value};

both_backends!(
    pages_need_a_session,
    login_sets_a_safe_cycled_cookie_and_logout_ends_it,
    server_functions_check_the_caller,
    admin_session_creates_a_working_key_once,
    the_sessions_table_holds_no_cookie_id,
    a_page_looks_its_caller_up_once,
    the_activity_pages_show_what_the_services_hold,
);

/// Building a web router lists the app's routes by running the app with resource loading
/// switched off for the whole process (leptos_server's `SuppressResourceLoad`, a global). A page
/// whose data first loaded inside that window waited for ever: a CI run's keys page hung for
/// 120 s while other tests started their gateways. Another gateway starting in the same process
/// (a test harness, an embedder) must not stall the pages of one already serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_while_another_gateway_starts() {
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    };
    let app = spawn_app(Backend::Sqlite).await;
    app.create_key("listed-while-routers-build", &["admin"])
        .await;
    let cookie = app.browser_login().await;
    let building = Arc::new(AtomicBool::new(true));
    // Routers built back to back: on the old code the switch was on most of the time.
    let builder = tokio::task::spawn_blocking({
        let (building, config, state) = (building.clone(), app.config.clone(), app.state.clone());
        move || {
            let mut built = 0u32;
            while building.load(Ordering::Relaxed) {
                drop(hoop::web::router(&config, state.clone()));
                built += 1;
            }
            built
        }
    });
    let client = Client::builder()
        .redirect(Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    let mut pages = Vec::new();
    for _ in 0..20 {
        let page = match client
            .get(app.url("/settings/api-keys"))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .and_then(|r| r.error_for_status())
        {
            Ok(page) => page.text().await,
            Err(e) => Err(e),
        };
        let failed = page.is_err();
        pages.push(page);
        if failed {
            break;
        }
    }
    // Stopped before any assertion: a panic would leave the loop running.
    building.store(false, Ordering::Relaxed);
    let built = builder.await.unwrap();
    assert!(
        built > 1,
        "routers were built while pages rendered ({built})"
    );
    for page in pages {
        let page = page.unwrap_or_else(|e| panic!("the keys page stalled: {e}"));
        assert!(page.contains("listed-while-routers-build"));
    }
    app.stop().await;
}

/// A page as the holder of `cookie` loads it (redirects not followed).
async fn page_as(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    no_redirects()
        .get(app.url(path))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

fn no_redirects() -> Client {
    Client::builder()
        .redirect(Policy::none())
        // A page or server function that never answers fails where it was asked for.
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap()
}

/// Logs in through the login form's server function; returns the session cookie pair.
async fn session_login(
    app: &TestApp,
    email: &str,
    password: &str,
    planted: Option<&str>,
) -> String {
    let mut req = no_redirects()
        .post(app.url("/ui/fn/login"))
        .header(header::ACCEPT, "text/html")
        .form(&[
            ("email", email),
            ("password", password),
            ("next", "/settings/api-keys"),
        ]);
    if let Some(id) = planted {
        req = req.header(header::COOKIE, format!("hoop_session={id}"));
    }
    let response = req.send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "login should redirect"
    );
    assert_eq!(response.headers()[header::LOCATION], "/settings/api-keys");
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    cookie.split(';').next().unwrap().to_owned()
}

/// Calls a server function the way the hydrated client does; returns status and JSON.
async fn server_fn(
    app: &TestApp,
    cookie: Option<&str>,
    name: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = no_redirects()
        .post(app.url(&format!("/ui/fn/{name}")))
        .header(header::ACCEPT, "application/json")
        .form(form);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    read(req.send().await.unwrap()).await
}

async fn pages_need_a_session(app: &TestApp) {
    let client = no_redirects();
    for path in [
        "/",
        "/settings/api-keys",
        "/settings/api-keys/new",
        "/settings/groups",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        let expected = format!("/login?next={}", path.replace('/', "%2F"));
        assert_eq!(location, expected);
    }
    // A bearer key is for the API, not for pages.
    let (_, raw) = app.create_key("not-for-pages", &["admin"]).await;
    let response = client
        .get(app.url("/settings/api-keys"))
        .bearer_auth(&raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let login = client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
    ] {
        assert_eq!(login.headers()[name], value, "{name}");
    }
    // The full policy is checked in abuse::pages_allow_only_their_own_scripts.
    let policy = login.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(login.text().await.unwrap().contains("Sign in"));
}

async fn login_sets_a_safe_cycled_cookie_and_logout_ends_it(app: &TestApp) {
    let planted = "AAAAAAAAAAAAAAAAAAAAAA";
    let cookie = session_login(app, ADMIN_EMAIL, ADMIN_PASSWORD, Some(planted)).await;
    assert!(!cookie.contains(planted), "session id must change at login");

    let page = page_as(app, &cookie, "/settings/api-keys").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
    assert!(page.text().await.unwrap().contains("API keys"));

    // The same session works on the REST API, as the user.
    let me = page_as(app, &cookie, "/api/userinfo").await;
    let (status, me) = read(me).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["auth_method"], "session");
    assert_eq!(me["email"], ADMIN_EMAIL);

    let (status, _) = server_fn(app, Some(&cookie), "logout", &[]).await;
    assert!(status.is_success() || status.is_redirection(), "{status}");
    let after = page_as(app, &cookie, "/settings/api-keys").await;
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "the old cookie must be dead after logout"
    );

    // Wrong password: no session, the same message as for an unknown email.
    let wrong = server_fn(
        app,
        None,
        "login",
        &[("email", ADMIN_EMAIL), ("password", "nope nope")],
    )
    .await;
    let unknown = server_fn(
        app,
        None,
        "login",
        &[("email", "who@example.com"), ("password", "nope nope")],
    )
    .await;
    assert!(!wrong.0.is_success());
    assert_eq!(wrong, unknown);
}

async fn server_functions_check_the_caller(app: &TestApp) {
    app.create_group("engineering").await;
    let (key, _) = app.create_key("guarded", &["engineering"]).await;
    let id = key.id.to_string();
    let id = id.as_str();
    app.post(
        "/api/users",
        &app.admin_token,
        json!({"email": "dev@example.com", "name": "Dev", "password": "dev password", "groups": ["engineering"]}),
    )
    .await;
    let dev = session_login(app, "dev@example.com", "dev password", None).await;

    let calls: [(&str, Vec<(&str, &str)>); 7] = [
        (
            "list_key_page",
            vec![
                ("filter[q]", ""),
                ("filter[status]", ""),
                ("filter[group]", ""),
                ("filter[sort]", ""),
                ("filter[cursor]", ""),
            ],
        ),
        ("get_key", vec![("id", id)]),
        (
            "create_key",
            vec![("name", "sneaky"), ("groups[]", "admin")],
        ),
        (
            "configure_key",
            vec![("id", id), ("name", "guarded"), ("groups[]", "admin")],
        ),
        ("deactivate_key", vec![("id", id)]),
        ("activate_key", vec![("id", id)]),
        ("create_group", vec![("name", "sneaky")]),
    ];
    for (name, form) in &calls {
        let (status, body) = server_fn(app, Some(&dev), name, form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name} as non-admin: {body}");
        assert!(body.get("Forbidden").is_some(), "{name}: {body}");
        let (status, body) = server_fn(app, None, name, form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name} without session");
        assert_eq!(body, json!("Unauthenticated"), "{name}");
    }
    // Nothing changed.
    let (_, after) = app.get("/api/api-keys/guarded", &app.admin_token).await;
    assert_eq!(after["groups"], json!(["engineering"]));
    assert_eq!(after["status"], "active");
    assert_eq!(
        app.get("/api/api-keys/sneaky", &app.admin_token).await.0,
        StatusCode::NOT_FOUND
    );

    // A non-admin opening an admin page gets the 403 page.
    let page = page_as(app, &dev, "/settings/api-keys").await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page.text().await.unwrap().contains("admins only"));
}

async fn admin_session_creates_a_working_key_once(app: &TestApp) {
    let admin = session_login(app, ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    let response = no_redirects()
        .post(app.url("/ui/fn/create_key"))
        .header(header::ACCEPT, "application/json")
        .header(header::COOKIE, &admin)
        .form(&[("name", "from-ui"), ("groups[]", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let (status, created) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/userinfo", &secret).await.1["name"], "from-ui");
    assert_eq!(
        created["key"]["masked_key"],
        format!("{}{}", &secret[..8], "*".repeat(39))
    );

    // Inline field errors: a duplicate name and an empty group list.
    let (_, dup) = server_fn(
        app,
        Some(&admin),
        "create_key",
        &[("name", "from-ui"), ("groups[]", "admin")],
    )
    .await;
    assert_eq!(dup["Field"]["field"], "name", "{dup}");
    let (_, none) = server_fn(app, Some(&admin), "create_key", &[("name", "no-groups")]).await;
    assert_eq!(none["Field"]["field"], "groups", "{none}");

    // Nothing the UI can fetch later carries the secret again.
    let (_, listed) = server_fn(
        app,
        Some(&admin),
        "list_key_page",
        &[
            ("filter[q]", ""),
            ("filter[status]", ""),
            ("filter[group]", ""),
            ("filter[sort]", ""),
            ("filter[cursor]", ""),
        ],
    )
    .await;
    let id = created["key"]["id"].as_str().unwrap();
    let (_, one) = server_fn(app, Some(&admin), "get_key", &[("id", id)]).await;
    for page in ["/settings/api-keys", "/settings/api-keys/new"] {
        let html = page_as(app, &admin, page).await.text().await.unwrap();
        assert!(!html.contains(&secret[8..]), "{page} shows the secret");
        assert!(page != "/settings/api-keys" || html.contains("from-ui"));
    }
    assert!(
        listed["keys"]
            .as_array()
            .is_some_and(|keys| keys.iter().any(|k| k["name"] == "from-ui")),
        "{listed}"
    );
    assert!(!listed.to_string().contains(&secret[8..]));
    assert!(!one.to_string().contains(&secret[8..]));
}

/// A `next` a browser reads differently from a naive check (`/\t/evil.example` becomes
/// `//evil.example` once the browser drops the tab) must not send the user off-site, and one with
/// control characters must not break the login (they made the redirect panic: the connection
/// closed with no answer). Every crafted `next` gets an answer that stays on this site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_redirects_only_to_this_site_whatever_next_says() {
    let app = spawn_app(Backend::Sqlite).await;
    for (next, expected) in [
        ("/settings/api-keys", "/settings/api-keys"),
        ("/\t/evil.example", "/"),
        ("/\n//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        (".//evil.example", "/"),
        ("/keys\u{1}\u{7f}x", "/keys%01%7Fx"),
        ("/\r\nSet-Cookie: x=1", "/Set-Cookie:%20x=1"),
    ] {
        let response = no_redirects()
            .post(app.url("/ui/fn/login"))
            .header(header::ACCEPT, "text/html")
            .form(&[
                ("email", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{next:?}: no answer: {e}"));
        assert_eq!(response.status(), StatusCode::FOUND, "{next:?}");
        assert_eq!(response.headers()[header::LOCATION], expected, "{next:?}");
        assert!(
            response.headers().get("set-cookie").is_some(),
            "{next:?}: logged in"
        );
    }
    app.stop().await;
}

/// `(id, data)` of every stored browser session.
async fn session_rows(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    match app.backend {
        Backend::Sqlite => {
            let db = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            let rows = sqlx::query_as("SELECT id, data FROM tower_sessions")
                .fetch_all(&db)
                .await
                .unwrap();
            db.close().await;
            rows
        }
        Backend::Postgres => {
            let db = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            let rows = sqlx::query_as("SELECT id, data FROM tower_sessions.session")
                .fetch_all(&db)
                .await
                .unwrap();
            db.close().await;
            rows
        }
    }
}

/// Whoever can read the sessions table (a backup, a dump) finds no id to present as a cookie:
/// a session is stored under a digest of its id, and the session still works.
async fn the_sessions_table_holds_no_cookie_id(app: &TestApp) {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let cookie = app.browser_login().await;
    let id = cookie.strip_prefix("hoop_session=").unwrap();
    let page = page_as(app, &cookie, "/settings/api-keys").await;
    assert_eq!(page.status(), StatusCode::OK, "the session works");

    let rows = session_rows(app).await;
    assert!(!rows.is_empty(), "the login stored its session");
    let bytes = URL_SAFE_NO_PAD.decode(id).unwrap();
    let reversed: Vec<u8> = bytes.iter().rev().copied().collect();
    let holds =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    for (stored, data) in &rows {
        assert_ne!(stored, id, "the cookie's id is the row's key");
        for form in [id.as_bytes(), &bytes, &reversed] {
            assert!(
                !holds(data, form),
                "the cookie's id is in the stored record"
            );
        }
    }
    // Nowhere else either (on SQLite: the file and its WAL, free pages included).
    assert!(!app.dump_database().await.contains(id));
}

/// A page that cannot finish (here its query waits on a table another session holds locked) is
/// answered 503 after `HOOP_PAGE_TIMEOUT_SECS`, not left holding its connection and the browser
/// for ever; once the lock is gone the page renders. PostgreSQL only: SQLite readers
/// never wait for a lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_page_is_answered_503_postgres() {
    use sqlx::Connection;
    let app = spawn_app_with(Backend::Postgres, |c| c.http.page_timeout_secs = 1).await;
    app.create_key("behind-a-lock", &["admin"]).await;
    let cookie = app.browser_login().await;
    let mut locker = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    // Well past the stall bound, well short of the lock's end: only the gateway can end it.
    let client = Client::builder()
        .redirect(Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let page = |client: Client| {
        let (url, cookie) = (app.url("/settings/api-keys"), cookie.clone());
        async move {
            let response = client
                .get(url)
                .header(header::COOKIE, cookie)
                .send()
                .await
                .expect("the gateway answers before the client gives up");
            (
                response.status(),
                response.headers().clone(),
                response.text().await.unwrap(),
            )
        }
    };
    let (status, headers, body) = page(client.clone()).await;
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert!(body.contains("took too long"), "{body}");
    let (status, _, page) = page(client).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the page renders once the lock is gone"
    );
    assert!(page.contains("behind-a-lock"));
    app.stop().await;
}

/// The page guard's answer is handed to the server functions the page renders: one lookup
/// of the session per page, not one more per function (the keys page renders two).
async fn a_page_looks_its_caller_up_once(app: &TestApp) {
    app.create_key("rendered-on-the-server", &["admin"]).await;
    let cookie = app.browser_login().await;
    let before = app.state.auth.lookups();
    let response = page_as(app, &cookie, "/settings/api-keys").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("rendered-on-the-server") && page.contains("admin@example.com"),
        "the page renders its server functions' answers (the key list, who is signed in)"
    );
    assert_eq!(app.state.auth.lookups() - before, 1, "lookups for one page");
}

/// The key page, the audit log and the sessions list read what the services recorded, each in
/// one call, and only for whom the services allow.
async fn the_activity_pages_show_what_the_services_hold(app: &TestApp) {
    use crate::connections::{exec, make_connection, sqlite_target};
    let dir = tempfile::tempdir().unwrap();
    make_connection(
        app,
        "db",
        "sqlite",
        &sqlite_target(dir.path(), "db").await,
        &["admin"],
    )
    .await;
    let (key, raw) = app.create_key("worker", &["admin"]).await;
    let id = key.id.to_string();
    assert_eq!(app.userinfo(&raw).await.name, "worker");
    for script in ["SELECT 1", "SELECT * FROM nothing_here"] {
        assert_eq!(exec(app, &raw, "db", script).await.0, StatusCode::OK);
    }
    assert_eq!(
        exec(app, &app.admin_token, "db", "SELECT 2").await.0,
        StatusCode::OK
    );
    app.state.keys.flush_usage().await;

    let admin = session_login(app, ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    let (status, page) = server_fn(app, Some(&admin), "key_page", &[("id", &id)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["key"]["name"], "worker");
    assert_eq!(page["recent_clients"][0]["ip"], "127.0.0.1");
    assert_eq!(page["last_used_ip"], "127.0.0.1");
    let usage = page["usage"].as_array().unwrap();
    assert_eq!(usage.len(), 30);
    let today = usage.last().unwrap();
    assert_eq!(
        (today["requests"].as_u64(), today["execs"].as_u64()),
        (Some(3), Some(2))
    );
    assert!(strings(&page["events"], "action").contains(&"api_key.created"));
    let sessions = page["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "only the key's own runs: {page}");
    assert_eq!(sessions[0]["succeeded"], false, "newest first");
    assert_eq!(sessions[1]["succeeded"], true);

    // Filters, and blank ones as a submitted form sends them.
    let (_, log) = server_fn(
        app,
        Some(&admin),
        "audit_log",
        &[
            ("actor", ""),
            ("action", "api_key.created"),
            ("target", &id),
        ],
    )
    .await;
    assert_eq!(strings(&log["events"], "target_name"), ["worker"]);
    assert_eq!(
        log["events"][0]["target_href"],
        format!("/settings/api-keys/{id}")
    );
    assert_eq!(log["older"], Value::Null);
    let (status, all) = server_fn(app, Some(&admin), "audit_log", &[]).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let (_, runs) = server_fn(app, Some(&admin), "list_sessions", &[("caller", &id)]).await;
    assert_eq!(runs["sessions"].as_array().unwrap().len(), 2, "{runs}");
    let (_, runs) = server_fn(app, Some(&admin), "list_sessions", &[]).await;
    assert_eq!(runs["sessions"].as_array().unwrap().len(), 3, "{runs}");
    let (status, _) = server_fn(
        app,
        Some(&admin),
        "key_page",
        &[("id", "00000000-0000-4000-8000-000000000000")],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The pages render it on the server, the chart included.
    let html = page_as(app, &admin, &format!("/settings/api-keys/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"role="img""#) && html.contains("3 requests accepted"),
        "{html}"
    );
    assert!(!html.contains(&raw[8..]), "the key page shows the secret");

    // Others: no key page, no audit log, and only their own sessions.
    app.create_group("engineering").await;
    app.post(
        "/api/users",
        &app.admin_token,
        json!({"email": "dev@example.com", "name": "Dev", "password": "dev password", "groups": ["engineering"]}),
    )
    .await;
    let dev = session_login(app, "dev@example.com", "dev password", None).await;
    for (name, form) in [
        ("key_page", vec![("id", id.as_str())]),
        ("audit_log", vec![]),
    ] {
        let (status, body) = server_fn(app, Some(&dev), name, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        let (status, _) = server_fn(app, None, name, &form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
    }
    let (status, mine) = server_fn(app, Some(&dev), "list_sessions", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["sessions"], json!([]));
    for (path, status) in [
        ("/settings/audit", StatusCode::FORBIDDEN),
        ("/sessions", StatusCode::OK),
    ] {
        let response = page_as(app, &dev, path).await;
        assert_eq!(response.status(), status, "{path}");
    }
}
