//! The `SHMEM_*` environment, read once.
//!
//! The runtime reads its environment variables at one moment, at init, into a [`Settings`] snapshot; every
//! layer (the facade, the synchronization layer, each engine through `EngineSetup::settings`) parses its
//! knobs from that snapshot rather than from the live environment, so that one init sees one consistent set
//! of values and a test can build a snapshot without touching the process environment. The typed
//! configuration over it lives in the facade (`shmem::config`).

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::time::Duration;

/// Prefix of every variable the runtime reads.
pub const PREFIX: &str = "SHMEM_";

/// A snapshot of the process's `SHMEM_*` environment variables.
///
/// Its `Debug` output redacts the values of secrets (`SHMEM_JOB_TOKEN` and any name with TOKEN, SECRET, KEY
/// or PASS in it): the runtime keeps the snapshot, and a debug print of it must not leak the job secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Settings {
    vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |k: &str| ["TOKEN", "SECRET", "KEY", "PASS"].iter().any(|s| k.contains(s));
        f.debug_map()
            .entries(self.vars.iter().map(|(k, v)| (k, if secret(k) { "<redacted>" } else { v.as_str() })))
            .finish()
    }
}

impl Settings {
    /// Reads every `SHMEM_*` variable of the process environment now (values that are not UTF-8 are kept
    /// lossily converted, so that parsing them gives a clear error rather than silently ignoring them).
    pub fn from_env() -> Settings {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| {
                let k = k.into_string().ok()?;
                k.starts_with(PREFIX).then(|| (k, v.to_string_lossy().into_owned()))
            })
            .collect();
        Settings { vars }
    }

    /// A snapshot made of `pairs` (tests, and programs that configure the runtime without the environment).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Settings {
        Settings { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// The value of `name`, when set (an empty value counts as set; each knob decides what empty means).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The value of `name` when set to something other than blanks.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// An owned lookup, the shape of the engine configs' `from_lookup`.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| self.get(name).map(str::to_owned)
    }

    /// `name` parsed as a `T` (surrounding blanks ignored), `None` when unset or blank.
    ///
    /// # Errors
    /// `InvalidParam` naming the variable, its value and `what` was expected, when the value does not parse.
    pub fn parse<T: std::str::FromStr>(&self, name: &str, what: &str) -> Result<Option<T>> {
        match self.non_empty(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<T>()
                .map(Some)
                .map_err(|_| Error::invalid(format!("{name}={v:?} is malformed: expected {what}"))),
        }
    }

    /// `name` as a whole number of seconds, `None` when unset or blank.
    ///
    /// # Errors
    /// `InvalidParam` naming the variable when it is not a whole number of seconds.
    pub fn whole_secs(&self, name: &str) -> Result<Option<Duration>> {
        Ok(self.parse::<u64>(name, "a whole number of seconds")?.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_the_variable_on_error() {
        let s = Settings::from_pairs([("SHMEM_A", " 7 "), ("SHMEM_B", "abc"), ("SHMEM_C", "")]);
        assert_eq!(s.parse::<u32>("SHMEM_A", "a count").unwrap(), Some(7));
        assert_eq!(s.parse::<u32>("SHMEM_C", "a count").unwrap(), None);
        assert_eq!(s.parse::<u32>("SHMEM_D", "a count").unwrap(), None);
        let e = s.whole_secs("SHMEM_B").unwrap_err();
        assert_eq!(e.code(), -1);
        assert!(e.to_string().contains("SHMEM_B=\"abc\""), "{e}");
        assert_eq!(s.lookup()("SHMEM_A").as_deref(), Some(" 7 "));
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let s = Settings::from_pairs([("SHMEM_JOB_TOKEN", "s3cr3t-value"), ("SHMEM_LOG_LEVEL", "INFO")]);
        let d = format!("{s:?}");
        assert!(!d.contains("s3cr3t-value") && d.contains("<redacted>") && d.contains("INFO"), "{d}");
    }
}
