//! What a delivery carries: the audit event, as JSON. The audit log's details never hold a
//! secret (`store::audit::Change` builds them from public fields only), so neither does this.

use crate::store::webhooks::Queued;
use chrono::SecondsFormat;
use serde_json::{json, Value};

/// The `webhook-id` of an event: the same on every attempt, so a receiver can drop repeats.
pub fn message_id(event: &Queued) -> String {
    event.event_id.to_string()
}

/// The JSON body sent for `event`.
pub fn body(event: &Queued) -> Vec<u8> {
    let details: Value = serde_json::from_str(&event.details).unwrap_or(Value::Null);
    let payload = json!({
        "id": message_id(event),
        "type": event.action,
        "occurred_at": event.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "org_id": event.org_id,
        "actor": event.actor,
        "api_key": { "id": event.target_id, "name": event.target_name },
        "details": details,
    });
    payload.to_string().into_bytes()
}
