//! Credentials between services. A gRPC call made for a user carries that user's own token; a call a
//! service makes for itself carries a short-lived *service token*: HS256 with the same secret, issuer
//! [`INTERNAL_ISSUER`] and a `service` claim naming the caller, optionally with the user it acts for
//! (`sub`) when that user's own token may no longer be valid (a socket that closed because its token
//! expired still has its contacts told it went offline).
//!
//! The user-facing [`TokenVerifier`] pins the issuer to `junqo-auth`, so a service token handed to the
//! gateway or the socket handshake is refused there: it only opens internal gRPC.

use std::fmt;
use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Claims, SignError, TokenVerifier, VerifyError};

pub const INTERNAL_ISSUER: &str = "junqo-internal";
/// Long enough for a call and its retries, short enough that a leaked one is soon useless.
pub const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(60);

/// The claims of a service token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceClaims {
    /// Which service is calling ("realtime", "conversations"...).
    pub service: String,
    /// The user the service acts for, when it acts for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<Uuid>,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// Signs service tokens for one service.
pub struct ServiceSigner {
    key: EncodingKey,
    service: String,
}

impl ServiceSigner {
    pub fn new(secret: &SecretString, service: &str) -> Self {
        Self {
            key: EncodingKey::from_secret(secret.expose_secret().as_bytes()),
            service: service.to_owned(),
        }
    }

    /// A fresh token for one call, acting for `on_behalf_of` when given.
    pub fn sign(&self, on_behalf_of: Option<Uuid>) -> Result<String, SignError> {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(SERVICE_TOKEN_TTL.as_secs()).unwrap_or(i64::MAX);
        let claims = ServiceClaims {
            service: self.service.clone(),
            sub: on_behalf_of,
            iat: now,
            exp: now.saturating_add(ttl),
            iss: INTERNAL_ISSUER.to_owned(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.key,
        )?)
    }
}

impl fmt::Debug for ServiceSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceSigner")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// Who is calling an internal service, as its credential proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user's own token, forwarded by the gateway or realtime.
    User(Claims),
    /// A service acting for itself, or for the user in `sub`.
    Service(ServiceClaims),
}

/// Verifies what internal services accept: a user token (exactly as the gateway does) or a service
/// token. Both are HS256 with no leeway; each kind pins its own issuer.
#[derive(Clone)]
pub struct CredentialVerifier {
    user: TokenVerifier,
    key: DecodingKey,
    validation: Validation,
}

impl CredentialVerifier {
    pub fn new(secret: &SecretString) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[INTERNAL_ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        Self {
            user: TokenVerifier::new(secret),
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> Result<Credential, VerifyError> {
        match self.user.verify(token) {
            Ok(claims) => Ok(Credential::User(claims)),
            Err(VerifyError::Payload) => Err(VerifyError::Payload),
            Err(VerifyError::Invalid) => {
                jsonwebtoken::decode::<ServiceClaims>(token, &self.key, &self.validation)
                    .map(|data| Credential::Service(data.claims))
                    .map_err(|_| VerifyError::Invalid)
            }
        }
    }
}

impl fmt::Debug for CredentialVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialVerifier").finish_non_exhaustive()
    }
}
