//! The checked-in headers and src/types.rs are what tools/gen_headers.py makes now (CI fails otherwise).

#[test]
fn headers_and_type_lists_match_a_fresh_generation() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new("python3")
        .arg(format!("{dir}/tools/gen_headers.py"))
        .arg("--check")
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
