//! The store's wire format: length-prefixed frames and a small hand-written codec.
//!
//! # Frames
//! Every message travels as one frame: a big-endian `u32` payload length followed by the payload. A length
//! above the reader's bound ([`MAX_FRAME`], or [`MAX_HELLO_FRAME`] before the handshake succeeded) is
//! rejected before anything is allocated, so a peer cannot make the store reserve memory it did not send.
//!
//! # Payloads
//! Integers are big-endian. Byte strings and text are a `u32` length then the bytes (text is UTF-8). An
//! optional byte string is a `u8` tag (0 absent, 1 present) then, if present, the byte string. Lists are a
//! `u32` count then the elements. Timeouts travel as `u64` milliseconds.
//!
//! - The handshake: the client's [`Greeting`] (magic [`MAGIC`], version [`VERSION`]; the magic comes first so
//!   that a stray client, HTTP or a TLS client on a plain store, is recognized at once), the store's
//!   [`Challenge`] (magic, version, a fresh nonce), the client's [`Hello`] (role, rank, a proof of the job's
//!   token over the nonce, the ticket: empty unless a watch), the store's [`Response`] (`Ok` or `Rejected`).
//!   The token itself never crosses the wire.
//! - Then clients send a [`Request`] (first byte: an opcode) and the store answers with one [`Response`].
//! - A watch connection sends nothing after its hello; the store pushes [`Notice`]s to it.
//!
//! The codec is pure (no I/O besides [`read_frame`]/[`write_frame`] over any `Read`/`Write`) and never
//! panics on input: every malformed payload is a [`WireError`].

use std::io::{self, Read, Write};

/// Identifies a shmem store connection; the first four bytes of every hello payload.
pub const MAGIC: [u8; 4] = *b"SHKV";
/// Protocol version; a store rejects clients that speak another one (2: watch tickets and exit connections; 3:
/// the token is proved against the store's challenge, never sent).
pub const VERSION: u16 = 4;
/// Hard bound of a frame's payload (64 MiB): a control-plane store needs no more.
pub const MAX_FRAME: usize = 64 << 20;
/// Bound of the first frame, read before the peer is authenticated.
pub const MAX_HELLO_FRAME: usize = 4096;

/// What a malformed frame or payload looked like. The store closes the connection on any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The payload ended before a field did.
    #[error("message truncated: {needed} more bytes needed at offset {at}")]
    Truncated {
        /// Where decoding stopped.
        at: usize,
        /// How many more bytes the field needed.
        needed: usize,
    },
    /// A frame announced (or would need) more bytes than allowed.
    #[error("frame of {len} B exceeds the limit of {max} B")]
    Oversize {
        /// The announced or needed length.
        len: usize,
        /// The bound in force.
        max: usize,
    },
    /// The first byte of a request, response or notice is not a known opcode.
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    /// The hello did not start with [`MAGIC`].
    #[error("bad magic {0:02x?}: the peer is not a shmem store client")]
    BadMagic([u8; 4]),
    /// The hello carried a protocol version this build does not speak.
    #[error("protocol version {0} is not supported (this build speaks version {VERSION})")]
    Version(u16),
    /// A field holds a value outside its domain (a bad tag, invalid UTF-8).
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Bytes were left after a complete message.
    #[error("{0} unexpected bytes after the message")]
    Trailing(usize),
}

/// The client's side of the handshake over `s` (a connected socket, or a TLS stream on one): the greeting, the
/// store's challenge and its proof of `token` (checked before anything more is sent), the hello proving `token`
/// for `rank` in `role` (with `ticket` for a watch); returns the store's answer to the hello, `Ok` or `Rejected`.
/// A store that refuses the greeting (another version) answers it with `Rejected` at once: returned as is.
///
/// # Errors
/// I/O errors, a frame that is neither a challenge nor a response (`ReadError::Wire`), a challenge whose proof
/// does not hold for `token` (`ReadError::Unproven`: not this job's store).
pub fn client_handshake<S: Read + Write>(
    s: &mut S,
    role: Role,
    rank: u32,
    token: &str,
    ticket: Vec<u8>,
) -> Result<Response, ReadError> {
    handshake(s, role, rank, token, ticket, true)
}

/// [`client_handshake`] without the check of the store's proof: the handshake of an outsider that does not care
/// who answers, so that tests can check the store's own refusal of a wrong token.
#[doc(hidden)]
pub fn unverified_handshake<S: Read + Write>(
    s: &mut S,
    role: Role,
    rank: u32,
    token: &str,
    ticket: Vec<u8>,
) -> Result<Response, ReadError> {
    handshake(s, role, rank, token, ticket, false)
}

fn handshake<S: Read + Write>(
    s: &mut S,
    role: Role,
    rank: u32,
    token: &str,
    ticket: Vec<u8>,
    verify: bool,
) -> Result<Response, ReadError> {
    let greeting = Greeting::fresh()?;
    write_frame(s, &greeting.to_frame()?)?;
    let first = read_frame(s, MAX_HELLO_FRAME)?;
    let challenge = match Challenge::decode(&first) {
        Ok(c) => c,
        Err(e) => return Response::decode(&first).map_err(|_| ReadError::Wire(e)),
    };
    // Nothing more goes to a listener that cannot prove the token: not even the hello.
    if verify && !challenge.proves(token, &greeting.nonce) {
        return Err(ReadError::Unproven);
    }
    write_frame(s, &Hello::prove(role, rank, token, ticket, &challenge.nonce).to_frame()?)?;
    // The store has not proved anything to an outsider: its answer (Ok, or a short rejection) is bounded as the
    // first frames are.
    let answer = read_frame(s, MAX_HELLO_FRAME)?;
    Ok(Response::decode(&answer)?)
}

/// Why reading a frame failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer closed the connection cleanly before the first byte of a frame.
    #[error("connection closed by the peer")]
    Eof,
    /// The socket failed (or closed in the middle of a frame).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The frame header was invalid (oversize).
    #[error("{0}")]
    Wire(#[from] WireError),
    /// The listener answered the greeting without a valid proof of the job's token: it is not this job's store.
    #[error("the listener could not prove that it knows the job's token")]
    Unproven,
}

mod codec;
mod message;

pub use message::{Challenge, ErrorKind, Greeting, Hello, Notice, Request, Response, Role, NONCE_LEN};

/// Reads one frame's payload, refusing lengths above `max` before allocating.
pub fn read_frame(r: &mut impl Read, max: usize) -> Result<Vec<u8>, ReadError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Err(ReadError::Eof),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(WireError::Oversize { len, max }.into());
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(payload)
}

/// Writes one complete frame (as built by a `to_frame`) and flushes it.
pub fn write_frame(w: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    w.write_all(frame)?;
    w.flush()
}

#[cfg(test)]
mod tests;
