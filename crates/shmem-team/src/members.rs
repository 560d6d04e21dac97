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
