//! Codec tests: round trips, truncations, bad input, bounds. No sockets.

use super::codec::op;
use super::*;

fn payload(frame: &[u8]) -> &[u8] {
    let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    assert_eq!(len, frame.len() - 4);
    &frame[4..]
}

fn requests() -> Vec<Request> {
    vec![
        Request::Set { key: "k".into(), value: b"v\0x".to_vec() },
        Request::TryGet { key: "".into() },
        Request::Get { key: "ключ".into(), timeout_ms: u64::MAX },
        Request::Add { key: "c".into(), delta: -5 },
        Request::Cas { key: "c".into(), expected: None, new: vec![] },
        Request::Cas { key: "c".into(), expected: Some(b"1".to_vec()), new: b"2".to_vec() },
        Request::Append { key: "a".into(), value: vec![7; 300] },
        Request::Delete { key: "d".into() },
        Request::Barrier { name: "b".into(), n: 8, timeout_ms: 1500 },
        Request::Allgather { name: "g".into(), n: 3, data: vec![1, 2], timeout_ms: 0 },
        Request::GlobalExit { status: -3 },
        Request::Leave,
        Request::WatchTicket,
    ]
}

fn responses() -> Vec<Response> {
    vec![
        Response::Ok,
        Response::Rejected("wrong job token".into()),
        Response::Value(None),
        Response::Value(Some(vec![0, 1])),
        Response::Int(i64::MIN),
        Response::Cas { swapped: true, current: Some(b"x".to_vec()) },
        Response::Cas { swapped: false, current: None },
        Response::Len(u64::MAX),
        Response::Bool(false),
        Response::Gathered(vec![vec![], vec![1], vec![2, 2]]),
        Response::Timeout { missing: vec![2, 5] },
        Response::Error { kind: ErrorKind::InvalidValue, message: "not a counter".into() },
    ]
}

#[test]
fn round_trips() {
    let hello = Hello::prove(Role::Watch, 7, "secret", vec![1, 2, 3], &[9; NONCE_LEN]);
    assert_eq!(Hello::decode(payload(&hello.to_frame().unwrap())).unwrap(), hello);
    let greeting = Greeting { nonce: vec![5; NONCE_LEN] };
    assert_eq!(Greeting::decode(payload(&greeting.to_frame().unwrap())), Ok(greeting));
    let challenge = Challenge::prove("secret", &[5; NONCE_LEN], (0..NONCE_LEN as u8).collect());
    assert_eq!(Challenge::decode(payload(&challenge.to_frame().unwrap())).unwrap(), challenge);
    for r in requests() {
        assert_eq!(Request::decode(payload(&r.to_frame().unwrap())).unwrap(), r);
    }
    for r in responses() {
        assert_eq!(Response::decode(payload(&r.to_frame().unwrap())).unwrap(), r);
    }
    for n in [Notice::GlobalExit(-1), Notice::PeerLost(3), Notice::Closing { clean: true }] {
        assert_eq!(Notice::decode(payload(&n.to_frame().unwrap())).unwrap(), n);
    }
}

#[test]
fn every_truncation_is_an_error() {
    let hello = Hello::prove(Role::Client, 1, "t", Vec::new(), &[0; NONCE_LEN]).to_frame().unwrap();
    let p = payload(&hello);
    for cut in 0..p.len() {
        assert!(Hello::decode(&p[..cut]).is_err(), "hello cut at {cut}");
    }
    let challenge = Challenge::prove("t", &[2; NONCE_LEN], vec![1; NONCE_LEN]).to_frame().unwrap();
    let p = payload(&challenge);
    for cut in 0..p.len() {
        assert!(Challenge::decode(&p[..cut]).is_err(), "challenge cut at {cut}");
    }
    let greeting = Greeting { nonce: vec![3; NONCE_LEN] }.to_frame().unwrap();
    let p = payload(&greeting);
    for cut in 0..p.len() {
        assert!(Greeting::decode(&p[..cut]).is_err(), "greeting cut at {cut}");
    }
    for r in requests() {
        let f = r.to_frame().unwrap();
        let p = payload(&f);
        for cut in 0..p.len() {
            assert!(matches!(Request::decode(&p[..cut]), Err(WireError::Truncated { .. })), "{r:?} at {cut}");
        }
    }
    for r in responses() {
        let f = r.to_frame().unwrap();
        let p = payload(&f);
        for cut in 0..p.len() {
            assert!(Response::decode(&p[..cut]).is_err(), "{r:?} at {cut}");
        }
    }
}

#[test]
fn unknown_opcodes_bad_tags_and_trailing_bytes() {
    assert_eq!(Request::decode(&[0x7f]), Err(WireError::UnknownOpcode(0x7f)));
    assert_eq!(Response::decode(&[0x01]), Err(WireError::UnknownOpcode(0x01)));
    assert_eq!(Notice::decode(&[0x81]), Err(WireError::UnknownOpcode(0x81)));
    assert_eq!(Response::decode(&[op::BOOL, 2]), Err(WireError::Invalid("boolean")));
    assert_eq!(Request::decode(&[op::LEAVE, 0]), Err(WireError::Trailing(1)));
    // A key that is not UTF-8.
    assert_eq!(Request::decode(&[op::DELETE, 0, 0, 0, 1, 0xff]), Err(WireError::Invalid("key")));
    // A forged list count must not allocate: it is checked against the bytes present.
    let forged = [op::GATHERED, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(Response::decode(&forged), Err(WireError::Truncated { .. })));
}

#[test]
fn greeting_and_challenge_check_magic_then_version() {
    let greeting = Greeting { nonce: vec![0; NONCE_LEN] }.to_frame().unwrap();
    let greeting_len = greeting.len();
    for mut f in [greeting, Challenge::prove("t", &[0; NONCE_LEN], vec![0; NONCE_LEN]).to_frame().unwrap()] {
        let decode = |f: &[u8]| {
            let (g, c) = (Greeting::decode(&f[4..]).map(|_| ()), Challenge::decode(&f[4..]).map(|_| ()));
            if f.len() == greeting_len {
                g
            } else {
                c
            }
        };
        f[4..8].copy_from_slice(b"GET ");
        assert_eq!(decode(&f), Err(WireError::BadMagic(*b"GET ")));
        f[4..8].copy_from_slice(&MAGIC);
        f[8..10].copy_from_slice(&99u16.to_be_bytes());
        assert_eq!(decode(&f), Err(WireError::Version(99)));
        // The version before the challenge (2) sent its hello first: the store names the version.
        f[8..10].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(decode(&f), Err(WireError::Version(2)));
    }
    assert_eq!(
        Challenge::decode(&Challenge::prove("t", &[0; NONCE_LEN], vec![0; 8]).to_frame().unwrap()[4..]),
        Err(WireError::Invalid("challenge nonce"))
    );
    let short_proof = Challenge { nonce: vec![0; NONCE_LEN], proof: vec![0; 8] }.to_frame().unwrap();
    assert_eq!(Challenge::decode(&short_proof[4..]), Err(WireError::Invalid("challenge proof")));
    assert_eq!(
        Greeting::decode(&Greeting { nonce: vec![0; 8] }.to_frame().unwrap()[4..]),
        Err(WireError::Invalid("greeting nonce"))
    );
    // The store's proof holds only for its token and the greeting it answers, and is not a hello's.
    let c = Challenge::prove("job", &[1; NONCE_LEN], vec![2; NONCE_LEN]);
    assert!(c.proves("job", &[1; NONCE_LEN]));
    assert!(!c.proves("other", &[1; NONCE_LEN]));
    assert!(!c.proves("job", &[3; NONCE_LEN]));
    let h = Hello::prove(Role::Client, 0, "job", Vec::new(), &[2; NONCE_LEN]);
    assert!(!Challenge { nonce: vec![2; NONCE_LEN], proof: h.proof }.proves("job", &[1; NONCE_LEN]));
    let mut h = Hello::prove(Role::Client, 0, "t", Vec::new(), &[0; NONCE_LEN]).to_frame().unwrap();
    h[4] = 9;
    assert_eq!(Hello::decode(&h[4..]), Err(WireError::Invalid("connection role")));
}

/// The proof holds for exactly the token, nonce, role, rank and ticket it was made for.
#[test]
fn a_hello_proves_the_token_for_one_nonce_only() {
    let nonce = [7u8; NONCE_LEN];
    let hello = Hello::prove(Role::Watch, 3, "job-token", b"ticket".to_vec(), &nonce);
    assert!(hello.proves("job-token", &nonce));
    assert!(!hello.proves("job-tokem", &nonce), "another token");
    assert!(!hello.proves("", &nonce));
    assert!(!hello.proves("job-token", &[8u8; NONCE_LEN]), "a replay against another challenge");
    for forged in [
        Hello { role: Role::Exit, ..hello.clone() },
        Hello { rank: 4, ..hello.clone() },
        Hello { ticket: b"tickes".to_vec(), ..hello.clone() },
        Hello { proof: hello.proof[..31].to_vec(), ..hello.clone() },
        Hello { proof: Vec::new(), ..hello.clone() },
    ] {
        assert!(!forged.proves("job-token", &nonce), "{forged:?} passed");
    }
    // The token is not in the frame.
    let frame = hello.to_frame().unwrap();
    assert!(!frame.windows(9).any(|w| w == b"job-token"));
}

#[test]
fn frames_are_bounded() {
    let too_big = Request::Set { key: "k".into(), value: vec![0; MAX_FRAME] };
    assert!(matches!(too_big.to_frame(), Err(WireError::Oversize { .. })));
    let mut header: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
    match read_frame(&mut header, MAX_FRAME) {
        Err(ReadError::Wire(WireError::Oversize { len, max })) => {
            assert_eq!((len, max), (u32::MAX as usize, MAX_FRAME))
        }
        other => panic!("{other:?}"),
    }
    let mut hello_sized: &[u8] = &[0, 0, 0x10, 0x01];
    assert!(matches!(read_frame(&mut hello_sized, MAX_HELLO_FRAME), Err(ReadError::Wire(_))));
}

#[test]
fn read_frame_eof_and_partial() {
    let mut empty: &[u8] = &[];
    assert!(matches!(read_frame(&mut empty, MAX_FRAME), Err(ReadError::Eof)));
    let mut partial_header: &[u8] = &[0, 0];
    assert!(matches!(read_frame(&mut partial_header, MAX_FRAME), Err(ReadError::Io(_))));
    let mut partial_body: &[u8] = &[0, 0, 0, 5, 1, 2];
    assert!(matches!(read_frame(&mut partial_body, MAX_FRAME), Err(ReadError::Io(_))));
    let frame = Request::Leave.to_frame().unwrap();
    let mut out = Vec::new();
    write_frame(&mut out, &frame).unwrap();
    let mut two = [out.clone(), out].concat();
    let mut r: &[u8] = &mut two;
    assert_eq!(Request::decode(&read_frame(&mut r, MAX_FRAME).unwrap()).unwrap(), Request::Leave);
    assert_eq!(Request::decode(&read_frame(&mut r, MAX_FRAME).unwrap()).unwrap(), Request::Leave);
    assert!(matches!(read_frame(&mut r, MAX_FRAME), Err(ReadError::Eof)));
}
