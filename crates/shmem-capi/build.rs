//! Compiles csrc/longdouble_fold.c: the `long double` arithmetic of the long double reductions, which Rust
//! cannot express (x87 80-bit format), linked into the library and called from src/coll.rs.

fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble_fold.c");
    cc::Build::new().file("csrc/longdouble_fold.c").opt_level(2).warnings(true).compile("shmem_capi_longdouble");
}
