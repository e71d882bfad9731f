//! The gateway's REST API as the CLI uses it: requests and answers are the API's own types
//! (`crate::wire`), and every failure becomes one line for the user.

use super::{config::SavedKey, expiry};
use crate::{
    secret::SecretString,
    wire::{
        errors::ErrorBody,
        identity::{Login, Token},
        keys::KEY_EXPIRES_HEADER,
    },
};
use reqwest::{Method, StatusCode};
use serde::{de::DeserializeOwned, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<SecretString>,
    /// The managed key `token` is, when `hoop login` saved it.
    saved_key: Option<SavedKey>,
    /// Set by `hoop login`, which learns the key's name only from the answer: the expiry seen
    /// is kept for it to word the warning, instead of printed.
    expiry_seen: Option<std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>>,
}

/// Whether this process has printed the expiry warning: once per command, however many
/// requests the command makes.
static WARNED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("not authenticated: the key was rejected (deactivated or unknown); run hoop login")]
    Unauthenticated,
    #[error("not logged in: run hoop login --api-key hpk_… (or set HOOP_TOKEN)")]
    NoToken,
    #[error("{0}")]
    Forbidden(String),
    #[error("cannot reach the gateway at {0}: connection refused or unreachable")]
    Unreachable(String),
    #[error("{0}")]
    Api(String),
    #[error("{0}")]
    Usage(String),
}

/// What the CLI calls itself in `User-Agent`.
const USER_AGENT: &str = concat!("hoop-cli/", env!("CARGO_PKG_VERSION"));

impl Client {
    /// The client `hoop login` set up: its gateway and credential, from the saved config.
    pub fn from_config() -> Result<Self, CliError> {
        let config = super::config::load().map_err(CliError::Usage)?;
        Ok(Self::new(&config.api_url, config.token).with_saved_key(config.key))
    }

    pub fn new(base: &str, token: Option<SecretString>) -> Self {
        Self {
            // Named, as clients should be: a key's page shows which program used it.
            http: reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .build()
                .unwrap_or_default(),
            base: base.trim_end_matches('/').to_owned(),
            token,
            saved_key: None,
            expiry_seen: None,
        }
    }

    /// Keeps the expiry the gateway announces (see [`Self::expiry_seen`]) instead of warning.
    pub fn deferring_expiry_warning(mut self) -> Self {
        self.expiry_seen = Some(std::sync::Mutex::new(None));
        self
    }

    /// When the key stops working, if an answer said it is within 7 days (deferring clients).
    pub fn expiry_seen(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let seen = self.expiry_seen.as_ref()?;
        *seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn with_saved_key(mut self, key: Option<SavedKey>) -> Self {
        self.saved_key = key;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn saved_key(&self) -> Option<&SavedKey> {
        self.saved_key.as_ref()
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.authenticated(Method::GET, path, None::<&()>).await
    }

    /// A request with a JSON body.
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CliError> {
        self.authenticated(method, path, Some(body)).await
    }

    /// A POST without a body (activate, deactivate).
    pub async fn post<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.authenticated(Method::POST, path, None::<&()>).await
    }

    /// The one call that needs no credential.
    pub async fn login(&self, login: &Login) -> Result<Token, CliError> {
        self.request(Method::POST, "/api/localauth/login", Some(login), None)
            .await
    }

    async fn authenticated<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, CliError> {
        let token = self.token.as_ref().ok_or(CliError::NoToken)?;
        self.request(method, path, body, Some(token)).await
    }

    async fn request<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        token: Option<&SecretString>,
    ) -> Result<T, CliError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t.expose());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let response = req.send().await.map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                CliError::Unreachable(self.base.clone())
            } else {
                CliError::Api(format!("request to {} failed: {e}", self.base))
            }
        })?;
        self.warn_if_expiring(response.headers());
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let message = || {
            serde_json::from_str::<ErrorBody>(&text)
                .map(|e| e.message)
                .unwrap_or_else(|_| status.to_string())
        };
        match status {
            s if s.is_success() => serde_json::from_str(&text)
                .map_err(|e| CliError::Api(format!("the gateway's answer could not be read: {e}"))),
            StatusCode::UNAUTHORIZED => Err(CliError::Unauthenticated),
            StatusCode::FORBIDDEN => Err(CliError::Forbidden(message())),
            _ => Err(CliError::Api(format!(
                "{} ({})",
                message(),
                status.as_u16()
            ))),
        }
    }

    /// The gateway says when the key stops working once that is within 7 days: one line on
    /// stderr, which never mixes with the answer on stdout (`-o json` included).
    fn warn_if_expiring(&self, headers: &reqwest::header::HeaderMap) {
        let Some(at) = headers
            .get(KEY_EXPIRES_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
        else {
            return;
        };
        if let Some(seen) = &self.expiry_seen {
            *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(at.to_utc());
            return;
        }
        if !WARNED.swap(true, Ordering::Relaxed) {
            let name = self.saved_key.as_ref().map(|k| k.name.as_str());
            eprintln!("{}", expiry::warning(at.to_utc(), chrono::Utc::now(), name));
        }
    }
}

/// `s` as one segment of a URL path: a name with a `/` or a `?` stays one segment.
pub fn path_segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
