//! The safety net for shared memory: after a job, every object whose name starts with the job's prefix is
//! removed, so that a PE killed with SIGKILL (which never reaches its own `shm_unlink`) leaves nothing
//! behind.

use std::io;
use std::path::Path;

/// Where POSIX shared-memory objects live on Linux.
pub const SHM_DIR: &str = "/dev/shm";

/// Removes every entry of `dir` whose name starts with `prefix` (segments, named `<prefix>-<pe>...`) or
/// with `sem.<prefix>` (named semaphores), and returns how many were removed.
///
/// Entries that vanish meanwhile (the runtime unlinking its own segments) are not errors; other removal
/// failures are logged and skipped so that one stubborn entry does not keep the rest.
///
/// # Errors
/// `InvalidInput` when `prefix` is empty or contains `/` (that would match far more than one job), and
/// whatever reading `dir` reports.
pub fn remove_shm_segments(dir: &Path, prefix: &str) -> io::Result<usize> {
    if prefix.is_empty() || prefix.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("shared-memory prefix {prefix:?} must be non-empty and contain no '/'"),
        ));
    }
    let sem_prefix = format!("sem.{prefix}");
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(prefix) || name.starts_with(&sem_prefix)) {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => {
                tracing::debug!(segment = name, "removed leftover shared-memory object");
                removed += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(segment = name, error = %e, "cannot remove leftover shared-memory object")
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_the_prefix() {
        let dir = std::env::temp_dir().join(format!("shmem-run-cleanup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["shmem-1-abc-0", "shmem-1-abc-1.sync", "sem.shmem-1-abc-x", "shmem-1-abd-0", "other"] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        assert_eq!(remove_shm_segments(&dir, "shmem-1-abc").unwrap(), 3);
        let mut left: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["other", "shmem-1-abd-0"]);
        assert!(remove_shm_segments(&dir, "").is_err());
        assert!(remove_shm_segments(&dir, "a/b").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
