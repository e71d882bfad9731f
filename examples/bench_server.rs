//! The gateway for HTTP benchmarks: `--keys N` filler keys in the store, one real key printed
//! on stdout, and `/api/bench/userinfo`, the very handler of `/api/userinfo` behind the same
//! layers but fed the same key's caller without authentication, to measure what authentication
//! costs. See BENCHMARKS.md.

use axum::response::IntoResponse;
use axum::{routing::get, Router};
use clap::Parser;
use hoop::{
    caller::{Caller, Identity, Principal},
    config::ServeConfig,
    keys::NewApiKey,
    startup::Application,
    store,
};
use std::sync::{Arc, OnceLock};

#[path = "../benches/support/seed.rs"]
mod seed;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: ServeConfig,
    /// Filler keys to put in the store first.
    #[arg(long, default_value_t = 10)]
    keys: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // RUST_LOG=sqlx::query=debug lists every statement the gateway sends to its database
    // (scripts/bench-unknown-keys counts them).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // The caller the unauthenticated route answers for, known once the store is set up.
    let fixed: Arc<OnceLock<Principal>> = Arc::default();
    let answer = fixed.clone();
    let extra = Router::new().route(
        "/bench/userinfo",
        get(move || {
            let caller = answer.get().cloned();
            async move {
                match caller {
                    Some(c) => hoop::api::userinfo(c).await.into_response(),
                    None => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
                }
            }
        }),
    );
    let mut app = Application::build_with(&args.serve, extra.clone()).await?;
    let org = store::identity::first_org(&app.state().store)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no org"))?;
    if args.keys > 0 {
        seed::filler_keys(&app.state().store, org.id, args.keys).await?;
        // Keys written behind the gateway's back are in its set of active keys only from its
        // next start: start again, as the gateway a benchmark measures has them all.
        // Closing the store releases its hold on a SQLite file (one gateway per file).
        app.state().store.close().await;
        drop(app);
        app = Application::build_with(&args.serve, extra).await?;
    }
    let state = app.state().clone();
    state.keys.until_trusted().await;
    let admin = Principal::from(Caller {
        org_id: org.id,
        org_name: Arc::from(org.name.as_str()),
        identity: Identity::LegacyApiKey,
        groups: Arc::from(["admin".to_owned()]),
    });
    let (_, raw) = state
        .keys
        .create(
            &admin,
            NewApiKey {
                // Unique: the benchmark restarts the server on the same database.
                name: format!("bench-{}", uuid::Uuid::new_v4().simple()),
                groups: vec!["admin".into()],
                expires_at: None,
            },
        )
        .await?;
    // The unauthenticated route answers for this very key, so both routes send the same body.
    let _ = fixed.set(state.keys.verify(&raw, &hoop::keys::Seen::NOBODY).await?);
    println!("{} {}", app.local_addr()?, raw.expose());
    app.run_until(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
