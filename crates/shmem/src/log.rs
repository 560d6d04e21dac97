//! Logging: `tracing` to stderr, filtered by `SHMEM_LOG_LEVEL` (DEBUG, INFO, WARN, ERROR; default WARN; parsed
//! by `crate::config`).

use std::sync::Once;

/// Installs the stderr subscriber once, unless the program installed its own.
pub(crate) fn init_logging(pe: u32, level: tracing::Level) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_thread_names(false)
            .without_time()
            .with_ansi(false)
            .fmt_fields(tracing_subscriber::fmt::format::DefaultFields::new())
            .event_format(tracing_subscriber::fmt::format().with_target(false).without_time().compact())
            .try_init();
        tracing::debug!("shmem logging on for PE {pe} at {level}");
    });
}
