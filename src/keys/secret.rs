//! The managed key format: `hpk_` + 43 base64url characters (32 random bytes).

use crate::secret::random_token;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

pub const PREFIX: &str = "hpk_";
/// `hpk_` (4) + base64url without padding of 32 bytes (43).
pub const LEN: usize = 47;
/// How much of the key the masked preview keeps: the prefix and 4 characters.
const VISIBLE: usize = 8;

/// The bytes base64url uses: a table, since every request checks 43 of them.
const BASE64URL: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        i += 1;
    }
    table
};

/// A raw managed key. It exists only while a create request is answered and while a request
/// is authenticated; it is never stored, logged or serialized. Held inline (no allocation on
/// the hot path) and wiped on drop.
pub struct RawApiKey([u8; LEN]);

impl RawApiKey {
    pub fn generate() -> Self {
        let token = random_token(PREFIX);
        let mut raw = [0u8; LEN];
        raw.copy_from_slice(token.expose().as_bytes());
        Self(raw)
    }

    /// `None` for anything that is not exactly the key format: such a value can never match a
    /// stored key, so the caller answers it like an unknown key.
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_bytes(s.as_bytes())
    }

    /// [`parse`](Self::parse) on raw header bytes: one pass, and the format admits only ASCII.
    pub fn parse_bytes(b: &[u8]) -> Option<Self> {
        let raw: [u8; LEN] = b.try_into().ok()?;
        let well_formed = raw.starts_with(PREFIX.as_bytes())
            && raw[PREFIX.len()..]
                .iter()
                .all(|&c| BASE64URL[usize::from(c)]);
        if well_formed {
            Some(Self(raw))
        } else {
            None
        }
    }

    /// SHA-256 of the whole key: what the cache is keyed on.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }

    /// Hex SHA-256 of the whole key: what the database stores and looks keys up by.
    pub fn hash(&self) -> String {
        hex::encode(self.digest())
    }

    /// The preview shown in lists: `hpk_` + 4 characters + 39 `*`.
    pub fn masked(&self) -> String {
        format!("{}{}", &self.expose()[..VISIBLE], "*".repeat(LEN - VISIBLE))
    }

    /// The key itself, for the one response that hands it to its owner.
    pub fn expose(&self) -> &str {
        // Only ASCII ever gets in (see `parse` and `generate`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Drop for RawApiKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for RawApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawApiKey({}…[redacted])", &self.expose()[..VISIBLE])
    }
}

#[cfg(test)]
#[path = "secret_tests.rs"]
mod tests;
