//! Behaviours that existing OpenSHMEM test suites rely on (SOS unit tests and spec examples, run unchanged):
//! tests/c/suite_compat.c at 1, 2 and 4 PEs.

mod harness;
use harness::{compile, run_ok};

#[test]
fn repeated_any_polls_rotate_invalid_ctx_quiet_is_a_no_op_and_zero_length_collectives_take_null() {
    let exe = compile("suite_compat.c", &[]);
    for (n, out) in [1u32, 2, 4].into_iter().zip(run_ok(&exe, &[1, 2, 4])) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.matches("suite compat ok").count(), n as usize, "{n} PEs: {stdout}");
    }
}
