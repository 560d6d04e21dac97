//! The selection logic of the wait/test families (`_all`, `_any`, `_some`, with status masks), independent of
//! how elements are loaded: the facade passes a loader over the local heap.
//!
//! Semantics (OpenSHMEM 1.5, as `api.md` fixes them): element `i` takes part unless `status[i] != 0`.
//! `all` holds when every active element satisfies the comparison (vacuously when none is active); `any`
//! gives the lowest active index that satisfies it; `some` gives every active index that satisfies it.

/// Whether element `i` takes part.
#[inline]
pub fn active(status: Option<&[i32]>, i: usize) -> bool {
    status.is_none_or(|s| s[i] == 0)
}

/// Whether any element takes part at all.
pub fn any_active(n: usize, status: Option<&[i32]>) -> bool {
    (0..n).any(|i| active(status, i))
}

/// `all`: every active element satisfies `holds(i)`.
pub fn test_all(n: usize, status: Option<&[i32]>, holds: impl FnMut(usize) -> bool) -> bool {
    (0..n).filter(|&i| active(status, i)).all(holds)
}

/// `any`: the lowest active index whose element satisfies `holds(i)`.
pub fn test_any(n: usize, status: Option<&[i32]>, mut holds: impl FnMut(usize) -> bool) -> Option<usize> {
    (0..n).filter(|&i| active(status, i)).find(|&i| holds(i))
}

/// `some`: every active index whose element satisfies `holds(i)`, ascending.
pub fn test_some(n: usize, status: Option<&[i32]>, mut holds: impl FnMut(usize) -> bool) -> Vec<usize> {
    (0..n).filter(|&i| active(status, i)).filter(|&i| holds(i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_selection() {
        let v = [1, 5, 3, 5];
        let eq5 = |i: usize| v[i] == 5;
        assert!(!test_all(4, None, eq5));
        assert!(test_all(4, Some(&[1, 0, 1, 0]), eq5));
        assert!(test_all(4, Some(&[1, 1, 1, 1]), eq5), "vacuous");
        assert_eq!(test_any(4, None, eq5), Some(1));
        assert_eq!(test_any(4, Some(&[0, 1, 0, 0]), eq5), Some(3));
        assert_eq!(test_any(4, Some(&[0, 1, 0, 1]), eq5), None);
        assert_eq!(test_some(4, None, eq5), vec![1, 3]);
        assert_eq!(test_some(4, Some(&[0, 0, 0, 1]), eq5), vec![1]);
        assert!(!any_active(2, Some(&[3, -1])));
    }
}
