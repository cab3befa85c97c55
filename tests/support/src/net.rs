//! A loopback address where nothing answers, for the tests of an unreachable server.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::TcpSocket;

/// A loopback port bound but never listened on: a connection to it is refused at once, and
/// while it is held no other process can bind it (the socket does not allow address reuse),
/// so it cannot turn into some other test's server. A port merely found free and released
/// could.
pub struct ClosedPort {
    socket: TcpSocket,
}

impl ClosedPort {
    pub fn hold() -> Self {
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .expect("a loopback port");
        ClosedPort { socket }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        let address = self.socket.local_addr().expect("the bound address");
        format!("http://{address}")
    }
}
