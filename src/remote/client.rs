//! The default client of [`RemoteJwks`](super::RemoteJwks) (feature `remote-client`).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::ConfigError;

/// hyper-util's client over rustls with the webpki root certificates, for `https` and plain `http` URLs.
/// Bring your own [`JwksClient`](super::JwksClient) for custom CAs, proxies or mTLS.
pub type DefaultClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The default client with a connect timeout.
pub fn default_client(connect_timeout: Duration) -> Result<DefaultClient, ConfigError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    // An explicit provider: the process default may be unset, or ambiguous when several are compiled in.
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| ConfigError::InvalidOption(format!("TLS configuration: {e}")))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}
