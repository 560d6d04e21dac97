//! Prefetches for writing: asking for a cache line in the exclusive state before a store that must not wait for
//! it. The collectives' lines go back and forth between the cores of a node's PEs; a store that publishes with a
//! full barrier (a `SeqCst` store or a read-modify-write, as every publication and barrier signal is) waits until
//! this core owns every line it has written, which takes a cross-core round trip when a peer read the line last.
//! Asking for the line early, at a point where no peer reads it any more, takes that round trip off the path.
//! Hints only: they read and write nothing.

/// A prefetch of `p`'s cache line for writing (x86 `prefetchw`, AArch64 `prfm pstl1keep`; nothing elsewhere).
#[inline]
pub(crate) fn for_write(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        // CPUID 0x8000_0001 ECX bit 8 (PRFCHW). Older Intel processors execute the instruction as a no-op
        // without reporting it, but the check costs one load per call and rules out any that would fault.
        // SAFETY: CPUID leaf 0x8000_0001 exists on every x86_64 processor (the intrinsic is a safe function in
        // recent Rust, an unsafe one before 1.87: hence the allowance).
        #[allow(unused_unsafe)]
        let has = *HAS.get_or_init(|| unsafe { std::arch::x86_64::__cpuid(0x8000_0001) }.ecx & (1 << 8) != 0);
        if has {
            // SAFETY: a prefetch never faults (even on an unmapped address) and changes no memory or flags.
            unsafe { std::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly)) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a prefetch never faults and changes no memory or flags.
    unsafe {
        std::arch::asm!("prfm pstl1keep, [{0}]", in(reg) p, options(nostack, preserves_flags, readonly))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}
