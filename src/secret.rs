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
    // Encoded straight into a buffer of the final size: an intermediate string, or a buffer
    // that grows, would free a copy of the secret without wiping it.
    let mut token = String::with_capacity(prefix.len() + TOKEN_BODY_LEN);
    token.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut token);
    bytes.zeroize();
    SecretString(token)
}

/// base64url without padding of 32 bytes.
const TOKEN_BODY_LEN: usize = 43;

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

#[cfg(test)]
pub(crate) mod wipe {
    //! The unit tests' allocator notes what a thread frees while it watches, so tests can
    //! check that a secret's heap memory was wiped before it went back to the allocator.

    use std::{
        alloc::{GlobalAlloc, Layout, System},
        cell::Cell,
        sync::Mutex,
    };

    struct Noting;

    const LOG_BYTES: usize = 1 << 16;

    struct Freed {
        bytes: [u8; LOG_BYTES],
        len: usize,
        overflowed: bool,
    }

    static FREED: Mutex<Freed> = Mutex::new(Freed {
        bytes: [0; LOG_BYTES],
        len: 0,
        overflowed: false,
    });

    thread_local! {
        // Const and without a destructor: reading it never allocates.
        static WATCHING: Cell<bool> = const { Cell::new(false) };
    }

    // SAFETY: every call is forwarded to the system allocator unchanged; `dealloc` only reads
    // the block it is handed (live until forwarded) before forwarding it.
    unsafe impl GlobalAlloc for Noting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if WATCHING.try_with(Cell::get).unwrap_or(false) {
                let mut log = FREED.lock().unwrap_or_else(|e| e.into_inner());
                let start = log.len;
                let n = layout.size().min(LOG_BYTES - start);
                log.overflowed |= n < layout.size();
                // SAFETY: `ptr` is a live block of `layout.size()` bytes. Bytes of it never
                // written (spare capacity) are copied as the system allocator left them: this
                // allocator serves tests only, which compare them with a secret.
                let block = unsafe { std::slice::from_raw_parts(ptr, n) };
                log.bytes[start..start + n].copy_from_slice(block);
                log.len += n;
            }
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Noting = Noting;

    /// Runs `f` and returns every byte this thread freed meanwhile.
    pub fn freed_during(f: impl FnOnce()) -> Vec<u8> {
        {
            let mut log = FREED.lock().unwrap_or_else(|e| e.into_inner());
            log.len = 0;
            log.overflowed = false;
        }
        WATCHING.with(|w| w.set(true));
        f();
        WATCHING.with(|w| w.set(false));
        let log = FREED.lock().unwrap_or_else(|e| e.into_inner());
        assert!(!log.overflowed, "freed more than the log holds");
        log.bytes[..log.len].to_vec()
    }

    pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }
}

#[cfg(test)]
mod tests {
    use super::{wipe::*, *};

    const SECRET: &str = "correct-horse-battery-staple-0123456789";

    #[test]
    fn the_harness_sees_what_is_freed() {
        let plain = SECRET.to_owned();
        assert!(contains(&freed_during(|| drop(plain)), SECRET.as_bytes()));
    }

    #[test]
    fn a_secret_string_is_wiped_before_its_memory_is_freed() {
        let secret = SecretString::new(SECRET.to_owned());
        let clone = secret.clone();
        let freed = freed_during(|| {
            drop(secret);
            drop(clone);
        });
        assert!(freed.len() >= 2 * SECRET.len(), "both buffers were freed");
        assert!(!contains(&freed, SECRET.as_bytes()));
    }

    #[test]
    fn making_a_token_leaves_no_copy_of_it_in_freed_memory() {
        let mut body = [0u8; TOKEN_BODY_LEN];
        let freed = freed_during(|| {
            let token = random_token("hpk_");
            body.copy_from_slice(&token.expose().as_bytes()[4..]);
            drop(token);
        });
        assert!(!contains(&freed, &body));
    }
}
