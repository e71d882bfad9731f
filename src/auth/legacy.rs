//! The legacy static `API_KEY='<org-id>|<random>'`: accepted in the `Api-Key` header, always as
//! an admin of that organization.

use crate::secret::{secrets_equal, SecretString};
use uuid::Uuid;

#[derive(Clone)]
pub struct LegacyApiKey {
    org_id: Uuid,
    value: std::sync::Arc<SecretString>,
    /// [`estimated_bits`] of the random part, for the start-up warning.
    random_bits: f64,
}

/// Below this estimate the random part is called guessable at start-up: the least a secret
/// guessed over the network should cost. The estimate is generous (see [`estimated_bits`]), so
/// a value below it is clearly weak; one above it is not thereby proven strong.
pub const MIN_RANDOM_BITS: f64 = 64.0;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LegacyKeyError {
    #[error("API_KEY must look like '<org-id>|<random>': the '|' separator is missing")]
    NoSeparator,
    #[error("API_KEY must look like '<org-id>|<random>': the part before '|' is not a UUID")]
    BadOrgId,
    #[error("API_KEY must look like '<org-id>|<random>': the random part must be at least 16 characters")]
    ShortSecret,
}

impl LegacyApiKey {
    pub fn parse(value: &str) -> Result<Self, LegacyKeyError> {
        let (org, random) = value.split_once('|').ok_or(LegacyKeyError::NoSeparator)?;
        let org_id = Uuid::parse_str(org.trim()).map_err(|_| LegacyKeyError::BadOrgId)?;
        if random.len() < 16 {
            return Err(LegacyKeyError::ShortSecret);
        }
        Ok(Self {
            org_id,
            value: std::sync::Arc::new(SecretString::new(value.to_owned())),
            random_bits: estimated_bits(random),
        })
    }

    /// Logs a warning when the random part is clearly guessable. Only a warning: refusing would
    /// stop gateways that run today, and the fix is the operator's. The message says nothing of
    /// the value.
    pub fn warn_if_guessable(&self) {
        if self.random_bits < MIN_RANDOM_BITS {
            tracing::warn!(
                "API_KEY is guessable: its random part (after '|') repeats itself, runs through \
                 consecutive characters or draws on too few kinds of characters, and whoever \
                 guesses it is an admin. Replace it with a random value, such as \
                 '<org-id>|'\"$(openssl rand -base64 32)\", or better, move to managed keys"
            );
        }
    }

    pub fn org_id(&self) -> Uuid {
        self.org_id
    }

    /// Constant-time comparison with a presented header value.
    pub fn matches(&self, presented: &str) -> bool {
        secrets_equal(self.value.expose(), presented)
    }
}

/// A generous estimate of the entropy in `s`, in bits. Each character counts `log2` of the
/// alphabet `s` draws on (the classes it uses: lower case, upper case, digits, ASCII symbols,
/// anything else), except characters a guesser predicts: a repeat of the one before, the next
/// step of a run (`abc`, `987`), and everything after the first block of a value that repeats
/// one (`abcabcabc`). It knows no words, so it overrates a phrase; it never underrates a random
/// string.
pub fn estimated_bits(s: &str) -> f64 {
    let chars: Vec<char> = s.chars().collect();
    let block = &chars[..period(&chars)];
    let step = |a: char, b: char| i64::from(u32::from(b)) - i64::from(u32::from(a));
    let counted = (0..block.len())
        .filter(|&i| {
            let repeat = i >= 1 && block[i] == block[i - 1];
            let run = i >= 2 && {
                let previous = step(block[i - 2], block[i - 1]);
                previous.abs() == 1 && step(block[i - 1], block[i]) == previous
            };
            !(repeat || run)
        })
        .count();
    let counted = f64::from(u32::try_from(counted).unwrap_or(u32::MAX));
    counted * f64::from(alphabet(&chars)).log2()
}

/// The shortest block `chars` repeats (at least twice, the last time perhaps in part), or its
/// whole length.
fn period(chars: &[char]) -> usize {
    (1..=chars.len() / 2)
        .find(|&p| (p..chars.len()).all(|i| chars[i] == chars[i - p]))
        .unwrap_or(chars.len())
}

/// How many characters a guesser must try per position, given the classes `chars` uses.
fn alphabet(chars: &[char]) -> u32 {
    let uses = |class: fn(&char) -> bool| chars.iter().any(class);
    [
        (uses(char::is_ascii_lowercase), 26),
        (uses(char::is_ascii_uppercase), 26),
        (uses(char::is_ascii_digit), 10),
        (uses(|c| c.is_ascii() && !c.is_ascii_alphanumeric()), 33),
        (uses(|c| !c.is_ascii()), 128),
    ]
    .iter()
    .filter(|(used, _)| *used)
    .map(|(_, size)| size)
    .sum::<u32>()
    .max(1)
}

impl std::fmt::Debug for LegacyApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LegacyApiKey {{ org_id: {}, value: [redacted] }}",
            self.org_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let v = "6f1c2a9e-1b7d-4d35-9a55-6c5f0d2b7e11|0123456789abcdefXYZ";
        let k = LegacyApiKey::parse(v).unwrap();
        assert_eq!(
            k.org_id().to_string(),
            "6f1c2a9e-1b7d-4d35-9a55-6c5f0d2b7e11"
        );
        assert!(k.matches(v));
        assert!(!k.matches(&v[..v.len() - 1]));
        assert!(!format!("{k:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn patterned_random_parts_are_guessable() {
        for weak in [
            "aaaaaaaaaaaaaaaa",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "0123456789abcdef",
            "abcdefghijklmnopqrstuvwxyz",
            "zyxwvutsrqponmlkjihgfedcba",
            "abababababababab",
            "passwordpassword",
            "1111111111111111111111111111111111111111111",
            "0123456789abcdefXYZ",
        ] {
            let bits = estimated_bits(weak);
            assert!(bits < MIN_RANDOM_BITS, "{weak}: {bits}");
        }
    }

    #[test]
    fn random_parts_from_a_generator_are_not() {
        for strong in [
            // openssl rand -base64 32
            "q3Jk8+Zx0Pf1mV7yT2bN9wLc4HsR6eUaDgKjXo5YtIQ=",
            // openssl rand -hex 16
            "9f86d081884c7d659a2feaa0c55ad015",
            // openssl rand -hex 8: 64 random bits, rated above (the estimate is generous)
            "5f4dcc3b5aa765d6",
            // a UUID v4
            "0b8a3c6e-2f4d-4e1b-9c7a-5d3e1f2a4b6c",
            // the test suite's legacy key
            "legacy-random-0123456789",
        ] {
            let bits = estimated_bits(strong);
            assert!(bits >= MIN_RANDOM_BITS, "{strong}: {bits}");
        }
    }

    #[test]
    fn the_estimate_counts_blocks_runs_and_repeats() {
        let log2 = |n: f64| n.log2();
        assert_eq!(estimated_bits(""), 0.0);
        assert!((estimated_bits("aaaa") - log2(26.0)).abs() < 1e-9);
        // 'a', 'b' count; 'c', 'd' continue the run.
        assert!((estimated_bits("abcd") - 2.0 * log2(26.0)).abs() < 1e-9);
        // One block of "xq", whatever its repeats.
        assert!((estimated_bits("xqxqxqx") - 2.0 * log2(26.0)).abs() < 1e-9);
        // Every class widens the alphabet.
        assert!((estimated_bits("aZ") - 2.0 * log2(52.0)).abs() < 1e-9);
        assert!((estimated_bits("a9Z!") - 4.0 * log2(95.0)).abs() < 1e-9);
    }

    #[test]
    fn malformed_values_say_why() {
        assert_eq!(
            LegacyApiKey::parse("nope").unwrap_err(),
            LegacyKeyError::NoSeparator
        );
        assert_eq!(
            LegacyApiKey::parse("org|0123456789abcdef").unwrap_err(),
            LegacyKeyError::BadOrgId
        );
        assert_eq!(
            LegacyApiKey::parse("6f1c2a9e-1b7d-4d35-9a55-6c5f0d2b7e11|short").unwrap_err(),
            LegacyKeyError::ShortSecret
        );
    }
}
