//! What the probes' unit tests stand against when no server should answer:
//! a port nobody listens on, a server that accepts and never speaks, and
//! timeouts short enough to hit them quickly. Shared by every service's tests.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::settings::ProbeSettings;

/// 10 Hz, and 200 ms to connect and to query.
pub fn quick() -> ProbeSettings {
    ProbeSettings {
        rate_hz: 10.0,
        connect_timeout: Duration::from_millis(200),
        query_timeout: Duration::from_millis(200),
    }
}

/// A loopback port nobody listens on: bound, then released.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A loopback server that accepts connections and never sends a byte:
/// only a timeout ends a client's wait. Its port, and the task to abort.
pub async fn silent_server() -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, hold)
}
