//! The frames PEs exchange over a TCP connection, as fixed-size little-endian headers.
//!
//! A connection carries requests from one initiator PE to one target PE, and the target's replies back. It
//! opens with a [`Hello`] that proves the initiator belongs to the job (the job's secret). Then each request is
//! a [`REQUEST_LEN`]-byte header, followed for a put by its payload; gets, atomics and flushes are answered by
//! a [`REPLY_LEN`]-byte reply (a get's data follows its reply). Decoding checks every field, so a malformed
//! frame is an error for that connection, never a crash of the progress thread.

use shmem_core::engine::{AtomicOp, AtomicWidth, SignalOp, SignalUpdate};
use shmem_core::HeapOffset;

/// First bytes of every connection.
pub const MAGIC: [u8; 8] = *b"SHMEMTCP";
/// Protocol version; a peer with another version is refused.
pub const VERSION: u16 = 1;
/// Longest job secret a hello may carry.
pub const MAX_SECRET: usize = 1024;
/// Bytes of a hello before the secret: magic, version, PE, secret length.
pub const HELLO_FIXED: usize = 16;
/// Bytes of a request header.
pub const REQUEST_LEN: usize = 40;
/// Bytes of a reply header.
pub const REPLY_LEN: usize = 16;

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The fixed part of a hello: who connects and how long its secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The initiator's PE.
    pub pe: u32,
    /// Bytes of secret that follow.
    pub secret_len: u16,
}

impl Hello {
    /// The whole hello: fixed part and secret.
    pub fn encode(pe: u32, secret: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(HELLO_FIXED + secret.len());
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&pe.to_le_bytes());
        b.extend_from_slice(&(secret.len() as u16).to_le_bytes());
        b.extend_from_slice(secret);
        b
    }

    /// Decodes the fixed part; the caller then reads `secret_len` bytes and compares them with the job's.
    pub fn decode(b: &[u8; HELLO_FIXED], n_pes: u32) -> Result<Hello, WireError> {
        if b[..8] != MAGIC {
            return Err(WireError("not a SHMEM TCP engine connection (bad magic)".into()));
        }
        let version = u16_at(b, 8);
        if version != VERSION {
            return Err(WireError(format!("protocol version {version}, this PE speaks {VERSION}")));
        }
        let pe = u32_at(b, 10);
        if pe >= n_pes {
            return Err(WireError(format!("hello from PE {pe}, but the job has {n_pes} PEs")));
        }
        let secret_len = u16_at(b, 14);
        if secret_len as usize > MAX_SECRET {
            return Err(WireError(format!("secret of {secret_len} B is longer than {MAX_SECRET} B")));
        }
        Ok(Hello { pe, secret_len })
    }
}

/// One request of an initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `len` payload bytes follow, to be written at `dst`; then the signal, if any.
    Put {
        /// Where in the target's segment.
        dst: HeapOffset,
        /// Payload bytes that follow the header.
        len: u64,
        /// The signal update after the data.
        signal: Option<SignalUpdate>,
    },
    /// Answer with `len` bytes from `src`.
    Get {
        /// Where in the target's segment.
        src: HeapOffset,
        /// Bytes wanted.
        len: u64,
    },
    /// Apply `op` to the word at `at` and answer with its previous value.
    Atomic {
        /// The word.
        at: HeapOffset,
        /// Its width.
        width: AtomicWidth,
        /// The operation.
        op: AtomicOp,
    },
    /// Answer once every earlier request of this connection has been applied.
    Flush,
}

const KIND_PUT: u8 = 1;
const KIND_GET: u8 = 2;
const KIND_ATOMIC: u8 = 3;
const KIND_FLUSH: u8 = 4;
const FLAG_SIGNAL: u8 = 1;
const FLAG_SIGNAL_ADD: u8 = 2;

impl Request {
    /// The header of this request.
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut b = [0u8; REQUEST_LEN];
        let (kind, flags, width, amo, off, len, a, c) = match *self {
            Request::Put { dst, len, signal } => {
                let (flags, a, c) = match signal {
                    None => (0, 0, 0),
                    Some(s) => {
                        let add = if s.op == SignalOp::Add { FLAG_SIGNAL_ADD } else { 0 };
                        (FLAG_SIGNAL | add, s.at.0, s.value)
                    }
                };
                (KIND_PUT, flags, 0, 0, dst.0, len, a, c)
            }
            Request::Get { src, len } => (KIND_GET, 0, 0, 0, src.0, len, 0, 0),
            Request::Atomic { at, width, op } => {
                let w = width.bytes() as u8;
                let (amo, a, c) = match op {
                    AtomicOp::Fetch => (0, 0, 0),
                    AtomicOp::Swap(v) => (1, v, 0),
                    AtomicOp::CompareSwap { cond, value } => (2, value, cond),
                    AtomicOp::FetchAdd(v) => (3, v, 0),
                    AtomicOp::FetchAnd(v) => (4, v, 0),
                    AtomicOp::FetchOr(v) => (5, v, 0),
                    AtomicOp::FetchXor(v) => (6, v, 0),
                };
                (KIND_ATOMIC, 0, w, amo, at.0, 0, a, c)
            }
            Request::Flush => (KIND_FLUSH, 0, 0, 0, 0, 0, 0, 0),
        };
        b[0] = kind;
        b[1] = flags;
        b[2] = width;
        b[3] = amo;
        b[8..16].copy_from_slice(&off.to_le_bytes());
        b[16..24].copy_from_slice(&len.to_le_bytes());
        b[24..32].copy_from_slice(&a.to_le_bytes());
        b[32..40].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// Decodes a header, refusing unknown kinds, flags, widths and operations and non-zero padding.
    /// Bounds against the heap are the receiver's check (it knows the segment).
    pub fn decode(b: &[u8; REQUEST_LEN]) -> Result<Request, WireError> {
        let (kind, flags, width, amo) = (b[0], b[1], b[2], b[3]);
        if b[4..8] != [0; 4] {
            return Err(WireError("non-zero padding in a request header".into()));
        }
        let (off, len, a, c) = (u64_at(b, 8), u64_at(b, 16), u64_at(b, 24), u64_at(b, 32));
        let clean = |ok: bool| if ok { Ok(()) } else { Err(WireError(format!("malformed request of kind {kind}"))) };
        match kind {
            KIND_PUT => {
                clean(width == 0 && amo == 0 && flags & !(FLAG_SIGNAL | FLAG_SIGNAL_ADD) == 0)?;
                let signal = if flags & FLAG_SIGNAL != 0 {
                    let op = if flags & FLAG_SIGNAL_ADD != 0 { SignalOp::Add } else { SignalOp::Set };
                    Some(SignalUpdate { at: HeapOffset(a), value: c, op })
                } else {
                    clean(flags == 0 && a == 0 && c == 0)?;
                    None
                };
                Ok(Request::Put { dst: HeapOffset(off), len, signal })
            }
            KIND_GET => {
                clean(flags == 0 && width == 0 && amo == 0 && a == 0 && c == 0)?;
                Ok(Request::Get { src: HeapOffset(off), len })
            }
            KIND_ATOMIC => {
                clean(flags == 0 && len == 0)?;
                let width = match width {
                    4 => AtomicWidth::W32,
                    8 => AtomicWidth::W64,
                    w => return Err(WireError(format!("atomic width {w} B"))),
                };
                let op = match amo {
                    0 => AtomicOp::Fetch,
                    1 => AtomicOp::Swap(a),
                    2 => AtomicOp::CompareSwap { cond: c, value: a },
                    3 => AtomicOp::FetchAdd(a),
                    4 => AtomicOp::FetchAnd(a),
                    5 => AtomicOp::FetchOr(a),
                    6 => AtomicOp::FetchXor(a),
                    x => return Err(WireError(format!("atomic operation {x}"))),
                };
                if (!matches!(op, AtomicOp::CompareSwap { .. }) && c != 0) || (op == AtomicOp::Fetch && a != 0) {
                    return Err(WireError("an operand the atomic does not take".into()));
                }
                Ok(Request::Atomic { at: HeapOffset(off), width, op })
            }
            KIND_FLUSH => {
                clean(flags == 0 && width == 0 && amo == 0 && off == 0 && len == 0 && a == 0 && c == 0)?;
                Ok(Request::Flush)
            }
            k => Err(WireError(format!("unknown request kind {k}"))),
        }
    }
}

/// The target's answer to a get, an atomic or a flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// `None` when the request was applied; else why the target refused it.
    pub refused: Option<Refusal>,
    /// The previous value of an atomic's word, the byte count of a get's data.
    pub value: u64,
}

/// Why a target refused a request (the connection is closed after a refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Refusal {
    /// The range lies outside the target's segment, or a word is misaligned.
    OutOfBounds = 1,
}

impl Reply {
    /// An applied request's reply.
    pub fn ok(value: u64) -> Reply {
        Reply { refused: None, value }
    }

    /// The reply header.
    pub fn encode(&self) -> [u8; REPLY_LEN] {
        let mut b = [0u8; REPLY_LEN];
        b[0] = self.refused.map_or(0, |r| r as u8);
        b[8..16].copy_from_slice(&self.value.to_le_bytes());
        b
    }

    /// Decodes a reply header.
    pub fn decode(b: &[u8; REPLY_LEN]) -> Result<Reply, WireError> {
        if b[1..8] != [0; 7] {
            return Err(WireError("non-zero padding in a reply".into()));
        }
        let refused = match b[0] {
            0 => None,
            1 => Some(Refusal::OutOfBounds),
            s => return Err(WireError(format!("unknown reply status {s}"))),
        };
        Ok(Reply { refused, value: u64_at(b, 8) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_request() -> impl Strategy<Value = Request> {
        let signal = prop_oneof![
            Just(None),
            (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(at, value, add)| Some(SignalUpdate {
                at: HeapOffset(at),
                value,
                op: if add { SignalOp::Add } else { SignalOp::Set }
            })),
        ];
        let op = prop_oneof![
            Just(AtomicOp::Fetch),
            any::<u64>().prop_map(AtomicOp::Swap),
            (any::<u64>(), any::<u64>()).prop_map(|(cond, value)| AtomicOp::CompareSwap { cond, value }),
            any::<u64>().prop_map(AtomicOp::FetchAdd),
            any::<u64>().prop_map(AtomicOp::FetchAnd),
            any::<u64>().prop_map(AtomicOp::FetchOr),
            any::<u64>().prop_map(AtomicOp::FetchXor),
        ];
        prop_oneof![
            (any::<u64>(), any::<u64>(), signal).prop_map(|(d, len, signal)| Request::Put {
                dst: HeapOffset(d),
                len,
                signal
            }),
            (any::<u64>(), any::<u64>()).prop_map(|(s, len)| Request::Get { src: HeapOffset(s), len }),
            (any::<u64>(), any::<bool>(), op).prop_map(|(at, w, op)| Request::Atomic {
                at: HeapOffset(at),
                width: if w { AtomicWidth::W64 } else { AtomicWidth::W32 },
                op
            }),
            Just(Request::Flush),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(r in any_request()) {
            prop_assert_eq!(Request::decode(&r.encode()), Ok(r));
        }

        /// Arbitrary bytes never panic the decoder, and whatever decodes re-encodes to the same bytes (so no two
        /// byte strings mean the same request: nothing unchecked slips through).
        #[test]
        fn arbitrary_headers_decode_or_refuse(bytes in proptest::array::uniform32(any::<u8>()), tail in any::<[u8; 8]>()) {
            let mut b = [0u8; REQUEST_LEN];
            b[..32].copy_from_slice(&bytes);
            b[32..].copy_from_slice(&tail);
            if let Ok(r) = Request::decode(&b) {
                prop_assert_eq!(r.encode(), b);
            }
        }

        #[test]
        fn arbitrary_hellos_and_replies_never_panic(h in any::<[u8; 16]>(), r in any::<[u8; 16]>(), n in 1u32..100) {
            if let Ok(hello) = Hello::decode(&h, n) {
                prop_assert!(hello.pe < n && hello.secret_len as usize <= MAX_SECRET);
            }
            if let Ok(reply) = Reply::decode(&r) {
                prop_assert_eq!(reply.encode(), r);
            }
        }
    }

    #[test]
    fn hello_checks_magic_version_pe_and_secret_length() {
        let good = Hello::encode(3, b"s3cret");
        let fixed: [u8; HELLO_FIXED] = good[..HELLO_FIXED].try_into().unwrap();
        assert_eq!(Hello::decode(&fixed, 4), Ok(Hello { pe: 3, secret_len: 6 }));
        assert!(Hello::decode(&fixed, 3).is_err(), "PE out of range");
        let mut bad = fixed;
        bad[0] = b'X';
        assert!(Hello::decode(&bad, 4).is_err());
        let mut bad = fixed;
        bad[8] = 9;
        assert!(Hello::decode(&bad, 4).is_err(), "version");
        let mut bad = fixed;
        bad[14..16].copy_from_slice(&(MAX_SECRET as u16 + 1).to_le_bytes());
        assert!(Hello::decode(&bad, 4).is_err(), "secret length");
    }
}
