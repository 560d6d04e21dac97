//! The frames PEs exchange over a TCP connection, as fixed-size little-endian headers.
//!
//! A connection carries requests from one initiator PE to one target PE, and the target's replies back. It
//! opens with a handshake in which each end proves to the other that it knows the job's secret, without
//! sending it (anyone who sees a connection's bytes, another tenant of a shared segment or a mirrored port,
//! must not learn it: it opens every PE's heap):
//! 1. initiator → target: a [`Hello`] ([`HELLO_LEN`] bytes): magic, version, the initiator's PE and a fresh
//!    random nonce `nc`;
//! 2. target → initiator: a [`Challenge`] ([`CHALLENGE_LEN`] bytes): a fresh random nonce `nt` and the target's
//!    proof, HMAC-SHA256 keyed with the secret over `"target"`, `nc`, `nt` and both PEs ([`JobKey::target_proof`]);
//! 3. the initiator checks that proof (a listener that fails it does not know the secret: not this job's PE, say
//!    a process that took a dead PE's port, and is sent nothing more) and sends its own ([`PROOF_LEN`] bytes),
//!    over `"initiator"`, `nt`, `nc` and both PEs ([`JobKey::initiator_proof`]);
//! 4. the target checks it in constant time and answers one ok byte (0), or closes the connection.
//!
//! Both nonces are fresh for every connection, so a recorded handshake proves nothing when replayed; the role
//! labels keep either side's proof from verifying as the other's (a reflected proof fails), and both PEs are
//! bound into both proofs. [`client_handshake`] is the initiator's side.
//!
//! Then each request is a [`REQUEST_LEN`]-byte header, followed for a put by its payload; gets, atomics and
//! flushes are answered by a [`REPLY_LEN`]-byte reply (a get's data follows its reply). Decoding checks every
//! field, so a malformed frame is an error for that connection, never a crash of the progress thread.

use shmem_core::engine::{AtomicOp, AtomicWidth, SignalOp, SignalUpdate};
use shmem_core::HeapOffset;
use std::io::{self, Read, Write};

/// First bytes of every connection.
pub const MAGIC: [u8; 8] = *b"SHMEMTCP";
/// Protocol version; a peer with another version is refused. 2: the secret is proven by a challenge-response
/// instead of being sent (version 1 sent it in clear).
pub const VERSION: u16 = 2;
/// Bytes of each random nonce of the handshake.
pub const NONCE_LEN: usize = 32;
/// Bytes of a proof (an HMAC-SHA256 tag).
pub const PROOF_LEN: usize = 32;
/// Bytes of a [`Hello`]: magic, version, PE, two reserved (zero) bytes, the initiator's nonce.
pub const HELLO_LEN: usize = 16 + NONCE_LEN;
/// Bytes of a [`Challenge`]: the target's nonce and its proof.
pub const CHALLENGE_LEN: usize = NONCE_LEN + PROOF_LEN;
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

/// A fresh nonce from the kernel's random source (`getrandom(2)`), for one side of one handshake.
///
/// # Errors
/// When the kernel gives no random bytes (the handshake cannot be made safe without them).
pub fn fresh_nonce() -> io::Result<[u8; NONCE_LEN]> {
    use ring::rand::SecureRandom;
    let mut n = [0u8; NONCE_LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut n)
        .map_err(|_| io::Error::other("the kernel gave no random bytes for a handshake nonce"))?;
    Ok(n)
}

/// The initiator's first frame: who connects, and its challenge to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The initiator's PE.
    pub pe: u32,
    /// The initiator's fresh nonce `nc`, which the target's proof must cover.
    pub nonce: [u8; NONCE_LEN],
}

impl Hello {
    /// The hello's bytes.
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&VERSION.to_le_bytes());
        b[10..14].copy_from_slice(&self.pe.to_le_bytes());
        b[16..].copy_from_slice(&self.nonce);
        b
    }

    /// Decodes a hello, checking magic, version, the PE against the job's `n_pes` and the reserved bytes.
    pub fn decode(b: &[u8; HELLO_LEN], n_pes: u32) -> Result<Hello, WireError> {
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
        if b[14..16] != [0; 2] {
            return Err(WireError("non-zero reserved bytes in a hello".into()));
        }
        let nonce = b[16..].try_into().expect("NONCE_LEN bytes");
        Ok(Hello { pe, nonce })
    }
}

/// The target's answer to a [`Hello`]: its own challenge to the initiator, and its proof of the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// The target's fresh nonce `nt`, which the initiator's proof must cover.
    pub nonce: [u8; NONCE_LEN],
    /// [`JobKey::target_proof`] over the hello's nonce and `nonce`.
    pub proof: [u8; PROOF_LEN],
}

impl Challenge {
    /// The challenge's bytes.
    pub fn encode(&self) -> [u8; CHALLENGE_LEN] {
        let mut b = [0u8; CHALLENGE_LEN];
        b[..NONCE_LEN].copy_from_slice(&self.nonce);
        b[NONCE_LEN..].copy_from_slice(&self.proof);
        b
    }

    /// Splits a challenge into its nonce and proof (any bytes do: the proof is what is checked).
    pub fn decode(b: &[u8; CHALLENGE_LEN]) -> Challenge {
        Challenge {
            nonce: b[..NONCE_LEN].try_into().expect("NONCE_LEN bytes"),
            proof: b[NONCE_LEN..].try_into().expect("PROOF_LEN bytes"),
        }
    }
}

/// Domain separation of the handshake's proofs from every other use of the job's secret (the store's hello
/// signs under its own context), with the protocol version.
const PROOF_CONTEXT: &[u8] = b"shmem-tcp-engine-handshake-v2";

/// Which side of a handshake a proof comes from: its label is signed, so that one side's proof never verifies
/// as the other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Target,
    Initiator,
}

/// The job's secret as the handshake's HMAC-SHA256 key: proves it and checks the peer's proofs without ever
/// putting the secret on the wire. Its `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct JobKey(ring::hmac::Key);

impl std::fmt::Debug for JobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobKey(..)")
    }
}

impl JobKey {
    /// The key of the job whose secret is `secret`.
    pub fn new(secret: &[u8]) -> JobKey {
        JobKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret))
    }

    /// What a proof signs: the context, the side's label, the first and second nonce (the side's peer's first),
    /// the initiator's PE and the target's PE (every field but the label of fixed length; the label ends with a
    /// zero byte).
    fn message(side: Side, first: &[u8; NONCE_LEN], second: &[u8; NONCE_LEN], initiator: u32, target: u32) -> Vec<u8> {
        let label: &[u8] = match side {
            Side::Target => b"target\0",
            Side::Initiator => b"initiator\0",
        };
        let mut m = Vec::with_capacity(PROOF_CONTEXT.len() + label.len() + 2 * NONCE_LEN + 8);
        m.extend_from_slice(PROOF_CONTEXT);
        m.extend_from_slice(label);
        m.extend_from_slice(first);
        m.extend_from_slice(second);
        m.extend_from_slice(&initiator.to_le_bytes());
        m.extend_from_slice(&target.to_le_bytes());
        m
    }

    fn sign(&self, m: &[u8]) -> [u8; PROOF_LEN] {
        ring::hmac::sign(&self.0, m).as_ref().try_into().expect("HMAC-SHA256 tags are 32 bytes")
    }

    /// The target's proof: over `"target"`, the initiator's nonce `nc`, the target's nonce `nt`, both PEs.
    pub fn target_proof(
        &self,
        initiator: u32,
        target: u32,
        nc: &[u8; NONCE_LEN],
        nt: &[u8; NONCE_LEN],
    ) -> [u8; PROOF_LEN] {
        self.sign(&Self::message(Side::Target, nc, nt, initiator, target))
    }

    /// The initiator's proof: over `"initiator"`, the target's nonce `nt`, the initiator's nonce `nc`, both PEs.
    pub fn initiator_proof(
        &self,
        initiator: u32,
        target: u32,
        nc: &[u8; NONCE_LEN],
        nt: &[u8; NONCE_LEN],
    ) -> [u8; PROOF_LEN] {
        self.sign(&Self::message(Side::Initiator, nt, nc, initiator, target))
    }

    /// Whether `proof` is the target's proof for these nonces and PEs (compared in constant time).
    pub fn verify_target(
        &self,
        initiator: u32,
        target: u32,
        nc: &[u8; NONCE_LEN],
        nt: &[u8; NONCE_LEN],
        proof: &[u8],
    ) -> bool {
        ring::hmac::verify(&self.0, &Self::message(Side::Target, nc, nt, initiator, target), proof).is_ok()
    }

    /// Whether `proof` is the initiator's proof for these nonces and PEs (compared in constant time).
    pub fn verify_initiator(
        &self,
        initiator: u32,
        target: u32,
        nc: &[u8; NONCE_LEN],
        nt: &[u8; NONCE_LEN],
        proof: &[u8],
    ) -> bool {
        ring::hmac::verify(&self.0, &Self::message(Side::Initiator, nt, nc, initiator, target), proof).is_ok()
    }
}

/// Why the initiator's side of a handshake failed.
#[derive(Debug)]
pub enum HandshakeError {
    /// Writing or reading a frame failed (`step` says which); the peer closed the connection, say, because it
    /// refused the hello or this side's proof.
    Io {
        /// The step that failed.
        step: &'static str,
        /// How.
        error: io::Error,
    },
    /// The listener's proof is wrong: it does not know the job's secret (not a PE of this job). Nothing but the
    /// hello was sent to it.
    NotOfThisJob,
    /// The target answered the proof with something other than the ok byte.
    Refused(u8),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Io { step, error } => write!(f, "{step}: {error}"),
            HandshakeError::NotOfThisJob => f.write_str("the listener does not know the job's secret"),
            HandshakeError::Refused(b) => write!(f, "the target answered the proof with {b:#04x}, not ok"),
        }
    }
}

/// The initiator's side of the handshake on a fresh connection `s` from PE `me` to PE `target` (see the module
/// docs): on `Ok` the connection is proven both ways and requests may follow. Reads and writes wait as `s`
/// does (the engine bounds them by the control timeout).
///
/// # Errors
/// [`HandshakeError::NotOfThisJob`] when the listener's proof is wrong; `Io` when a frame could not be written or
/// read (no random bytes for the nonce included); `Refused` for an answer other than the ok byte.
pub fn client_handshake<S: Read + Write>(s: &mut S, key: &JobKey, me: u32, target: u32) -> Result<(), HandshakeError> {
    let io = |step: &'static str| move |error: io::Error| HandshakeError::Io { step, error };
    let nc = fresh_nonce().map_err(io("drawing the hello's nonce"))?;
    s.write_all(&Hello { pe: me, nonce: nc }.encode()).map_err(io("sending the hello"))?;
    let mut b = [0u8; CHALLENGE_LEN];
    s.read_exact(&mut b).map_err(io("reading the listener's proof (it refused the hello?)"))?;
    let challenge = Challenge::decode(&b);
    if !key.verify_target(me, target, &nc, &challenge.nonce, &challenge.proof) {
        return Err(HandshakeError::NotOfThisJob);
    }
    let proof = key.initiator_proof(me, target, &nc, &challenge.nonce);
    s.write_all(&proof).map_err(io("sending this PE's proof"))?;
    let mut ok = [0u8; 1];
    s.read_exact(&mut ok).map_err(io("reading the answer to this PE's proof (it refused the proof: job secret?)"))?;
    if ok[0] != 0 {
        return Err(HandshakeError::Refused(ok[0]));
    }
    Ok(())
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

        /// Arbitrary bytes never panic the handshake's decoders and checks: a hello that decodes re-encodes to
        /// the same bytes, and arbitrary challenges and proofs (random nonces and tags) never verify.
        #[test]
        fn arbitrary_hellos_challenges_proofs_and_replies_never_panic(
            h in proptest::collection::vec(any::<u8>(), HELLO_LEN),
            c in proptest::collection::vec(any::<u8>(), CHALLENGE_LEN),
            proof in proptest::collection::vec(any::<u8>(), 0..=2 * PROOF_LEN),
            r in any::<[u8; 16]>(),
            n in 1u32..100,
        ) {
            let h: [u8; HELLO_LEN] = h.try_into().unwrap();
            if let Ok(hello) = Hello::decode(&h, n) {
                prop_assert!(hello.pe < n);
                prop_assert_eq!(hello.encode(), h);
            }
            let key = JobKey::new(b"job secret");
            let c: [u8; CHALLENGE_LEN] = c.try_into().unwrap();
            let challenge = Challenge::decode(&c);
            prop_assert_eq!(challenge.encode(), c);
            let nc = [7u8; NONCE_LEN];
            prop_assert!(!key.verify_target(0, n, &nc, &challenge.nonce, &challenge.proof));
            prop_assert!(!key.verify_initiator(0, n, &nc, &challenge.nonce, &proof));
            if let Ok(reply) = Reply::decode(&r) {
                prop_assert_eq!(reply.encode(), r);
            }
        }
    }

    #[test]
    fn hello_checks_magic_version_pe_and_reserved_bytes() {
        let nonce: [u8; NONCE_LEN] = std::array::from_fn(|i| i as u8);
        let good = Hello { pe: 3, nonce }.encode();
        assert_eq!(&good[..8], b"SHMEMTCP");
        assert_eq!(Hello::decode(&good, 4), Ok(Hello { pe: 3, nonce }));
        assert!(Hello::decode(&good, 3).is_err(), "PE out of range");
        let mut bad = good;
        bad[0] = b'X';
        assert!(Hello::decode(&bad, 4).is_err());
        let mut bad = good;
        bad[8] = 1;
        assert_eq!(
            Hello::decode(&bad, 4),
            Err(WireError(format!("protocol version 1, this PE speaks {VERSION}"))),
            "a version-1 hello (the secret in clear) is refused"
        );
        let mut bad = good;
        bad[15] = 1;
        assert!(Hello::decode(&bad, 4).is_err(), "reserved bytes");
    }

    /// A proof verifies for exactly the key, side, nonces and PEs it was made for: not for another secret, not
    /// with the nonces swapped or another one, not for other PEs, and not as the other side's proof (a proof
    /// reflected back to its maker fails).
    #[test]
    fn proofs_hold_for_one_key_side_nonce_pair_and_pe_pair_only() {
        let key = JobKey::new(b"job secret");
        let (nc, nt) = ([1u8; NONCE_LEN], [2u8; NONCE_LEN]);
        let t = key.target_proof(3, 5, &nc, &nt);
        let i = key.initiator_proof(3, 5, &nc, &nt);
        assert!(key.verify_target(3, 5, &nc, &nt, &t));
        assert!(key.verify_initiator(3, 5, &nc, &nt, &i));
        assert_ne!(t, i);
        // Reflection: each side's proof as the other's, for the same or the swapped nonces.
        assert!(!key.verify_initiator(3, 5, &nc, &nt, &t));
        assert!(!key.verify_initiator(3, 5, &nt, &nc, &t));
        assert!(!key.verify_target(3, 5, &nc, &nt, &i));
        assert!(!key.verify_target(3, 5, &nt, &nc, &i));
        for other in [JobKey::new(b"job secreu"), JobKey::new(b"")] {
            assert!(!other.verify_target(3, 5, &nc, &nt, &t), "another secret");
            assert!(!other.verify_initiator(3, 5, &nc, &nt, &i), "another secret");
        }
        assert!(!key.verify_target(3, 5, &nc, &[3u8; NONCE_LEN], &t), "another nonce");
        assert!(!key.verify_initiator(3, 5, &[3u8; NONCE_LEN], &nt, &i), "another nonce");
        assert!(!key.verify_target(4, 5, &nc, &nt, &t) && !key.verify_target(3, 6, &nc, &nt, &t), "other PEs");
        assert!(!key.verify_initiator(4, 5, &nc, &nt, &i) && !key.verify_initiator(3, 6, &nc, &nt, &i), "other PEs");
        assert!(!key.verify_target(3, 5, &nc, &nt, &t[..31]) && !key.verify_target(3, 5, &nc, &nt, &[]), "short");
        // Debug shows nothing of the key.
        assert_eq!(format!("{key:?}"), "JobKey(..)");
    }

    /// Two nonces drawn from the kernel differ.
    #[test]
    fn nonces_are_fresh() {
        assert_ne!(fresh_nonce().unwrap(), fresh_nonce().unwrap());
    }
}
