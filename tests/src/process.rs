//! Child processes with a deadline: a test never waits on a seeder (or any
//! other program) without a bound, and a process it gives up on is killed,
//! with a message saying so, rather than left running.
//!
//! The bounds are generous: they are there to turn a hang into a failure,
//! not to measure speed (that is the benchmark's job).

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Spawns `cmd` as a child that dies with this test process: it gets
/// `SIGKILL` from the kernel when the process ends however it ends (a
/// panic, nextest's timeout, `kill -9`), so no server or seeder a test
/// started outlives it (`prctl(PR_SET_PDEATHSIG)`).
///
/// The kernel sends the signal when the *thread* that forked the child
/// ends, not the process: a child spawned on a test's thread, a runtime's
/// worker or the thread that starts a server shared by several tests would
/// die with that thread. So every child is forked by one thread that lives
/// as long as the process ([`keeper`]), and the caller waits for it.
///
/// What this does not cover: processes that leave their parent (the Galera
/// nodes, which `scripts/galera-cluster` starts with `setsid` in the
/// background) and a child's own children that outlive it. For those, see
/// [`crate::sweep`].
pub fn spawn_owned(cmd: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt as _;
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes two system calls, both async-signal-safe; it allocates nothing
    // and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The test process may have died between the fork and the
            // prctl: then nobody would send the signal.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("the test process is gone"));
            }
            Ok(())
        });
    }
    match keeper() {
        Some(keeper) => {
            let (reply, answer) = sync_channel(1);
            let job = SpawnJob {
                cmd: std::ptr::from_mut(cmd),
                reply,
            };
            if keeper.send(job).is_ok()
                && let Ok(spawned) = answer.recv()
            {
                return spawned;
            }
            // The keeper is gone (it never panics; this is only defence):
            // the child then dies with this thread instead.
            cmd.spawn()
        }
        None => cmd.spawn(),
    }
}

/// A command for the [`keeper`] to spawn, and where to send the child.
struct SpawnJob {
    cmd: *mut Command,
    reply: SyncSender<std::io::Result<Child>>,
}

// SAFETY: the pointer comes from a `&mut Command` whose owner blocks in
// `spawn_owned` until the keeper has replied (or dropped the job), and the
// keeper uses it only before that: never two threads at once.
unsafe impl Send for SpawnJob {}

/// The thread that forks every child of [`spawn_owned`]: it lives as long
/// as the process, blocked on its queue, so its children's parent-death
/// signal comes when the process ends. `None` if it could not be started.
fn keeper() -> Option<&'static Sender<SpawnJob>> {
    static KEEPER: OnceLock<Option<Sender<SpawnJob>>> = OnceLock::new();
    KEEPER
        .get_or_init(|| {
            let (jobs, queue) = channel::<SpawnJob>();
            std::thread::Builder::new()
                .name("ota-seed-tests child keeper".to_owned())
                .spawn(move || {
                    for job in queue {
                        // SAFETY: see `SpawnJob`.
                        let cmd = unsafe { &mut *job.cmd };
                        let _ = job.reply.send(cmd.spawn());
                    }
                })
                .ok()
                .map(|_| jobs)
        })
        .as_ref()
}

/// How long any one seeder run may take in a test before it counts as hung.
/// The largest fleets of the suite take about a minute on a loaded 2-core
/// machine.
pub const SEEDER_LIMIT: Duration = Duration::from_secs(600);

/// Time since this process's first harness line: the lines' clock.
fn since_start() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// A running child whose stdout and stderr are collected by threads (so no
/// pipe fills up), and which is killed if it is dropped while running.
pub struct Spawned {
    child: std::process::Child,
    what: String,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    /// stderr, line by line, as it arrives.
    lines: Receiver<String>,
}

impl Spawned {
    /// Starts `cmd` with stdin closed and stdout/stderr captured. `what`
    /// names it in failure messages.
    pub fn start(cmd: &mut Command, what: &str) -> std::io::Result<Spawned> {
        let mut child = spawn_owned(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )?;
        // What the test is doing, for its output should it fail or overrun
        // its time limit (test output is captured: shown then only).
        eprintln!(
            "[harness] {:.3}s started {what} (pid {})",
            since_start().as_secs_f64(),
            child.id()
        );
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, lines) = channel();
        let mut readers = Vec::new();
        if let Some(mut out) = child.stdout.take() {
            let sink = Arc::clone(&stdout);
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = out.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .expect("stdout buffer")
                        .extend_from_slice(&buf[..n]);
                }
            }));
        }
        if let Some(err) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            readers.push(std::thread::spawn(move || {
                let mut reader = BufReader::new(err);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            sink.lock().expect("stderr buffer").extend_from_slice(&line);
                            // Nobody listening any more is fine.
                            let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
                        }
                    }
                }
            }));
        }
        Ok(Spawned {
            child,
            what: what.to_owned(),
            stdout,
            stderr,
            readers,
            lines,
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal by name (`INT`, `TERM`, `STOP`, `CONT`, ...).
    pub fn signal(&self, name: &str) -> anyhow::Result<()> {
        signal_pid(self.child.id(), name)
    }

    /// SIGKILL.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()
    }

    /// Waits until a line of stderr satisfies `wanted` (a readiness signal:
    /// the seeder prints a line per finished step when stderr is not a
    /// terminal); returns that line. Fails if the child ends first or the
    /// line does not come within `limit`.
    pub fn wait_for_stderr_line(
        &mut self,
        limit: Duration,
        description: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + limit;
        eprintln!(
            "[harness] {:.3}s waiting up to {limit:?} for {} to print {description}",
            since_start().as_secs_f64(),
            self.what
        );
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(line.trim_end()) => return Ok(line.trim_end().to_owned()),
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => anyhow::bail!(
                    "{} ended before printing {description}:\n{}",
                    self.what,
                    self.stderr_so_far()
                ),
                Err(RecvTimeoutError::Timeout) => anyhow::bail!(
                    "{} printed no {description} within {limit:?}:\n{}",
                    self.what,
                    self.stderr_so_far()
                ),
            }
        }
    }

    /// What the child wrote to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr buffer")).into_owned()
    }

    /// Waits for the child to exit, at most `limit`. Past it, the child is
    /// killed and this panics, saying so (a hang, not a slow run).
    pub fn wait(self, limit: Duration) -> Output {
        self.wait_or_explain(limit, String::new)
    }

    /// [`Spawned::wait`], and on a hang the panic also carries what
    /// `explain` returns, taken while the child still runs (what a server
    /// was doing for it, say).
    pub fn wait_or_explain(mut self, limit: Duration, explain: impl FnOnce() -> String) -> Output {
        let deadline = Instant::now() + limit;
        eprintln!(
            "[harness] {:.3}s waiting up to {limit:?} for {} (pid {}) to exit",
            since_start().as_secs_f64(),
            self.what,
            self.child.id()
        );
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => panic!("waiting for {}: {e}", self.what),
            }
            if Instant::now() >= deadline {
                let explanation = explain();
                // A stopped process must be continued to die of SIGKILL
                // promptly on every kernel; harmless otherwise.
                let _ = self.signal("CONT");
                let _ = self.child.kill();
                let _ = self.child.wait();
                let output = self.collect(None);
                panic!(
                    "{} was still running after {limit:?}: killed it (a hang, not a slow run)\n{}\n{explanation}",
                    self.what,
                    crate::describe(&output)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        eprintln!(
            "[harness] {:.3}s {} exited: {status}",
            since_start().as_secs_f64(),
            self.what
        );
        self.collect(Some(status))
    }

    fn collect(&mut self, status: Option<ExitStatus>) -> Output {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let status =
            status.unwrap_or_else(|| self.child.try_wait().ok().flatten().unwrap_or_default());
        Output {
            status,
            stdout: std::mem::take(&mut *self.stdout.lock().expect("stdout buffer")),
            stderr: std::mem::take(&mut *self.stderr.lock().expect("stderr buffer")),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // A test that failed half-way must not leave a running (or
        // stopped) child behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-CONT", &self.child.id().to_string()])
                .status();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends signal `name` (`INT`, `TERM`, `STOP`, `CONT`, ...) to process
/// `pid`: `kill -NAME PID`.
pub fn signal_pid(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()?;
    anyhow::ensure!(status.success(), "kill -{name} {pid} failed");
    Ok(())
}

/// Runs `cmd` to completion, at most `limit`, and returns its output (see
/// [`Spawned::wait`]).
pub fn output_within(cmd: &mut Command, what: &str, limit: Duration) -> Output {
    Spawned::start(cmd, what)
        .unwrap_or_else(|e| panic!("could not start {what}: {e}"))
        .wait(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gone(pid: u32) -> bool {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn a_child_past_its_deadline_is_killed_and_the_failure_says_so() {
        let child = Spawned::start(Command::new("sleep").arg("300"), "sleep 300").expect("start");
        let pid = child.id();
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            child.wait(Duration::from_millis(200))
        }))
        .expect_err("the wait must fail");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            message.contains("sleep 300 was still running after 200ms: killed it"),
            "{message}"
        );
        assert!(gone(pid), "the child was killed and reaped");
    }

    use crate::sweep::pid_alive as alive;

    const HELPER: &str = "OTA_SEED_TESTS_PDEATHSIG_HELPER";

    /// Run by the test below as a process of its own (without the variable
    /// it does nothing): starts `sleep` from a thread that ends at once,
    /// says its pid, and waits to be killed.
    #[test]
    fn helper_that_starts_a_child_and_waits_to_be_killed() {
        if std::env::var_os(HELPER).is_none() {
            return;
        }
        // Never waited for: this process is killed first, which is the point.
        #[allow(clippy::zombie_processes)]
        let child = std::thread::spawn(|| {
            spawn_owned(
                Command::new("sleep")
                    .arg("300")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null()),
            )
        })
        .join()
        .expect("the spawning thread")
        .expect("spawn sleep");
        // On libtest's line "test NAME ... ", which has no line end yet.
        println!("\nchild-pid={}", child.id());
        std::thread::sleep(Duration::from_secs(300));
    }

    #[test]
    fn children_die_with_the_test_process_not_with_the_thread_that_started_them() {
        let mut helper = Command::new(std::env::current_exe().expect("this test binary"))
            .args([
                "--exact",
                "process::tests::helper_that_starts_a_child_and_waits_to_be_killed",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the helper");
        let mut lines = BufReader::new(helper.stdout.take().expect("its stdout")).lines();
        let pid: u32 = lines
            .find_map(|line| line.ok()?.strip_prefix("child-pid=")?.parse().ok())
            .expect("the helper says its child's pid");
        // The thread that forked it has ended by now.
        assert!(alive(pid), "the child died with the thread that spawned it");
        helper.kill().expect("kill the helper");
        helper.wait().expect("reap the helper");
        let deadline = Instant::now() + Duration::from_secs(30);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let outlived = alive(pid);
        if outlived {
            let _ = signal_pid(pid, "KILL");
        }
        assert!(!outlived, "the child (pid {pid}) outlived its test process");
    }

    #[test]
    fn a_dropped_child_is_killed() {
        let child = Spawned::start(Command::new("sleep").arg("300"), "sleep 300").expect("start");
        let pid = child.id();
        drop(child);
        assert!(gone(pid));
    }

    #[test]
    fn output_and_lines_are_collected() {
        let mut child = Spawned::start(
            Command::new("sh").args(["-c", "echo out; echo one >&2; echo two >&2"]),
            "sh",
        )
        .expect("start");
        let line = child
            .wait_for_stderr_line(Duration::from_secs(60), "two", |l| l == "two")
            .expect("the line");
        assert_eq!(line, "two");
        let out = child.wait(Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"one\ntwo\n");
    }
}
