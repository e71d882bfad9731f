//! The legacy static `API_KEY='<org-id>|<random>'`: accepted in the `Api-Key` header, always as
//! an admin of that organization.

use crate::secret::{secrets_equal, SecretString};
use uuid::Uuid;

#[derive(Clone)]
pub struct LegacyApiKey {
    org_id: Uuid,
    value: std::sync::Arc<SecretString>,
}

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
        })
    }

    pub fn org_id(&self) -> Uuid {
        self.org_id
    }

    /// Constant-time comparison with a presented header value.
    pub fn matches(&self, presented: &str) -> bool {
        secrets_equal(self.value.expose(), presented)
    }
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
