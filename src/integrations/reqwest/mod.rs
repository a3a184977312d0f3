//! The client side (feature `reqwest`): a [`reqwest_middleware::Middleware`] that runs each
//! outgoing request through a breaker.
//!
//! [`CircuitBreakerMiddleware`] asks its breaker for admission before the request is sent
//! ([`CircuitBreaker::try_acquire_owned`] and a [`Permit`](crate::call::Permit): no second state
//! machine) and reports the response. A rejected request is never sent: it fails at once with
//! [`reqwest_middleware::Error::Middleware`] holding the [`Rejected`] error, which
//! [`rejected`] (or `anyhow`'s `downcast_ref`) gets back, `retry_after` included.
//!
//! By default ([`TransientAsFailures`]) a 429 or 503 response, another 5xx with `Retry-After`,
//! or a timeout is an overload (the
//! breaker sheds it, see [`Outcome::Overload`]); another 5xx
//! response, a connect error, or a request that could not be completed counts as a failure;
//! every other response (other 4xx
//! included) is a success, and other errors (a request that could not be built, a redirect
//! loop) are ignored. [`CircuitBreakerMiddleware::classify`] takes any [`Classify`].
//!
//! One breaker for every request ([`new`](CircuitBreakerMiddleware::new)), one registry name
//! ([`named`](CircuitBreakerMiddleware::named)), or one per host
//! ([`per_host`](CircuitBreakerMiddleware::per_host)): each host's breaker is named
//! `host:port` (`api.example.com:443`, see [`host_breaker_name`]) and made on the host's first
//! request with the registry's default config, unless
//! [`host_config`](CircuitBreakerMiddleware::host_config) gave that host its own in advance.
//!
//! # With `reqwest-retry`
//! Order matters, and both orders are safe from a tight loop of rejections:
//! - **Retry outside the breaker** (`.with(retry).with(breaker)`, usual): every attempt is a
//!   call of the breaker, so attempts against a failing host open it; from then on an attempt
//!   is rejected without being sent, and `reqwest-retry`'s default strategy treats every
//!   middleware error, the rejection included, as fatal: it stops retrying at once. A custom
//!   `RetryableStrategy` must do the same for errors where [`rejected`] is `Some`.
//! - **Breaker outside the retry** (`.with(breaker).with(retry)`): one call of the breaker per
//!   logical request, retries included; an open circuit rejects before any attempt.
//!
//! ```
//! use std::sync::Arc;
//! use protego_breaker::integrations::reqwest::{rejected, CircuitBreakerMiddleware};
//! use protego_breaker::Registry;
//!
//! # async fn run() -> Result<(), reqwest_middleware::Error> {
//! let registry = Arc::new(Registry::new());
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(CircuitBreakerMiddleware::per_host(Arc::clone(&registry)))
//!     .build();
//! match client.get("http://127.0.0.1:9/quote").send().await {
//!     Ok(response) => println!("{}", response.status()),
//!     Err(e) => match rejected(&e) {
//!         Some(r) => println!("not sent: retry after {:?}", r.retry_after()),
//!         None => println!("sent and failed: {e}"),
//!     },
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Error, Middleware, Next};

use crate::breaker::Breaker;
use crate::call::circuit_breaker::CircuitBreaker;
use crate::call::classify::{Classify, Outcome};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::Rejected;
use crate::registry::{BreakerHandle, Registry};

mod host;

use host::host_config_name;
pub use host::{host_breaker_name, HostError};

/// The [`Rejected`] error inside a middleware error, if the breaker refused to send the
/// request: the error itself or any error in its chain of causes (`reqwest-retry` wraps the
/// last attempt's error in its own).
///
/// ```
/// use protego_breaker::{Breaker, CircuitBreaker, Config};
///
/// let breaker = Breaker::new(Config::default());
/// breaker.force_open();
/// let refusal = breaker.try_acquire().unwrap_err();
/// let error = reqwest_middleware::Error::Middleware(anyhow::Error::new(refusal));
/// assert!(protego_breaker::integrations::reqwest::rejected(&error).is_some());
/// ```
pub fn rejected(error: &Error) -> Option<&Rejected> {
    match error {
        // A wrapped middleware error is transparent: its chain skips the error inside it, so
        // look into it.
        Error::Middleware(e) => e.chain().find_map(|cause| {
            cause
                .downcast_ref::<Rejected>()
                .or_else(|| cause.downcast_ref::<Error>().and_then(rejected))
        }),
        Error::Reqwest(_) => None,
    }
}

/// The default classifier: a 429 or 503 response, another 5xx that pushes back with a
/// `Retry-After` header, or a timeout is an
/// [overload](crate::call::Outcome::Overload) (shed, not an outage); any other 5xx response, a
/// connect error or a request that could not be completed (the connection dropped) is a
/// failure; any other response is a success; any other error (building the request,
/// redirects, another middleware's error) is ignored.
///
/// ```
/// use protego_breaker::integrations::reqwest::TransientAsFailures;
/// use protego_breaker::{call::Classify, call::Outcome};
///
/// let response = |status: u16| -> Result<reqwest::Response, reqwest_middleware::Error> {
///     Ok(http::Response::builder().status(status).body("").unwrap().into())
/// };
/// assert_eq!(TransientAsFailures.classify(&response(200)), Outcome::Success);
/// assert_eq!(TransientAsFailures.classify(&response(404)), Outcome::Success);
/// assert_eq!(TransientAsFailures.classify(&response(429)), Outcome::Overload);
/// assert_eq!(TransientAsFailures.classify(&response(503)), Outcome::Overload);
/// assert_eq!(TransientAsFailures.classify(&response(500)), Outcome::Failure);
/// let pushback: Result<reqwest::Response, reqwest_middleware::Error> =
///     Ok(http::Response::builder().status(500).header("retry-after", "1").body("").unwrap().into());
/// assert_eq!(TransientAsFailures.classify(&pushback), Outcome::Overload);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TransientAsFailures;

impl Classify<Response, Error> for TransientAsFailures {
    fn classify(&self, result: &Result<Response, Error>) -> Outcome {
        let reqwest_error = match result {
            Ok(response) => {
                let status = response.status();
                let pushback = || response.headers().contains_key(http::header::RETRY_AFTER);
                return if matches!(status.as_u16(), 429 | 503)
                    || (status.is_server_error() && pushback())
                {
                    Outcome::Overload
                } else if status.is_server_error() {
                    Outcome::Failure
                } else {
                    Outcome::Success
                };
            }
            Err(Error::Reqwest(e)) => Some(e),
            Err(Error::Middleware(e)) => e.downcast_ref::<reqwest::Error>(),
        };
        match reqwest_error {
            Some(e) if e.is_timeout() => Outcome::Overload,
            Some(e) if e.is_connect() || e.is_request() => Outcome::Failure,
            _ => Outcome::Ignored,
        }
    }
}

/// How the middleware picks a request's breaker.
enum Pick<C: Clock> {
    Single(Arc<Breaker<C>>),
    Named(Arc<Registry<C>>, Arc<str>),
    PerHost {
        registry: Arc<Registry<C>>,
        max_hosts: usize,
        made: AtomicUsize,
    },
}

/// The name every host past the cap shares, under [`CircuitBreakerMiddleware::per_host`].
///
/// ```
/// assert_eq!(protego_breaker::integrations::reqwest::OTHER_HOSTS, "other-hosts");
/// ```
pub const OTHER_HOSTS: &str = "other-hosts";

/// A breaker for each request, held while it runs.
enum Picked<C: Clock> {
    Arc(Arc<Breaker<C>>),
    Handle(BreakerHandle<C>),
}

impl<C: Clock> CircuitBreaker for Picked<C> {
    type Clock = C;

    fn breaker(&self) -> &Breaker<C> {
        match self {
            Picked::Arc(b) => b,
            Picked::Handle(h) => h,
        }
    }
}

/// Runs requests through a breaker: see the [module docs](self).
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::reqwest::CircuitBreakerMiddleware;
/// use protego_breaker::{Breaker, Config, Registry};
///
/// let one = CircuitBreakerMiddleware::new(Arc::new(Breaker::new(Config::default())));
/// let named = CircuitBreakerMiddleware::named(Arc::new(Registry::new()), "payments-api");
/// let per_host = CircuitBreakerMiddleware::per_host(Arc::new(Registry::new())).max_hosts(16);
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).with(per_host).build();
/// # drop((one, named, client));
/// ```
pub struct CircuitBreakerMiddleware<C: Clock = SystemClock, K = TransientAsFailures> {
    pick: Pick<C>,
    classifier: K,
}

impl<C: Clock> CircuitBreakerMiddleware<C> {
    /// Every request through `breaker`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let mw = protego_breaker::integrations::reqwest::CircuitBreakerMiddleware::new(Arc::new(protego_breaker::Breaker::new(protego_breaker::Config::default())));
    /// # drop(mw);
    /// ```
    pub fn new(breaker: Arc<Breaker<C>>) -> Self {
        CircuitBreakerMiddleware {
            pick: Pick::Single(breaker),
            classifier: TransientAsFailures,
        }
    }
}

impl<C: Clock + Clone + 'static> CircuitBreakerMiddleware<C> {
    /// Every request through the registry's breaker called `name`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let mw = protego_breaker::integrations::reqwest::CircuitBreakerMiddleware::named(Arc::new(protego_breaker::Registry::new()), "search-api");
    /// # drop(mw);
    /// ```
    pub fn named(registry: Arc<Registry<C>>, name: impl Into<Arc<str>>) -> Self {
        CircuitBreakerMiddleware {
            pick: Pick::Named(registry, name.into()),
            classifier: TransientAsFailures,
        }
    }

    /// Each request through the registry's breaker named after its host, so one failing host
    /// does not stop calls to the others.
    ///
    /// # Names and configs
    /// A host's breaker is named `host:port`, the port being the one the request goes to:
    /// `https://api.example.com/v1` goes through `api.example.com:443`,
    /// `http://127.0.0.1:8080/` through `127.0.0.1:8080` ([`host_breaker_name`] says how a URL
    /// is named). The middleware makes it on the first request to that host, with the
    /// registry's default config. To give a host its own config, give it in advance:
    /// [`host_config`](Self::host_config), or a breaker of that name made in the registry
    /// (from a config file, say); a breaker the registry already holds is used as it is.
    ///
    /// # A bound
    /// The middleware makes at most [`max_hosts`](Self::max_hosts) breakers (64 by default);
    /// requests to hosts past the cap share one breaker, [`OTHER_HOSTS`]. Hosts the registry
    /// already holds a breaker for (those given a config in advance among them) always use
    /// their own and do not count. A client that calls hosts taken from user input needs the
    /// cap: each new host would otherwise be a breaker kept for good.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::integrations::reqwest::CircuitBreakerMiddleware;
    /// use protego_breaker::{Config, Registry};
    ///
    /// let registry = Arc::new(Registry::new()); // the default config: 3 failures in a row
    /// let payments = Config::builder().failure_threshold(1).build()?;
    /// let mw = CircuitBreakerMiddleware::per_host(Arc::clone(&registry))
    ///     .host_config("payments.example.com:443", payments)?;
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).with(mw).build();
    /// // https://payments.example.com/... goes through this breaker; other hosts get their own
    /// // on their first request, with the default config.
    /// let breaker = registry.get("payments.example.com:443").unwrap();
    /// assert_eq!(breaker.config().failure_threshold(), 1);
    /// # drop(client);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn per_host(registry: Arc<Registry<C>>) -> Self {
        CircuitBreakerMiddleware {
            pick: Pick::PerHost {
                registry,
                max_hosts: 64,
                made: AtomicUsize::new(0),
            },
            classifier: TransientAsFailures,
        }
    }
}

impl<C: Clock, K> CircuitBreakerMiddleware<C, K> {
    /// Caps how many per-host breakers the middleware makes (see
    /// [`per_host`](Self::per_host)); no effect on the other pickers.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let mw = protego_breaker::integrations::reqwest::CircuitBreakerMiddleware::per_host(Arc::new(protego_breaker::Registry::new())).max_hosts(8);
    /// # drop(mw);
    /// ```
    #[must_use]
    pub fn max_hosts(mut self, cap: usize) -> Self {
        if let Pick::PerHost { max_hosts, .. } = &mut self.pick {
            *max_hosts = cap;
        }
        self
    }

    /// Decides outcomes with `classifier` instead of [`TransientAsFailures`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::integrations::reqwest::CircuitBreakerMiddleware;
    /// use protego_breaker::call::Outcome;
    ///
    /// // Only 503 counts against the service; errors are not its fault here.
    /// let mw = CircuitBreakerMiddleware::named(Arc::new(protego_breaker::Registry::new()), "api")
    ///     .classify(|r: &Result<reqwest::Response, reqwest_middleware::Error>| match r {
    ///         Ok(res) if res.status() == 503 => Outcome::Failure,
    ///         Ok(_) => Outcome::Success,
    ///         Err(_) => Outcome::Ignored,
    ///     });
    /// # drop(mw);
    /// ```
    pub fn classify<K2>(self, classifier: K2) -> CircuitBreakerMiddleware<C, K2> {
        CircuitBreakerMiddleware {
            pick: self.pick,
            classifier,
        }
    }
}

impl<C: Clock + Clone + 'static, K> CircuitBreakerMiddleware<C, K> {
    /// Gives `host`, written `host:port`, its own config under
    /// [`per_host`](Self::per_host): the registry's breaker for that host is made now with
    /// `config` (or, if the registry has one, reconfigured in place, see
    /// [`Registry::breaker`]). The host is read as a URL's would be (`API.Example.com:443` is
    /// `api.example.com:443`, `[::1]:8080` an IPv6 address); no effect on the other pickers.
    ///
    /// # Errors
    /// [`HostError`] for anything but a bare `host:port` (no port, a port past 65535, a
    /// scheme, a path, a malformed host); nothing is made then.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use protego_breaker::integrations::reqwest::CircuitBreakerMiddleware;
    /// use protego_breaker::{Config, Registry};
    ///
    /// let registry = Arc::new(Registry::new());
    /// let patient = Config::builder().failure_threshold(10).build()?;
    /// let mw = CircuitBreakerMiddleware::per_host(Arc::clone(&registry))
    ///     .host_config("Search.Example.com:8443", patient)?;
    /// assert_eq!(registry.get("search.example.com:8443").unwrap().config().failure_threshold(), 10);
    /// assert!(CircuitBreakerMiddleware::per_host(Arc::clone(&registry))
    ///     .host_config("https://search.example.com", Config::default())
    ///     .is_err());
    /// # drop(mw);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn host_config(self, host: &str, config: Config) -> Result<Self, HostError> {
        let name = host_config_name(host)?;
        if let Pick::PerHost { registry, .. } = &self.pick {
            registry.breaker(&name, config);
        }
        Ok(self)
    }

    fn pick(&self, req: &Request) -> Picked<C> {
        match &self.pick {
            Pick::Single(breaker) => Picked::Arc(Arc::clone(breaker)),
            Pick::Named(registry, name) => Picked::Handle(registry.handle(name)),
            Pick::PerHost {
                registry,
                max_hosts,
                made,
            } => {
                let name = host_breaker_name(req.url());
                if registry.get(&name).is_some() {
                    return Picked::Handle(registry.handle(&name));
                }
                // Counted before it is made: racing first requests to one host may count it
                // twice, never make more than the cap.
                let under_cap = made
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n < *max_hosts).then_some(n + 1)
                    })
                    .is_ok();
                Picked::Handle(registry.handle(if under_cap { &name } else { OTHER_HOSTS }))
            }
        }
    }
}

#[async_trait::async_trait]
impl<C, K> Middleware for CircuitBreakerMiddleware<C, K>
where
    C: Clock + Clone + 'static + Send + Sync + 'static,
    K: Classify<Response, Error> + Send + Sync + 'static,
{
    async fn handle(
        &self,
        req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response, Error> {
        let permit = self
            .pick(&req)
            .try_acquire_owned()
            .map_err(|rejected| Error::Middleware(anyhow::Error::new(rejected)))?;
        // Dropped unfinished (the caller gave up), the permit records nothing.
        let result = next.run(req, extensions).await;
        permit.record(self.classifier.classify(&result));
        result
    }
}

impl<C: Clock, K> fmt::Debug for CircuitBreakerMiddleware<C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pick = match &self.pick {
            Pick::Single(b) => format!("breaker {:?}", b.name()),
            Pick::Named(_, name) => format!("named {name:?}"),
            Pick::PerHost { max_hosts, .. } => format!("per host, at most {max_hosts}"),
        };
        f.debug_struct("CircuitBreakerMiddleware")
            .field("pick", &pick)
            .finish_non_exhaustive()
    }
}
