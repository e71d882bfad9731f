//! The gateway's REST API as the CLI uses it; every failure becomes one line for the user.

use crate::secret::SecretString;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<SecretString>,
}

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

impl Client {
    pub fn new(base: &str, token: Option<SecretString>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let token = self.token.as_ref().ok_or(CliError::NoToken)?;
        self.send(method, path, body, Some(token)).await
    }

    /// A call that needs no credential (login).
    pub async fn call_anonymous(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, CliError> {
        self.send(method, path, Some(body), None).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&SecretString>,
    ) -> Result<Value, CliError> {
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
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        let message = || {
            body["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| status.to_string())
        };
        match status {
            s if s.is_success() => Ok(body),
            StatusCode::UNAUTHORIZED => Err(CliError::Unauthenticated),
            StatusCode::FORBIDDEN => Err(CliError::Forbidden(message())),
            _ => Err(CliError::Api(format!(
                "{} ({})",
                message(),
                status.as_u16()
            ))),
        }
    }
}
