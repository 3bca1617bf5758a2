//! The file scenarios: one large upload and download (MB/s next to `dd` on the same
//! disk, and the server's peak RSS growth while it runs), and many small uploads
//! (req/s across 32 connections).

use std::convert::Infallible;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::Request;
use hyper::body::Frame;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use super::{Conn, PASSWORD, Server, session};

const MIB: u64 = 1 << 20;
/// The operator account the file scenarios upload as.
pub const OPERATOR: &str = "fileops";

/// Creates the operator account through the CLI (the API makes plain users only).
pub fn create_operator(server_binary: &str, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let status = Command::new(server_binary)
        .args(["user", "create", "--username", OPERATOR, "--role", "operator"])
        .env("HALLPASS_DATA_DIR", data_dir)
        .env("HALLPASS_PASSWORD", PASSWORD)
        .env("HALLPASS_LOG", "error")
        .status()?;
    // A second run finds the account there already: fine.
    let _ = status;
    Ok(())
}

fn pattern(len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| (i * 31 % 251) as u8).collect::<Vec<_>>())
}

/// Megabytes (10^6 bytes) per second.
fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds
}

async fn access_token(port: u16) -> anyhow::Result<String> {
    Ok(session(port, OPERATOR).await?["access_token"].as_str().unwrap_or_default().to_owned())
}

/// Empties the page cache (root only), so that a read measures the disk; whether it
/// could.
fn drop_caches() -> bool {
    Command::new("sync").status().is_ok_and(|s| s.success())
        && std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// A plain `dd` write (with a final fsync, as an upload has) and read of `bytes` in
/// the server's data directory: the disk's own speed.
fn dd(data_dir: &std::path::Path, bytes: u64) -> anyhow::Result<(f64, f64)> {
    let path = data_dir.join("dd-probe.bin");
    let count = (bytes / MIB).to_string();
    let timed = |args: &[String]| -> anyhow::Result<f64> {
        let started = Instant::now();
        let status = Command::new("dd").args(args).stderr(std::process::Stdio::null()).status()?;
        anyhow::ensure!(status.success(), "dd failed");
        Ok(mb_per_s(bytes, started.elapsed().as_secs_f64()))
    };
    let of = format!("of={}", path.display());
    let write =
        timed(&["if=/dev/zero".into(), of, "bs=1M".into(), format!("count={count}"), "conv=fsync".into()])?;
    drop_caches();
    let read = timed(&[format!("if={}", path.display()), "of=/dev/null".into(), "bs=1M".into()])?;
    std::fs::remove_file(&path)?;
    Ok((write, read))
}

/// Uploads `bytes` as one streamed raw body; the new file's id.
async fn upload(port: u16, token: &str, bytes: u64) -> anyhow::Result<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let chunk = pattern(MIB as usize);
    let frames = (0..bytes.div_ceil(MIB)).map(move |i| {
        let len = (bytes - i * MIB).min(MIB) as usize;
        Ok::<_, Infallible>(Frame::data(chunk.slice(..len)))
    });
    let req = Request::post("/api/v1/files?name=large.bin")
        .header("host", format!("127.0.0.1:{port}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/octet-stream")
        .header("content-length", bytes)
        .body(StreamBody::new(futures_util::stream::iter(frames)))?;
    let res = sender.send_request(req).await?;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await?.to_bytes();
    anyhow::ensure!(status == 201, "upload: {status} {}", String::from_utf8_lossy(&body));
    Ok(serde_json::from_slice::<Value>(&body)?["id"].as_str().unwrap_or_default().to_owned())
}

/// Downloads a file, counting its bytes as they come (never holding them).
async fn download(port: u16, token: &str, id: &str) -> anyhow::Result<u64> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let req = Request::get(format!("/api/v1/files/{id}/content"))
        .header("host", format!("127.0.0.1:{port}"))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::<Bytes>::new())?;
    let res = sender.send_request(req).await?;
    anyhow::ensure!(res.status() == 200, "download: {}", res.status());
    let mut body = res.into_body();
    let mut received = 0;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            received += data.len() as u64;
        }
    }
    Ok(received)
}

/// `upload` then `download` of one large file, each beside `dd`, with the server's
/// RSS growth during each.
pub async fn large(server: &Server, port: u16, mib: u64) -> anyhow::Result<()> {
    let bytes = mib * MIB;
    let token = access_token(port).await?;
    let (dd_write, dd_read) = dd(&server.data_dir, bytes)?;
    let base = server.reset_peak_rss();
    let started = Instant::now();
    let id = upload(port, &token, bytes).await?;
    let speed = mb_per_s(bytes, started.elapsed().as_secs_f64());
    println!(
        "upload   {mib} MiB: {speed:>7.0} MB/s  ({:.0}% of dd conv=fsync {dd_write:.0} MB/s)  RSS growth {:.1} MiB (peak {:.0} MiB)",
        100.0 * speed / dd_write,
        server.peak_rss_mib() - base,
        server.peak_rss_mib()
    );
    // Read from the disk (as dd did), then again from the page cache.
    let cold = drop_caches();
    for pass in [if cold { "disk" } else { "cache" }, "cache"] {
        let base = server.reset_peak_rss();
        let started = Instant::now();
        let received = download(port, &token, &id).await?;
        anyhow::ensure!(received == bytes, "downloaded {received} of {bytes} bytes");
        let speed = mb_per_s(bytes, started.elapsed().as_secs_f64());
        let baseline = if pass == "disk" {
            format!("{:.0}% of dd read {dd_read:.0} MB/s", 100.0 * speed / dd_read)
        } else {
            "page cache".to_owned()
        };
        println!(
            "download {mib} MiB ({pass}): {speed:>7.0} MB/s  ({baseline})  RSS growth {:.1} MiB (peak {:.0} MiB)",
            server.peak_rss_mib() - base,
            server.peak_rss_mib()
        );
    }
    Ok(())
}

/// `count` uploads of `size` bytes across `connections` keep-alive connections.
pub async fn small(
    server: &Server,
    port: u16,
    count: usize,
    size: usize,
    connections: usize,
) -> anyhow::Result<()> {
    let token = Arc::new(access_token(port).await?);
    let body = pattern(size);
    let next = Arc::new(AtomicUsize::new(0));
    let base = server.reset_peak_rss();
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (token, body, next) = (token.clone(), body.clone(), next.clone());
            tokio::spawn(async move {
                let mut conn = Conn::open(port).await?;
                let mut errors = 0u64;
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let (status, _) =
                        conn.send("POST", "/api/v1/files?name=small.bin", &token, body.clone()).await?;
                    errors += u64::from(status != 201);
                }
                anyhow::Ok(errors)
            })
        })
        .collect();
    let mut errors = 0;
    for task in tasks {
        errors += task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "small    {count} × {} KiB over {connections} connections: {:.0} uploads/s  ({:.0} MB/s)  errors {errors}  RSS growth {:.1} MiB (peak {:.0} MiB)",
        size / 1024,
        count as f64 / elapsed,
        mb_per_s((count * size) as u64, elapsed),
        server.peak_rss_mib() - base,
        server.peak_rss_mib()
    );
    Ok(())
}
