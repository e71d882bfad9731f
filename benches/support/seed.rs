//! Filler keys for benchmarks, inserted straight into the store in one transaction: creating
//! 100 000 through the key service would measure the audit log, not verification.

use hoop::{
    keys::RawApiKey,
    store::{self, Store},
};
use uuid::Uuid;

/// Inserts `n` active keys in group `admin`; returns their raw values.
pub async fn filler_keys(
    store: &Store,
    org_id: Uuid,
    n: usize,
) -> Result<Vec<String>, sqlx::Error> {
    macro_rules! insert_all {
        ($pool:expr) => {{
            let mut tx = $pool.begin().await?;
            let now = store::now();
            let mut raws = Vec::with_capacity(n);
            for i in 0..n {
                let raw = RawApiKey::generate();
                let id = Uuid::new_v4();
                sqlx::query(
                    "INSERT INTO api_keys (id, org_id, name, key_hash, masked_key, status, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'active', 'bench', $6)",
                )
                .bind(id)
                .bind(org_id)
                .bind(format!("filler-{i}"))
                .bind(raw.hash())
                .bind(raw.masked())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO api_key_groups (api_key_id, org_id, group_name) VALUES ($1, $2, 'admin')")
                    .bind(id)
                    .bind(org_id)
                    .execute(&mut *tx)
                    .await?;
                raws.push(raw.expose().to_owned());
            }
            tx.commit().await?;
            raws
        }};
    }
    Ok(match store {
        Store::Sqlite(sqlite) => insert_all!(&sqlite.pool),
        Store::Postgres(pool) => insert_all!(pool),
    })
}
