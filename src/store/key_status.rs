//! A key's stored status: a file of its own because both the key rows and the audit events
//! (which record its changes) name it, and `store::keys` writes audit events.

use super::text_enum::text_enum;

text_enum! {
    /// Whether a key authenticates. Deactivation keeps the row (and its audit history).
    pub enum KeyStatus {
        Active = "active",
        Deactivated = "deactivated",
    }
}
