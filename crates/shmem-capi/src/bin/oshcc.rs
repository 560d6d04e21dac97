//! `oshcc`: compiles and links an OpenSHMEM C program against this library (see `wrapper` for the flags,
//! the compiler it runs and `--showme`). Also the C++ wrapper when called through a name ending in `++`
//! (e.g. a link `oshc++ -> oshcc`).

mod wrapper;

fn main() {
    wrapper::main(false)
}
