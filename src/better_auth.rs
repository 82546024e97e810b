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
}
