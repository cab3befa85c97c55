//! The engine against a daemon that misbehaves: a fake on a Unix socket that speaks just enough
//! HTTP (the real daemon's paths are tested in `tests/buildkit_engine.rs`).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use super::session::Provided;
use super::transport::Endpoint;
use super::{build, BuildKitRequest};
use crate::engine::docker::DockerError;

/// A daemon that accepts the session and drops it, then starts the build's response and
/// never says another word.
async fn silent_daemon(path: std::path::PathBuf) {
    let listener = UnixListener::bind(&path).unwrap();
    loop {
        let (mut stream, _) = listener.accept().await.unwrap();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                    return;
                }
                head.push(byte[0]);
            }
            if head.starts_with(b"POST /v1.41/session") {
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
                    )
                    .await;
                // Dropped: the daemon closed the session.
                return;
            }
            let _ = stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                )
                .await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
    }
}

#[tokio::test]
async fn a_daemon_that_falls_silent_is_reported_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    tokio::spawn(silent_daemon(socket.clone()));
    while !socket.exists() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    let result = build(
        &Endpoint::Unix(socket),
        BuildKitRequest {
            api_version: "1.41",
            context: super::BuildContext::Tar(Box::pin(futures_util::stream::iter([Ok(
                bytes::Bytes::from_static(b""),
            )]))),
            dockerfile: "Dockerfile",
            tag: "x:1",
            build_args: &[],
            labels: &[],
            target: None,
            platform: None,
            cache_from: &[],
            inline_cache: false,
            registry_cache: None,
            provided: Provided::default(),
            silence_limit: Duration::from_secs(1),
        },
        |_| {},
    )
    .await;
    let Err(DockerError::Daemon(message)) = result else {
        panic!("expected the daemon's silence to be reported: {result:?}");
    };
    assert!(message.contains("reported nothing for 1 s"), "{message}");
    assert!(message.contains("closed the build session"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn the_build_stream_takes_whole_messages_and_refuses_one_that_never_ends() {
    let mut pending = br#"{"stream":"one\n"}{"stream":"two\n"}{"stream":"thr"#.to_vec();
    let mut seen = Vec::new();
    let mut taken = |message: serde_json::Value| {
        seen.push(message["stream"].as_str().unwrap_or_default().to_string());
        Ok(())
    };
    super::take_complete(&mut pending, &mut taken).unwrap();
    assert_eq!(seen, ["one\n", "two\n"]);
    assert_eq!(pending, br#"{"stream":"thr"#);
    // A message that keeps growing is refused once it passes the limit.
    pending.extend(std::iter::repeat_n(b'a', super::MESSAGE_LIMIT));
    let error = super::take_complete(&mut pending, &mut |_| Ok(())).unwrap_err();
    assert!(error.to_string().contains("more than 16 MiB"), "{error}");
}
