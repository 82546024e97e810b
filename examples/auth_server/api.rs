//! The handlers of `/api/auth/*` and the page at `/`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use axum::response::{Html, IntoResponse};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower_jwt_auth::{Claims, Issuer, JwtAuthLayer, RegisteredClaims};

use crate::password::Passwords;
use crate::store::{CreateError, Store};

/// The claims `/me` and `/signout` need from a session token.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    pub sub: String,
}

/// Shared by every handler.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub passwords: Passwords,
    pub issuer: Arc<Issuer>,
    pub cookie: Arc<CookieSettings>,
    /// The same verification policy as the session layer (key, `iss`, `aud`): `/verify` checks the given
    /// token with it.
    pub verifier: JwtAuthLayer<RegisteredClaims>,
}

pub struct CookieSettings {
    pub name: &'static str,
    /// Over https: `Secure`.
    pub secure: bool,
    /// Seconds: the token's lifetime.
    pub max_age: u64,
}

impl CookieSettings {
    fn set(&self, token: &str) -> HeaderValue {
        self.header(token, self.max_age)
    }

    fn clear(&self) -> HeaderValue {
        self.header("", 0)
    }

    fn header(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!(
            "{}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}",
            self.name
        );
        // The token is base64url with dots: always a valid header value.
        HeaderValue::from_str(&cookie).expect("a cookie of token characters")
    }
}

// ---------------------------------------------------------------------------------------------------------
// Responses

/// A JSON response.
fn json_response(status: StatusCode, body: Value) -> Response<axum::body::Body> {
    (status, axum::Json(body)).into_response()
}

/// 400 `invalid_request`, with a message per invalid field (`fields` is `{}` when the body as a whole is
/// at fault).
fn invalid_request(description: &str, fields: Map<String, Value>) -> Response<axum::body::Body> {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"error": "invalid_request", "error_description": description, "fields": fields}),
    )
}

/// 500, with the cause in the log only.
fn internal(what: &str, cause: impl std::fmt::Display) -> Response<axum::body::Body> {
    tracing::error!("{what}: {cause}");
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"error": "server_error", "error_description": "internal error"}),
    )
}

fn no_store(mut response: Response<axum::body::Body>) -> Response<axum::body::Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---------------------------------------------------------------------------------------------------------
// Request bodies

/// The body as a JSON object, if it is one and says so; else the 400 to answer.
#[allow(clippy::result_large_err)]
fn json_object(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, Response<axum::body::Body>> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(invalid_request(
            "the body must be JSON, sent with Content-Type: application/json",
            Map::new(),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(invalid_request(
            "the body must be a JSON object",
            Map::new(),
        )),
        Err(_) => Err(invalid_request("the body is not valid JSON", Map::new())),
    }
}

/// A string member, or a message for `errors`.
fn string_field(
    object: &Map<String, Value>,
    name: &str,
    errors: &mut Map<String, Value>,
) -> Option<String> {
    match object.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => {
            errors.insert(name.into(), "required".into());
            None
        }
        Some(_) => {
            errors.insert(name.into(), "must be a string".into());
            None
        }
    }
}

const MAX_EMAIL: usize = 254;
const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 128;
const MAX_NAME: usize = 100;

/// Trimmed and lowercased (one account per address, whatever the case), or why it is not an address.
fn normalize_email(raw: &str) -> Result<String, &'static str> {
    const NOT_AN_ADDRESS: &str = "must be an email address like name@example.com";
    let email = raw.trim().to_lowercase();
    if email.len() > MAX_EMAIL {
        return Err("must be at most 254 characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(NOT_AN_ADDRESS);
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"\"(),:;<>[\\]@".contains(c));
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(email)
    } else {
        Err(NOT_AN_ADDRESS)
    }
}

fn random_id() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

// ---------------------------------------------------------------------------------------------------------
// Handlers

/// `GET /`: the demo page.
pub async fn index() -> impl IntoResponse {
    (
        [
            // Its one inline script may fetch this origin only; nothing may frame it.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(include_str!("index.html")),
    )
}

/// `POST /api/auth/signup` `{email, password, name}`: 201 and the user, 409 if the email is taken.
pub async fn signup(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<axum::body::Body> {
    let object = match json_object(&headers, &body) {
        Ok(object) => object,
        Err(response) => return response,
    };
    let mut errors = Map::new();
    let email = string_field(&object, "email", &mut errors).and_then(|raw| {
        normalize_email(&raw)
            .map_err(|why| errors.insert("email".into(), why.into()))
            .ok()
    });
    let password = string_field(&object, "password", &mut errors).filter(|password| {
        let chars = password.chars().count();
        let why = if chars < MIN_PASSWORD {
            "must be at least 8 characters"
        } else if chars > MAX_PASSWORD {
            "must be at most 128 characters"
        } else {
            return true;
        };
        errors.insert("password".into(), why.into());
        false
    });
    let name = string_field(&object, "name", &mut errors)
        .map(|name| name.trim().to_owned())
        .filter(|name| {
            let why = if name.is_empty() {
                "must not be empty"
            } else if name.chars().count() > MAX_NAME {
                "must be at most 100 characters"
            } else if name.chars().any(char::is_control) {
                "must not contain control characters"
            } else {
                return true;
            };
            errors.insert("name".into(), why.into());
            false
        });
    let (Some(email), Some(password), Some(name), true) =
        (email, password, name, errors.is_empty())
    else {
        return invalid_request("some fields are invalid", errors);
    };

    let hash = match app.passwords.hash(password).await {
        Ok(hash) => hash,
        Err(e) => return internal("hashing a password", e),
    };
    let id = match random_id() {
        Ok(id) => id,
        Err(e) => return internal("making a user id", e),
    };
    match app
        .store
        .create(id, email, name, hash, crate::time::now())
        .await
    {
        Ok(user) => {
            tracing::info!("signed up user {}", user.id);
            json_response(StatusCode::CREATED, json!(user))
        }
        Err(CreateError::EmailTaken) => json_response(
            StatusCode::CONFLICT,
            json!({"error": "email_taken", "error_description": "an account with this email already exists"}),
        ),
        Err(CreateError::Db(e)) => internal("creating a user", e),
    }
}

/// `POST /api/auth/signin` `{email, password}`: 200 `{token, user, expiresAt}` and the cookie.
pub async fn signin(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<axum::body::Body> {
    let object = match json_object(&headers, &body) {
        Ok(object) => object,
        Err(response) => return response,
    };
    let mut errors = Map::new();
    let email = string_field(&object, "email", &mut errors);
    let password = string_field(&object, "password", &mut errors);
    let (Some(email), Some(password)) = (email, password) else {
        return invalid_request("some fields are invalid", errors);
    };
    let email = email.trim().to_lowercase();
    let found = match app.store.by_email(email).await {
        Ok(found) => found,
        Err(e) => return internal("looking up a user", e),
    };
    // An unknown email is checked against a dummy hash: same work, same answer as a wrong password.
    let (user, hash) = found.unzip();
    match app.passwords.verify(password, hash).await {
        Ok(true) => {}
        Ok(false) => {
            return json_response(
                StatusCode::UNAUTHORIZED,
                json!({"error": "invalid_credentials", "error_description": "wrong email or password"}),
            );
        }
        Err(e) => return internal("verifying a password", e),
    }
    let Some(user) = user else {
        return internal("verifying a password", "the dummy hash matched");
    };
    let issued = match app
        .issuer
        .issue(&user.id, &json!({"email": user.email, "name": user.name}))
    {
        Ok(issued) => issued,
        Err(e) => return internal("issuing a token", e),
    };
    tracing::info!("signed in user {} (token id {})", user.id, issued.jti);
    let mut response = json_response(
        StatusCode::OK,
        json!({
            "token": issued.token,
            "user": user,
            "expiresAt": crate::time::rfc3339(issued.expires_at),
        }),
    );
    response
        .headers_mut()
        .insert(header::SET_COOKIE, app.cookie.set(&issued.token));
    no_store(response)
}

/// `GET /api/auth/me`, behind the layer: the user the token names.
pub async fn me(
    State(app): State<App>,
    Claims(session): Claims<Session>,
) -> Response<axum::body::Body> {
    match app.store.by_id(session.sub).await {
        Ok(Some(user)) => no_store(json_response(StatusCode::OK, json!(user))),
        Ok(None) => {
            let mut response = json_response(
                StatusCode::UNAUTHORIZED,
                json!({"error": "invalid_token", "error_description": "the user no longer exists"}),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"api\", error=\"invalid_token\""),
            );
            response
        }
        Err(e) => internal("looking up a user", e),
    }
}

/// `POST /api/auth/signout`, behind the layer: clears the cookie. The token itself stays valid until it
/// expires (it is not stored anywhere to be revoked).
pub async fn signout(
    State(app): State<App>,
    Claims(session): Claims<Session>,
) -> Response<axum::body::Body> {
    tracing::info!("signed out user {}", session.sub);
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, app.cookie.clear());
    no_store(response)
}

/// `POST /api/auth/verify` `{token}`: `{valid, claims}` under the layer's own policy, for other services.
pub async fn verify(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<axum::body::Body> {
    let object = match json_object(&headers, &body) {
        Ok(object) => object,
        Err(response) => return response,
    };
    let mut errors = Map::new();
    let Some(token) = string_field(&object, "token", &mut errors) else {
        return invalid_request("some fields are invalid", errors);
    };
    let invalid = |why: &str| {
        json_response(
            StatusCode::OK,
            json!({"valid": false, "claims": null, "error": why}),
        )
    };
    // The session layer's own policy (key, `iss`, `aud`, cache), without its transport rules.
    match app.verifier.verify(&token).await {
        Ok(claims) => json_response(StatusCode::OK, json!({"valid": true, "claims": claims})),
        // Fixed words that never contain the token.
        Err(error) => invalid(error.description()),
    }
}
