//! The signature of a delivery, as the Standard Webhooks specification (standardwebhooks.com)
//! defines it: `v1,` and the base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`. The key is
//! the bytes of HOOP_WEBHOOK_SECRET as given (not base64-decoded, unlike the spec's `whsec_`
//! secrets), so a receiver verifies with the same string it was configured with.

use crate::secret::SecretString;
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The value of the `webhook-signature` header for this message.
pub fn sign(secret: &SecretString, id: &str, timestamp: i64, body: &[u8]) -> String {
    sign_with_key(secret.expose().as_bytes(), id, timestamp, body)
}

fn sign_with_key(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("an HMAC takes a key of any length");
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries, whose secret
    /// `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw` is the base64 of the key bytes: given those
    /// bytes, the signature is theirs.
    #[test]
    fn signs_as_the_standard_webhooks_libraries_do() {
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign_with_key(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                b"{\"test\": 2432232314}"
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        // And `sign` is that computation over `{id}.{timestamp}.{body}` with the secret's bytes.
        let secret = SecretString::new("s3cret".into());
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(b"42.1614265330.{}");
        assert_eq!(
            sign(&secret, "42", 1614265330, b"{}"),
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        );
    }
}
