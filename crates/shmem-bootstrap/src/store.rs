//! The store's data and rules, free of sockets and threads: key-value operations and the bookkeeping of
//! barriers and all-gathers. The server wraps one [`Store`] in a mutex and parks waiters on a condition
//! variable; everything here is a plain, immediate state change.

use crate::wire::{ErrorKind, Response, MAX_FRAME};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Bound of one stored value, so that any value (with its key) still fits in a response frame.
pub(crate) const MAX_VALUE: usize = MAX_FRAME - 4096;

/// Which collective a name belongs to; barriers and all-gathers have separate name spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Collective {
    Barrier,
    Allgather,
}

impl Collective {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Collective::Barrier => "barrier",
            Collective::Allgather => "allgather",
        }
    }
}

/// One reusable named collective. Each completed round bumps `generation`; a waiter that arrived in round g
/// is released when the generation passes g. Round g+1 cannot complete before every rank arrives again, so
/// when a waiter of round g wakes up, `last` still holds round g's result.
#[derive(Debug, Default)]
struct Round {
    n: u32,
    generation: u64,
    arrived: BTreeMap<u32, Vec<u8>>,
    /// Ranks that arrived in this round but gave up after their timeout: not counted for completion, but
    /// not reported missing either (they did come).
    expired: BTreeSet<u32>,
    last: Arc<Vec<Vec<u8>>>,
    /// Bytes held by `arrived` and by `last` (counted against the store's limit).
    arrived_bytes: usize,
    last_bytes: usize,
}

/// What an arrival at a collective led to.
#[derive(Debug)]
pub(crate) enum Arrival {
    /// This arrival completed the round; here are all contributions, indexed by rank.
    Complete(Arc<Vec<Vec<u8>>>),
    /// Others are missing; wait for the generation to pass this one.
    Wait(u64),
}

/// The key-value map and the collectives' state, with the bytes they hold bounded by `limit`.
#[derive(Debug)]
pub(crate) struct Store {
    kv: HashMap<String, Vec<u8>>,
    rounds: HashMap<(Collective, String), Round>,
    /// Bytes held: keys and values, collective names, contributions and last results.
    bytes: usize,
    limit: usize,
}

impl Default for Store {
    fn default() -> Self {
        Store::with_limit(usize::MAX)
    }
}

fn err(kind: ErrorKind, message: String) -> Response {
    Response::Error { kind, message }
}

fn too_big(key: &str, len: usize) -> Response {
    err(
        ErrorKind::InvalidParam,
        format!("value of key {key:?} would be {len} B, above the store's limit of {MAX_VALUE} B"),
    )
}

fn full(held: usize, more: usize, limit: usize) -> Response {
    err(
        ErrorKind::Bootstrap,
        format!(
            "the bootstrap store is full: it holds {held} B and this request needs {more} B more, above its limit of \
             {limit} B; store less (the store is for control-plane metadata)"
        ),
    )
}

impl Store {
    /// An empty store that holds at most `limit` bytes.
    pub(crate) fn with_limit(limit: usize) -> Store {
        Store { kv: HashMap::new(), rounds: HashMap::new(), bytes: 0, limit }
    }

    /// Bytes held now.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Accounts for `key` holding `new_len` bytes from now on, or refuses when that exceeds the limit.
    fn reserve_kv(&mut self, key: &str, new_len: usize) -> Result<(), Response> {
        let old = self.kv.get(key).map_or(0, |v| key.len() + v.len());
        let new = key.len() + new_len;
        let after = self.bytes - old + new;
        if new > old && after > self.limit {
            return Err(full(self.bytes, new - old, self.limit));
        }
        self.bytes = after;
        Ok(())
    }

    /// The current value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Vec<u8>> {
        self.kv.get(key)
    }

    pub(crate) fn set(&mut self, key: String, value: Vec<u8>) -> Response {
        if value.len() > MAX_VALUE {
            return too_big(&key, value.len());
        }
        if let Err(r) = self.reserve_kv(&key, value.len()) {
            return r;
        }
        self.kv.insert(key, value);
        Response::Ok
    }

    /// Counters are stored as decimal ASCII (readable with `get`), a missing key counting as 0.
    pub(crate) fn add(&mut self, key: String, delta: i64) -> Response {
        let parsed = match self.kv.get(&key) {
            None => Ok(0),
            Some(v) => std::str::from_utf8(v).ok().and_then(|s| s.parse::<i64>().ok()).ok_or(v.len()),
        };
        let current = match parsed {
            Ok(c) => c,
            Err(len) => {
                let why = format!("key {key:?} holds {len} B that are not a decimal i64 counter; add needs one");
                return err(ErrorKind::InvalidValue, why);
            }
        };
        let Some(new) = current.checked_add(delta) else {
            return err(ErrorKind::InvalidValue, format!("counter {key:?} = {current} + {delta} overflows i64"));
        };
        let text = new.to_string().into_bytes();
        if let Err(r) = self.reserve_kv(&key, text.len()) {
            return r;
        }
        self.kv.insert(key, text);
        Response::Int(new)
    }

    pub(crate) fn compare_and_swap(&mut self, key: String, expected: Option<Vec<u8>>, new: Vec<u8>) -> Response {
        if new.len() > MAX_VALUE {
            return too_big(&key, new.len());
        }
        let current = self.kv.get(&key);
        if current != expected.as_ref() {
            return Response::Cas { swapped: false, current: current.cloned() };
        }
        if let Err(r) = self.reserve_kv(&key, new.len()) {
            return r;
        }
        self.kv.insert(key, new.clone());
        Response::Cas { swapped: true, current: Some(new) }
    }

    pub(crate) fn append(&mut self, key: String, value: &[u8]) -> Response {
        let len = self.kv.get(&key).map_or(0, Vec::len) + value.len();
        if len > MAX_VALUE {
            return too_big(&key, len);
        }
        if let Err(r) = self.reserve_kv(&key, len) {
            return r;
        }
        let v = self.kv.entry(key).or_default();
        v.extend_from_slice(value);
        Response::Len(v.len() as u64)
    }

    pub(crate) fn delete(&mut self, key: &str) -> Response {
        let removed = self.kv.remove(key);
        if let Some(v) = &removed {
            self.bytes -= key.len() + v.len();
        }
        Response::Bool(removed.is_some())
    }

    /// Records `rank`'s arrival (with its contribution) at collective `name` of `n` ranks.
    pub(crate) fn arrive(
        &mut self,
        kind: Collective,
        name: &str,
        n: u32,
        rank: u32,
        data: Vec<u8>,
    ) -> Result<Arrival, Response> {
        let what = kind.label();
        if n == 0 || rank >= n {
            return Err(err(
                ErrorKind::InvalidParam,
                format!("{what} {name:?}: rank {rank} is outside 0..{n}; every rank must be below n and n > 0"),
            ));
        }
        let (held, limit) = (self.bytes, self.limit);
        let new_name = if self.rounds.contains_key(&(kind, name.to_string())) { 0 } else { name.len() };
        if held + new_name + data.len() > limit {
            return Err(full(held, new_name + data.len(), limit));
        }
        let round = self.rounds.entry((kind, name.to_string())).or_default();
        if !round.arrived.is_empty() && round.n != n {
            return Err(err(
                ErrorKind::InvalidValue,
                format!("{what} {name:?}: rank {rank} passed n = {n} but others passed n = {}", round.n),
            ));
        }
        if round.arrived.contains_key(&rank) {
            return Err(err(
                ErrorKind::InvalidValue,
                format!(
                    "{what} {name:?}: rank {rank} arrived twice in round {}; each rank must call it once per round",
                    round.generation
                ),
            ));
        }
        round.n = n;
        round.expired.remove(&rank);
        round.arrived_bytes += data.len();
        self.bytes += new_name + data.len();
        round.arrived.insert(rank, data);
        if round.arrived.len() < n as usize {
            return Ok(Arrival::Wait(round.generation));
        }
        let parts: Vec<Vec<u8>> = std::mem::take(&mut round.arrived).into_values().collect();
        round.expired.clear();
        round.last = Arc::new(parts);
        self.bytes -= round.last_bytes;
        round.last_bytes = std::mem::take(&mut round.arrived_bytes);
        round.generation += 1;
        Ok(Arrival::Complete(round.last.clone()))
    }

    /// The result of round `generation` of `name`, once that round has completed.
    pub(crate) fn completed(&self, kind: Collective, name: &str, generation: u64) -> Option<Arc<Vec<Vec<u8>>>> {
        let round = self.rounds.get(&(kind, name.to_string()))?;
        (round.generation > generation).then(|| round.last.clone())
    }

    /// Takes `rank` out of round `generation` of `name` after its wait expired, and returns the ranks that
    /// had not arrived (sorted; ranks that arrived and gave up count as arrived).
    pub(crate) fn withdraw(&mut self, kind: Collective, name: &str, generation: u64, rank: u32) -> Vec<u32> {
        let Some(round) = self.rounds.get_mut(&(kind, name.to_string())) else {
            return Vec::new();
        };
        if round.generation != generation {
            return Vec::new();
        }
        let missing = (0..round.n).filter(|r| !round.arrived.contains_key(r) && !round.expired.contains(r)).collect();
        if let Some(data) = round.arrived.remove(&rank) {
            round.arrived_bytes -= data.len();
            self.bytes -= data.len();
        }
        round.expired.insert(rank);
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_cas() {
        let mut s = Store::default();
        assert_eq!(s.add("c".into(), 5), Response::Int(5));
        assert_eq!(s.add("c".into(), -7), Response::Int(-2));
        assert_eq!(s.get("c").unwrap(), b"-2");
        s.set("x".into(), b"abc".to_vec());
        assert!(matches!(s.add("x".into(), 1), Response::Error { kind: ErrorKind::InvalidValue, .. }));
        s.set("m".into(), i64::MAX.to_string().into_bytes());
        assert!(matches!(s.add("m".into(), 1), Response::Error { .. }));
        assert_eq!(
            s.compare_and_swap("k".into(), None, b"1".to_vec()),
            Response::Cas { swapped: true, current: Some(b"1".to_vec()) }
        );
        assert_eq!(
            s.compare_and_swap("k".into(), None, b"2".to_vec()),
            Response::Cas { swapped: false, current: Some(b"1".to_vec()) }
        );
        assert_eq!(
            s.compare_and_swap("k".into(), Some(b"1".to_vec()), b"2".to_vec()),
            Response::Cas { swapped: true, current: Some(b"2".to_vec()) }
        );
        assert_eq!(s.append("a".into(), b"xy"), Response::Len(2));
        assert_eq!(s.append("a".into(), b"z"), Response::Len(3));
        assert_eq!(s.delete("a"), Response::Bool(true));
        assert_eq!(s.delete("a"), Response::Bool(false));
    }

    #[test]
    fn stored_bytes_are_bounded() {
        let mut s = Store::with_limit(100);
        assert_eq!(s.set("k".into(), vec![1; 60]), Response::Ok);
        assert_eq!(s.bytes(), 61);
        let full = |r: &Response| matches!(r, Response::Error { kind: ErrorKind::Bootstrap, message } if message.contains("limit of 100 B"));
        assert!(full(&s.set("j".into(), vec![1; 40])), "61 + 41 > 100");
        assert!(full(&s.append("k".into(), &[0; 40])));
        assert_eq!(s.set("k".into(), vec![2; 10]), Response::Ok, "replacing by less is always fine");
        assert_eq!(s.bytes(), 11);
        assert!(matches!(s.arrive(Collective::Allgather, "g", 2, 0, vec![0; 50]), Ok(Arrival::Wait(0))));
        assert_eq!(s.bytes(), 11 + 1 + 50);
        assert!(matches!(s.arrive(Collective::Allgather, "g", 2, 1, vec![0; 50]), Err(ref r) if full(r)));
        assert_eq!(s.withdraw(Collective::Allgather, "g", 0, 0), vec![1]);
        assert_eq!(s.bytes(), 12);
        assert!(matches!(s.arrive(Collective::Allgather, "g", 2, 0, vec![0; 20]), Ok(Arrival::Wait(0))));
        assert!(matches!(s.arrive(Collective::Allgather, "g", 2, 1, vec![0; 20]), Ok(Arrival::Complete(_))));
        assert_eq!(s.bytes(), 12 + 40);
        assert_eq!(s.delete("k"), Response::Bool(true));
        assert_eq!(s.bytes(), 41);
        assert!(matches!(s.add("c".into(), 5), Response::Int(5)));
    }

    #[test]
    fn rounds_complete_reuse_and_withdraw() {
        let mut s = Store::default();
        let c = Collective::Allgather;
        for round in 0..3u64 {
            assert!(matches!(s.arrive(c, "g", 3, 2, vec![2]), Ok(Arrival::Wait(g)) if g == round));
            assert!(matches!(s.arrive(c, "g", 3, 0, vec![0]), Ok(Arrival::Wait(_))));
            assert!(s.completed(c, "g", round).is_none());
            match s.arrive(c, "g", 3, 1, vec![1]) {
                Ok(Arrival::Complete(parts)) => assert_eq!(*parts, vec![vec![0], vec![1], vec![2]]),
                other => panic!("{other:?}"),
            }
            assert_eq!(*s.completed(c, "g", round).unwrap(), vec![vec![0], vec![1], vec![2]]);
        }
        // Barrier names are separate from all-gather names.
        assert!(matches!(s.arrive(Collective::Barrier, "g", 2, 0, vec![]), Ok(Arrival::Wait(0))));
        assert!(s.arrive(c, "h", 2, 2, vec![]).is_err());
        assert!(s.arrive(c, "h", 0, 0, vec![]).is_err());
        assert!(matches!(s.arrive(c, "h", 4, 1, vec![]), Ok(Arrival::Wait(0))));
        assert!(s.arrive(c, "h", 4, 1, vec![]).is_err(), "twice in one round");
        assert!(s.arrive(c, "h", 5, 0, vec![]).is_err(), "n mismatch");
        assert!(matches!(s.arrive(c, "h", 4, 3, vec![]), Ok(Arrival::Wait(0))));
        assert_eq!(s.withdraw(c, "h", 0, 3), vec![0, 2]);
        assert_eq!(s.withdraw(c, "h", 0, 1), vec![0, 2], "a rank that came and gave up is not missing");
        assert!(matches!(s.arrive(c, "h", 4, 3, vec![]), Ok(Arrival::Wait(0))), "may arrive again after a timeout");
    }
}
