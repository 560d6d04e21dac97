//! One store connection, plain TCP or TLS, as a blocking byte stream.

use rustls::{ClientConnection, ServerConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::TcpStream;

/// A connected socket, with TLS on top when the job uses it. Reads and writes block; timeouts are set on
/// the underlying [`TcpStream`].
pub(crate) enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// The client side of a TLS session.
    TlsClient(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// The store's side of a TLS session.
    TlsServer(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Conn {
    /// The socket under the (possible) TLS session, for timeouts and shutdown.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::TlsClient(s) => s.get_ref(),
            Conn::TlsServer(s) => s.get_ref(),
        }
    }
}

impl Drop for Conn {
    /// Ends a TLS session with a close_notify (best effort), so that the peer sees a clean close.
    fn drop(&mut self) {
        let _ = match self {
            Conn::Plain(_) => Ok(()),
            Conn::TlsClient(s) => {
                s.conn.send_close_notify();
                s.flush()
            }
            Conn::TlsServer(s) => {
                s.conn.send_close_notify();
                s.flush()
            }
        };
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::TlsClient(s) => s.read(buf),
            Conn::TlsServer(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::TlsClient(s) => s.write(buf),
            Conn::TlsServer(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::TlsClient(s) => s.flush(),
            Conn::TlsServer(s) => s.flush(),
        }
    }
}

/// Whether an I/O error is a read/write timeout (blocking sockets report `WouldBlock` on Linux).
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Whether an I/O error carries a TLS failure (rustls reports them as `InvalidData` wrapping its error).
pub(crate) fn tls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}
