//! Heap allocations on the hot path, counted by a global allocator: after warm-up, verifying a token with a
//! static key allocates only what deserializing the claims type allocates by itself, plus what
//! `http::Extensions` needs to hold the results (its map and one box per value); a cache hit allocates
//! only for the claims clone and those extensions.
//!
//! With `aws-lc-rs` keys are parsed once and verification allocates nothing on the Rust heap (aws-lc's own C
//! allocations are not seen by a Rust allocator). The `rust-crypto` backend builds jsonwebtoken's verifier
//! per call, and its RSA arithmetic allocates, so the claim is made for the default backend only.
#![cfg(feature = "aws-lc-rs")]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::task::{Context, Poll};

use common::{AUDIENCE, ISSUER, SECRET};
use http::{Request, Response};
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::json;
use tower::{Layer, Service};
use tower_jwt_auth::{JwtAuthLayer, Key};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; the counters are thread-local `Cell`s that never
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn count() {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let out = f();
    COUNTING.with(|on| on.set(false));
    (ALLOCATIONS.with(Cell::get), out)
}

/// Claims with nothing on the heap: deserializing them allocates nothing.
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct Plain {
    exp: u64,
    iat: u64,
    admin: bool,
}

/// Claims with two strings: deserializing them allocates twice.
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct Named {
    sub: String,
    email: String,
    exp: u64,
}

/// The inner service: answers without allocating and drops the request outside the count.
#[derive(Clone, Default)]
struct Keep(std::rc::Rc<std::cell::RefCell<Vec<Request<()>>>>);

impl Service<Request<()>> for Keep {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        // Keeping the request moves its extensions out of the count's way; a response without headers
        // does not allocate.
        if let Ok(mut kept) = self.0.try_borrow_mut()
            && kept.len() < kept.capacity()
        {
            kept.push(request);
        }
        std::future::ready(Ok(Response::new(())))
    }
}

fn poll_once<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(std::task::Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the static-key path never waits"),
    }
}

fn request(token: &str) -> Request<()> {
    Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
}

/// What `http::Extensions` allocates to hold one value, as the layer inserts the claims (and no
/// `VerifiedHeader` unless asked): its map (box and table) on the first insert, and a box for the value.
fn extensions_cost() -> usize {
    #[derive(Clone)]
    struct A(#[allow(dead_code)] u64);
    let mut extensions = http::Extensions::new();
    let (n, _) = allocations(|| {
        extensions.insert(A(1));
    });
    n
}

fn token(alg: Algorithm, claims: &serde_json::Value) -> String {
    common::token(alg, claims, None)
}

fn check<C>(alg: Algorithm, key: Key, claims: serde_json::Value, deserialize: usize)
where
    C: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
{
    let token = token(alg, &claims);
    // What deserializing the claims costs on its own, measured rather than assumed.
    let payload = serde_json::to_vec(&claims).unwrap();
    let (own, _) = allocations(|| serde_json::from_slice::<C>(&payload).unwrap());
    assert_eq!(own, deserialize, "{alg:?}: deserializing the claims alone");
    let extensions = extensions_cost();
    assert!(extensions > 0);

    let layer = |cache: bool| {
        let builder = JwtAuthLayer::<C>::builder()
            .key(key.clone())
            .issuer(ISSUER)
            .audience(AUDIENCE);
        let builder = if cache { builder } else { builder.no_cache() };
        builder.build().unwrap()
    };
    let kept = Keep(std::rc::Rc::new(std::cell::RefCell::new(
        Vec::with_capacity(64),
    )));
    let mut uncached = layer(false).layer(kept.clone());
    let mut cached = layer(true).layer(kept.clone());
    // Warm-up: thread-locals, lazily built backend state, the cache entry.
    for _ in 0..3 {
        assert_eq!(
            poll_once(uncached.call(request(&token))).unwrap().status(),
            200
        );
        assert_eq!(
            poll_once(cached.call(request(&token))).unwrap().status(),
            200
        );
    }
    for _ in 0..10 {
        let r = request(&token);
        let (n, response) = allocations(|| poll_once(uncached.call(r)).unwrap());
        assert_eq!(response.status(), 200);
        assert!(
            n <= own + extensions,
            "{alg:?} cache off: {n} allocations, expected at most {own} (claims) + {extensions} (extensions)"
        );
        let r = request(&token);
        let (n, response) = allocations(|| poll_once(cached.call(r)).unwrap());
        assert_eq!(response.status(), 200);
        assert!(
            n <= own + extensions,
            "{alg:?} cache hit: {n} allocations, expected at most {own} (claims clone) + {extensions} (extensions)"
        );
        kept.0.borrow_mut().clear();
    }
}

#[test]
fn the_static_key_path_allocates_only_for_the_claims_and_the_extensions() {
    let now = common::now();
    let plain = json!({"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600, "admin": true});
    let named = json!({"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600, "email": "a@example.com"});
    let cases = [
        (Algorithm::HS256, Key::hs256(SECRET).unwrap()),
        (
            Algorithm::RS256,
            Key::from_pem(Algorithm::RS256, common::key_file("rsa_public.pem")).unwrap(),
        ),
        (
            Algorithm::PS256,
            Key::from_pem(Algorithm::PS256, common::key_file("rsa_public.pem")).unwrap(),
        ),
        (
            Algorithm::ES256,
            Key::from_pem(Algorithm::ES256, common::key_file("ec256_public.pem")).unwrap(),
        ),
        (
            Algorithm::ES384,
            Key::from_pem(Algorithm::ES384, common::key_file("ec384_public.pem")).unwrap(),
        ),
        (
            Algorithm::EdDSA,
            Key::from_pem(Algorithm::EdDSA, common::key_file("ed25519_public.pem")).unwrap(),
        ),
    ];
    for (alg, key) in cases {
        check::<Plain>(alg, key.clone(), plain.clone(), 0);
        check::<Named>(alg, key, named.clone(), 2);
    }
}
