//! The TCP section of `shmem-bench`: where the two PEs of a TCP job sit (two node ids on loopback, or two
//! network namespaces joined by a veth pair), and the raw TCP references measured between the *same two
//! processes* in the same job: a ping-pong (one-way = round trip / 2) twice, once sleeping in blocking reads and
//! once polling non-blocking reads on both ends (the engine's threads may spin, `SHMEM_TCP_SPIN_US`, and an
//! idle VM can charge a blocking read tens of microseconds of wake-up that a spinning reader never pays: the
//! targets compare with the faster of the two), and a stream (bytes per second with one acknowledgement per
//! batch, as `put` + `quiet` has one completion round trip per message).
//!
//! The raw endpoints are PE 1's address on the route to the store (loopback, or its veth address) and PE 0,
//! with `TCP_NODELAY` as the TCP engine sets it, and on one host the engine's congestion control (one that does
//! not pace: `transport_tcp::unpaced_if_host_local`): the references see the same path and settings the
//! engine's sockets do (with the system's `bbr` the raw stream paced itself on the loopback device and measured
//! 4.9-5.0 GB/s against 7.5-11.7 GB/s unpaced, which made every engine row look better than it is).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

/// Address of namespace A's veth end (PE 0 and the store); only inside the run's own namespaces.
pub const NETNS_ADDR_A: &str = "10.213.13.1";
/// Address of namespace B's veth end (PE 1).
pub const NETNS_ADDR_B: &str = "10.213.13.2";
/// The job variable naming the two namespaces (`a,b`): PE `i` runs in the `i`-th.
pub const NETNS_VAR: &str = "SHMEM_BENCH_NETNS";

/// Two network namespaces joined by a veth pair, removed (with the pair) on drop.
#[derive(Debug)]
pub struct TwoNamespaces {
    /// PE 0's namespace.
    pub a: String,
    /// PE 1's namespace.
    pub b: String,
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if !out.status.success() {
        let msg = format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        return Err(io::Error::other(msg));
    }
    Ok(())
}

impl TwoNamespaces {
    /// Creates the namespaces `shmem-bench-<pid>-a/b` and the link between them (needs root).
    ///
    /// # Errors
    /// What `ip` reports (e.g. not root); whatever was made is removed.
    pub fn create() -> io::Result<TwoNamespaces> {
        let id = std::process::id() % 100_000;
        let ns = TwoNamespaces { a: format!("shmem-bench-{id}-a"), b: format!("shmem-bench-{id}-b") };
        let (va, vb) = (format!("ba{id}"), format!("bb{id}"));
        ip(&["netns", "add", &ns.a])?;
        ip(&["netns", "add", &ns.b])?;
        ip(&["link", "add", &va, "netns", &ns.a, "type", "veth", "peer", "name", &vb, "netns", &ns.b])?;
        for (n, dev, addr) in [(&ns.a, &va, NETNS_ADDR_A), (&ns.b, &vb, NETNS_ADDR_B)] {
            ip(&["-n", n, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", n, "link", "set", dev, "up"])?;
            ip(&["-n", n, "link", "set", "lo", "up"])?;
        }
        Ok(ns)
    }
}

impl Drop for TwoNamespaces {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

/// The `sh -c` script that starts a PE of a TCP job: its own node id, and in its namespace when [`NETNS_VAR`]
/// names them (`$0` is the program, `"$@"` its arguments).
pub const PE_WRAPPER: &str = r#"export SHMEM_NODE_ID="bench-node-$SHMEM_PE"
if [ -n "$SHMEM_BENCH_NETNS" ]; then
  ns=$(echo "$SHMEM_BENCH_NETNS" | cut -d, -f$((SHMEM_PE + 1)))
  exec ip netns exec "$ns" "$0" "$@"
fi
exec "$0" "$@""#;

/// This host's address on the route to `towards` (the local side of a connected UDP socket; nothing is sent).
pub fn local_ip_towards(towards: IpAddr) -> io::Result<IpAddr> {
    let probe = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    probe.connect((towards, 9))?;
    Ok(probe.local_addr()?.ip())
}

/// Packs an IPv4 listener address into one word for PE 0: bit 48 set, the address, the port.
pub fn pack_addr(addr: SocketAddr) -> Option<u64> {
    match addr {
        SocketAddr::V4(a) => Some((1 << 48) | (u64::from(u32::from(*a.ip())) << 16) | u64::from(a.port())),
        SocketAddr::V6(_) => None,
    }
}

/// The inverse of [`pack_addr`].
pub fn unpack_addr(v: u64) -> Option<SocketAddr> {
    (v >> 48 == 1).then(|| SocketAddr::from((Ipv4Addr::from(((v >> 16) & 0xFFFF_FFFF) as u32), (v & 0xFFFF) as u16)))
}

/// PE 1's side: binds a listener on `ip`, returns it; [`serve_raw`] then answers PE 0's two connections.
pub fn bind_raw(ip: IpAddr) -> io::Result<TcpListener> {
    TcpListener::bind((ip, 0))
}

/// Answers PE 0: the first connection is echoed until it closes (ping-pong, blocking reads), the second
/// likewise with non-blocking reads polled in a loop (the spinning ping-pong), the third is a sink of
/// batches (message size and count as two little-endian u64, the messages, then a 1-byte acknowledgement;
/// size 0 ends it). Every accept and read is bounded by `limit`.
///
/// # Errors
/// Socket errors and timeouts.
pub fn serve_raw(listener: TcpListener, limit: Duration) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let accept = || -> io::Result<TcpStream> {
        let start = Instant::now();
        loop {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false)?;
                    s.set_nodelay(true)?;
                    transport_tcp::unpaced_if_host_local(&s);
                    s.set_read_timeout(Some(limit))?;
                    return Ok(s);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && start.elapsed() < limit => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => return Err(e),
            }
        }
    };
    let mut echo = accept()?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = echo.read(&mut buf)?;
        if n == 0 {
            break;
        }
        echo.write_all(&buf[..n])?;
    }
    let spin = accept()?;
    spin.set_nonblocking(true)?;
    loop {
        // Whatever arrived is echoed at once; a read that finds nothing is tried again without sleeping.
        let n = spin_read(&spin, &mut buf, limit)?;
        if n == 0 {
            break;
        }
        spin_write_all(&spin, &buf[..n], limit)?;
    }
    let mut sink = accept()?;
    loop {
        // A batch: its message size and count, then the messages, each read whole into a buffer of its size
        // (as the engine reads a put's payload straight into the heap), then a 1-byte acknowledgement.
        let mut head = [0u8; 16];
        sink.read_exact(&mut head)?;
        let size = u64::from_le_bytes(head[..8].try_into().expect("8 bytes")) as usize;
        let count = u64::from_le_bytes(head[8..].try_into().expect("8 bytes"));
        if size == 0 {
            return Ok(());
        }
        if buf.len() < size {
            buf.resize(size, 0);
        }
        for _ in 0..count {
            sink.read_exact(&mut buf[..size])?;
        }
        sink.write_all(&[1])?;
    }
}

/// One non-blocking read of at most `buf.len()` bytes, retried without sleeping (yielding the core between
/// tries) until something (or the end of the stream: 0) comes; `TimedOut` after `limit` without a byte.
fn spin_read(mut s: &TcpStream, buf: &mut [u8], limit: Duration) -> io::Result<usize> {
    let start = Instant::now();
    let mut tries = 0u32;
    loop {
        match s.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
                tries = tries.wrapping_add(1);
                if tries.is_multiple_of(1024) && start.elapsed() > limit {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "raw spinning ping-pong: no data"));
                }
                // Yields between polls, as the engine's waits do: on a machine with more runnable threads than
                // cores a pure spin holds its core until the next scheduler tick (4 ms) while the peer it waits
                // for is not running.
                std::thread::yield_now();
            }
            Err(e) => return Err(e),
        }
    }
}

/// Writes all of `buf` to the non-blocking `s`, retrying without sleeping while the socket is full.
fn spin_write_all(mut s: &TcpStream, mut buf: &[u8], limit: Duration) -> io::Result<()> {
    let start = Instant::now();
    while !buf.is_empty() {
        match s.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
                if start.elapsed() > limit {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "raw spinning ping-pong: socket full"));
                }
                std::hint::spin_loop();
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// PE 0's side of the raw references.
#[derive(Debug)]
pub struct RawClient {
    echo: Option<TcpStream>,
    spin: Option<TcpStream>,
    sink: Option<TcpStream>,
    buf: Vec<u8>,
}

impl RawClient {
    /// Connects the ping-pong connection (the stream one follows in [`RawClient::start_stream`]).
    ///
    /// # Errors
    /// Connection errors.
    pub fn connect(to: SocketAddr, max_msg: usize) -> io::Result<RawClient> {
        let echo = TcpStream::connect_timeout(&to, Duration::from_secs(10))?;
        echo.set_nodelay(true)?;
        transport_tcp::unpaced_if_host_local(&echo);
        Ok(RawClient { echo: Some(echo), spin: None, sink: None, buf: vec![1u8; max_msg.max(8)] })
    }

    /// `iters` round trips of `size` bytes; the time of all of them.
    ///
    /// # Errors
    /// Socket errors.
    pub fn pingpong(&mut self, size: usize, iters: u64) -> io::Result<Duration> {
        let s = self.echo.as_mut().ok_or_else(|| io::Error::other("ping-pong connection closed"))?;
        let buf = &mut self.buf[..size];
        let t = Instant::now();
        for _ in 0..iters {
            s.write_all(buf)?;
            s.read_exact(buf)?;
        }
        Ok(t.elapsed())
    }

    /// Closes the blocking ping-pong connection and opens the spinning one ([`RawClient::pingpong_spin`]) to the
    /// same listener.
    ///
    /// # Errors
    /// Connection errors.
    pub fn start_spin(&mut self, to: SocketAddr) -> io::Result<()> {
        drop(self.echo.take());
        let s = TcpStream::connect_timeout(&to, Duration::from_secs(10))?;
        s.set_nodelay(true)?;
        transport_tcp::unpaced_if_host_local(&s);
        s.set_nonblocking(true)?;
        self.spin = Some(s);
        Ok(())
    }

    /// `iters` round trips of `size` bytes with non-blocking reads polled on both ends (no sleep, no wake-up);
    /// the time of all of them.
    ///
    /// # Errors
    /// Socket errors; `TimedOut` when the echo stops for 10 s.
    pub fn pingpong_spin(&mut self, size: usize, iters: u64) -> io::Result<Duration> {
        let s = self.spin.as_ref().ok_or_else(|| io::Error::other("spinning ping-pong connection not open"))?;
        let buf = &mut self.buf[..size];
        let limit = Duration::from_secs(10);
        let t = Instant::now();
        for _ in 0..iters {
            spin_write_all(s, buf, limit)?;
            let mut got = 0;
            while got < size {
                match spin_read(s, &mut buf[got..], limit)? {
                    0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                    n => got += n,
                }
            }
        }
        Ok(t.elapsed())
    }

    /// Closes the ping-pong connections and opens the stream one to the same listener (after
    /// [`RawClient::start_spin`]: the listener answers the connections in that order).
    ///
    /// # Errors
    /// Connection errors.
    pub fn start_stream(&mut self, to: SocketAddr) -> io::Result<()> {
        drop(self.echo.take());
        drop(self.spin.take());
        let s = TcpStream::connect_timeout(&to, Duration::from_secs(10))?;
        s.set_nodelay(true)?;
        transport_tcp::unpaced_if_host_local(&s);
        self.sink = Some(s);
        Ok(())
    }

    /// `iters` messages of `size` bytes back to back, then one acknowledgement; the time of all of it.
    ///
    /// # Errors
    /// Socket errors.
    pub fn stream(&mut self, size: usize, iters: u64) -> io::Result<Duration> {
        let s = self.sink.as_mut().ok_or_else(|| io::Error::other("stream connection not open"))?;
        let t = Instant::now();
        let mut head = [0u8; 16];
        head[..8].copy_from_slice(&(size as u64).to_le_bytes());
        head[8..].copy_from_slice(&iters.to_le_bytes());
        s.write_all(&head)?;
        for _ in 0..iters {
            s.write_all(&self.buf[..size])?;
        }
        s.read_exact(&mut [0u8; 1])?;
        Ok(t.elapsed())
    }

    /// Ends the stream connection (PE 1 returns to its serving loop).
    ///
    /// # Errors
    /// Socket errors.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(mut s) = self.sink.take() {
            s.write_all(&[0u8; 16])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_pack_and_the_raw_pair_runs() {
        let a: SocketAddr = "10.213.13.2:40123".parse().unwrap();
        assert_eq!(unpack_addr(pack_addr(a).unwrap()), Some(a));
        assert_eq!(unpack_addr(0), None);
        let l = bind_raw(Ipv4Addr::LOCALHOST.into()).unwrap();
        let to = l.local_addr().unwrap();
        let server = std::thread::spawn(move || serve_raw(l, Duration::from_secs(10)));
        let mut c = RawClient::connect(to, 1 << 16).unwrap();
        assert!(c.pingpong(8, 10).unwrap() > Duration::ZERO);
        assert!(c.pingpong(4096, 3).unwrap() > Duration::ZERO);
        c.start_spin(to).unwrap();
        assert!(c.pingpong_spin(8, 10).unwrap() > Duration::ZERO);
        assert!(c.pingpong_spin(4096, 3).unwrap() > Duration::ZERO);
        c.start_stream(to).unwrap();
        c.stream(1 << 16, 5).unwrap();
        c.stream(4096, 1).unwrap();
        c.finish().unwrap();
        server.join().unwrap().unwrap();
    }
}
