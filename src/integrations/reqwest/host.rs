//! Per-host breaker names: how [`per_host`](super::CircuitBreakerMiddleware::per_host) names a
//! request's breaker, and how a `host:port` given in advance is read into the same name.

use reqwest::Url;

/// The name [`per_host`](super::CircuitBreakerMiddleware::per_host) gives the breaker of
/// `url`'s host: `host:port`, with the host as the URL parser writes it (lowercase, international names in
/// punycode, IPv6 addresses in brackets) and the port the request goes to (the scheme's
/// default when the URL names none).
///
/// ```
/// use protego_breaker::integrations::reqwest::host_breaker_name;
/// use reqwest::Url;
///
/// assert_eq!(host_breaker_name(&Url::parse("https://API.example.com/v1/quote")?), "api.example.com:443");
/// assert_eq!(host_breaker_name(&Url::parse("http://api.example.com/")?), "api.example.com:80");
/// assert_eq!(host_breaker_name(&Url::parse("http://127.0.0.1:8080/health")?), "127.0.0.1:8080");
/// assert_eq!(host_breaker_name(&Url::parse("http://[::1]/")?), "[::1]:80");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn host_breaker_name(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// A host [`host_config`](super::CircuitBreakerMiddleware::host_config) cannot name a breaker
/// after: not a bare `host:port`.
///
/// ```
/// use std::sync::Arc;
/// use protego_breaker::integrations::reqwest::CircuitBreakerMiddleware;
/// use protego_breaker::{Config, Registry};
///
/// let per_host = CircuitBreakerMiddleware::per_host(Arc::new(Registry::new()));
/// let err = per_host.host_config("api.example.com", Config::default()).unwrap_err();
/// assert_eq!(err.host(), "api.example.com");
/// assert_eq!(err.to_string(), r#"invalid host "api.example.com": no port (write host:port, such as api.example.com:443)"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host {host:?}: {reason}")]
#[non_exhaustive]
pub struct HostError {
    host: String,
    reason: &'static str,
}

impl HostError {
    /// The host as it was given.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use protego_breaker::integrations::reqwest::CircuitBreakerMiddleware;
    /// let per_host = CircuitBreakerMiddleware::per_host(Arc::new(protego_breaker::Registry::new()));
    /// let err = per_host.host_config("a b:80", protego_breaker::Config::default()).unwrap_err();
    /// assert_eq!(err.host(), "a b:80");
    /// ```
    pub fn host(&self) -> &str {
        &self.host
    }
}

/// The breaker name of `host` written `host:port`, as [`host_breaker_name`] names a request's.
pub(super) fn host_config_name(host: &str) -> Result<String, HostError> {
    let bad = |reason| HostError {
        host: host.to_owned(),
        reason,
    };
    let port = match host.rsplit_once(':') {
        Some((_, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => port,
        _ => {
            return Err(bad(
                "no port (write host:port, such as api.example.com:443)",
            ))
        }
    };
    if port.parse::<u16>().is_err() {
        return Err(bad("the port is past 65535"));
    }
    let url = Url::parse(&format!("http://{host}/"))
        .map_err(|_| bad("not a host name or an IP address with a port"))?;
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && url.host_str().is_some_and(|h| !h.is_empty());
    if !bare {
        return Err(bad("not a bare host:port (no scheme, user, path or query)"));
    }
    Ok(host_breaker_name(&url))
}
