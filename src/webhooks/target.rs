//! The receiver events are sent to, from HOOP_WEBHOOK_URL and HOOP_WEBHOOK_SECRET.

use crate::{config::WebhookConfig, secret::SecretString};
use anyhow::{bail, Context};

/// Where events go, checked at start-up.
pub struct Target {
    pub(super) url: reqwest::Url,
    pub(super) secret: Option<SecretString>,
}

// By hand: a webhook URL often carries a token of the receiver's, so it is never logged whole.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.url.host_str())
            .field("signed", &self.secret.is_some())
            .finish()
    }
}

impl Target {
    /// The configured receiver, if any; an unusable URL stops start-up. The error never
    /// repeats the URL, which may hold a token.
    pub fn from_config(config: &WebhookConfig) -> anyhow::Result<Option<Self>> {
        let Some(url) = &config.url else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(url.expose())
            .ok()
            .context("HOOP_WEBHOOK_URL is not a URL: give an absolute http:// or https:// URL")?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!(
                "HOOP_WEBHOOK_URL must be an http:// or https:// URL, not {}://",
                url.scheme()
            );
        }
        if url.host_str().is_none_or(str::is_empty) {
            bail!("HOOP_WEBHOOK_URL has no host");
        }
        if !url.username().is_empty() || url.password().is_some() {
            // reqwest would send them as Basic credentials; say so rather than guess.
            bail!("HOOP_WEBHOOK_URL must not hold a user name or password");
        }
        let secret = config.secret.clone().filter(|s| !s.expose().is_empty());
        Ok(Some(Target { url, secret }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> anyhow::Result<Option<Target>> {
        Target::from_config(&WebhookConfig {
            url: Some(SecretString::new(url.to_owned())),
            secret: None,
        })
    }

    #[test]
    fn only_http_and_https_urls_with_a_host_are_taken() {
        assert!(Target::from_config(&WebhookConfig::default())
            .unwrap()
            .is_none());
        for good in [
            "https://hooks.example.com/hoop?t=1",
            "http://127.0.0.1:9000/x",
        ] {
            assert!(target(good).unwrap().is_some(), "{good}");
        }
        for (bad, says) in [
            ("ftp://hooks.example.com/", "http:// or https://"),
            ("file:///etc/passwd", "http:// or https://"),
            ("hooks.example.com/path", "not a URL"),
            (
                "https://user:pw@hooks.example.com/",
                "user name or password",
            ),
        ] {
            let message = format!("{:#}", target(bad).unwrap_err());
            assert!(message.contains(says), "{bad}: {message}");
            assert!(
                !message.contains("hooks.example.com"),
                "{bad}: the URL repeated"
            );
        }
    }
}
