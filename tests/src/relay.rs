//! A TCP relay on the IPv6 loopback address: the test servers listen on
//! 127.0.0.1 only, and a URL with `[::1]` must reach one. Each accepted
//! connection is copied byte for byte to the server and back, so the
//! seeder speaks the real protocol to the real server through it. Dropping
//! the relay stops accepting; open connections end with their peers.

use std::io;
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

/// Listens on `[::1]:port` and forwards to `to`.
pub struct Relay {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Relay {
    pub fn start(to: SocketAddr) -> io::Result<Relay> {
        let listener = TcpListener::bind((Ipv6Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(to) else {
                    continue;
                };
                let _ = pipe(client, server);
            }
        });
        Ok(Relay { port, stop })
    }
}

/// Copies each direction on a thread of its own until either side ends.
fn pipe(client: TcpStream, server: TcpStream) -> io::Result<()> {
    let (mut c_read, mut s_write) = (client.try_clone()?, server.try_clone()?);
    let (mut s_read, mut c_write) = (server, client);
    thread::spawn(move || {
        let _ = io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(std::net::Shutdown::Write);
    });
    thread::spawn(move || {
        let _ = io::copy(&mut s_read, &mut c_write);
        let _ = c_write.shutdown(std::net::Shutdown::Write);
    });
    Ok(())
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect((Ipv6Addr::LOCALHOST, self.port));
    }
}
