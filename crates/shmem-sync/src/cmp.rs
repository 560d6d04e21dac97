//! Comparison operators of the wait/test families and the value types they apply to.

use shmem_core::{Error, Result};

/// A comparison of the wait/test families (`api.md` numeric values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum CmpOp {
    /// Equal (0).
    Eq = 0,
    /// Not equal (1).
    Ne = 1,
    /// Greater than (2).
    Gt = 2,
    /// Greater or equal (3).
    Ge = 3,
    /// Less than (4).
    Lt = 4,
    /// Less or equal (5).
    Le = 5,
}

impl CmpOp {
    /// Decodes the API's numeric compare op.
    pub fn from_code(code: i32) -> Result<CmpOp> {
        Ok(match code {
            0 => CmpOp::Eq,
            1 => CmpOp::Ne,
            2 => CmpOp::Gt,
            3 => CmpOp::Ge,
            4 => CmpOp::Lt,
            5 => CmpOp::Le,
            _ => return Err(Error::invalid(format!("compare op {code} is not one of CMP_EQ..CMP_LE (0..=5)"))),
        })
    }

    /// Whether `lhs op rhs` holds (the word's value on the left, as in OpenSHMEM).
    pub fn holds<T: PartialOrd>(self, lhs: T, rhs: T) -> bool {
        match self {
            CmpOp::Eq => lhs == rhs,
            CmpOp::Ne => lhs != rhs,
            CmpOp::Gt => lhs > rhs,
            CmpOp::Ge => lhs >= rhs,
            CmpOp::Lt => lhs < rhs,
            CmpOp::Le => lhs <= rhs,
        }
    }
}

/// A comparison argument: a [`CmpOp`] (already checked: converting it cannot fail) or the API's numeric code
/// (`i32`, checked here). The public wait/test functions take `impl IntoCmpOp`, so that a caller that parsed
/// the code at its edge (the Python binding) passes the typed value down and nothing parses it again, while
/// callers with a raw code (C-style) keep passing the number.
pub trait IntoCmpOp: Copy {
    /// The comparison.
    ///
    /// # Errors
    /// `InvalidParam` for a numeric code outside CMP_EQ..CMP_LE.
    fn into_cmp_op(self) -> Result<CmpOp>;
}

impl IntoCmpOp for CmpOp {
    #[inline]
    fn into_cmp_op(self) -> Result<CmpOp> {
        Ok(self)
    }
}

impl IntoCmpOp for i32 {
    #[inline]
    fn into_cmp_op(self) -> Result<CmpOp> {
        CmpOp::from_code(self)
    }
}

/// A value a wait can watch: a plain number of 1, 2, 4 or 8 bytes, loaded atomically by width.
pub trait WaitValue: Copy + PartialOrd + std::fmt::Debug + Send + Sync + 'static {
    /// Bytes of the value (its alignment too).
    const WIDTH: usize;
    /// Reinterprets the low `WIDTH` bytes of `bits`.
    fn from_bits(bits: u64) -> Self;
    /// The value's bits, zero-extended.
    fn to_bits(self) -> u64;
}

macro_rules! wait_value {
    ($($name:ident: $t:ty => $u:ty;)*) => {$(
        impl WaitValue for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            #[inline]
            fn from_bits(bits: u64) -> Self {
                <$t>::from_ne_bytes((bits as $u).to_ne_bytes())
            }
            #[inline]
            fn to_bits(self) -> u64 {
                <$u>::from_ne_bytes(self.to_ne_bytes()) as u64
            }
        }
    )*};
}

shmem_core::for_each_wait_type!(wait_value);

#[cfg(test)]
mod tests {
    /// A typed op passes through unchanged; a numeric code is checked once, with INVALID_PARAM for a bad one.
    #[test]
    fn into_cmp_op_checks_codes_once() {
        assert_eq!(CmpOp::Ge.into_cmp_op().unwrap(), CmpOp::Ge);
        assert_eq!(4.into_cmp_op().unwrap(), CmpOp::Lt);
        for bad in [-1, 6, i32::MAX] {
            assert_eq!(bad.into_cmp_op().unwrap_err().code(), -1, "{bad}");
        }
    }

    use super::*;

    #[test]
    fn ops_and_bits() {
        assert!(CmpOp::from_code(6).is_err());
        assert!(CmpOp::from_code(-1).is_err());
        for (c, expect) in [(0, [false, true, false]), (2, [false, false, true]), (5, [true, true, false])] {
            let op = CmpOp::from_code(c).unwrap();
            assert_eq!([op.holds(1, 2), op.holds(2, 2), op.holds(3, 2)], expect, "{op:?}");
        }
        assert_eq!(i8::from_bits((-5i8).to_bits()), -5);
        assert_eq!(f64::from_bits(1.5f64.to_bits()), 1.5);
        assert_eq!(f32::from_bits((-2.25f32).to_bits()), -2.25);
        assert_eq!((-1i16).to_bits(), 0xffff);
    }
}
