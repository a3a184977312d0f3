//! An admin view of a registry (feature `admin`): a tower [`Service`] any tower-based server
//! can mount, answering JSON, like Spring's `/actuator/circuitbreakers`.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /breakers` (or `GET /`) | 200, the [`RegistrySnapshot`] |
//! | `GET /breakers/{name}` | 200, one [`BreakerSnapshot`]; 404 for an unknown name |
//! | `POST /breakers/{name}/close` | [`Breaker::reset`](crate::Breaker::reset), then 200 and the breaker's snapshot |
//! | `POST /breakers/{name}/force-open` | [`Breaker::force_open`](crate::Breaker::force_open), likewise |
//! | `POST /breakers/{name}/disable` | [`Breaker::disable`](crate::Breaker::disable), likewise |
//! | `GET /health` | 200 `{"status":"up","open":[]}` when no breaker is open or forced open, else 503 `{"status":"down","open":[names]}` |
//!
//! The breakers of a balanced pool's endpoints (feature `balance`) carry `pool` and
//! `endpoint` in their snapshots. In `/health` an ejected endpoint does not make the
//! service down (ejecting it is the pool at work): it is listed under `"ejected"` (present
//! only when there is one), and the pool's name is under `"open"` only when every one of its
//! endpoints is.
//!
//! Paths are relative to where the service is mounted (axum's `nest_service` strips the
//! prefix); a name is one path segment, percent-decoded. The action is in the path and a body
//! is ignored. Errors answer a JSON `{"error": "..."}`: 404 for an unknown path or name, 400
//! for a malformed name or an unknown action, 405 for a wrong method, 403 for a state change
//! while they are off. A `POST` is checked in path order: the name first (404 or 400 whether
//! state changes are on or off), then the action, then whether state changes are on. No request
//! makes it panic.
//!
//! # State changes are off by default
//! The `POST` actions answer 403 unless the application turns them on with
//! [`AdminService::allow_mutations`]. **Anyone who can reach them can take a dependency
//! offline** (force a breaker open) or remove its protection (disable it): mount the service
//! only where operators alone can reach it, behind your authentication, or leave it read-only.
//! `GET` answers expose breaker names and states: treat them as internal too.
//!
//! ```
//! use std::sync::Arc;
//! use protego_breaker::integrations::admin::AdminService;
//! use protego_breaker::Registry;
//! use tower::ServiceExt;
//!
//! # futures::executor::block_on(async {
//! let registry = Arc::new(Registry::new());
//! registry.get_or_create("payments");
//! let admin = AdminService::new(Arc::clone(&registry));
//! let request = http::Request::get("/breakers").body(()).unwrap();
//! let response = admin.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert!(response.body().contains(r#""name":"payments","state":"closed""#));
//!
//! let force = http::Request::post("/breakers/payments/force-open").body(()).unwrap();
//! assert_eq!(admin.oneshot(force).await.unwrap().status(), 403, "read-only unless allowed");
//! # });
//! // In axum: `Router::new().nest_service("/admin", AdminService::new(registry))`.
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use tower_service::Service;

use crate::clock::{Clock, SystemClock};
use crate::integrations::snapshot::{BreakerSnapshot, RegistrySnapshot};
use crate::registry::Registry;

/// The admin service: see the [module docs](self).
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::admin::AdminService;
///
/// let admin = AdminService::new(Arc::new(protego_breaker::Registry::new()));
/// assert!(!admin.mutations_allowed());
/// ```
pub struct AdminService<C: Clock + Clone = SystemClock> {
    registry: Arc<Registry<C>>,
    mutations: bool,
}

impl<C: Clock + Clone> AdminService<C> {
    /// A read-only admin view of `registry`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let admin = protego_breaker::integrations::admin::AdminService::new(Arc::new(protego_breaker::Registry::new()));
    /// # drop(admin);
    /// ```
    pub fn new(registry: Arc<Registry<C>>) -> Self {
        AdminService {
            registry,
            mutations: false,
        }
    }

    /// Turns the `POST` actions (close, force-open, disable) on or off. Off by default: anyone
    /// who can reach them can take a dependency offline.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::integrations::admin::AdminService;
    /// use protego_breaker::{Registry, State};
    /// use tower::ServiceExt;
    ///
    /// # futures::executor::block_on(async {
    /// let registry = Arc::new(Registry::new());
    /// registry.get_or_create("payments");
    /// let admin = AdminService::new(Arc::clone(&registry)).allow_mutations(true);
    /// let force = http::Request::post("/breakers/payments/force-open").body(()).unwrap();
    /// assert_eq!(admin.oneshot(force).await.unwrap().status(), 200);
    /// assert_eq!(registry.get("payments").unwrap().state(), State::ForcedOpen);
    /// # });
    /// ```
    #[must_use]
    pub fn allow_mutations(mut self, allow: bool) -> Self {
        self.mutations = allow;
        self
    }

    /// Whether the `POST` actions are on.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let admin = protego_breaker::integrations::admin::AdminService::new(Arc::new(protego_breaker::Registry::new()));
    /// assert!(admin.allow_mutations(true).mutations_allowed());
    /// ```
    pub fn mutations_allowed(&self) -> bool {
        self.mutations
    }

    /// Answers one request (what [`Service::call`] resolves to).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let admin = protego_breaker::integrations::admin::AdminService::new(Arc::new(protego_breaker::Registry::new()));
    /// let health = admin.answer(&http::Method::GET, "/health");
    /// assert_eq!(health.status(), 200);
    /// assert_eq!(health.body(), r#"{"status":"up","open":[]}"#);
    /// ```
    pub fn answer(&self, method: &Method, path: &str) -> Response<String> {
        let segments: Vec<&str> = path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .collect();
        match segments.as_slice() {
            ["" | "breakers"] => only_get(method, "GET")
                .unwrap_or_else(|| json(StatusCode::OK, &RegistrySnapshot::of(&self.registry))),
            ["health"] => only_get(method, "GET").unwrap_or_else(|| self.health()),
            ["breakers", name] => only_get(method, "GET").unwrap_or_else(|| {
                self.with_breaker(name, |breaker| {
                    let name = breaker.name().unwrap_or("");
                    json(
                        StatusCode::OK,
                        &BreakerSnapshot::of_in(&self.registry, name, breaker),
                    )
                })
            }),
            ["breakers", name, action] => {
                if method != Method::POST {
                    return method_not_allowed("POST");
                }
                self.act(name, action)
            }
            _ => error(StatusCode::NOT_FOUND, "no such admin path"),
        }
    }

    fn health(&self) -> Response<String> {
        let snapshot = RegistrySnapshot::of(&self.registry);
        let open = snapshot.down();
        let ejected: Vec<&str> = snapshot.ejected().collect();
        let (status, word) = if open.is_empty() {
            (StatusCode::OK, "up")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "down")
        };
        json(
            status,
            &Health {
                status: word,
                open,
                ejected,
            },
        )
    }

    /// The checks in path order: the name (404 unknown, 400 malformed, whatever the mode),
    /// then the action (400 unknown), then whether state changes are on (403).
    fn act(&self, name: &str, action: &str) -> Response<String> {
        type Act<C> = fn(&crate::Breaker<C>) -> bool;
        self.with_breaker(name, |breaker| {
            let change: Act<C> = match action {
                "close" => crate::Breaker::reset,
                "force-open" => crate::Breaker::force_open,
                "disable" => crate::Breaker::disable,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "unknown action: use close, force-open or disable",
                    )
                }
            };
            if !self.mutations {
                return error(
                    StatusCode::FORBIDDEN,
                    "state changes are off (AdminService::allow_mutations)",
                );
            }
            change(breaker);
            json(StatusCode::OK, &BreakerSnapshot::of(breaker))
        })
    }

    fn with_breaker(
        &self,
        raw: &str,
        then: impl FnOnce(&crate::Breaker<C>) -> Response<String>,
    ) -> Response<String> {
        let Some(name) = percent_decode(raw) else {
            return error(
                StatusCode::BAD_REQUEST,
                "malformed breaker name in the path",
            );
        };
        match self.registry.get(&name) {
            Some(breaker) => then(&breaker),
            None => error(StatusCode::NOT_FOUND, "no breaker by that name"),
        }
    }
}

impl<C: Clock + Clone> Clone for AdminService<C> {
    fn clone(&self) -> Self {
        AdminService {
            registry: Arc::clone(&self.registry),
            mutations: self.mutations,
        }
    }
}

impl<C: Clock + Clone> fmt::Debug for AdminService<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminService")
            .field("breakers", &self.registry.len())
            .field("mutations", &self.mutations)
            .finish()
    }
}

impl<C: Clock + Clone, B> Service<Request<B>> for AdminService<C> {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ready(Ok(self.answer(req.method(), req.uri().path())))
    }
}

/// The health answer: `{"status": "up" | "down", "open": [names]}`, in that order, then
/// `"ejected": [endpoint breakers]` when there is one.
struct Health<'a> {
    status: &'static str,
    open: Vec<&'a str>,
    ejected: Vec<&'a str>,
}

impl ::serde::Serialize for Health<'_> {
    fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use ::serde::ser::SerializeStruct;
        let mut s =
            serializer.serialize_struct("Health", 2 + usize::from(!self.ejected.is_empty()))?;
        s.serialize_field("status", self.status)?;
        s.serialize_field("open", &self.open)?;
        if !self.ejected.is_empty() {
            s.serialize_field("ejected", &self.ejected)?;
        }
        s.end()
    }
}

/// `None` if `method` is GET (go on), else the 405 answer.
fn only_get(method: &Method, allow: &'static str) -> Option<Response<String>> {
    (method != Method::GET).then(|| method_not_allowed(allow))
}

fn method_not_allowed(allow: &'static str) -> Response<String> {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn error(status: StatusCode, message: &str) -> Response<String> {
    json(status, &serde_json::json!({ "error": message }))
}

fn json<T: ::serde::Serialize>(status: StatusCode, body: &T) -> Response<String> {
    let (status, body) = match serde_json::to_string(body) {
        Ok(body) => (status, body),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"could not serialize the answer"}"#.to_owned(),
        ),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None; // also refuses a sign, which `from_str_radix` would take
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding_takes_escapes_and_refuses_broken_ones() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("plain"), Some("plain".to_owned()));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("bad%+1"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
        assert_eq!(percent_decode("%e2%82"), None, "a cut multi-byte character");
    }
}
