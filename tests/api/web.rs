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
);

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

    let page = no_redirects()
        .get(app.url("/settings/api-keys"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
    assert!(page.text().await.unwrap().contains("API keys"));

    // The same session works on the REST API, as the user.
    let me = no_redirects()
        .get(app.url("/api/userinfo"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let (status, me) = read(me).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["auth_method"], "session");
    assert_eq!(me["email"], ADMIN_EMAIL);

    let (status, _) = server_fn(app, Some(&cookie), "logout", &[]).await;
    assert!(status.is_success() || status.is_redirection(), "{status}");
    let after = no_redirects()
        .get(app.url("/settings/api-keys"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
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
        ("list_keys", vec![]),
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
    let page = no_redirects()
        .get(app.url("/settings/api-keys"))
        .header(header::COOKIE, &dev)
        .send()
        .await
        .unwrap();
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
    let (_, listed) = server_fn(app, Some(&admin), "list_keys", &[]).await;
    let id = created["key"]["id"].as_str().unwrap();
    let (_, one) = server_fn(app, Some(&admin), "get_key", &[("id", id)]).await;
    for page in ["/settings/api-keys", "/settings/api-keys/new"] {
        let html = no_redirects()
            .get(app.url(page))
            .header(header::COOKIE, &admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!html.contains(&secret[8..]), "{page} shows the secret");
        assert!(page != "/settings/api-keys" || html.contains("from-ui"));
    }
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
    let page = no_redirects()
        .get(app.url("/settings/api-keys"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
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

/// The page guard's answer is handed to the server functions the page renders: one lookup
/// of the session per page, not one more per function (the keys page renders two).
async fn a_page_looks_its_caller_up_once(app: &TestApp) {
    app.create_key("rendered-on-the-server", &["admin"]).await;
    let cookie = app.browser_login().await;
    let before = app.state.auth.lookups();
    let response = no_redirects()
        .get(app.url("/settings/api-keys"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("rendered-on-the-server") && page.contains("admin@example.com"),
        "the page renders its server functions' answers (the key list, who is signed in)"
    );
    assert_eq!(app.state.auth.lookups() - before, 1, "lookups for one page");
}
