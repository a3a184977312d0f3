//! A TCP proxy the test owns, on a free loopback port, in front of a server: it forwards bytes
//! both ways until told to `freeze`, after which the connections it holds stop forwarding
//! (they stay open and silent, as through a dead link), while new connections forward again.
//! Stopped, with every connection, on drop.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    /// Connections numbered below this are frozen.
    frozen_below: AtomicU64,
    next: AtomicU64,
    /// Added to every chunk forwarded, in ms.
    delay_ms: AtomicU64,
    sockets: Mutex<Vec<TcpStream>>,
    pumps: Mutex<Vec<JoinHandle<()>>>,
}

impl Proxy {
    /// A proxy to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            frozen_below: AtomicU64::new(0),
            next: AtomicU64::new(0),
            delay_ms: AtomicU64::new(0),
            sockets: Mutex::new(Vec::new()),
            pumps: Mutex::new(Vec::new()),
        });
        let s = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.stop.load(Ordering::Acquire) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let id = s.next.fetch_add(1, Ordering::AcqRel);
                let mut sockets = s.sockets.lock().unwrap();
                for sock in [&client, &server] {
                    sockets.push(sock.try_clone().expect("clone socket"));
                }
                drop(sockets);
                let mut pumps = s.pumps.lock().unwrap();
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let s = Arc::clone(&s);
                    pumps.push(std::thread::spawn(move || pump(&s, id, from, to)));
                }
            }
        });
        Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The connections open now stop forwarding; later ones forward.
    pub fn freeze(&self) {
        let next = self.shared.next.load(Ordering::Acquire);
        self.shared.frozen_below.store(next, Ordering::Release);
    }
}

impl Proxy {
    /// Every chunk forwarded from now on waits `delay` first (each direction).
    pub fn set_delay(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::Release);
    }

    /// Closes every connection open now (both sides see it reset); later ones forward.
    pub fn drop_connections(&self) {
        for sock in self.shared.sockets.lock().unwrap().drain(..) {
            let _ = sock.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` until either closes, the proxy stops, or this connection is frozen
/// (then it reads and drops: the bytes go nowhere and nothing answers).
fn pump(s: &Shared, id: u64, mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if s.stop.load(Ordering::Acquire) {
            break;
        }
        if id < s.frozen_below.load(Ordering::Acquire) {
            continue;
        }
        let delay = s.delay_ms.load(Ordering::Acquire);
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_millis(delay));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for sock in self.shared.sockets.lock().unwrap().drain(..) {
            let _ = sock.shutdown(Shutdown::Both);
        }
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the acceptor
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        let pumps = std::mem::take(&mut *self.shared.pumps.lock().unwrap());
        for p in pumps {
            let _ = p.join();
        }
    }
}
