//! Verifying tokens of Better Auth's JWT plugin (feature `remote`).
//!
//! One call configures the keys (`{base}/api/auth/jwks`, refetched when an unknown kid appears, as Better
//! Auth recommends), and `iss` = `aud` = the base URL's origin. The algorithm of each key comes from its
//! JWK: EdDSA (Ed25519) by default, ES256, RS256 or PS256 as configured in Better Auth; ES512 keys, which
//! jsonwebtoken cannot verify, are reported when the set is loaded.
//!
//! ```
//! use tower_jwt_auth::JwtAuthLayer;
//! use tower_jwt_auth::better_auth::BetterAuthUser;
//!
//! # #[cfg(feature = "remote-client")]
//! # {
//! let auth = JwtAuthLayer::<BetterAuthUser>::better_auth("http://localhost:3000")?.build()?;
//! # }
//! // In a handler: `Claims(user): Claims<BetterAuthUser>` gives user.id, user.email, user.name, …
//! # Ok::<(), tower_jwt_auth::ConfigError>(())
//! ```
//!
//! Better Auth's session cookie cache (`session.cookieCache.strategy: "jwt"`, cookie
//! `better-auth.session_data`, HS256 under the app's secret) is read as a [`BetterAuthSession`].

use http::Uri;
use serde::{Deserialize, Serialize};

use crate::auth::{JwtAuthBuilder, JwtAuthLayer};
use crate::error::ConfigError;
use crate::remote::{JwksClient, RemoteJwks};

/// The claims of a Better Auth JWT-plugin token: the user, plus `sub`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BetterAuthUser {
    /// The subject: the user id.
    pub sub: String,
    /// The user id.
    #[serde(default)]
    pub id: String,
    /// The user's email address.
    #[serde(default)]
    pub email: String,
    /// The user's display name.
    #[serde(default)]
    pub name: String,
    /// Whether the email address was verified.
    #[serde(default)]
    pub email_verified: bool,
    /// The user's picture URL (absent or `null` when there is none).
    #[serde(default)]
    pub image: Option<String>,
    /// When the user was created (ISO 8601).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When the user was last updated (ISO 8601).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Every other claim (`iss`, `aud`, `exp`, `iat`, custom fields of your `definePayload`).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The claims of Better Auth's session cookie cache with `session.cookieCache.strategy: "jwt"`: the
/// cookie `better-auth.session_data` (`__Secure-better-auth.session_data` on https), split over
/// `name.0`, `name.1`, … when large.
///
/// Better Auth signs it with HS256 under its secret (`BETTER_AUTH_SECRET`), with the payload
/// `{session, user, updatedAt, version, iat, exp}` and no `iss`, `aud` or `sub`: the identity is
/// [`user.id`](SessionUser::id). Verify it with the secret, the cookie, and `sub` not required:
///
/// ```
/// use tower_jwt_auth::{JwtAuthLayer, Key};
/// use tower_jwt_auth::better_auth::BetterAuthSession;
///
/// let secret = std::env::var("BETTER_AUTH_SECRET")
///     .unwrap_or_else(|_| "a secret of at least 32 bytes!!!".into());
/// let auth = JwtAuthLayer::<BetterAuthSession>::builder()
///     .key(Key::hs256(secret.as_bytes())?)
///     .cookie("better-auth.session_data")
///     .require_sub(false)
///     .check_claims(|s: &BetterAuthSession| !s.user.id.is_empty())
///     .build()?;
/// // In a handler: `Claims(s): Claims<BetterAuthSession>` gives s.user.id, s.user.email, s.session.expires_at, …
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
///
/// The cookie lives `session.cookieCache.maxAge` (default 5 minutes) and is renewed by Better Auth when
/// the browser calls it (e.g. `GET /api/auth/get-session`). It is a cache of the session, not a
/// revocation-aware credential: a session revoked in Better Auth stays valid here until `exp`.
/// (Better Auth's other cookie-cache profile, `jwt({ sessionCookieCache: true })`, is different: signed
/// with the JWT plugin's keys, `typ: better-auth.session-cache+jwt`, `aud: better-auth:session-cache`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BetterAuthSession {
    /// The session record.
    pub session: SessionRecord,
    /// The signed-in user.
    pub user: SessionUser,
    /// When Better Auth wrote the cookie (milliseconds since the epoch).
    #[serde(default)]
    pub updated_at: Option<u64>,
    /// The cache version (`session.cookieCache.version`, `"1"` by default).
    #[serde(default)]
    pub version: Option<String>,
    /// Issued at (seconds since the epoch).
    #[serde(default)]
    pub iat: Option<u64>,
    /// Expiry (seconds since the epoch); the layer has checked it.
    #[serde(default)]
    pub exp: Option<u64>,
    /// Every other claim.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The session part of [`BetterAuthSession`]. Its `Debug` output and its serialization leave out the
/// session token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    /// The session id.
    pub id: String,
    /// The id of the session's user.
    #[serde(default)]
    pub user_id: String,
    /// The session token: the credential of the `better-auth.session_token` cookie. Treat it as a
    /// secret (do not log it or send it to third parties); it is read, never serialized back.
    #[serde(default, skip_serializing)]
    pub token: String,
    /// When the session expires (ISO 8601).
    #[serde(default)]
    pub expires_at: Option<String>,
    /// When the session was created (ISO 8601).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When the session was last updated (ISO 8601).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// The client's IP address as Better Auth saw it (may be empty or `null`).
    #[serde(default)]
    pub ip_address: Option<String>,
    /// The client's `User-Agent` (may be `null`).
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Additional session fields (plugins, `session.additionalFields`).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("ip_address", &self.ip_address)
            .field("user_agent", &self.user_agent)
            .field("extra", &self.extra)
            .finish()
    }
}

/// The user part of [`BetterAuthSession`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionUser {
    /// The user id: who the session is about.
    pub id: String,
    /// The user's email address.
    #[serde(default)]
    pub email: String,
    /// The user's display name.
    #[serde(default)]
    pub name: String,
    /// Whether the email address was verified.
    #[serde(default)]
    pub email_verified: bool,
    /// The user's picture URL (absent or `null` when there is none).
    #[serde(default)]
    pub image: Option<String>,
    /// When the user was created (ISO 8601).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When the user was last updated (ISO 8601).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Additional user fields (plugins, `user.additionalFields`).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl<C> JwtAuthLayer<C> {
    /// A layer builder for Better Auth's JWT plugin at `base_url` (e.g. `https://app.example.com`), with the
    /// default HTTP client. Add options, then `.build()`.
    #[cfg(feature = "remote-client")]
    pub fn better_auth(
        base_url: &str,
    ) -> Result<JwtAuthBuilder<C, RemoteJwks<crate::remote::DefaultClient>>, ConfigError> {
        let client = crate::remote::default_client(crate::remote::DEFAULT_CONNECT_TIMEOUT)?;
        Self::better_auth_with_client(base_url, client)
    }

    /// [`JwtAuthLayer::better_auth`] with an HTTP client of your own.
    pub fn better_auth_with_client<H: JwksClient>(
        base_url: &str,
        client: H,
    ) -> Result<JwtAuthBuilder<C, RemoteJwks<H>>, ConfigError> {
        let (origin, jwks_url) = better_auth_urls(base_url)?;
        let jwks = RemoteJwks::builder(jwks_url).client(client).build()?;
        Ok(Self::builder()
            .provider(jwks)
            .issuer(origin.clone())
            .audience(origin))
    }
}

/// The origin (`iss` and `aud` of Better Auth tokens) and the JWK set URL of a Better Auth base URL.
fn better_auth_urls(base_url: &str) -> Result<(String, String), ConfigError> {
    let invalid = || {
        ConfigError::InvalidOption(format!(
            "Better Auth URL {base_url:?} is not an absolute http(s) URL"
        ))
    };
    let uri: Uri = base_url.parse().map_err(|_| invalid())?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(invalid());
    };
    // No query, fragment or credentials: they would end up in the key URL or in `iss`.
    if !matches!(scheme, "http" | "https")
        || uri.query().is_some()
        || base_url.contains('#')
        || authority.as_str().contains('@')
    {
        return Err(invalid());
    }
    if uri.path().trim_end_matches('/').ends_with("/api/auth") {
        return Err(ConfigError::InvalidOption(format!(
            "Better Auth URL {base_url:?}: give the base URL, without /api/auth"
        )));
    }
    let origin = format!("{scheme}://{authority}");
    let jwks_url = format!("{}/api/auth/jwks", base_url.trim_end_matches('/'));
    Ok((origin, jwks_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_a_base_url() {
        assert_eq!(
            better_auth_urls("http://localhost:3000").unwrap(),
            (
                "http://localhost:3000".into(),
                "http://localhost:3000/api/auth/jwks".into()
            )
        );
        assert_eq!(
            better_auth_urls("https://app.example.com/").unwrap(),
            (
                "https://app.example.com".into(),
                "https://app.example.com/api/auth/jwks".into()
            )
        );
        assert!(better_auth_urls("localhost:3000").is_err());
        for bad in [
            "https://app.example.com/?x=1",
            "https://app.example.com/#frag",
            "https://user:pw@app.example.com",
            "https://app.example.com/api/auth",
        ] {
            assert!(better_auth_urls(bad).is_err(), "{bad}");
        }
        assert!(better_auth_urls("ftp://app.example.com").is_err());
    }

    #[test]
    fn user_claims_with_null_image_and_extras() {
        let user: BetterAuthUser = serde_json::from_str(
            r#"{"sub":"u1","id":"u1","email":"a@example.com","name":"A","emailVerified":false,"image":null,
                "createdAt":"2025-01-01T00:00:00.000Z","updatedAt":"2025-01-02T00:00:00.000Z",
                "iss":"http://localhost:3000","aud":"http://localhost:3000","exp":1,"iat":0,"role":"admin"}"#,
        )
        .unwrap();
        assert_eq!(
            (user.id.as_str(), user.email.as_str(), user.image),
            ("u1", "a@example.com", None)
        );
        assert_eq!(user.created_at.as_deref(), Some("2025-01-01T00:00:00.000Z"));
        assert_eq!(user.extra["role"], "admin");
    }

    #[test]
    fn session_cookie_claims() {
        // The payload shape Better Auth 1.7 writes with `cookieCache.strategy: "jwt"`.
        let s: BetterAuthSession = serde_json::from_str(
            r#"{"session":{"expiresAt":"2026-12-01T07:38:03.366Z","token":"tok","createdAt":"2026-11-24T07:38:03.366Z",
                "updatedAt":"2026-11-24T07:38:03.366Z","ipAddress":"","userAgent":"curl/7.88.1","userId":"u1","id":"s1",
                "activeOrganizationId":null},
                "user":{"name":"Ada","email":"ada@example.com","emailVerified":false,"createdAt":"2026-11-24T07:37:57.774Z",
                "updatedAt":"2026-11-24T07:37:57.774Z","id":"u1","role":"admin"},
                "updatedAt":1795505883389,"version":"1","iat":1795505883,"exp":1795506183}"#,
        )
        .unwrap();
        assert_eq!(
            (s.user.id.as_str(), s.session.user_id.as_str()),
            ("u1", "u1")
        );
        assert_eq!(
            (s.session.id.as_str(), s.user.email.as_str()),
            ("s1", "ada@example.com")
        );
        assert_eq!(s.session.ip_address.as_deref(), Some(""));
        assert_eq!(
            (s.updated_at, s.version.as_deref()),
            (Some(1795505883389), Some("1"))
        );
        assert_eq!((s.iat, s.exp), (Some(1795505883), Some(1795506183)));
        assert_eq!(s.user.extra["role"], "admin");
        assert!(s.session.extra["activeOrganizationId"].is_null());
        assert!(s.extra.is_empty());
        // The session token is read, but neither printed nor serialized back.
        assert_eq!(s.session.token, "tok");
        assert!(!format!("{s:?}").contains("tok\""));
        assert!(!serde_json::to_string(&s).unwrap().contains("\"tok\""));
        // No user id: not a session.
        assert!(
            serde_json::from_str::<BetterAuthSession>(
                r#"{"session":{"id":"s1"},"user":{"email":"a@b.c"}}"#
            )
            .is_err()
        );
    }
}
