use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use serde::de::DeserializeOwned;
use tower::Service;

use super::ResponseFuture;
#[cfg(feature = "axum")]
use super::layer::LayerRefusals;
use super::layer::{Outcome, Shared};
use crate::provider::KeyProvider;
use crate::response::{ErrorHandler, ResponseBody};
use crate::source::RequestHead;

/// The service of a [`JwtAuthLayer`](super::JwtAuthLayer).
pub struct JwtAuth<S, C, P, H> {
    inner: S,
    shared: Arc<Shared<C, P, H>>,
}

impl<S, C, P, H> JwtAuth<S, C, P, H> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<C, P, H>>) -> Self {
        Self { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, by value.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C, P, H> Clone for JwtAuth<S, C, P, H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, C, P, H> fmt::Debug for JwtAuth<S, C, P, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, C, P, H, ReqBody, ResBody> Service<Request<ReqBody>> for JwtAuth<S, C, P, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    P: KeyProvider,
    H: ErrorHandler,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, C, P>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match self.shared.authenticate(&RequestHead::of(&request)) {
            Outcome::Verified(parts) => {
                parts.insert_into(request.extensions_mut());
                ResponseFuture::inner(self.inner.call(request))
            }
            Outcome::Anonymous => {
                // Lets the `Claims` extractor refuse exactly as this layer would.
                #[cfg(feature = "axum")]
                request
                    .extensions_mut()
                    .insert(LayerRefusals(self.shared.clone()));
                ResponseFuture::inner(self.inner.call(request))
            }
            Outcome::Refused(error) => {
                let response = self
                    .shared
                    .handler
                    .render(&error, &RequestHead::of(&request));
                ResponseFuture::refused(response)
            }
            Outcome::Pending(lookup, token) => {
                // The service polled ready goes with the request; this one waits for the next poll_ready.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::awaiting_key(
                    lookup,
                    ready,
                    request,
                    Arc::clone(&self.shared),
                    token,
                )
            }
        }
    }
}
