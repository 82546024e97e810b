//! OpenID Connect discovery (and RFC 8414 authorization server metadata).

use http::Uri;
use serde_json::Value;

use super::fetch::{FetchError, JwksClient, get, read_body};

/// What discovery found for an issuer: the issuer itself (checked to be exactly the one asked for) and its
/// JWK set URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Discovery {
    /// The issuer, exactly as configured and as the document states it: validate `iss` against it.
    pub issuer: String,
    /// The document's `jwks_uri`.
    pub jwks_uri: String,
}

/// Metadata documents are small; anything larger is not one.
const MAX_DOCUMENT: usize = 64 * 1024;

impl Discovery {
    /// Reads `{issuer}/.well-known/openid-configuration`, or RFC 8414's
    /// `/.well-known/oauth-authorization-server{path}` when the first is not found, and checks that the
    /// document's `issuer` equals `issuer` exactly (OpenID Connect Discovery §4.3, RFC 8414 §3.3): a
    /// document that names another issuer is refused.
    pub async fn fetch<C: JwksClient>(issuer: &str, client: &C) -> Result<Discovery, FetchError> {
        let mut last = FetchError::Status(404);
        for url in metadata_urls(issuer)? {
            match fetch_document(client, &url).await {
                Ok(document) => return check(issuer, &document),
                // Not found: try the other well-known location.
                Err(FetchError::Status(404)) => last = FetchError::Status(404),
                Err(other) => return Err(other),
            }
        }
        Err(last)
    }

    /// [`Discovery::fetch`] with the default client.
    #[cfg(feature = "remote-client")]
    pub async fn fetch_with_default_client(issuer: &str) -> Result<Discovery, FetchError> {
        let client = super::default_client(super::DEFAULT_CONNECT_TIMEOUT)
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        Self::fetch(issuer, &client).await
    }
}

fn metadata_urls(issuer: &str) -> Result<[Uri; 2], FetchError> {
    let bad = || FetchError::Discovery(format!("issuer {issuer:?} is not an absolute http(s) URL"));
    let parsed: Uri = issuer.parse().map_err(|_| bad())?;
    let (Some(scheme), Some(authority)) = (parsed.scheme_str(), parsed.authority()) else {
        return Err(bad());
    };
    if !matches!(scheme, "http" | "https") || parsed.query().is_some() {
        return Err(bad());
    }
    if scheme == "http" && !super::is_loopback(&parsed) {
        return Err(FetchError::Discovery(format!(
            "issuer {issuer:?} is plain http: metadata and keys fetched without TLS can be replaced in transit"
        )));
    }
    let path = parsed.path().trim_end_matches('/');
    let oidc = format!("{scheme}://{authority}{path}/.well-known/openid-configuration");
    let rfc8414 = format!("{scheme}://{authority}/.well-known/oauth-authorization-server{path}");
    Ok([
        oidc.parse().map_err(|_| bad())?,
        rfc8414.parse().map_err(|_| bad())?,
    ])
}

async fn fetch_document<C: JwksClient>(client: &C, url: &Uri) -> Result<Value, FetchError> {
    let response = tokio::time::timeout(std::time::Duration::from_secs(5), get(client, url))
        .await
        .map_err(|_| FetchError::Timeout)??;
    let body = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        read_body(response, MAX_DOCUMENT),
    )
    .await
    .map_err(|_| FetchError::Timeout)??;
    serde_json::from_slice(&body)
        .map_err(|_| FetchError::Malformed("the metadata document is not JSON".into()))
}

fn check(issuer: &str, document: &Value) -> Result<Discovery, FetchError> {
    let stated = document.get("issuer").and_then(Value::as_str);
    if stated != Some(issuer) {
        return Err(FetchError::Discovery(format!(
            "the metadata document names issuer {stated:?}, not {issuer:?}"
        )));
    }
    let jwks_uri = document
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| FetchError::Discovery("the metadata document has no jwks_uri".into()))?;
    let parsed: Uri = jwks_uri
        .parse()
        .map_err(|_| FetchError::Discovery(format!("jwks_uri {jwks_uri:?} is not a URL")))?;
    // The keys must be at least as protected as the issuer: no downgrade from https to http.
    let issuer_scheme = issuer.split("://").next().unwrap_or("");
    let allowed = match parsed.scheme_str() {
        Some("https") => true,
        Some("http") => issuer_scheme == "http",
        _ => false,
    };
    if !allowed || parsed.host().is_none() {
        return Err(FetchError::Discovery(format!(
            "jwks_uri {jwks_uri:?} must be an absolute https URL"
        )));
    }
    Ok(Discovery {
        issuer: issuer.to_owned(),
        jwks_uri: jwks_uri.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_locations() {
        let [oidc, rfc8414] = metadata_urls("https://idp.example.com/tenant/").unwrap();
        assert_eq!(
            oidc,
            "https://idp.example.com/tenant/.well-known/openid-configuration"
        );
        assert_eq!(
            rfc8414,
            "https://idp.example.com/.well-known/oauth-authorization-server/tenant"
        );
        let [oidc, _] = metadata_urls("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            oidc,
            "http://127.0.0.1:8080/.well-known/openid-configuration"
        );
        assert!(metadata_urls("idp.example.com").is_err());
        assert!(metadata_urls("ftp://idp.example.com").is_err());
        assert!(
            metadata_urls("http://idp.example.com").is_err(),
            "plain http beyond loopback"
        );
        assert!(metadata_urls("http://localhost:8080").is_ok());
    }

    #[test]
    fn the_document_must_name_the_issuer_exactly() {
        let doc =
            |issuer: &str, jwks: &str| serde_json::json!({"issuer": issuer, "jwks_uri": jwks});
        let issuer = "https://idp.example.com";
        let ok = check(issuer, &doc(issuer, "https://idp.example.com/jwks")).unwrap();
        assert_eq!(ok.jwks_uri, "https://idp.example.com/jwks");
        for other in [
            "https://idp.example.com/",
            "https://IDP.example.com",
            "https://evil.example.com",
        ] {
            assert!(
                check(issuer, &doc(other, "https://idp.example.com/jwks")).is_err(),
                "{other}"
            );
        }
        assert!(check(issuer, &doc(issuer, "http://idp.example.com/jwks")).is_err());
        assert!(check(issuer, &serde_json::json!({"issuer": issuer})).is_err());
    }
}
