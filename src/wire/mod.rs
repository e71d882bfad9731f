//! What the REST API sends and receives: the one definition the handlers answer with, the CLI
//! reads, and the integration tests assert on. These types hold no rows of the store and no
//! service logic, and depend only on `domain` (names, for their documented rules) and `secret`.
//! The store's rows become these in the services or the API layer, never the other way round,
//! so a column can change without changing what a client sees.

pub mod audit;
pub mod connections;
pub mod errors;
pub mod identity;
pub mod keys;
pub mod sessions;

use crate::secret::SecretString;

/// Serializes a secret a body has to carry (a password on its way in, a new key or token on its
/// way out). `SecretString` is not `Serialize`: each field that writes one names this function,
/// so every place a secret goes onto the wire is visible in review.
fn expose<S: serde::Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}
