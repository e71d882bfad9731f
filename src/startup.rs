//! Builds the whole gateway: used by `hoop serve` and by the tests alike.

mod metrics;
mod serve;

use crate::{
    api,
    auth::{password, session::Sessions, Authenticator, LegacyApiKey},
    config::ServeConfig,
    connections::{ConnectionService, Limits, OwnDatabase},
    domain::{Email, GroupName},
    keys::KeyService,
    security::{self, cross_origin, throttle::FailureLimiter},
    state::{AppState, Services},
    store::{self, identity::Org, Store},
    telemetry, web, webhooks,
};
use anyhow::Context;
use axum::{extract::Request, middleware, Router};
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use uuid::Uuid;

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    limits: serve::ConnectionLimits,
    /// `GET /metrics` on its own listener, when `HOOP_METRICS_LISTEN` is set.
    metrics: Option<(TcpListener, Router)>,
    /// Sends API-key events to HOOP_WEBHOOK_URL, or prunes the outbox without one.
    webhooks: webhooks::Worker,
}

/// Scrapers are few: a handful of connections is plenty, and bounds what a stray client holds.
const METRICS_CONNECTIONS: usize = 16;

impl Application {
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        Self::build_with(config, Router::new()).await
    }

    /// With `extra_api` routes under `/api`, behind exactly the layers the API has (the
    /// benchmarks compare an unauthenticated handler against the real one this way).
    pub async fn build_with(
        config: &ServeConfig,
        extra_api: Router<AppState>,
    ) -> anyhow::Result<Self> {
        let legacy = config
            .api_key
            .as_ref()
            .map(|v| LegacyApiKey::parse(v.expose()))
            .transpose()?;
        // Before any service is built: each registers its counters once, at construction.
        let recorder = match config.observe.metrics_listen {
            Some(_) => Some(telemetry::exporter::install()?),
            None => None,
        };
        if let Some(key) = &legacy {
            key.warn_if_guessable();
        }
        let webhook_target = webhooks::Target::from_config(&config.webhooks)?;
        let url = config.database_url()?;
        let store = Store::connect(url.expose())
            .await
            .context("opening the database")?;
        bootstrap(&store, config, legacy.as_ref()).await?;
        let legacy = match legacy {
            Some(key) => {
                let org = store::identity::org(&store, key.org_id())
                    .await?
                    .with_context(|| {
                        format!(
                            "API_KEY names organization {} which does not exist",
                            key.org_id()
                        )
                    })?;
                Some((key, org.name))
            }
            None => None,
        };
        password::warm_up();
        let webhooks = webhooks::Worker::start(store.clone(), webhook_target);

        let keys = KeyService::new(store.clone(), config.clock.clone(), config.key_policy);
        let limiter = Arc::new(FailureLimiter::new(config.auth_failures_per_minute));
        let auth = Authenticator::new(store.clone(), keys.clone(), legacy, limiter);
        let exec = &config.exec;
        let limits = Limits {
            timeout: Duration::from_secs(exec.timeout_secs.max(1)),
            max_rows: exec.max_rows.max(1),
            max_bytes: exec.max_bytes.max(1),
            max_concurrent: exec.max_concurrent.max(1),
            max_per_caller: exec.max_per_caller.max(1),
            pool_size: exec.pool_size.max(1),
            pool_idle: Duration::from_secs(exec.pool_idle_secs.max(1)),
        };
        let connections = ConnectionService::new(
            store.clone(),
            keys.clone(),
            limits,
            OwnDatabase::of(&store)
                .await
                .context("identifying the gateway's own database")?,
        );
        let state = AppState::new(Services {
            store: store.clone(),
            keys,
            auth,
            leak_reports: Arc::new(FailureLimiter::new(config.auth_failures_per_minute)),
            connections,
            directory: crate::directory::Directory::new(store.clone()),
            audit: crate::audit::AuditLog::new(store.clone()),
        });
        let sessions = Sessions::new(&store)
            .await
            .context("setting up the session store")?;
        let router = Router::new()
            .nest(
                "/api",
                api::router(
                    state.clone(),
                    extra_api.merge(api::mcp::router(state.clone(), &config.http)),
                ),
            )
            .merge(web::router(config, state.clone()))
            .layer(sessions.layer(config.secure_cookies))
            .layer(middleware::from_fn_with_state(
                cross_origin::Scheme::reached_over_tls(config.secure_cookies),
                cross_origin::refuse_cross_origin,
            ));
        let proxies = security::proxies::TrustedProxies::new(&config.http.trusted_proxies);
        let router = security::headers(router)
            // tower-http's own span would log the URL as sent: a key put in the query by
            // mistake must not reach the log.
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    tracing::debug_span!(
                        "request",
                        method = %request.method(),
                        uri = %security::redact::uri(request.uri()),
                        version = ?request.version(),
                    )
                }),
            )
            // Every body, on every route (server functions and the leak report too).
            .layer(middleware::from_fn_with_state(
                security::paced_body::Pace {
                    grace: Duration::from_secs(config.http.body_read_timeout_secs.max(1)),
                    min_rate: config.http.body_min_bytes_per_sec.max(1),
                },
                security::paced_body::pace_bodies,
            ))
            // Inside the hang-up guard: a request carried out after its client left is still
            // logged, with the id its answer would have had.
            .layer(middleware::from_fn(crate::telemetry::log_request))
            // Who the client is, and whether a trusted proxy sent the request, decided once,
            // before anything counts, records or believes it.
            .layer(middleware::from_fn_with_state(
                proxies,
                security::proxies::resolve_client,
            ))
            // Outermost: everything a state-changing request does (session save included)
            // happens inside the task, whether or not the client waits for the answer.
            .layer(middleware::from_fn(security::hangup::run_to_completion));

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let metrics = match (config.observe.metrics_listen, recorder) {
            (Some(addr), Some(recorder)) => {
                let metrics_listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for metrics on {addr}"))?;
                tracing::info!(addr = %metrics_listener.local_addr()?, "metrics at /metrics");
                Some((metrics_listener, metrics::router(recorder, state.clone())))
            }
            _ => None,
        };
        tracing::info!(addr = %listener.local_addr()?, backend = store.backend(), "hoop gateway ready");
        Ok(Self {
            listener,
            router,
            state,
            limits: serve::ConnectionLimits::new(
                Duration::from_secs(config.http.header_read_timeout_secs.max(1)),
                Duration::from_secs(config.http.idle_timeout_secs.max(1)),
                config.http.max_connections,
            ),
            metrics,
            webhooks,
        })
    }

    /// What the handlers share (the benchmarks seed their store through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `GET /metrics` is served, if metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// Serves until `shutdown` resolves, drains in-flight requests, then records key use.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // Stopped with the gateway: it keeps answering while the gateway drains.
        let metrics = self.metrics.map(|(listener, router)| {
            let (stop, mut stopping) = tokio::sync::watch::channel(false);
            let limits = serve::ConnectionLimits {
                max_connections: METRICS_CONNECTIONS,
                ..self.limits
            };
            let stopped = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            let server = tokio::spawn(serve::serve(listener, router, limits, stopped));
            (stop, server)
        });
        serve::serve(self.listener, self.router, self.limits, shutdown).await;
        if let Some((stop, server)) = metrics {
            let _ = stop.send(true);
            let _ = server.await;
        }
        self.webhooks.stop().await;
        self.state.keys.flush_usage().await;
        self.state.store.close().await;
        Ok(())
    }
}

/// On the embedded default, a demo database and a `demo` connection to it (admins only), so a
/// newcomer can run `hoop exec demo -i "SELECT * FROM customers"` at once.
async fn seed_demo(store: &Store, org_id: Uuid, data_dir: &std::path::Path) -> anyhow::Result<()> {
    use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions, Connection};
    let path = data_dir.join("demo.db");
    let mut db = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL,          email TEXT NOT NULL, country TEXT NOT NULL, plan TEXT NOT NULL);
         INSERT OR IGNORE INTO customers VALUES
           (1, 'Ada Lovelace', 'ada@example.com', 'GB', 'enterprise'),
           (2, 'Grace Hopper', 'grace@example.com', 'US', 'pro'),
           (3, 'Alan Turing', 'alan@example.com', 'GB', 'free'),
           (4, 'Katherine Johnson', 'katherine@example.com', 'US', 'pro'),
           (5, 'Edsger Dijkstra', 'edsger@example.com', 'NL', 'free');",
    )
    .execute(&mut db)
    .await?;
    db.close().await?;
    let name = crate::domain::ConnectionName::parse("demo")?;
    let target = path.to_string_lossy();
    let demo = store::connections::NewConnection {
        name: &name,
        kind: "sqlite",
        target: &target,
        privileged: false,
        access_groups: &[GroupName::admin()],
    };
    store::connections::insert(store, org_id, demo, "bootstrap").await?;
    Ok(())
}

/// On a database with no users, create the organization and the first admin from the
/// configuration. With a legacy API_KEY the organization takes the key's id.
async fn bootstrap(
    store: &Store,
    config: &ServeConfig,
    legacy: Option<&LegacyApiKey>,
) -> anyhow::Result<()> {
    if store::identity::user_count(store).await? > 0 {
        return Ok(());
    }
    let org_id = match legacy {
        Some(k) => k.org_id(),
        None => store::identity::first_org(store)
            .await?
            .map_or_else(Uuid::new_v4, |o| o.id),
    };
    let org = Org {
        id: org_id,
        name: config.org_name.clone(),
    };
    match (&config.admin_email, &config.admin_password) {
        (Some(email), Some(password)) => {
            let email = Email::parse(email).context("HOOP_ADMIN_EMAIL")?;
            if password.expose().len() < 8 {
                anyhow::bail!("HOOP_ADMIN_PASSWORD must be at least 8 characters");
            }
            store::identity::ensure_org(store, &org).await?;
            let admin = store::identity::NewUser {
                name: email.as_str().split('@').next().unwrap_or("admin").to_owned(),
                email,
                password_hash: password::hash(password.clone()).await?,
                groups: vec![GroupName::admin()],
            };
            store::identity::create_user(store, org.id, admin, "bootstrap").await?;
            tracing::info!(org = %org.id, "created the organization and its first admin");
            if config.database_url.is_none() {
                seed_demo(store, org.id, &config.data_dir()).await?;
            }
        }
        (None, None) if legacy.is_some() => store::identity::ensure_org(store, &org).await?,
        (None, None) => tracing::warn!(
            "the database has no users: set HOOP_ADMIN_EMAIL and HOOP_ADMIN_PASSWORD to create the first admin"
        ),
        _ => anyhow::bail!("set both HOOP_ADMIN_EMAIL and HOOP_ADMIN_PASSWORD, or neither"),
    }
    Ok(())
}
