//! The messages of the protocol and their encoding (see the [module docs](super) for the layout).

use super::codec::{op, Dec, Enc};
use super::{WireError, MAGIC, VERSION};

/// The kinds of connection a client can open. The store admits one `Client` and one `Watch` per rank at a
/// time; `Exit` connections serve `global_exit` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends requests and reads one response to each. One per rank at a time.
    Client,
    /// Receives job events ([`Notice`]s) pushed by the store. Admitted only with a ticket that the rank's own
    /// client connection obtained ([`Request::WatchTicket`]), so that nobody else can watch (and, by closing,
    /// report lost) a rank.
    Watch,
    /// A short connection of a rank that has joined, allowed only [`Request::GlobalExit`]: `global_exit` must
    /// not wait behind the rank's client connection, which may be parked in a barrier.
    Exit,
}

/// The first frame of every connection, client to store: the protocol and its version, so that a stray client
/// (HTTP, a TLS client on a plain store) or another version is recognized before anything else is exchanged,
/// and a fresh nonce that the store's [`Challenge`] must prove the job's token over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// [`NONCE_LEN`] random bytes, new for every connection.
    pub nonce: Vec<u8>,
}

/// The store's answer to a [`Greeting`]: a fresh random nonce that the [`Hello`]'s proof must cover, so that the
/// job's token never crosses the wire (whoever accepts a PE's connection, a process squatting on the store's
/// port say, learns nothing it could replay or use to join or end a job that reuses the token), and the store's
/// own proof of the token over both nonces: a client talks to no listener that cannot give it (a squatter would
/// otherwise be sent the PE's requests and could answer them with made-up data).
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge {
    /// [`NONCE_LEN`] random bytes, new for every connection.
    pub nonce: Vec<u8>,
    /// HMAC-SHA256 keyed with the job's token over a context string of its own, the greeting's nonce and this one.
    pub proof: Vec<u8>,
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenge").finish_non_exhaustive()
    }
}

/// Domain separation of the store's proof (a different context from the hello's, so neither proof can stand in
/// for the other).
const STORE_PROOF_CONTEXT: &[u8] = b"shmem-store-challenge-v4";

/// Bytes of a [`Challenge`]'s nonce.
pub const NONCE_LEN: usize = 32;

/// Domain separation of the hello's proof (and its version).
const PROOF_CONTEXT: &[u8] = b"shmem-store-hello-v4";

/// The client's second frame: who it is, and the proof that it knows the job's token: HMAC-SHA256 keyed with the
/// token over the store's nonce, the role, the rank and the ticket.
#[derive(Clone, PartialEq, Eq)]
pub struct Hello {
    /// Which kind of connection this is.
    pub role: Role,
    /// The peer's rank (for logs, barrier bookkeeping and lost-PE events).
    pub rank: u32,
    /// The proof ([`Hello::prove`]).
    pub proof: Vec<u8>,
    /// For a [`Role::Watch`] connection, the ticket its rank's client connection obtained; empty otherwise.
    pub ticket: Vec<u8>,
}

impl std::fmt::Debug for Hello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hello").field("role", &self.role).field("rank", &self.rank).finish_non_exhaustive()
    }
}

fn role_byte(role: Role) -> u8 {
    match role {
        Role::Client => 1,
        Role::Watch => 2,
        Role::Exit => 3,
    }
}

/// What the proof signs: the context, the nonce, the role, the rank, the ticket (lengths fixed but the last).
fn proof_message(nonce: &[u8], role: Role, rank: u32, ticket: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(PROOF_CONTEXT.len() + nonce.len() + 5 + ticket.len());
    m.extend_from_slice(PROOF_CONTEXT);
    m.extend_from_slice(nonce);
    m.push(role_byte(role));
    m.extend_from_slice(&rank.to_be_bytes());
    m.extend_from_slice(ticket);
    m
}

impl Hello {
    /// The hello of `rank` in `role` answering the store's `nonce`, proving knowledge of `token`.
    pub fn prove(role: Role, rank: u32, token: &str, ticket: Vec<u8>, nonce: &[u8]) -> Hello {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
        let proof = ring::hmac::sign(&key, &proof_message(nonce, role, rank, &ticket)).as_ref().to_vec();
        Hello { role, rank, proof, ticket }
    }

    /// Whether the proof shows knowledge of `token` for `nonce` (compared in constant time).
    pub fn proves(&self, token: &str, nonce: &[u8]) -> bool {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
        ring::hmac::verify(&key, &proof_message(nonce, self.role, self.rank, &self.ticket), &self.proof).is_ok()
    }
}

/// A client's request (one per frame; one response each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Stores `value` under `key`, replacing any previous value.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Returns the value of `key`, or nothing, at once.
    TryGet {
        /// The key.
        key: String,
    },
    /// Returns the value of `key`, waiting up to `timeout_ms` for it to appear.
    Get {
        /// The key.
        key: String,
        /// How long the store may park the request.
        timeout_ms: u64,
    },
    /// Adds `delta` to the decimal counter under `key` (missing = 0).
    Add {
        /// The key.
        key: String,
        /// The increment.
        delta: i64,
    },
    /// Replaces the value of `key` by `new` iff it equals `expected` (`None`: the key is absent).
    Cas {
        /// The key.
        key: String,
        /// The value the caller believes is current.
        expected: Option<Vec<u8>>,
        /// The value to install.
        new: Vec<u8>,
    },
    /// Appends `value` to the value of `key` (missing = empty).
    Append {
        /// The key.
        key: String,
        /// The bytes to append.
        value: Vec<u8>,
    },
    /// Removes `key`.
    Delete {
        /// The key.
        key: String,
    },
    /// Arrives at barrier `name` of `n` ranks and waits for the others.
    Barrier {
        /// The barrier's name.
        name: String,
        /// How many ranks take part.
        n: u32,
        /// How long the store may park the request.
        timeout_ms: u64,
    },
    /// Contributes `data` to all-gather `name` of `n` ranks and waits for the others.
    Allgather {
        /// The all-gather's name.
        name: String,
        /// How many ranks take part.
        n: u32,
        /// This rank's contribution.
        data: Vec<u8>,
        /// How long the store may park the request.
        timeout_ms: u64,
    },
    /// Delivers a global exit with `status` to every watcher.
    GlobalExit {
        /// The exit status every PE should end with.
        status: i32,
    },
    /// This rank finalizes: closing its watch connection is not a lost PE.
    Leave,
    /// Asks for a one-time ticket with which this rank may open its watch connection ([`Role::Watch`]).
    WatchTicket,
}

/// Kinds of error a store reports, so that the client can map them onto [`shmem_core::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request's arguments are wrong (e.g. a rank outside the barrier).
    InvalidParam,
    /// The request conflicts with the store's state (e.g. a counter that is not a number).
    InvalidValue,
    /// The store cannot serve (e.g. it is shutting down).
    Bootstrap,
}

/// The store's answer to a [`Hello`] or a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Done (also: the hello was accepted).
    Ok,
    /// The hello was refused; the store closes the connection after this.
    Rejected(String),
    /// A value, or its absence.
    Value(Option<Vec<u8>>),
    /// A counter's new value.
    Int(i64),
    /// A compare-and-swap's outcome and the value after it.
    Cas {
        /// Whether the new value was installed.
        swapped: bool,
        /// The key's value after the operation.
        current: Option<Vec<u8>>,
    },
    /// A length in bytes.
    Len(u64),
    /// Whether something existed.
    Bool(bool),
    /// All contributions of an all-gather, indexed by rank.
    Gathered(Vec<Vec<u8>>),
    /// The wait expired; `missing` lists the ranks that had not arrived (empty for a key wait).
    Timeout {
        /// Ranks that had not arrived.
        missing: Vec<u32>,
    },
    /// The request failed.
    Error {
        /// What kind of failure.
        kind: ErrorKind,
        /// Lowercase description with values.
        message: String,
    },
}

/// A job event the store pushes on a watch connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Some PE called global exit with this status.
    GlobalExit(i32),
    /// The watch connection of this rank closed without a leave.
    PeerLost(u32),
    /// The store shuts down; `clean` when this watcher's rank had left (nothing to report).
    Closing {
        /// Whether the watcher's rank had announced its leave.
        clean: bool,
    },
}

/// Checks the magic, then the version, at the start of a greeting or challenge.
fn check_magic_version(d: &mut Dec<'_>) -> Result<(), WireError> {
    let magic = d.array::<4>()?;
    if magic != MAGIC {
        return Err(WireError::BadMagic(magic));
    }
    let version = d.u16()?;
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    Ok(())
}

/// A frame of the magic and the version, then `rest`.
fn versioned() -> Enc {
    let mut e = Enc(vec![0, 0, 0, 0]);
    e.0.extend_from_slice(&MAGIC);
    e.0.extend_from_slice(&VERSION.to_be_bytes());
    e
}

impl Greeting {
    /// A greeting with a fresh nonce from the kernel.
    pub fn fresh() -> std::io::Result<Greeting> {
        Ok(Greeting { nonce: crate::secret::random_bytes(NONCE_LEN)? })
    }

    /// Encodes the greeting as a complete frame.
    pub fn to_frame(&self) -> Result<Vec<u8>, WireError> {
        versioned().bytes(&self.nonce).finish()
    }

    /// Decodes a greeting payload, checking magic, version and the nonce's length.
    pub fn decode(payload: &[u8]) -> Result<Greeting, WireError> {
        let mut d = Dec::new(payload);
        check_magic_version(&mut d)?;
        let nonce = d.bytes()?;
        if nonce.len() != NONCE_LEN {
            return Err(WireError::Invalid("greeting nonce"));
        }
        d.end(Greeting { nonce })
    }
}

/// What the store's proof signs: the context, the greeting's nonce, the challenge's nonce.
fn store_proof_message(greeting: &[u8], nonce: &[u8]) -> Vec<u8> {
    [STORE_PROOF_CONTEXT, greeting, nonce].concat()
}

impl Challenge {
    /// The store's answer to a greeting with nonce `greeting`: its own fresh `nonce` and the proof that it knows
    /// `token`.
    pub fn prove(token: &str, greeting: &[u8], nonce: Vec<u8>) -> Challenge {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
        let proof = ring::hmac::sign(&key, &store_proof_message(greeting, &nonce)).as_ref().to_vec();
        Challenge { nonce, proof }
    }

    /// Whether the proof shows knowledge of `token` for the greeting's nonce `greeting` (constant time).
    pub fn proves(&self, token: &str, greeting: &[u8]) -> bool {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
        ring::hmac::verify(&key, &store_proof_message(greeting, &self.nonce), &self.proof).is_ok()
    }

    /// Encodes the challenge as a complete frame.
    pub fn to_frame(&self) -> Result<Vec<u8>, WireError> {
        versioned().bytes(&self.nonce).bytes(&self.proof).finish()
    }

    /// Decodes a challenge payload, checking magic, version and the nonce's and proof's lengths.
    pub fn decode(payload: &[u8]) -> Result<Challenge, WireError> {
        let mut d = Dec::new(payload);
        check_magic_version(&mut d)?;
        let nonce = d.bytes()?;
        if nonce.len() != NONCE_LEN {
            return Err(WireError::Invalid("challenge nonce"));
        }
        let proof = d.bytes()?;
        if proof.len() != ring::hmac::HMAC_SHA256.digest_algorithm().output_len() {
            return Err(WireError::Invalid("challenge proof"));
        }
        d.end(Challenge { nonce, proof })
    }
}

impl Hello {
    /// Encodes the hello as a complete frame.
    pub fn to_frame(&self) -> Result<Vec<u8>, WireError> {
        Enc(vec![0, 0, 0, 0]).u8(role_byte(self.role)).u32(self.rank).bytes(&self.proof).bytes(&self.ticket).finish()
    }

    /// Decodes a hello payload.
    pub fn decode(payload: &[u8]) -> Result<Hello, WireError> {
        let mut d = Dec::new(payload);
        let role = match d.u8()? {
            1 => Role::Client,
            2 => Role::Watch,
            3 => Role::Exit,
            _ => return Err(WireError::Invalid("connection role")),
        };
        let rank = d.u32()?;
        let proof = d.bytes()?;
        let ticket = d.bytes()?;
        d.end(Hello { role, rank, proof, ticket })
    }
}

impl Request {
    /// Encodes the request as a complete frame; fails when it exceeds [`MAX_FRAME`](super::MAX_FRAME).
    pub fn to_frame(&self) -> Result<Vec<u8>, WireError> {
        match self {
            Request::Set { key, value } => Enc::new(op::SET).bytes(key.as_bytes()).bytes(value),
            Request::TryGet { key } => Enc::new(op::TRY_GET).bytes(key.as_bytes()),
            Request::Get { key, timeout_ms } => Enc::new(op::GET).bytes(key.as_bytes()).u64(*timeout_ms),
            Request::Add { key, delta } => Enc::new(op::ADD).bytes(key.as_bytes()).u64(*delta as u64),
            Request::Cas { key, expected, new } => {
                Enc::new(op::CAS).bytes(key.as_bytes()).opt(expected.as_deref()).bytes(new)
            }
            Request::Append { key, value } => Enc::new(op::APPEND).bytes(key.as_bytes()).bytes(value),
            Request::Delete { key } => Enc::new(op::DELETE).bytes(key.as_bytes()),
            Request::Barrier { name, n, timeout_ms } => {
                Enc::new(op::BARRIER).bytes(name.as_bytes()).u32(*n).u64(*timeout_ms)
            }
            Request::Allgather { name, n, data, timeout_ms } => {
                Enc::new(op::ALLGATHER).bytes(name.as_bytes()).u32(*n).bytes(data).u64(*timeout_ms)
            }
            Request::GlobalExit { status } => Enc::new(op::GLOBAL_EXIT).u32(*status as u32),
            Request::Leave => Enc::new(op::LEAVE),
            Request::WatchTicket => Enc::new(op::WATCH_TICKET),
        }
        .finish()
    }

    /// Decodes a request payload.
    pub fn decode(payload: &[u8]) -> Result<Request, WireError> {
        let mut d = Dec::new(payload);
        let req = match d.u8()? {
            op::SET => Request::Set { key: d.string("key")?, value: d.bytes()? },
            op::TRY_GET => Request::TryGet { key: d.string("key")? },
            op::GET => Request::Get { key: d.string("key")?, timeout_ms: d.u64()? },
            op::ADD => Request::Add { key: d.string("key")?, delta: d.u64()? as i64 },
            op::CAS => Request::Cas { key: d.string("key")?, expected: d.opt()?, new: d.bytes()? },
            op::APPEND => Request::Append { key: d.string("key")?, value: d.bytes()? },
            op::DELETE => Request::Delete { key: d.string("key")? },
            op::BARRIER => Request::Barrier { name: d.string("name")?, n: d.u32()?, timeout_ms: d.u64()? },
            op::ALLGATHER => {
                Request::Allgather { name: d.string("name")?, n: d.u32()?, data: d.bytes()?, timeout_ms: d.u64()? }
            }
            op::GLOBAL_EXIT => Request::GlobalExit { status: d.u32()? as i32 },
            op::LEAVE => Request::Leave,
            op::WATCH_TICKET => Request::WatchTicket,
            other => return Err(WireError::UnknownOpcode(other)),
        };
        d.end(req)
    }
}

impl Response {
    /// Encodes the response as a complete frame; fails when it exceeds [`MAX_FRAME`](super::MAX_FRAME).
    pub fn to_frame(&self) -> Result<Vec<u8>, WireError> {
        match self {
            Response::Ok => Enc::new(op::OK),
            Response::Rejected(why) => Enc::new(op::REJECTED).bytes(why.as_bytes()),
            Response::Value(v) => Enc::new(op::VALUE).opt(v.as_deref()),
            Response::Int(v) => Enc::new(op::INT).u64(*v as u64),
            Response::Cas { swapped, current } => {
                Enc::new(op::CAS_RESULT).u8(u8::from(*swapped)).opt(current.as_deref())
            }
            Response::Len(n) => Enc::new(op::LEN).u64(*n),
            Response::Bool(b) => Enc::new(op::BOOL).u8(u8::from(*b)),
            Response::Gathered(parts) => {
                let mut e = Enc::new(op::GATHERED).u32(u32::try_from(parts.len()).unwrap_or(u32::MAX));
                for p in parts {
                    e = e.bytes(p);
                }
                e
            }
            Response::Timeout { missing } => {
                let mut e = Enc::new(op::TIMEOUT).u32(u32::try_from(missing.len()).unwrap_or(u32::MAX));
                for r in missing {
                    e = e.u32(*r);
                }
                e
            }
            Response::Error { kind, message } => {
                let k = match kind {
                    ErrorKind::InvalidParam => 1,
                    ErrorKind::InvalidValue => 2,
                    ErrorKind::Bootstrap => 3,
                };
                Enc::new(op::ERROR).u8(k).bytes(message.as_bytes())
            }
        }
        .finish()
    }

    /// Decodes a response payload.
    pub fn decode(payload: &[u8]) -> Result<Response, WireError> {
        let mut d = Dec::new(payload);
        let resp = match d.u8()? {
            op::OK => Response::Ok,
            op::REJECTED => Response::Rejected(d.string("rejection reason")?),
            op::VALUE => Response::Value(d.opt()?),
            op::INT => Response::Int(d.u64()? as i64),
            op::CAS_RESULT => Response::Cas { swapped: d.bool()?, current: d.opt()? },
            op::LEN => Response::Len(d.u64()?),
            op::BOOL => Response::Bool(d.bool()?),
            op::GATHERED => {
                let n = d.count(4)?;
                let parts = (0..n).map(|_| d.bytes()).collect::<Result<_, _>>()?;
                Response::Gathered(parts)
            }
            op::TIMEOUT => {
                let n = d.count(4)?;
                Response::Timeout { missing: (0..n).map(|_| d.u32()).collect::<Result<_, _>>()? }
            }
            op::ERROR => {
                let kind = match d.u8()? {
                    1 => ErrorKind::InvalidParam,
                    2 => ErrorKind::InvalidValue,
                    3 => ErrorKind::Bootstrap,
                    _ => return Err(WireError::Invalid("error kind")),
                };
                Response::Error { kind, message: d.string("error message")? }
            }
            other => return Err(WireError::UnknownOpcode(other)),
        };
        d.end(resp)
    }
}

impl Notice {
    /// Encodes the notice as a complete frame.
    pub fn to_frame(&self) -> Result<Vec<u8>, WireError> {
        match self {
            Notice::GlobalExit(status) => Enc::new(op::GLOBAL_EXIT_NOTICE).u32(*status as u32),
            Notice::PeerLost(rank) => Enc::new(op::PEER_LOST).u32(*rank),
            Notice::Closing { clean } => Enc::new(op::CLOSING).u8(u8::from(*clean)),
        }
        .finish()
    }

    /// Decodes a notice payload.
    pub fn decode(payload: &[u8]) -> Result<Notice, WireError> {
        let mut d = Dec::new(payload);
        let n = match d.u8()? {
            op::GLOBAL_EXIT_NOTICE => Notice::GlobalExit(d.u32()? as i32),
            op::PEER_LOST => Notice::PeerLost(d.u32()?),
            op::CLOSING => Notice::Closing { clean: d.bool()? },
            other => return Err(WireError::UnknownOpcode(other)),
        };
        d.end(n)
    }
}
