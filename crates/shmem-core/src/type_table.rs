//! The one list of (API name, Rust type) rows per type family. Every site that spells a per-type matrix — the
//! facade's generic impls, the waits' value trait, the Python binding's `aclshmem_<TYPE>_*` functions, the
//! typed-stub generator (`crates/bindings-python/tools/gen_stub.py` parses this file) and the name tests —
//! expands one of these macros, so adding a type is one row here.
//!
//! Each macro takes the name of a callback macro and calls it once with all rows, in the row format documented
//! on the macro. Callbacks ignore the columns they do not need and dispatch on the class column (a plain
//! identifier) where a family has subsets. Keep one row per line: the stub generator reads the rows with a
//! line-oriented pattern.
//!
//! The C entry points of `shmem-capi` are not generated from here: their type tables are the OpenSHMEM
//! specification's own (generated separately, with C type names this list does not carry).

/// The AMO types. Rows: `name: rust_type => unsigned_twin, AtomicWidth variant, class;` where class is `int`
/// (every operation: fetch/set/swap, compare-swap, inc, add, and/or/xor) or `float` (fetch, set and swap only,
/// the extended AMO types).
#[macro_export]
macro_rules! for_each_amo_type {
    ($cb:ident) => {
        $cb! {
            int32: i32 => u32, W32, int;
            uint32: u32 => u32, W32, int;
            int64: i64 => u64, W64, int;
            uint64: u64 => u64, W64, int;
            float: f32 => u32, W32, float;
            double: f64 => u64, W64, float;
        }
    };
}

/// The point-to-point synchronization (wait/test) types. Rows: `name: rust_type => unsigned_twin;` (the twin
/// carries the value's bits for the width-typed atomic load).
#[macro_export]
macro_rules! for_each_wait_type {
    ($cb:ident) => {
        $cb! {
            int8: i8 => u8;
            uint8: u8 => u8;
            int16: i16 => u16;
            uint16: u16 => u16;
            int32: i32 => u32;
            uint32: u32 => u32;
            int64: i64 => u64;
            uint64: u64 => u64;
            float: f32 => u32;
            double: f64 => u64;
        }
    };
}

/// The typed single-element RMA types (`<TYPE>_p`/`_g`, `<TYPE>_iput`/`_iget`). Rows:
/// `name: rust_type, bytes, class;` where class is `num` (a Rust number type), `half16` (a 16-bit float of the
/// `half` crate, moved from/to a Python float with round-to-nearest-even) or `char` (one byte, taken as a
/// one-character string).
#[macro_export]
macro_rules! for_each_rma_type {
    ($cb:ident) => {
        $cb! {
            half: f16, 2, half16;
            float: f32, 4, num;
            double: f64, 8, num;
            int8: i8, 1, num;
            int16: i16, 2, num;
            int32: i32, 4, num;
            int64: i64, 8, num;
            uint8: u8, 1, num;
            uint16: u16, 2, num;
            uint32: u32, 4, num;
            uint64: u64, 8, num;
            char: u8, 1, char;
            bfloat16: bf16, 2, half16;
        }
    };
}

/// The sized (untyped) RMA widths in bits (`put<BITS>`, `get<BITS>`, `iput<BITS>`, `put<BITS>_signal`). Rows:
/// `bits;`.
#[macro_export]
macro_rules! for_each_rma_size {
    ($cb:ident) => {
        $cb! {
            8;
            16;
            32;
            64;
            128;
        }
    };
}

/// The collective (broadcast/collect/alltoall/reduction) types, by their OpenSHMEM `TYPENAME`. Rows:
/// `name: rust_type => DataType variant, class;` where class selects the reduction operators OpenSHMEM 1.5
/// defines on the type: `bitwise` (and, or, xor, max, min, sum, prod), `real` (max, min, sum, prod) or
/// `complex` (sum, prod). The Rust type is the facade's representation (`long double` is `f64`, see
/// `shmem::collectives::types`; `Complex32`/`Complex64` are resolved where the callback expands).
#[macro_export]
macro_rules! for_each_coll_type {
    ($cb:ident) => {
        $cb! {
            float: f32 => F32, real;
            double: f64 => F64, real;
            longdouble: f64 => F64, real;
            char: i8 => I8, real;
            schar: i8 => I8, real;
            short: i16 => I16, real;
            int: i32 => I32, real;
            long: i64 => I64, real;
            longlong: i64 => I64, real;
            uchar: u8 => U8, bitwise;
            ushort: u16 => U16, bitwise;
            uint: u32 => U32, bitwise;
            ulong: u64 => U64, bitwise;
            ulonglong: u64 => U64, bitwise;
            int8: i8 => I8, bitwise;
            int16: i16 => I16, bitwise;
            int32: i32 => I32, bitwise;
            int64: i64 => I64, bitwise;
            uint8: u8 => U8, bitwise;
            uint16: u16 => U16, bitwise;
            uint32: u32 => U32, bitwise;
            uint64: u64 => U64, bitwise;
            size: usize => U64, bitwise;
            ptrdiff: isize => I64, real;
            complexf: Complex32 => C32, complex;
            complexd: Complex64 => C64, complex;
        }
    };
}
