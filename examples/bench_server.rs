//! The gateway for HTTP benchmarks: `--keys N` filler keys in the store, one real key printed
//! on stdout, and `/bench/userinfo`, the very handler of `/api/userinfo` fed a fixed caller
//! without authentication, to measure what authentication costs. See BENCHMARKS.md.

use axum::{routing::get, Router};
use clap::Parser;
use hoop::{
    auth::{Caller, Identity, Principal},
    config::ServeConfig,
    keys::NewApiKey,
    startup::Application,
    store,
};
use std::sync::Arc;

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
    let app = Application::build(&args.serve).await?;
    let state = app.state().clone();
    let org = store::identity::first_org(&state.store)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no org"))?;
    let admin = Principal::from(Caller {
        org_id: org.id,
        org_name: Arc::from(org.name.as_str()),
        identity: Identity::LegacyApiKey,
        groups: Arc::from(["admin".to_owned()]),
    });
    seed::filler_keys(&state.store, org.id, args.keys).await?;
    let (_, raw) = state
        .keys
        .create(
            &admin,
            NewApiKey {
                name: "bench".into(),
                groups: vec!["admin".into()],
            },
        )
        .await?;
    let fixed = admin.clone();
    let app = app.merge(Router::new().route(
        "/bench/userinfo",
        get(move || hoop::api::userinfo(fixed.clone())),
    ));
    println!("{} {}", app.local_addr()?, raw.expose());
    app.run_until(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
