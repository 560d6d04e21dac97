//! `oshcxx`: the C++ wrapper (`oshc++` of other OpenSHMEM implementations): compiles and links an OpenSHMEM
//! C++ program against this library with the C++ compiler (`$OSHCXX_CXX`, else `$CXX`, else `c++`).
//!
//! Cargo cannot name a binary `oshc++` (a binary's name is a Rust crate name, and `+` is not allowed in one),
//! so the cargo build makes `oshcxx`; the Python package installs an `oshc++` command, and a link
//! `oshc++ -> oshcxx` (or `-> oshcc`) works too, because the wrapper looks at the name it was called by.

mod wrapper;

fn main() {
    wrapper::main(true)
}
