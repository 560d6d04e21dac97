//! The deterministic symmetric-heap allocator.
//!
//! Every PE runs the same allocator over the same sequence of calls, so the same call returns the same offset
//! everywhere: that is what makes an allocation *symmetric*. It is best-fit over a free list ordered by offset
//! (ties go to the lowest offset), with 16-byte granularity, power-of-two alignment (blocks of 2 MiB or more on
//! 2 MiB boundaries where they fit, for huge pages), and merging of neighbouring free blocks on free. It is pure
//! logic: no memory is touched here.

use super::segment::HUGE_PAGE_BYTES;
use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap};

/// Size and alignment unit of every block.
pub const GRANULE: u64 = 16;

/// Free list and live blocks of one symmetric heap.
#[derive(Debug, Clone)]
pub struct Allocator {
    size: u64,
    /// Free blocks: offset -> length. Invariant: disjoint, non-adjacent (merged), lengths multiples of GRANULE.
    free: BTreeMap<u64, u64>,
    /// Live blocks: offset -> (length reserved, length requested).
    live: HashMap<u64, (u64, u64)>,
}

impl Allocator {
    /// An allocator over `size` bytes (rounded down to the granule).
    pub fn new(size: u64) -> Allocator {
        let size = size / GRANULE * GRANULE;
        let mut free = BTreeMap::new();
        if size > 0 {
            free.insert(0, size);
        }
        Allocator { size, free, live: HashMap::new() }
    }

    /// Bytes managed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Total free bytes.
    pub fn free_bytes(&self) -> u64 {
        self.free.values().sum()
    }

    /// Largest free block.
    pub fn largest_free(&self) -> u64 {
        self.free.values().copied().max().unwrap_or(0)
    }

    /// Number of free blocks (1 when everything has been freed).
    pub fn free_blocks(&self) -> usize {
        self.free.len()
    }

    /// Number of live allocations.
    pub fn live_blocks(&self) -> usize {
        self.live.len()
    }

    /// The requested size of the live block starting at `off`.
    pub fn block_len(&self, off: u64) -> Option<u64> {
        self.live.get(&off).map(|&(_, req)| req)
    }

    /// The live block containing `off`, as (start, requested length).
    pub fn block_containing(&self, off: u64) -> Option<(u64, u64)> {
        self.live.iter().find(|(&s, &(res, _))| off >= s && off < s + res.max(1)).map(|(&s, &(_, req))| (s, req))
    }

    /// Reserves `len` bytes (> 0) aligned to `align` (a power of two; smaller than the granule means the
    /// granule). Returns the block's offset.
    ///
    /// A block of [`HUGE_PAGE_BYTES`] or more starts on a multiple of it where one fits (else where `align`
    /// allows), so that the runtime can make all of it of huge pages (`Segment::collapse_huge_pages`). Every PE
    /// runs the same rule, so offsets stay symmetric. The cost: the space skipped before such a block (less than
    /// 2 MiB) stays free for smaller blocks only, so a heap filled to its last bytes can run out sooner than a
    /// packed one would.
    pub fn alloc(&mut self, len: u64, align: u64) -> Result<u64> {
        if len == 0 {
            return Err(Error::invalid("allocation of 0 bytes"));
        }
        if !align.is_power_of_two() {
            return Err(Error::invalid(format!("alignment {align} is not a power of two")));
        }
        let align = align.max(GRANULE);
        let oom = || Error::MallocFailed {
            requested: len,
            align,
            free: self.free_bytes(),
            largest_free: self.largest_free(),
            heap_size: self.size,
        };
        let reserved = len.checked_next_multiple_of(GRANULE).ok_or_else(oom)?;
        let huge_first = len >= HUGE_PAGE_BYTES && align < HUGE_PAGE_BYTES;
        let best = if huge_first {
            self.best_fit(reserved, HUGE_PAGE_BYTES).or_else(|| self.best_fit(reserved, align))
        } else {
            self.best_fit(reserved, align)
        };
        let (start, aligned) = best.ok_or_else(oom)?;
        let blen = self.free.remove(&start).expect("chosen block is free");
        if aligned > start {
            self.free.insert(start, aligned - start);
        }
        let end = aligned + reserved;
        if end < start + blen {
            self.free.insert(end, start + blen - end);
        }
        self.live.insert(aligned, (reserved, len));
        Ok(aligned)
    }

    /// The free block that holds `reserved` bytes at a multiple of `align` with the smallest leftover (ties go to
    /// the lowest offset, by the free list's order), as (block start, aligned start).
    fn best_fit(&self, reserved: u64, align: u64) -> Option<(u64, u64)> {
        let mut best: Option<(u64, u64, u64)> = None; // (block start, aligned start, leftover)
        for (&start, &blen) in &self.free {
            let Some(aligned) = start.checked_next_multiple_of(align) else { continue };
            let pad = aligned - start;
            let Some(need) = pad.checked_add(reserved) else { continue };
            if need <= blen {
                let leftover = blen - need;
                if best.is_none_or(|(_, _, l)| leftover < l) {
                    best = Some((start, aligned, leftover));
                    if leftover == 0 {
                        break;
                    }
                }
            }
        }
        best.map(|(start, aligned, _)| (start, aligned))
    }

    /// Releases the block starting at `off`; an offset that is not the start of a live block is an error.
    pub fn free(&mut self, off: u64) -> Result<()> {
        let Some((reserved, _)) = self.live.remove(&off) else {
            return Err(Error::invalid(format!(
                "free of heap offset {off:#x}, which is not the start of a live symmetric allocation"
            )));
        };
        let mut start = off;
        let mut len = reserved;
        if let Some((&ps, &pl)) = self.free.range(..off).next_back() {
            if ps + pl == off {
                self.free.remove(&ps);
                start = ps;
                len += pl;
            }
        }
        if let Some(nl) = self.free.remove(&(off + reserved)) {
            len += nl;
        }
        self.free.insert(start, len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basic_alloc_free_merge() {
        let mut a = Allocator::new(1024);
        let x = a.alloc(10, 1).unwrap();
        let y = a.alloc(100, 64).unwrap();
        assert_eq!(x, 0);
        assert_eq!(y % 64, 0);
        assert!(a.free(x + 1).is_err());
        a.free(x).unwrap();
        assert!(a.free(x).is_err(), "double free");
        a.free(y).unwrap();
        assert_eq!((a.free_blocks(), a.free_bytes()), (1, 1024));
        assert!(a.alloc(0, 16).is_err());
        assert!(a.alloc(16, 3).is_err());
        let e = a.alloc(2048, 16).unwrap_err();
        assert_eq!(e.code(), -8);
        assert!(a.alloc(u64::MAX, 16).is_err());
        assert_eq!(a.alloc(16, 1 << 63).unwrap(), 0, "offset 0 satisfies any alignment");
        assert!(a.alloc(16, 1 << 63).is_err());
    }

    #[test]
    fn best_fit_is_deterministic() {
        let mut a = Allocator::new(4096);
        let b: Vec<u64> = (0..8).map(|_| a.alloc(256, 16).unwrap()).collect();
        a.free(b[1]).unwrap(); // hole of 256
        a.free(b[4]).unwrap();
        a.free(b[5]).unwrap(); // hole of 512
        assert_eq!(a.alloc(200, 16).unwrap(), b[1], "smallest hole that fits");
        assert_eq!(a.alloc(300, 16).unwrap(), b[4]);
    }

    #[test]
    fn blocks_of_2mib_or_more_start_on_2mib_where_they_fit() {
        const M: u64 = 1 << 20;
        let mut a = Allocator::new(8 * M);
        assert_eq!(a.alloc(100, 16).unwrap(), 0);
        assert_eq!(a.alloc(2 * M, 16).unwrap(), 2 * M, "past the small block, on the next 2 MiB");
        assert_eq!(a.alloc(M, 16).unwrap(), 112, "a smaller block takes the best fit as before");
        assert_eq!(a.alloc(3 * M, 8).unwrap(), 4 * M);
        assert_eq!(a.alloc(2 * M, 16).unwrap_err().code(), -8, "no room anywhere: the same error as before");
        assert_eq!(a.alloc(M, 16).unwrap(), 7 * M, "the tail after the 3 MiB block");

        // Where no 2 MiB boundary leaves room, the block goes where its own alignment allows.
        let mut b = Allocator::new(3 * M);
        assert_eq!(b.alloc(100, 16).unwrap(), 0);
        assert_eq!(b.alloc(2 * M, 16).unwrap(), 112);
        assert_eq!(b.alloc(M - 96, 16).unwrap_err().code(), -8, "16 B more than is left");
        assert_eq!(b.alloc(M - 112, 16).unwrap(), 2 * M + 112, "what is left");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc(u64, u32),
        Free(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![(1u64..5000, 0u32..12).prop_map(|(l, a)| Op::Alloc(l, a)), any::<usize>().prop_map(Op::Free),]
    }

    proptest! {
        #[test]
        fn never_overlaps_stays_aligned_and_coalesces(ops in prop::collection::vec(op(), 1..200)) {
            let mut a = Allocator::new(64 * 1024);
            let mut live: Vec<(u64, u64)> = Vec::new();
            for o in ops {
                match o {
                    Op::Alloc(len, alog) => {
                        let align = 1u64 << alog;
                        if let Ok(off) = a.alloc(len, align) {
                            prop_assert_eq!(off % align.max(GRANULE), 0);
                            prop_assert!(off + len <= a.size());
                            for &(o2, l2) in &live {
                                prop_assert!(off + len <= o2 || o2 + l2 <= off, "overlap");
                            }
                            live.push((off, len));
                        }
                    }
                    Op::Free(i) if !live.is_empty() => {
                        let (off, _) = live.swap_remove(i % live.len());
                        a.free(off).unwrap();
                    }
                    Op::Free(_) => {}
                }
                let used: u64 = live.iter().map(|&(_, l)| l.next_multiple_of(GRANULE)).sum();
                prop_assert!(a.free_bytes() + used <= a.size());
            }
            for (off, _) in live.drain(..) {
                a.free(off).unwrap();
            }
            prop_assert_eq!(a.free_blocks(), 1);
            prop_assert_eq!(a.free_bytes(), a.size());
        }
    }
}
