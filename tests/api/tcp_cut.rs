//! A TCP proxy a test owns, to cut a service off and bring it back. While cut, every
//! open connection through it is closed and its port refuses connections, as when the
//! service is stopped; restored, it listens on the same port again.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct TcpCut {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl TcpCut {
    /// Starts forwarding a loopback port to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let (up, watch_up) = watch::channel(true);
        tokio::spawn(serve(listener, upstream, watch_up));
        Self { addr, up }
    }

    /// Closes every connection and refuses new ones until [`TcpCut::restore`].
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

async fn serve(mut listener: TcpListener, upstream: String, mut up: watch::Receiver<bool>) {
    let addr = listener.local_addr().unwrap();
    let for_connections = up.clone();
    loop {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((client, _)) = accepted else { break };
                    tokio::spawn(forward(client, upstream.clone(), for_connections.clone()));
                }
                _ = up.wait_for(|up| !up) => break,
            }
        }
        drop(listener);
        if up.wait_for(|up| *up).await.is_err() {
            return;
        }
        listener = TcpListener::bind(addr).await.expect("listen again on the proxy's port");
    }
}

async fn forward(mut client: TcpStream, upstream: String, mut up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = up.wait_for(|up| !up) => {}
    }
}
