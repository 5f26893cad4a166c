//! Loopback ports for the servers the tests start (a private PostgreSQL
//! or MariaDB, PgBouncer). A port is free when [`free_port`] picks it, but
//! any other process may take it before the server binds it: every start
//! tries again with a fresh port, up to [`PORT_TRIES`] times, when its
//! server's log says the port was taken ([`port_taken`]). (The Galera
//! script picks its own ports; `GaleraCluster::start` retries the same
//! way.)

use std::net::{Ipv4Addr, TcpListener};

/// Starts tried, each on a fresh port, before a port race counts as a
/// failure.
pub const PORT_TRIES: usize = 5;

/// A port on 127.0.0.1 that nothing listened on a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Whether a server's log says it could not bind its port because another
/// process had it: PostgreSQL, MariaDB and PgBouncer word it so.
pub fn port_taken(log: &str) -> bool {
    [
        "Address already in use",
        "could not bind",
        "Bind on TCP/IP port",
    ]
    .iter()
    .any(|said| log.contains(said))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_taken_meanwhile_is_recognised() {
        let port = free_port().expect("a free port");
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("bind it");
        let again = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect_err("taken");
        assert!(port_taken(&again.to_string()), "{again}");
        drop(held);
        assert!(!port_taken(
            "database system is ready to accept connections"
        ));
    }
}
