//! A gRPC test server and client on loopback, with no protoc: a hand-written UTF-8 codec, the
//! service written with `tonic::server::Grpc`, the client with `tonic::client::Grpc`.
//!
//! The server answers `/test.Echo/Say` (unary) and `/test.Echo/Stream` (server streaming: one
//! message, then the status in the trailers) with whatever [`Answer`] it is set to; each
//! server stops when its [`Server`] guard is dropped.

#![allow(dead_code, unreachable_pub)] // each test file uses its part

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut};
use http::uri::PathAndQuery;
use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};
use tower::service_fn;

/// Messages are UTF-8 strings, sent as their bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Utf8Codec;

impl Codec for Utf8Codec {
    type Encode = String;
    type Decode = String;
    type Encoder = Utf8Codec;
    type Decoder = Utf8Codec;

    fn encoder(&mut self) -> Self::Encoder {
        Utf8Codec
    }

    fn decoder(&mut self) -> Self::Decoder {
        Utf8Codec
    }
}

impl Encoder for Utf8Codec {
    type Item = String;
    type Error = Status;

    fn encode(&mut self, item: String, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(item.as_bytes());
        Ok(())
    }
}

impl Decoder for Utf8Codec {
    type Item = String;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<String>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

/// What the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// This code: `OK` with a message, any other as the call's status.
    Code(Code),
    /// Nothing, ever (until the server stops).
    Hang,
    /// This code with `grpc-retry-pushback-ms` set to this value in its metadata (gRFC A6).
    PushedBack(Code, &'static str),
}

/// The status of `answer` (not `OK`, not `Hang`).
fn status_of(answer: Answer) -> Status {
    match answer {
        Answer::PushedBack(code, pushback) => {
            let mut status = Status::new(code, "answered by the test server");
            status.metadata_mut().insert(
                "grpc-retry-pushback-ms",
                tonic::metadata::MetadataValue::from_static(pushback),
            );
            status
        }
        Answer::Code(code) => Status::new(code, "answered by the test server"),
        Answer::Hang => unreachable!("a hanging server answers nothing"),
    }
}

/// The server's state, shared with the test.
#[derive(Debug)]
pub struct Downstream {
    answer: Mutex<Answer>,
    calls: AtomicUsize,
}

impl Downstream {
    pub fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    pub fn answer(&self) -> Answer {
        *self.answer.lock().unwrap()
    }

    /// How many calls reached the server.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    pub downstream: Arc<Downstream>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.abort();
    }
}

impl Server {
    /// The server's URI, for an `Endpoint`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn say(
    downstream: Arc<Downstream>,
    request: Request<String>,
) -> Result<Response<String>, Status> {
    downstream.calls.fetch_add(1, Ordering::SeqCst);
    match downstream.answer() {
        Answer::Code(Code::Ok) => Ok(Response::new(request.into_inner())),
        Answer::Hang => std::future::pending().await,
        answer => Err(status_of(answer)),
    }
}

type Messages = futures::stream::Iter<std::vec::IntoIter<Result<String, Status>>>;

async fn stream(
    downstream: Arc<Downstream>,
    request: Request<String>,
) -> Result<Response<Messages>, Status> {
    downstream.calls.fetch_add(1, Ordering::SeqCst);
    let first = Ok(request.into_inner());
    let messages = match downstream.answer() {
        Answer::Code(Code::Ok) => vec![first],
        // One message, then the status: it travels in the trailers.
        Answer::Hang => std::future::pending().await,
        answer => vec![first, Err(status_of(answer))],
    };
    Ok(Response::new(futures::stream::iter(messages)))
}

/// Starts a server on a free loopback port, answering `answer`.
pub async fn serve(answer: Answer) -> Server {
    let downstream = Arc::new(Downstream {
        answer: Mutex::new(answer),
        calls: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = Arc::clone(&downstream);
    let svc = service_fn(move |req: http::Request<Body>| {
        let downstream = Arc::clone(&shared);
        async move {
            let mut grpc = tonic::server::Grpc::new(Utf8Codec);
            let response = match req.uri().path() {
                "/test.Echo/Say" => {
                    let handler = service_fn(move |r| say(Arc::clone(&downstream), r));
                    grpc.unary(handler, req).await
                }
                "/test.Echo/Stream" => {
                    let handler = service_fn(move |r| stream(Arc::clone(&downstream), r));
                    grpc.server_streaming(handler, req).await
                }
                _ => Status::unimplemented("no such method").into_http(),
            };
            Ok::<_, Infallible>(response)
        }
    });
    let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .serve_with_incoming_shutdown(svc, TcpIncoming::from(listener), async {
                let _ = signal.await;
            })
            .await;
    });
    Server {
        addr,
        downstream,
        shutdown: Some(shutdown),
        task,
    }
}

/// A channel to `server`, connecting on first use, with a per-call timeout inside it.
pub fn channel(server: &Server, timeout: Duration) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(server.uri())
        .unwrap()
        .timeout(timeout)
        .connect_lazy()
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What `tonic::client::Grpc` needs of the service under it (a channel, protected or not).
pub trait Transport:
    tonic::client::GrpcService<
    Body,
    ResponseBody: http_body::Body<Data = bytes::Bytes, Error: Into<BoxError>> + Send + 'static,
>
{
}

impl<T> Transport for T where
    T: tonic::client::GrpcService<
        Body,
        ResponseBody: http_body::Body<Data = bytes::Bytes, Error: Into<BoxError>> + Send + 'static,
    >
{
}

async fn ready<T: Transport>(client: &mut tonic::client::Grpc<T>) -> Result<(), Status> {
    client
        .ready()
        .await
        .map_err(|e| Status::from_error(e.into()))
}

/// One unary call through `client`, as a generated client makes it.
pub async fn say_to<T: Transport>(
    client: &mut tonic::client::Grpc<T>,
    message: &str,
) -> Result<String, Status> {
    ready(client).await?;
    let path = PathAndQuery::from_static("/test.Echo/Say");
    let request = Request::new(message.to_owned());
    client
        .unary(request, path, Utf8Codec)
        .await
        .map(Response::into_inner)
}

/// A server-streaming call through `client`: the response's head; its messages and status
/// are read from the stream.
pub async fn stream_from<T: Transport>(
    client: &mut tonic::client::Grpc<T>,
    message: &str,
) -> Result<tonic::codec::Streaming<String>, Status> {
    ready(client).await?;
    let path = PathAndQuery::from_static("/test.Echo/Stream");
    let request = Request::new(message.to_owned());
    client
        .server_streaming(request, path, Utf8Codec)
        .await
        .map(Response::into_inner)
}
