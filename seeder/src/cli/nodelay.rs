//! `TCP_NODELAY` on the command's database connections.
//!
//! sqlx 0.9.0 no longer sets `TCP_NODELAY` on its sockets (sqlx issue
//! #4335; fixed upstream by #4336, not released yet). Without it a short
//! message written behind unacknowledged data waits for the server's
//! delayed ACK, about 40 ms on Linux. With TLS (`sslmode=prefer`, the
//! default) that happened several times per tenant: seeding 100k devices
//! on loopback PostgreSQL took 3.0 s, against 1.7 s without TLS.
//!
//! sqlx gives no access to its socket, so after each connection it opens
//! the command sets the option on the process's TCP sockets: in the
//! `seeder` binary every one of them is one of its database connections.
//! The library never does this; a caller's connections stay as the caller
//! made them.

/// Sets `TCP_NODELAY` on every TCP socket of this process (Linux; elsewhere
/// nothing). Descriptors that are not TCP sockets refuse the option and are
/// left as they are.
#[cfg(target_os = "linux")]
pub fn set_on_process_sockets() {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in fds.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<libc::c_int>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `on`,
        // which lives across the call, and touches no memory of ours. On a
        // descriptor that is not a TCP socket, or was closed meanwhile, it
        // fails and changes nothing; one reopened meanwhile as another TCP
        // socket of this process gets the option too, which is harmless.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&raw const on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn set_on_process_sockets() {}

/// While alive, sets `TCP_NODELAY` on the process's sockets every 200 µs,
/// from a thread of its own: for the time connections are being opened.
/// Setting it after a connection is open (`after_connect`) comes too late
/// for the handshake itself, where TLS's last client flight and the
/// startup message, two writes in a row, waited for a delayed ACK: about
/// 0.17 s of every run over TLS on loopback, measured on an empty run
/// (0.21 s against 0.04 s with `sslmode=disable`).
pub struct Watch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    pub fn start() -> Watch {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("nodelay".to_owned())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    set_on_process_sockets();
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            })
            .ok();
        Watch { stop, thread }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Sockets opened since the thread's last pass.
        set_on_process_sockets();
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_tcp_socket_of_the_process_gets_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let stream =
            TcpStream::connect(listener.local_addr().expect("its address")).expect("connect");
        assert!(!stream.nodelay().expect("read the option"));
        super::set_on_process_sockets();
        assert!(stream.nodelay().expect("read the option"));
    }
}
