//! Which across-node algorithm a collective uses (`SHMEM_COLL_NET_ALGO`, `SHMEM_COLL_NET_MIN`,
//! `SHMEM_COLL_RING_MIN`), parsed once at init with the rest of the configuration. The knobs exist to measure
//! the algorithms against each other on a given network (and against the direct pulls the collectives used
//! before), not to tune correctness: every choice gives the same bits.
//!
//! # Why `auto` keeps the direct pulls for small results (decision, measured)
//! Every collective first agrees on its descriptors, and that agreement reads every member's descriptor (`n - 1`
//! transfers per member) between two team barriers. While it does, a data phase in `⌈log2 n⌉` dependent rounds
//! cannot lower the message count below `O(n)` per member, and each dependent round costs a scheduling delay
//! when PEs outnumber cores; measured on TCP loopback (2 cores, load 9-12), the direct pulls were 10-25% faster
//! at 8 B on 2x2 and 8x1 nodes. So `auto` pulls directly below [`DEFAULT_NET_MIN`] of result, gathers by
//! recursive doubling from there, and along the ring from [`DEFAULT_RING_MIN`]; `doubling` forces recursive
//! doubling at every size (the tiny reductions included).

use shmem_core::{Error, Result, Settings};

/// `SHMEM_COLL_NET_ALGO`: `auto` (default), `direct`, `doubling` or `ring`.
pub(crate) const ALGO_VAR: &str = "SHMEM_COLL_NET_ALGO";
/// `SHMEM_COLL_NET_MIN`: result size from which `auto` stops pulling directly (size like `64K`).
pub(crate) const NET_MIN_VAR: &str = "SHMEM_COLL_NET_MIN";
/// Default of [`NET_MIN_VAR`].
pub(crate) const DEFAULT_NET_MIN: u64 = 64 << 10;
/// `SHMEM_COLL_RING_MIN`: result size from which `auto` gathers along a ring (size like `8M`, or `off`).
pub(crate) const RING_MIN_VAR: &str = "SHMEM_COLL_RING_MIN";
/// Default of [`RING_MIN_VAR`].
pub(crate) const DEFAULT_RING_MIN: u64 = 8 << 20;

/// The algorithm family for groups that span nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetAlgo {
    /// By size: direct pulls below the `NET_MIN` threshold, recursive doubling up to the ring threshold, the
    /// ring from it on.
    Auto,
    /// Every member pulls every block it needs from its owner (one round, `n - 1` transfers per member).
    Direct,
    /// Recursive doubling at every size.
    Doubling,
    /// The ring at every size (reductions too small for the slices gather directly).
    Ring,
}

/// The parsed across-node policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NetPolicy {
    /// The family.
    pub(crate) algo: NetAlgo,
    /// With [`NetAlgo::Auto`], result bytes from which the direct pulls give way to recursive doubling.
    pub(crate) net_min: u64,
    /// With [`NetAlgo::Auto`], result bytes from which the ring is used (`u64::MAX`: never).
    pub(crate) ring_min: u64,
}

impl Default for NetPolicy {
    fn default() -> NetPolicy {
        NetPolicy { algo: NetAlgo::Auto, net_min: DEFAULT_NET_MIN, ring_min: DEFAULT_RING_MIN }
    }
}

impl NetPolicy {
    /// Reads both variables of `settings`.
    ///
    /// # Errors
    /// `InvalidParam` naming the variable and its value when one is malformed.
    pub(crate) fn from_settings(settings: &Settings) -> Result<NetPolicy> {
        let algo = match settings.non_empty(ALGO_VAR).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("auto") => NetAlgo::Auto,
            Some("direct") => NetAlgo::Direct,
            Some("doubling") => NetAlgo::Doubling,
            Some("ring") => NetAlgo::Ring,
            Some(_) => {
                let v = settings.get(ALGO_VAR).unwrap_or_default();
                return Err(Error::invalid(format!(
                    "{ALGO_VAR}={v:?} is malformed: expected one of auto, direct, doubling, ring"
                )));
            }
        };
        let net_min = match settings.non_empty(NET_MIN_VAR) {
            None => DEFAULT_NET_MIN,
            Some(v) => shmem_core::launch_env::parse_size(v).map_err(|_| {
                Error::invalid(format!("{NET_MIN_VAR}={v:?} is malformed: expected a size (e.g. 0, 64K)"))
            })?,
        };
        let ring_min = match settings.non_empty(RING_MIN_VAR) {
            None => DEFAULT_RING_MIN,
            Some(v) if v.trim().eq_ignore_ascii_case("off") => u64::MAX,
            Some(v) => shmem_core::launch_env::parse_size(v).map_err(|_| {
                Error::invalid(format!("{RING_MIN_VAR}={v:?} is malformed: expected a size (e.g. 64K, 8M) or `off`"))
            })?,
        };
        Ok(NetPolicy { algo, net_min, ring_min })
    }

    /// Whether a collective whose result has `total` bytes goes by direct pulls (the family's own algorithm).
    pub(crate) fn direct(&self, total: u64) -> bool {
        match self.algo {
            NetAlgo::Direct => true,
            NetAlgo::Auto => total < self.net_min,
            NetAlgo::Doubling | NetAlgo::Ring => false,
        }
    }

    /// Whether a gather of `total` bytes goes along the ring (else recursive doubling).
    pub(crate) fn ring(&self, total: u64) -> bool {
        match self.algo {
            NetAlgo::Ring => true,
            NetAlgo::Auto => total >= self.ring_min,
            NetAlgo::Direct | NetAlgo::Doubling => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<NetPolicy> {
        NetPolicy::from_settings(&Settings::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))))
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(parse(&[]).unwrap(), NetPolicy::default());
        let p = parse(&[(ALGO_VAR, "Ring"), (RING_MIN_VAR, "64K"), (NET_MIN_VAR, "0")]).unwrap();
        assert_eq!(p, NetPolicy { algo: NetAlgo::Ring, net_min: 0, ring_min: 64 << 10 });
        assert_eq!(parse(&[(RING_MIN_VAR, "off")]).unwrap().ring_min, u64::MAX);
        assert!(parse(&[(ALGO_VAR, "direct")]).unwrap().direct(u64::MAX));
        assert!(!parse(&[(ALGO_VAR, "doubling")]).unwrap().direct(0));
        let auto = parse(&[(RING_MIN_VAR, "1M"), (NET_MIN_VAR, "4K")]).unwrap();
        assert!(auto.direct(4095) && !auto.direct(4096));
        assert!(!auto.ring((1 << 20) - 1) && auto.ring(1 << 20));
    }

    #[test]
    fn malformed_values_are_invalid_param_naming_the_variable() {
        for (var, bad) in [(ALGO_VAR, "tree"), (RING_MIN_VAR, "big"), (NET_MIN_VAR, "off")] {
            let e = parse(&[(var, bad)]).unwrap_err();
            assert_eq!(e.code(), -1, "{var}");
            assert!(e.to_string().contains(var), "{e}");
        }
    }
}
