//! Rank-prefixed output: every line a PE writes to stdout or stderr is re-emitted on the launcher's
//! stdout or stderr (the same stream) as `[rank] line`.
//!
//! One thread serves all PEs: it `poll(2)`s every open pipe, splits what arrives into lines with a
//! [`LinePrefixer`] per pipe, and writes whole lines only, so lines of different PEs never interleave.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A line longer than this is emitted in pieces (each piece prefixed and ended with a newline) rather than
/// buffered without bound.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Splits a byte stream into lines and prefixes each one. Pure logic: no I/O.
#[derive(Debug, Clone)]
pub struct LinePrefixer {
    prefix: Vec<u8>,
    pending: Vec<u8>,
}

impl LinePrefixer {
    /// A prefixer for `rank`'s output: each line becomes `[rank] line`.
    pub fn for_rank(rank: u32) -> Self {
        Self { prefix: format!("[{rank}] ").into_bytes(), pending: Vec::new() }
    }

    /// Appends to `out` every line completed by `data`, prefixed; keeps a trailing partial line.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mut rest = data;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&self.prefix);
            out.extend_from_slice(&self.pending);
            out.extend_from_slice(&rest[..=nl]);
            self.pending.clear();
            rest = &rest[nl + 1..];
        }
        self.pending.extend_from_slice(rest);
        if self.pending.len() >= MAX_LINE_BYTES {
            self.finish(out);
        }
    }

    /// Appends the partial last line, if any, prefixed and with a newline added.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            out.extend_from_slice(&self.prefix);
            out.append(&mut self.pending);
            out.push(b'\n');
        }
    }
}

/// Which of the launcher's streams a PE pipe is copied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sink {
    Stdout,
    Stderr,
}

/// One PE pipe being copied.
struct Source {
    file: File,
    sink: Sink,
    lines: LinePrefixer,
}

/// The thread that copies PE output, and the handles to feed and stop it.
pub(crate) struct OutputPump {
    new_sources: Sender<Source>,
    finishing: Arc<AtomicBool>,
    drain: Duration,
    thread: JoinHandle<()>,
}

impl OutputPump {
    /// Starts the copying thread. After [`OutputPump::finish`], it keeps waiting for output for at most
    /// `drain` (pipes that a PE's leftover child still holds open would otherwise keep it forever), then
    /// copies what is still in the pipes without waiting.
    pub(crate) fn start(drain: Duration) -> io::Result<Self> {
        let (new_sources, rx) = mpsc::channel();
        let finishing = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&finishing);
        let thread =
            std::thread::Builder::new().name("shmemrun-output".into()).spawn(move || pump(&rx, &flag, drain))?;
        Ok(Self { new_sources, finishing, drain, thread })
    }

    /// Adds the read end of one PE pipe.
    pub(crate) fn add(&self, rank: u32, fd: OwnedFd, sink: Sink) {
        // The receiver lives until `finish` joins the thread, so the send cannot fail.
        let _ = self.new_sources.send(Source { file: File::from(fd), sink, lines: LinePrefixer::for_rank(rank) });
    }

    /// Copies what is left (until every pipe reaches end of file, or the drain time passes and what the pipes
    /// still hold is read), flushes partial lines and stops the thread.
    pub(crate) fn finish(self) {
        self.finishing.store(true, Ordering::SeqCst);
        drop(self.new_sources);
        if self.thread.join().is_err() {
            tracing::warn!(drain = ?self.drain, "the output thread panicked; some PE output may be lost");
        }
    }
}

/// How many rounds of the final sweep (each reads up to 64 KiB from every ready pipe) may run after the drain
/// time: enough for a full pipe of the largest size Linux gives unprivileged users by default (1 MiB), few
/// enough that a PE's leftover child writing without pause cannot keep the launcher.
const SWEEP_ROUNDS: usize = 16;

fn pump(rx: &Receiver<Source>, finishing: &AtomicBool, drain: Duration) {
    let mut sources: Vec<Source> = Vec::new();
    let mut connected = true;
    let mut deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while connected {
            match rx.try_recv() {
                Ok(s) => sources.push(s),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => connected = false,
            }
        }
        if deadline.is_none() && finishing.load(Ordering::SeqCst) {
            deadline = Some(crate::supervise::later(drain));
        }
        if sources.is_empty() && !connected {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // The PEs have exited, so what they wrote is already in the pipes: read it without waiting. The
            // drain time only bounds waiting for pipes that a PE's leftover child still holds open.
            for _ in 0..SWEEP_ROUNDS {
                if !matches!(copy_ready(&mut sources, &mut buf, 0), Ok(n) if n > 0) {
                    break;
                }
            }
            break;
        }
        match copy_ready(&mut sources, &mut buf, 20) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(error = %e, "poll on PE output failed; output copying stops");
                break;
            }
        }
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    for s in &mut sources {
        s.lines.finish(if s.sink == Sink::Stdout { &mut out } else { &mut err });
    }
    emit(&out, &err);
}

/// Waits up to `timeout_ms` for output, then copies one read from every pipe that has some and drops the pipes
/// that reached end of file (flushing their partial line). Returns how many pipes were ready.
fn copy_ready(sources: &mut Vec<Source>, buf: &mut [u8], timeout_ms: libc::c_int) -> io::Result<usize> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut fds: Vec<libc::pollfd> =
        sources.iter().map(|s| libc::pollfd { fd: s.file.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: `fds` is a live, exclusively borrowed array of `fds.len()` pollfd structs.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut closed = Vec::new();
    for (i, pfd) in fds.iter().enumerate() {
        if pfd.revents == 0 {
            continue;
        }
        let src = &mut sources[i];
        let target = if src.sink == Sink::Stdout { &mut out } else { &mut err };
        match src.file.read(buf) {
            Ok(0) => closed.push(i),
            Ok(k) => src.lines.feed(&buf[..k], target),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => closed.push(i),
        }
    }
    for &i in closed.iter().rev() {
        let mut src = sources.swap_remove(i);
        src.lines.finish(if src.sink == Sink::Stdout { &mut out } else { &mut err });
    }
    emit(&out, &err);
    Ok(n as usize)
}

/// Writes whole lines; errors (a closed terminal, a reader that went away) are ignored, as `tee` would.
fn emit(out: &[u8], err: &[u8]) {
    if !out.is_empty() {
        let mut o = io::stdout().lock();
        let _ = o.write_all(out).and_then(|()| o.flush());
    }
    if !err.is_empty() {
        let _ = io::stderr().lock().write_all(err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> String {
        let mut p = LinePrefixer::for_rank(12);
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        p.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn prefixes_lines_across_chunks() {
        assert_eq!(lines(&[b"a\nb", b"c\n", b"\nd"]), "[12] a\n[12] bc\n[12] \n[12] d\n");
        assert_eq!(lines(&[b""]), "");
        assert_eq!(lines(&[b"x\n"]), "[12] x\n");
    }

    #[test]
    fn long_lines_are_split() {
        let long = vec![b'z'; MAX_LINE_BYTES + 10];
        let text = lines(&[&long]);
        assert_eq!(text.len(), MAX_LINE_BYTES + 10 + 5 + 1);
        assert!(text.starts_with("[12] zzz") && text.ends_with("zz\n"));
    }
}
