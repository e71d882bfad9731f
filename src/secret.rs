//! Secret strings: redacted in `Debug`, never `Serialize`, wiped on drop.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::{rngs::OsRng, RngCore};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A password, user token or similar. Deserializable (it arrives in request bodies), but it
/// can only be read through [`SecretString::expose`], which makes every use visible in review.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: String) -> Self {
        Self(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// `prefix` + base64url (no padding) of 32 bytes from the OS CSPRNG: 256 bits of entropy.
pub fn random_token(prefix: &str) -> SecretString {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    bytes.zeroize();
    SecretString(token)
}

pub fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(sha256(s))
}

/// Constant-time equality of two secrets of any length: compares their digests, so neither
/// the content nor the length leaks through timing.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    sha256(a).ct_eq(&sha256(b)).into()
}

impl std::str::FromStr for SecretString {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}
