//! Team membership and the split rules.

use shmem_core::{Error, Result};

/// The world PEs of a team, in team order (index = team PE number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members(Vec<u32>);

impl Members {
    /// A team of the given world PEs, in that order.
    pub fn new(pes: Vec<u32>) -> Members {
        Members(pes)
    }

    /// TEAM_WORLD of a job of `n` PEs.
    pub fn world(n: u32) -> Members {
        Members((0..n).collect())
    }

    /// Number of PEs in the team.
    pub fn len(&self) -> u32 {
        self.0.len() as u32
    }

    /// Whether the team has no PE (never for a live team).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The world PEs, in team order.
    pub fn as_slice(&self) -> &[u32] {
        &self.0
    }

    /// World PE of team PE `i`.
    pub fn world_pe(&self, i: u32) -> Option<u32> {
        self.0.get(i as usize).copied()
    }

    /// Team PE number of world PE `pe`, if it is a member.
    pub fn index_of(&self, pe: u32) -> Option<u32> {
        self.0.iter().position(|&p| p == pe).map(|i| i as u32)
    }

    /// Translates team PE `src_pe` of this team to its number in `dest` (`None` when outside either).
    pub fn translate(&self, src_pe: u32, dest: &Members) -> Option<u32> {
        dest.index_of(self.world_pe(src_pe)?)
    }
}

/// The team that `team_split_strided(parent, start, stride, size)` makes: parent PEs `start + k*stride` for
/// `k < size`.
///
/// # Errors
/// `InvalidParam` when start, stride or size are out of range or the last member falls outside the parent.
pub fn split_strided(parent: &Members, start: i64, stride: i64, size: i64) -> Result<Members> {
    let n = parent.len() as i64;
    let bad = |why: String| {
        Err(Error::invalid(format!(
            "team_split_strided(start={start}, stride={stride}, size={size}) on a team of {n} PEs: {why}"
        )))
    };
    if start < 0 || start >= n {
        return bad(format!("start must be in 0..{n}"));
    }
    if size < 1 {
        return bad("size must be at least 1".into());
    }
    if stride < 1 {
        return bad("stride must be at least 1".into());
    }
    let last = (size - 1).checked_mul(stride).and_then(|x| x.checked_add(start));
    match last {
        Some(l) if l < n => {}
        _ => return bad(format!("the last member start + (size-1)*stride must be below {n}")),
    }
    Ok(Members((0..size).map(|k| parent.0[(start + k * stride) as usize]).collect()))
}

/// A PE's `(start, stride, size)` of a strided split, relative to the parent team.
pub type Triplet = (i64, i64, i64);

/// The verdict of a strided split in which each member of the parent passed its own triplet (`triplets[i]`
/// is parent PE `i`'s, already checked with [`split_strided`]), as MPI's color split: PEs that name the same
/// team pass the same triplet (equal member lists count as the same), others may name another team, disjoint
/// from it. Returns the team of parent PE `me` (`None` when its triplet names a team without it).
///
/// # Errors
/// `InvalidValue` when two triplets describe overlapping but different teams, or a PE named by a team passed a
/// triplet of another team; the message names the PEs (world numbers). Every PE that evaluates the same
/// triplets gets the same verdict.
pub fn agree_strided(parent: &Members, triplets: &[Triplet], me: u32) -> Result<Option<Members>> {
    let n = parent.len() as usize;
    assert_eq!(triplets.len(), n, "one triplet per parent PE");
    // Each PE checked its own triplet, but another's comes from its agreement line, which a PE out of step (one
    // that did not make this call: its line is left from an earlier split, maybe over a larger team) fills with
    // anything: check them all here, never index the parent with them unchecked.
    for (i, &(start, stride, size)) in triplets.iter().enumerate() {
        if let Err(e) = split_strided(parent, start, stride, size) {
            return Err(Error::InvalidValue(format!(
                "team_split_strided: PE {} passed a triplet that does not fit this team (did it make this call?): {e}",
                parent.0[i]
            )));
        }
    }
    // A one-PE team is the same team whatever its stride.
    let norm = |i: usize| {
        let (start, stride, size) = triplets[i];
        if size == 1 {
            (start, 1, 1)
        } else {
            (start, stride, size)
        }
    };
    let world = |i: usize| parent.0[i];
    let describe = |i: usize| {
        let (a, b, c) = triplets[i];
        format!("PE {} passed (start={a}, stride={b}, size={c})", world(i))
    };
    // owner[k] = the first PE whose triplet names parent PE k.
    let mut owner: Vec<Option<usize>> = vec![None; n];
    for p in 0..n {
        let (start, stride, size) = norm(p);
        let first = start as usize;
        if owner[first].is_some_and(|q| norm(q) == norm(p)) {
            continue; // the same team, already marked
        }
        for k in 0..size {
            let i = (start + k * stride) as usize;
            match owner[i] {
                None => owner[i] = Some(p),
                Some(q) if norm(q) == norm(p) => {}
                Some(q) => {
                    return Err(Error::InvalidValue(format!(
                        "team_split_strided: {} and {}: these teams overlap (both hold parent PE {i}, world PE {}) \
                         but differ; PEs that name the same team must pass the same triplet",
                        describe(q),
                        describe(p),
                        world(i)
                    )))
                }
            }
        }
    }
    for (i, o) in owner.iter().enumerate() {
        if let Some(p) = *o {
            if norm(i) != norm(p) {
                return Err(Error::InvalidValue(format!(
                    "team_split_strided: {} names a team holding world PE {}, but {}; every member of a team must \
                     pass that team's triplet",
                    describe(p),
                    world(i),
                    describe(i)
                )));
            }
        }
    }
    let i = parent.index_of(me).expect("the caller is in the parent") as usize;
    let (start, stride, size) = norm(i);
    let mine = Members((0..size).map(|k| parent.0[(start + k * stride) as usize]).collect());
    Ok(mine.index_of(me).is_some().then_some(mine))
}

/// The two teams of `team_split_2d(parent, x_range)` that contain parent PE `me`: the x-team (the row of
/// `x_range` consecutive parent PEs holding `me`; the last row may be shorter) and the y-team (the column of
/// parent PEs with the same index modulo `x_range`).
///
/// # Errors
/// `InvalidParam` when `x_range < 1` or `me` is not in the parent.
pub fn split_2d(parent: &Members, x_range: i64, me: u32) -> Result<(Members, Members)> {
    let n = parent.len();
    if x_range < 1 {
        return Err(Error::invalid(format!("team_split_2d: x_range {x_range} must be at least 1")));
    }
    let x = x_range.min(n as i64) as u32;
    let i = parent.index_of(me).ok_or_else(|| Error::invalid(format!("PE {me} is not in the parent team")))?;
    let row = i / x;
    let xs = (row * x..((row + 1) * x).min(n)).map(|k| parent.0[k as usize]).collect();
    let ys = (0..n).filter(|k| k % x == i % x).map(|k| parent.0[k as usize]).collect();
    Ok((Members(xs), Members(ys)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A triplet read from a PE out of step (left by a split over a larger team) is an error naming that PE,
    /// not an index out of bounds.
    #[test]
    fn a_triplet_outside_the_parent_is_an_error_not_a_panic() {
        let parent = Members(vec![0, 2, 4, 6]);
        let triplets = [(0, 2, 2), (6, 1, 2), (0, 2, 2), (1, 2, 1)];
        let e = agree_strided(&parent, &triplets, 0).unwrap_err();
        assert!(matches!(e, Error::InvalidValue(_)) && e.to_string().contains("PE 2 passed a triplet"), "{e}");
        let triplets = [(0, 1, 1), (1, 1, 1), (2, 1, 1), (3, -1, 1)];
        assert!(agree_strided(&parent, &triplets, 0).unwrap_err().to_string().contains("PE 6"));
    }

    #[test]
    fn strided() {
        let w = Members::world(8);
        assert_eq!(split_strided(&w, 1, 2, 4).unwrap().as_slice(), &[1, 3, 5, 7]);
        assert_eq!(split_strided(&w, 5, 100, 1).unwrap().as_slice(), &[5]);
        let odd = split_strided(&w, 1, 2, 4).unwrap();
        assert_eq!(split_strided(&odd, 1, 2, 2).unwrap().as_slice(), &[3, 7], "nested");
        for (s, t, z) in
            [(-1, 1, 1), (8, 1, 1), (0, 0, 2), (0, -1, 2), (0, 1, 0), (0, 1, 9), (1, 2, 5), (0, i64::MAX, 3)]
        {
            assert_eq!(split_strided(&w, s, t, z).unwrap_err().code(), -1, "{s} {t} {z}");
        }
    }

    #[test]
    fn color_split() {
        let w = Members::world(4);
        let solo: Vec<Triplet> = (0..4).map(|p| (p, 1, 1)).collect();
        for me in 0..4 {
            assert_eq!(agree_strided(&w, &solo, me).unwrap().unwrap().as_slice(), &[me]);
        }
        let pairs: Vec<Triplet> = (0..4).map(|p| (p - p % 2, 1, 2)).collect();
        assert_eq!(agree_strided(&w, &pairs, 3).unwrap().unwrap().as_slice(), &[2, 3]);
        // All the same triplet: the classic split; PEs outside get None. Equivalent triplets of one PE agree.
        let odd = vec![(1, 2, 2); 4];
        assert_eq!(agree_strided(&w, &odd, 3).unwrap().unwrap().as_slice(), &[1, 3]);
        assert_eq!(agree_strided(&w, &odd, 2).unwrap(), None);
        let mixed = vec![(0, 1, 1), (1, 5, 1), (2, 1, 2), (2, 1, 2)];
        assert_eq!(agree_strided(&w, &mixed, 1).unwrap().unwrap().as_slice(), &[1]);
        // Overlapping but different.
        let over = vec![(0, 1, 2), (1, 1, 1), (2, 1, 1), (3, 1, 1)];
        let e = agree_strided(&w, &over, 2).unwrap_err();
        assert!(e.code() == -2 && e.to_string().contains("overlap"), "{e}");
        // PE 1 is named by {0, 1} but names {3}, disjoint from it.
        let other = vec![(0, 1, 2), (3, 1, 1), (2, 1, 1), (3, 1, 1)];
        assert_eq!(agree_strided(&w, &other, 0).unwrap_err().code(), -2);
        // A nested parent: world numbers in messages.
        let p = Members::new(vec![4, 6]);
        let e = agree_strided(&p, &[(0, 1, 2), (1, 1, 1)], 6).unwrap_err();
        assert!(e.to_string().contains("world PE 6"), "{e}");
    }

    #[test]
    fn two_d_with_uneven_rows() {
        let w = Members::world(7);
        let (x, y) = split_2d(&w, 3, 4).unwrap();
        assert_eq!(x.as_slice(), &[3, 4, 5]);
        assert_eq!(y.as_slice(), &[1, 4]);
        let (x, y) = split_2d(&w, 3, 6).unwrap();
        assert_eq!(x.as_slice(), &[6], "short last row");
        assert_eq!(y.as_slice(), &[0, 3, 6]);
        let (x, y) = split_2d(&w, 10, 2).unwrap();
        assert_eq!((x.len(), y.len()), (7, 1));
        assert!(split_2d(&w, 0, 1).is_err());
        assert!(split_2d(&w, -3, 1).is_err());
    }

    #[test]
    fn translate() {
        let w = Members::world(8);
        let odd = split_strided(&w, 1, 2, 4).unwrap();
        let low = split_strided(&w, 0, 1, 4).unwrap();
        assert_eq!(odd.translate(1, &low), Some(3));
        assert_eq!(odd.translate(2, &low), None);
        assert_eq!(odd.translate(9, &w), None);
        assert_eq!(w.translate(5, &odd), Some(2));
    }

    proptest::proptest! {
        #[test]
        fn every_pe_is_in_exactly_one_row_and_one_column(n in 1u32..40, x in 1i64..50) {
            let w = Members::world(n);
            let mut rows = vec![0u32; n as usize];
            let mut cols = vec![0u32; n as usize];
            for me in 0..n {
                let (xs, ys) = split_2d(&w, x, me).unwrap();
                proptest::prop_assert!(xs.index_of(me).is_some() && ys.index_of(me).is_some());
                if xs.index_of(me) == Some(0) { for &p in xs.as_slice() { rows[p as usize] += 1; } }
                if ys.index_of(me) == Some(0) { for &p in ys.as_slice() { cols[p as usize] += 1; } }
            }
            proptest::prop_assert!(rows.iter().all(|&c| c == 1) && cols.iter().all(|&c| c == 1));
        }
    }
}
