//! Element types and reduction operators of the collectives.
//!
//! Every standard OpenSHMEM reduction type maps to one Rust representation ([`DataType`]): the C integer types
//! by their width and signedness on LP64 Linux (`char`/`signed char` = `i8`, `short` = `i16`, `int` = `i32`,
//! `long`/`long long`/`ptrdiff_t` = `i64`, `size_t` = `u64`, and the unsigned twins), `float` = `f32`,
//! `double` = `f64`, and the complex types as pairs ([`Complex32`], [`Complex64`]).
//!
//! **`long double` is reduced as `f64`** (decision): its x87 80-bit format has no portable Rust type, NumPy's
//! `longdouble` differs between platforms, and no engine moves it natively; the `longdouble` names take and
//! give `f64` values (the Python binding accepts float64 arrays for them). Results are exact where `f64` is.
//!
//! The descriptor that team members agree on before moving data carries the [`DataType`] code, so a PE that
//! reduces `i32` while another reduces `f32` (same size) is caught.

use bytemuck::{Pod, Zeroable};
use shmem_core::{Error, Result};

/// The representation of a collective's elements, as agreed between PEs (its code goes into the descriptor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DataType {
    /// Untyped bytes (the `*mem` forms: `broadcastmem`, `collectmem`, ...).
    Bytes = 1,
    /// 8-bit signed (C `char`, `signed char`, `int8_t`).
    I8 = 2,
    /// 16-bit signed (`short`, `int16_t`).
    I16 = 3,
    /// 32-bit signed (`int`, `int32_t`).
    I32 = 4,
    /// 64-bit signed (`long`, `long long`, `ptrdiff_t`, `int64_t`).
    I64 = 5,
    /// 8-bit unsigned (`unsigned char`, `uint8_t`).
    U8 = 6,
    /// 16-bit unsigned (`unsigned short`, `uint16_t`).
    U16 = 7,
    /// 32-bit unsigned (`unsigned int`, `uint32_t`).
    U32 = 8,
    /// 64-bit unsigned (`unsigned long`, `unsigned long long`, `size_t`, `uint64_t`).
    U64 = 9,
    /// `float`.
    F32 = 10,
    /// `double` (and `long double`, see the module documentation).
    F64 = 11,
    /// `float _Complex`.
    C32 = 12,
    /// `double _Complex`.
    C64 = 13,
}

impl DataType {
    /// Bytes of one element.
    pub fn size(self) -> usize {
        match self {
            DataType::Bytes | DataType::I8 | DataType::U8 => 1,
            DataType::I16 | DataType::U16 => 2,
            DataType::I32 | DataType::U32 | DataType::F32 => 4,
            DataType::I64 | DataType::U64 | DataType::F64 | DataType::C32 => 8,
            DataType::C64 => 16,
        }
    }

    /// Decodes the numeric code (the binding passes it).
    pub fn from_code(code: u8) -> Result<DataType> {
        use DataType::*;
        [Bytes, I8, I16, I32, I64, U8, U16, U32, U64, F32, F64, C32, C64]
            .into_iter()
            .find(|t| *t as u8 == code)
            .ok_or_else(|| Error::invalid(format!("collective data type code {code} is not one of 1..=13")))
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Bytes => "bytes",
            DataType::I8 => "int8",
            DataType::I16 => "int16",
            DataType::I32 => "int32",
            DataType::I64 => "int64",
            DataType::U8 => "uint8",
            DataType::U16 => "uint16",
            DataType::U32 => "uint32",
            DataType::U64 => "uint64",
            DataType::F32 => "float",
            DataType::F64 => "double",
            DataType::C32 => "complexf",
            DataType::C64 => "complexd",
        }
    }

    /// Whether `op` is defined on this type (OpenSHMEM: bitwise ops on integers, max/min on real types,
    /// sum/prod on every arithmetic type including complex).
    pub fn supports(self, op: ReduceOp) -> bool {
        let int = matches!(
            self,
            DataType::I8
                | DataType::I16
                | DataType::I32
                | DataType::I64
                | DataType::U8
                | DataType::U16
                | DataType::U32
                | DataType::U64
        );
        let real = int || matches!(self, DataType::F32 | DataType::F64);
        let arith = real || matches!(self, DataType::C32 | DataType::C64);
        match op {
            ReduceOp::And | ReduceOp::Or | ReduceOp::Xor => int,
            ReduceOp::Max | ReduceOp::Min => real,
            ReduceOp::Sum | ReduceOp::Prod => arith,
        }
    }
}

/// A reduction operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReduceOp {
    /// Bitwise and.
    And = 0,
    /// Bitwise or.
    Or = 1,
    /// Bitwise exclusive or.
    Xor = 2,
    /// Maximum.
    Max = 3,
    /// Minimum.
    Min = 4,
    /// Sum (integers wrap around).
    Sum = 5,
    /// Product (integers wrap around).
    Prod = 6,
}

impl ReduceOp {
    /// Decodes the numeric code (the binding passes it).
    pub fn from_code(code: u8) -> Result<ReduceOp> {
        use ReduceOp::*;
        [And, Or, Xor, Max, Min, Sum, Prod]
            .into_iter()
            .find(|o| *o as u8 == code)
            .ok_or_else(|| Error::invalid(format!("reduction operator code {code} is not one of 0..=6")))
    }

    /// The OpenSHMEM name (`sum` of `shmem_int_sum_reduce`).
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::And => "and",
            ReduceOp::Or => "or",
            ReduceOp::Xor => "xor",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::Sum => "sum",
            ReduceOp::Prod => "prod",
        }
    }
}

/// A `float _Complex` (real part first, as C lays it out).
#[derive(Debug, Clone, Copy, PartialEq, Default, Pod, Zeroable)]
#[repr(C)]
pub struct Complex32 {
    /// Real part.
    pub re: f32,
    /// Imaginary part.
    pub im: f32,
}

/// A `double _Complex` (real part first, as C lays it out).
#[derive(Debug, Clone, Copy, PartialEq, Default, Pod, Zeroable)]
#[repr(C)]
pub struct Complex64 {
    /// Real part.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
}

/// An element type the collectives move: its [`DataType`] is what the members agree on.
pub trait Element: Pod {
    /// The agreed representation.
    const DTYPE: DataType;
}

/// An element type the reductions combine. `combine(op, acc, x)` folds `x` into `acc` element-wise; callers
/// have checked `DTYPE.supports(op)`, and an unsupported operator leaves `acc` unchanged.
pub trait Reducible: Element {
    /// `acc[i] = acc[i] op x[i]`.
    fn combine(op: ReduceOp, acc: &mut [Self], x: &[Self]);
}

/// `acc[i] = f(acc[i], x[i])`, monomorphized per operator so that the loop vectorizes (a function pointer per
/// element ran 5-10x slower).
#[inline(always)]
fn zip_apply<T: Copy>(acc: &mut [T], x: &[T], f: impl Fn(T, T) -> T) {
    for (a, b) in acc.iter_mut().zip(x) {
        *a = f(*a, *b);
    }
}

impl Element for u8 {
    const DTYPE: DataType = DataType::U8;
}

macro_rules! int_elements {
    ($($t:ty => $d:ident),*) => {$(
        impl Element for $t {
            const DTYPE: DataType = DataType::$d;
        }
        impl Reducible for $t {
            fn combine(op: ReduceOp, acc: &mut [Self], x: &[Self]) {
                match op {
                    ReduceOp::And => zip_apply(acc, x, |a, b| a & b),
                    ReduceOp::Or => zip_apply(acc, x, |a, b| a | b),
                    ReduceOp::Xor => zip_apply(acc, x, |a, b| a ^ b),
                    ReduceOp::Max => zip_apply(acc, x, |a, b| a.max(b)),
                    ReduceOp::Min => zip_apply(acc, x, |a, b| a.min(b)),
                    ReduceOp::Sum => zip_apply(acc, x, |a, b| a.wrapping_add(b)),
                    ReduceOp::Prod => zip_apply(acc, x, |a, b| a.wrapping_mul(b)),
                }
            }
        }
    )*};
}

// isize/usize are ptrdiff_t/size_t: the 64-bit codes, so they meet i64/u64 on other PEs.
int_elements!(i8 => I8, i16 => I16, i32 => I32, i64 => I64, u16 => U16, u32 => U32, u64 => U64, isize => I64, usize => U64);

impl Reducible for u8 {
    fn combine(op: ReduceOp, acc: &mut [Self], x: &[Self]) {
        match op {
            ReduceOp::And => zip_apply(acc, x, |a, b| a & b),
            ReduceOp::Or => zip_apply(acc, x, |a, b| a | b),
            ReduceOp::Xor => zip_apply(acc, x, |a, b| a ^ b),
            ReduceOp::Max => zip_apply(acc, x, |a, b| a.max(b)),
            ReduceOp::Min => zip_apply(acc, x, |a, b| a.min(b)),
            ReduceOp::Sum => zip_apply(acc, x, |a, b| a.wrapping_add(b)),
            ReduceOp::Prod => zip_apply(acc, x, |a, b| a.wrapping_mul(b)),
        }
    }
}

macro_rules! float_elements {
    ($($t:ty => $d:ident),*) => {$(
        impl Element for $t {
            const DTYPE: DataType = DataType::$d;
        }
        impl Reducible for $t {
            fn combine(op: ReduceOp, acc: &mut [Self], x: &[Self]) {
                // max/min keep the first operand unless the second compares larger/smaller, so a NaN operand
                // does not silently win or lose depending on the PE order (every PE folds in team order).
                match op {
                    ReduceOp::Max => zip_apply(acc, x, |a, b| if b > a { b } else { a }),
                    ReduceOp::Min => zip_apply(acc, x, |a, b| if b < a { b } else { a }),
                    ReduceOp::Sum => zip_apply(acc, x, |a, b| a + b),
                    ReduceOp::Prod => zip_apply(acc, x, |a, b| a * b),
                    ReduceOp::And | ReduceOp::Or | ReduceOp::Xor => {}
                }
            }
        }
    )*};
}

float_elements!(f32 => F32, f64 => F64);

macro_rules! complex_elements {
    ($($t:ty => $d:ident),*) => {$(
        impl Element for $t {
            const DTYPE: DataType = DataType::$d;
        }
        impl Reducible for $t {
            fn combine(op: ReduceOp, acc: &mut [Self], x: &[Self]) {
                match op {
                    ReduceOp::Sum => zip_apply(acc, x, |a, b| <$t>::new(a.re + b.re, a.im + b.im)),
                    ReduceOp::Prod => {
                        zip_apply(acc, x, |a, b| <$t>::new(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re))
                    }
                    _ => {}
                }
            }
        }
    )*};
}

complex_elements!(Complex32 => C32, Complex64 => C64);

impl Complex32 {
    /// `re + im·i`.
    pub const fn new(re: f32, im: f32) -> Complex32 {
        Complex32 { re, im }
    }
}

impl Complex64 {
    /// `re + im·i`.
    pub const fn new(re: f64, im: f64) -> Complex64 {
        Complex64 { re, im }
    }
}

/// Folds `x` into `acc` (both `dt`-typed bytes of equal length) with `op`: the untyped entry of the raw API.
pub(crate) fn combine_bytes(dt: DataType, op: ReduceOp, acc: &mut [u8], x: &[u8]) {
    fn go<T: Reducible>(op: ReduceOp, acc: &mut [u8], x: &[u8]) {
        // The buffers are Vec<u64>-backed scratch (8-byte aligned) or checked by cast_slice, which panics only on
        // misalignment that the callers exclude.
        T::combine(op, bytemuck::cast_slice_mut(acc), bytemuck::cast_slice(x));
    }
    match dt {
        DataType::Bytes | DataType::U8 => go::<u8>(op, acc, x),
        DataType::I8 => go::<i8>(op, acc, x),
        DataType::I16 => go::<i16>(op, acc, x),
        DataType::I32 => go::<i32>(op, acc, x),
        DataType::I64 => go::<i64>(op, acc, x),
        DataType::U16 => go::<u16>(op, acc, x),
        DataType::U32 => go::<u32>(op, acc, x),
        DataType::U64 => go::<u64>(op, acc, x),
        DataType::F32 => go::<f32>(op, acc, x),
        DataType::F64 => go::<f64>(op, acc, x),
        DataType::C32 => go::<Complex32>(op, acc, x),
        DataType::C64 => go::<Complex64>(op, acc, x),
    }
}

/// Ties the collectives' type list (`shmem_core::for_each_coll_type!`, which the binding's typed collectives
/// expand) to the representations above: a row whose Rust type is not an [`Element`] of the row's
/// [`DataType`] fails to compile.
macro_rules! check_coll_rows {
    ($($name:ident: $t:ty => $dt:ident, $class:ident;)*) => {$(
        const _: () = assert!(
            <$t as Element>::DTYPE as u8 == DataType::$dt as u8,
            concat!("collective type row `", stringify!($name), "` disagrees with its Element impl")
        );
    )*};
}

shmem_core::for_each_coll_type!(check_coll_rows);
