//! Child processes with a deadline: a test never waits on a seeder (or any
//! other program) without a bound, and a process it gives up on is killed,
//! with a message saying so, rather than left running.
//!
//! The bounds are generous: they are there to turn a hang into a failure,
//! not to measure speed (that is the benchmark's job).

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
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
