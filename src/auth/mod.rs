//! Who is calling. Extractors only collect credentials ([`Credential::from_headers`]);
//! [`Authenticator::authenticate`] is the one function that turns them into a [`Principal`].
//!
//! It is also the one place that counts failures ([`FailureLimiter`], per client address), so no
//! path that looks at a credential can skip the count. A limited address may not have a
//! *guessable* secret checked at all — a password, or the legacy `API_KEY` (chosen by a person)
//! — not even the right one. Secrets the gateway generated (managed keys, user tokens, session
//! ids: 128 bits or more from the OS's generator) cannot be guessed, so they are still checked:
//! a valid one works, so automation sharing an address with a guesser keeps working, and an
//! invalid one counts as one more failure and is answered 429.

mod counts;
mod legacy;
pub mod password;
pub mod session;

use crate::{
    caller::{Caller, CallerNote, Identity, Principal, UserAuth},
    domain::{Email, ADMIN_GROUP},
    error::{Error, Result},
    keys::{KeyService, RawApiKey, Seen},
    secret::{random_token, sha256_hex, SecretString},
    security::proxies::ClientIp,
    security::throttle::FailureLimiter,
    store::{self, identity::UserRow, Store},
};
use axum::http::{header, request::Parts, HeaderMap};
use chrono::TimeDelta;
use counts::{AuthCounts, Method, Outcome};
pub use legacy::LegacyApiKey;
use std::{
    net::{IpAddr, Ipv6Addr},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};
use uuid::Uuid;

const USER_TOKEN_PREFIX: &str = "hut_";
const USER_TOKEN_TTL: TimeDelta = TimeDelta::hours(12);

/// A credential as presented, not yet checked.
#[derive(Debug)]
pub enum Credential {
    ApiKey(RawApiKey),
    /// Bearer value that is not in the managed key format: a user token, or garbage.
    Bearer(SecretString),
    /// A value that claims to be a managed key but is malformed: fails like an unknown key.
    MalformedApiKey,
    Legacy(SecretString),
    /// The user id found in a browser session.
    Session(Uuid),
    None,
}

impl Credential {
    /// Headers first; a browser session only when the request carries no credential header.
    pub async fn collect(parts: &axum::http::request::Parts) -> Result<Self> {
        let credential = Self::from_headers(&parts.headers);
        if !matches!(credential, Credential::None) {
            return Ok(credential);
        }
        // Boxed: API requests carry a header and should not pay for the session's future.
        Box::pin(Self::from_session(parts)).await
    }

    async fn from_session(parts: &axum::http::request::Parts) -> Result<Self> {
        let Some(session) = parts.extensions.get::<tower_sessions::Session>() else {
            return Ok(Credential::None);
        };
        let user_id = session
            .get::<Uuid>(session::USER_ID)
            .await
            .map_err(|e| Error::Internal(e.into()))?;
        Ok(user_id.map_or(Credential::None, Credential::Session))
    }

    /// `Authorization: Bearer …` wins over `Api-Key: …`; anything else is no credential.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            // What nearly every request sends, read in one pass: exactly `Bearer hpk_…`.
            let exact = value.as_bytes().strip_prefix(b"Bearer ");
            if let Some(key) = exact.and_then(RawApiKey::parse_bytes) {
                return Credential::ApiKey(key);
            }
            let Some(token) = value.to_str().ok().and_then(bearer_token) else {
                return Credential::MalformedApiKey;
            };
            if token.starts_with(crate::keys::secret::PREFIX) {
                return RawApiKey::parse(token)
                    .map_or(Credential::MalformedApiKey, Credential::ApiKey);
            }
            return Credential::Bearer(SecretString::new(token.to_owned()));
        }
        match headers.get("api-key").and_then(|v| v.to_str().ok()) {
            Some(v) => Credential::Legacy(SecretString::new(v.to_owned())),
            None => Credential::None,
        }
    }
}

/// The address failures are counted against: the client as decided once for the request
/// ([`crate::security::proxies`]: the TCP peer, or behind a trusted proxy the address it
/// forwarded). Without one (never the case behind the gateway's own listener) every such
/// request shares one count: fail closed.
pub fn client_addr(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ClientIp>()
        .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |c| c.0)
}

/// [`client_addr`] as an extractor, for handlers that check a credential themselves (login).
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts)))
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[derive(Clone)]
pub struct Authenticator {
    store: Store,
    keys: KeyService,
    legacy: Option<LegacyApiKey>,
    legacy_org_name: Arc<str>,
    limiter: Arc<FailureLimiter>,
    /// Credentials looked up beyond the key cache (sessions, user tokens, the legacy key):
    /// what a request pays in database reads to learn who is calling.
    lookups: Arc<AtomicU64>,
    /// Every check, by method and outcome, in the metrics.
    counts: Arc<AuthCounts>,
}

impl Authenticator {
    /// `legacy` must name an existing organization (checked at start-up by the caller).
    pub fn new(
        store: Store,
        keys: KeyService,
        legacy: Option<(LegacyApiKey, String)>,
        limiter: Arc<FailureLimiter>,
    ) -> Self {
        let (legacy, legacy_org_name) = match legacy {
            Some((key, org_name)) => (Some(key), org_name),
            None => (None, String::new()),
        };
        let legacy_org_name = Arc::from(legacy_org_name);
        Self {
            store,
            keys,
            legacy,
            legacy_org_name,
            limiter,
            lookups: Arc::new(AtomicU64::new(0)),
            counts: Arc::new(AuthCounts::new()),
        }
    }

    /// How many credentials were looked up beyond the key cache since start-up: a page is
    /// meant to cost one, however many server functions it renders.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// [`Self::authenticate`] for one request, as every interface calls it: failures counted
    /// against the request's client address, and the caller noted for the request's log line.
    pub async fn authenticate_request(
        &self,
        credential: &Credential,
        parts: &Parts,
    ) -> Result<Principal> {
        let seen = Seen {
            ip: client_addr(parts),
            user_agent: parts.headers.get(header::USER_AGENT).map(|v| v.as_bytes()),
        };
        let principal = self.authenticate(credential, &seen).await?;
        CallerNote::record(parts, &principal, self.keys.now_ms());
        Ok(principal)
    }

    /// The one function that decides who is calling; `client` is who presented the credential
    /// (its address is what failures are counted against). A managed key is the hot path: a hash and a map lookup, and the counter
    /// is not touched unless it fails. Every other credential needs the database; that path is
    /// boxed so its much larger future is not set up and moved on every key request.
    pub async fn authenticate(
        &self,
        credential: &Credential,
        client: &Seen<'_>,
    ) -> Result<Principal> {
        let from = client.ip;
        // What a failure means unless the check says otherwise (an expired token).
        let mut failed = Outcome::Unknown;
        let (method, checked) = match credential {
            Credential::ApiKey(key) => (Method::ApiKey, self.keys.verify(key, client).await),
            // Nothing was presented, so nothing was guessed.
            Credential::None => return Err(Error::Unauthenticated),
            Credential::Legacy(_) => {
                if let Err(refused) = self.refuse_if_limited(from) {
                    self.counts.add(Method::LegacyApiKey, Outcome::Throttled);
                    return Err(refused);
                }
                let checked = Box::pin(self.authenticate_other(credential, &mut failed)).await;
                (Method::LegacyApiKey, checked)
            }
            other => {
                let method = match other {
                    Credential::Bearer(_) => Method::UserToken,
                    Credential::Session(_) => Method::Session,
                    _ => {
                        failed = Outcome::Malformed;
                        Method::ApiKey
                    }
                };
                let checked = Box::pin(self.authenticate_other(other, &mut failed)).await;
                (method, checked)
            }
        };
        let checked = self.counted(from, checked);
        self.counts.result(method, failed, &checked);
        checked
    }

    #[tracing::instrument(skip_all)]
    async fn authenticate_other(
        &self,
        credential: &Credential,
        failed: &mut Outcome,
    ) -> Result<Principal> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        match credential {
            // Never reached: a key is matched above. Counted as nobody's use.
            Credential::ApiKey(key) => self.keys.verify(key, &Seen::NOBODY).await,
            Credential::Bearer(token) => self.user_by_token(token, failed).await,
            Credential::Legacy(value) => match &self.legacy {
                Some(legacy) if legacy.matches(value.expose()) => Ok(Principal::from(Caller {
                    org_id: legacy.org_id(),
                    org_name: self.legacy_org_name.clone(),
                    identity: Identity::LegacyApiKey,
                    groups: Arc::from([ADMIN_GROUP.to_owned()]),
                })),
                _ => Err(Error::Unauthenticated),
            },
            Credential::Session(user_id) => {
                match store::identity::user_by_id(&self.store, *user_id).await? {
                    Some(user) => self.user_principal(user, UserAuth::Session).await,
                    None => Err(Error::Unauthenticated),
                }
            }
            Credential::MalformedApiKey | Credential::None => Err(Error::Unauthenticated),
        }
    }

    /// A guessable secret from a limited address is not checked, right or wrong.
    fn refuse_if_limited(&self, from: IpAddr) -> Result<()> {
        match self.limiter.throttled(from, Instant::now()) {
            Some(retry_after) => Err(Error::TooManyFailures { retry_after }),
            None => Ok(()),
        }
    }

    /// Counts a failed check against `from`; past the limit the answer is 429, not 401.
    fn counted<T>(&self, from: IpAddr, checked: Result<T>) -> Result<T> {
        if !matches!(checked, Err(Error::Unauthenticated)) {
            return checked;
        }
        match self.limiter.fail(from, Instant::now()) {
            Some(retry_after) => {
                tracing::warn!(client = %from, "failed authentications throttled");
                Err(Error::TooManyFailures { retry_after })
            }
            None => checked,
        }
    }

    /// Email + password → a new user access token.
    pub async fn login(
        &self,
        email: &str,
        password: &SecretString,
        from: IpAddr,
    ) -> Result<SecretString> {
        let user = self.check_password(email, password, from).await?;
        let token = random_token(USER_TOKEN_PREFIX);
        let expires = store::now() + USER_TOKEN_TTL;
        store::identity::insert_token(&self.store, &sha256_hex(token.expose()), user.id, expires)
            .await?;
        Ok(token)
    }

    /// Email + password → the browser session now belongs to this user. The session id is
    /// cycled so an id planted before login is worthless after it.
    pub async fn login_session(
        &self,
        session: &tower_sessions::Session,
        email: &str,
        password: &SecretString,
        from: IpAddr,
    ) -> Result<()> {
        let user = self.check_password(email, password, from).await?;
        session
            .cycle_id()
            .await
            .map_err(|e| Error::Internal(e.into()))?;
        session
            .insert(session::USER_ID, user.id)
            .await
            .map_err(|e| Error::Internal(e.into()))?;
        Ok(())
    }

    /// [`Self::check_password_uncounted`], in the metrics.
    async fn check_password(
        &self,
        email: &str,
        password: &SecretString,
        from: IpAddr,
    ) -> Result<UserRow> {
        let checked = self.check_password_uncounted(email, password, from).await;
        self.counts
            .result(Method::Password, Outcome::Unknown, &checked);
        checked
    }

    /// Unknown email and wrong password take the same time and give the same error. A limited
    /// address gets no answer about the password at all (and costs no Argon2 hash).
    async fn check_password_uncounted(
        &self,
        email: &str,
        password: &SecretString,
        from: IpAddr,
    ) -> Result<UserRow> {
        self.refuse_if_limited(from)?;
        let user = match Email::parse(email) {
            Ok(email) => store::identity::user_by_email(&self.store, &email).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let ok = password::verify(hash, password.clone()).await;
        let checked = match (user, ok) {
            (Some(user), true) => Ok(user),
            _ => Err(Error::Unauthenticated),
        };
        self.counted(from, checked)
    }

    /// An expired token is refused as an unknown one is; `failed` tells the metrics which.
    async fn user_by_token(&self, token: &SecretString, failed: &mut Outcome) -> Result<Principal> {
        use store::identity::TokenUser;
        let hash = sha256_hex(token.expose());
        match store::identity::user_by_token(&self.store, &hash, store::now()).await? {
            TokenUser::Valid(user) => self.user_principal(user, UserAuth::Token).await,
            TokenUser::Expired => {
                *failed = Outcome::Expired;
                Err(Error::Unauthenticated)
            }
            TokenUser::Unknown => Err(Error::Unauthenticated),
        }
    }

    async fn user_principal(&self, user: UserRow, via: UserAuth) -> Result<Principal> {
        let groups = store::identity::user_groups(&self.store, user.id).await?;
        Ok(Principal::from(Caller {
            org_id: user.org_id,
            org_name: Arc::from(user.org_name),
            identity: Identity::User {
                id: user.id,
                email: user.email,
                name: user.name,
                via,
            },
            groups: Arc::from(groups),
        }))
    }
}

#[cfg(test)]
mod parsing_props;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_key_token_and_legacy_are_told_apart() {
        let key = RawApiKey::generate();
        let bearer = format!("Bearer {}", key.expose());
        assert!(matches!(
            Credential::from_headers(&headers(&[("authorization", &bearer)])),
            Credential::ApiKey(_)
        ));
        let lower = format!("bearer {}", key.expose());
        assert!(matches!(
            Credential::from_headers(&headers(&[("authorization", &lower)])),
            Credential::ApiKey(_)
        ));
        assert!(matches!(
            Credential::from_headers(&headers(&[("authorization", "Bearer hut_abc")])),
            Credential::Bearer(_)
        ));
        assert!(matches!(
            Credential::from_headers(&headers(&[("authorization", "Bearer hpk_short")])),
            Credential::MalformedApiKey
        ));
        assert!(matches!(
            Credential::from_headers(&headers(&[("authorization", "Basic abc")])),
            Credential::MalformedApiKey
        ));
        assert!(matches!(
            Credential::from_headers(&headers(&[("api-key", "x|y")])),
            Credential::Legacy(_)
        ));
        assert!(matches!(
            Credential::from_headers(&HeaderMap::new()),
            Credential::None
        ));
    }
}
