//! The route table of `auth_server`: what the server registers (it refuses to start if the two differ) and
//! what `openapi.json` documents (`tests/example_auth_server.rs` checks both ways).

/// Every `(method, path)` the server answers, in registration order.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("POST", "/api/auth/signup"),
    ("POST", "/api/auth/signin"),
    ("POST", "/api/auth/verify"),
    ("GET", "/api/auth/me"),
    ("POST", "/api/auth/signout"),
];
