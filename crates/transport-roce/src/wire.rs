//! The connection record every PE publishes at set-up: how the others reach its memory and its queue pairs.

use shmem_core::{Error, Result};

/// One PE's connection data, traded through the set-up's exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnRecord {
    /// The port's LID (InfiniBand; 0 on RoCE).
    pub lid: u16,
    /// The GID the PE's queue pairs use (RoCE, or routed InfiniBand).
    pub gid: [u8; 16],
    /// The remote key of the PE's heap registration.
    pub rkey: u32,
    /// The heap's virtual address in that PE's process (RDMA addresses are the target's addresses).
    pub base: u64,
    /// The heap's length.
    pub len: u64,
    /// The first packet sequence number of its queue pairs.
    pub psn: u32,
    /// `qpn[pe]`: the number of the queue pair that PE set up for talking to `pe`.
    pub qpn: Vec<u32>,
    /// The active MTU of this PE's port (the verbs code, 1 = 256 B ... 5 = 4096 B): a connection uses the
    /// smaller of its two ends', which both can send and receive.
    pub mtu: u32,
}

const MAGIC: &[u8; 4] = b"RCE2";
const FIXED: usize = 4 + 2 + 16 + 4 + 8 + 8 + 4 + 4 + 4;

impl ConnRecord {
    /// The bytes published.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(FIXED + 4 * self.qpn.len());
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&self.lid.to_le_bytes());
        b.extend_from_slice(&self.gid);
        b.extend_from_slice(&self.rkey.to_le_bytes());
        b.extend_from_slice(&self.base.to_le_bytes());
        b.extend_from_slice(&self.len.to_le_bytes());
        b.extend_from_slice(&self.psn.to_le_bytes());
        b.extend_from_slice(&(self.qpn.len() as u32).to_le_bytes());
        b.extend_from_slice(&self.mtu.to_le_bytes());
        for q in &self.qpn {
            b.extend_from_slice(&q.to_le_bytes());
        }
        b
    }

    /// Parses `pe`'s record of a job of `n_pes`.
    ///
    /// # Errors
    /// `Bootstrap` naming `pe` when the bytes are not a record of this job (wrong length, magic or PE count).
    pub fn decode(pe: u32, n_pes: u32, b: &[u8]) -> Result<ConnRecord> {
        let bad = |why: &str| Error::Bootstrap(format!("PE {pe} published a garbled RoCE connection record ({why})"));
        if b.len() >= 4 && b[..3] == MAGIC[..3] && b[3] != MAGIC[3] {
            return Err(Error::Bootstrap(format!(
                "PE {pe} published a RoCE connection record of format {:?}, this PE speaks {:?}: every PE of a job \
                 must run the same version of the library",
                String::from_utf8_lossy(&b[..4]),
                String::from_utf8_lossy(MAGIC)
            )));
        }
        if b.len() < FIXED || &b[..4] != MAGIC {
            return Err(bad("header"));
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        // Layout: magic 0..4, lid 4..6, gid 6..22, rkey 22..26, base 26..34, len 34..42, psn 42..46,
        // count 46..50, mtu 50..54, then `count` queue-pair numbers.
        let count = u32_at(46);
        if count != n_pes || b.len() != FIXED + 4 * n_pes as usize {
            return Err(bad("queue-pair count"));
        }
        let mtu = u32_at(50);
        if !(1..=5).contains(&mtu) {
            return Err(bad("MTU code"));
        }
        Ok(ConnRecord {
            lid: u16_at(4),
            gid: b[6..22].try_into().expect("16 bytes"),
            rkey: u32_at(22),
            base: u64_at(26),
            len: u64_at(34),
            psn: u32_at(42),
            qpn: (0..n_pes as usize).map(|i| u32_at(FIXED + 4 * i)).collect(),
            mtu,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let r = ConnRecord {
            lid: 7,
            gid: [3; 16],
            rkey: 0xDEAD_BEEF,
            base: 0x7F00_1234_5000,
            len: 1 << 30,
            psn: 0x12_3456,
            qpn: vec![17, 18, 19],
            mtu: 3,
        };
        let b = r.encode();
        assert_eq!(ConnRecord::decode(2, 3, &b).unwrap(), r);
        for bad in [&b[..b.len() - 1], &b[1..], &b[..10]] {
            let e = ConnRecord::decode(2, 3, bad).unwrap_err();
            assert!(e.to_string().contains("PE 2"), "{e}");
        }
        assert!(ConnRecord::decode(2, 4, &b).is_err(), "a record of another job size");
        for mtu in [0, 6, u32::MAX] {
            let e = ConnRecord::decode(2, 3, &ConnRecord { mtu, ..r.clone() }.encode()).unwrap_err();
            assert!(e.to_string().contains("MTU"), "{e}");
        }
        let mut old = b.clone();
        old[..4].copy_from_slice(b"RCE1");
        let e = ConnRecord::decode(2, 3, &old).unwrap_err();
        assert!(e.to_string().contains("same version"), "a record of the previous format: {e}");
    }
}
