use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use tower::Service;

use super::layer::{Shared, VerifiedParts};
use crate::provider::KeyProvider;
use crate::response::{ErrorHandler, ResponseBody};
use crate::source::RequestHead;

pin_project! {
    /// The response future of [`JwtAuth`](super::JwtAuth).
    ///
    /// With static keys it is either the inner service's future or a ready refusal: no boxing, no waiting.
    pub struct ResponseFuture<S, ReqBody, C, P>
    where
        S: Service<Request<ReqBody>>,
        P: KeyProvider,
    {
        #[pin]
        state: State<S, ReqBody, C, P>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, C, P>
    where
        S: Service<Request<ReqBody>>,
        P: KeyProvider,
    {
        Inner { #[pin] future: S::Future },
        // Boxed: a refusal pays for it, not every accepted request's future.
        Refused { response: Option<Box<Response<Bytes>>> },
        // Boxed: only the asynchronous path pays for carrying the service and the request.
        AwaitingKey { #[pin] lookup: P::Future, deferred: Option<Box<Deferred<S, ReqBody, C, P>>> },
    }
}

/// What an asynchronous key lookup needs to finish the request.
struct Deferred<S, ReqBody, C, P> {
    inner: S,
    request: Request<ReqBody>,
    resume: Arc<dyn Resume<C>>,
    token: Box<str>,
    _provider: std::marker::PhantomData<fn() -> P>,
}

impl<S, ReqBody, C, P> ResponseFuture<S, ReqBody, C, P>
where
    S: Service<Request<ReqBody>>,
    P: KeyProvider,
{
    pub(crate) fn inner(future: S::Future) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    pub(crate) fn refused(response: Response<Bytes>) -> Self {
        Self {
            state: State::Refused {
                response: Some(Box::new(response)),
            },
        }
    }

    pub(crate) fn awaiting_key<H>(
        lookup: P::Future,
        inner: S,
        request: Request<ReqBody>,
        shared: Arc<Shared<C, P, H>>,
        token: Box<str>,
    ) -> Self
    where
        C: DeserializeOwned + Clone + Send + Sync + 'static,
        H: ErrorHandler,
    {
        Self {
            state: State::AwaitingKey {
                lookup,
                deferred: Some(Box::new(Deferred {
                    inner,
                    request,
                    resume: shared,
                    token,
                    _provider: std::marker::PhantomData,
                })),
            },
        }
    }
}

impl<S, ReqBody, C, P, ResBody> Future for ResponseFuture<S, ReqBody, C, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    C: Clone + Send + Sync + 'static,
    P: KeyProvider,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Inner { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Refused { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok((*response).map(ResponseBody::refusal)));
                }
                StateProj::AwaitingKey { lookup, deferred } => {
                    let key = ready!(lookup.poll(cx));
                    let Deferred {
                        mut inner,
                        mut request,
                        resume,
                        token,
                        ..
                    } = *deferred
                        .take()
                        .expect("ResponseFuture polled after completion");
                    match resume.resume(&token, key, &RequestHead::of(&request)) {
                        Ok(verified) => {
                            verified.insert_into(request.extensions_mut());
                            state.set(State::Inner {
                                future: inner.call(request),
                            });
                        }
                        Err(response) => state.set(State::Refused {
                            response: Some(response),
                        }),
                    }
                }
            }
        }
    }
}

impl<S, ReqBody, C, P> fmt::Debug for ResponseFuture<S, ReqBody, C, P>
where
    S: Service<Request<ReqBody>>,
    P: KeyProvider,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// Type-erases the error handler out of the future's type: only the rare asynchronous path pays for it.
pub(crate) trait Resume<C>: Send + Sync {
    fn resume(
        &self,
        token: &str,
        key: Result<Arc<crate::Key>, crate::AuthError>,
        request: &RequestHead<'_>,
    ) -> Result<VerifiedParts<C>, Box<Response<Bytes>>>;
}
