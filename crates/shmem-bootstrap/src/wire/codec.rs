//! The field encoder and decoder under the message codec, and the opcode table.

use super::{WireError, MAX_FRAME};

/// Opcodes: requests 0x01.., responses 0x81.., notices 0xc1...
pub(super) mod op {
    pub(in crate::wire) const SET: u8 = 0x01;
    pub(in crate::wire) const TRY_GET: u8 = 0x02;
    pub(in crate::wire) const GET: u8 = 0x03;
    pub(in crate::wire) const ADD: u8 = 0x04;
    pub(in crate::wire) const CAS: u8 = 0x05;
    pub(in crate::wire) const APPEND: u8 = 0x06;
    pub(in crate::wire) const DELETE: u8 = 0x07;
    pub(in crate::wire) const BARRIER: u8 = 0x08;
    pub(in crate::wire) const ALLGATHER: u8 = 0x09;
    pub(in crate::wire) const GLOBAL_EXIT: u8 = 0x0a;
    pub(in crate::wire) const LEAVE: u8 = 0x0b;
    pub(in crate::wire) const WATCH_TICKET: u8 = 0x0c;
    pub(in crate::wire) const OK: u8 = 0x81;
    pub(in crate::wire) const REJECTED: u8 = 0x82;
    pub(in crate::wire) const VALUE: u8 = 0x83;
    pub(in crate::wire) const INT: u8 = 0x84;
    pub(in crate::wire) const CAS_RESULT: u8 = 0x85;
    pub(in crate::wire) const LEN: u8 = 0x86;
    pub(in crate::wire) const BOOL: u8 = 0x87;
    pub(in crate::wire) const GATHERED: u8 = 0x88;
    pub(in crate::wire) const TIMEOUT: u8 = 0x89;
    pub(in crate::wire) const ERROR: u8 = 0x8a;
    pub(in crate::wire) const GLOBAL_EXIT_NOTICE: u8 = 0xc1;
    pub(in crate::wire) const PEER_LOST: u8 = 0xc2;
    pub(in crate::wire) const CLOSING: u8 = 0xc3;
}

/// Builds one frame: reserves the length prefix, appends fields, patches the length in `finish`.
pub(super) struct Enc(pub(super) Vec<u8>);

impl Enc {
    pub(super) fn new(opcode: u8) -> Self {
        Enc(vec![0, 0, 0, 0, opcode])
    }
    pub(super) fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub(super) fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(super) fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(super) fn bytes(self, b: &[u8]) -> Self {
        // A length beyond u32 cannot fit a frame anyway; `finish` rejects the frame.
        let mut s = self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        s.0.extend_from_slice(b);
        s
    }
    pub(super) fn opt(self, b: Option<&[u8]>) -> Self {
        match b {
            None => self.u8(0),
            Some(b) => self.u8(1).bytes(b),
        }
    }
    pub(super) fn finish(mut self) -> Result<Vec<u8>, WireError> {
        let len = self.0.len() - 4;
        if len > MAX_FRAME {
            return Err(WireError::Oversize { len, max: MAX_FRAME });
        }
        self.0[..4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(self.0)
    }
}

/// Reads fields from a payload, failing with [`WireError::Truncated`] rather than panicking.
pub(super) struct Dec<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Dec<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Dec { buf, at: 0 }
    }
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let left = self.buf.len() - self.at;
        if n > left {
            return Err(WireError::Truncated { at: self.at, needed: n - left });
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub(super) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    pub(super) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(super) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(super) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub(super) fn bytes(&mut self) -> Result<Vec<u8>, WireError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    pub(super) fn string(&mut self, what: &'static str) -> Result<String, WireError> {
        String::from_utf8(self.bytes()?).map_err(|_| WireError::Invalid(what))
    }
    pub(super) fn opt(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes()?)),
            _ => Err(WireError::Invalid("optional-value tag")),
        }
    }
    pub(super) fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Invalid("boolean")),
        }
    }
    /// A list count, checked against the bytes left (each element needs at least `min_elem` bytes), so
    /// that a forged count cannot trigger a huge allocation.
    pub(super) fn count(&mut self, min_elem: usize) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        let left = self.buf.len() - self.at;
        if n.saturating_mul(min_elem) > left {
            return Err(WireError::Truncated { at: self.at, needed: n.saturating_mul(min_elem) - left });
        }
        Ok(n)
    }
    pub(super) fn end<T>(self, v: T) -> Result<T, WireError> {
        match self.buf.len() - self.at {
            0 => Ok(v),
            n => Err(WireError::Trailing(n)),
        }
    }
}
