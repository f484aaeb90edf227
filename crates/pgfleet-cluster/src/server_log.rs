//! Reading the server log after a failed start.

use std::fs;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

/// Lines of server log included in start-up errors.
const LOG_TAIL_LINES: usize = 20;

/// The last [`LOG_TAIL_LINES`] lines written to the log after `offset` (i.e. by this start
/// attempt); falls back to the whole file's tail if it was truncated or rotated meanwhile.
pub(crate) fn read_log_tail(path: &Path, offset: u64) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return format!("(cannot read {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = if offset <= len { offset } else { 0 };
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return format!("(cannot read {})", path.display());
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
    if tail.is_empty() {
        "(nothing was logged)".to_owned()
    } else {
        tail.join("\n")
    }
}

/// Finds a port clash in the server log and returns what clashed: the TCP address from
/// `could not bind IPv4 address "127.0.0.1": Address already in use`, or the unix socket
/// from `lock file "/dir/.s.PGSQL.5432.lock" already exists` (another server uses the same
/// socket directory and port).
pub(crate) fn address_in_use(log: &str) -> Option<String> {
    let quoted = |line: &str| line.split('"').nth(1).map(str::to_owned);
    for line in log.lines() {
        if line.contains("Address already in use") {
            return Some(quoted(line).unwrap_or_else(|| "the listen address".to_owned()));
        }
        if line.contains(".s.PGSQL.") && line.contains("already exists") {
            let lock = quoted(line).unwrap_or_default();
            let socket = lock.strip_suffix(".lock").unwrap_or(&lock);
            return Some(format!("unix socket {socket}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_address_in_use() {
        let log = "2024 LOG:  could not bind IPv4 address \"127.0.0.1\": Address already in use\n\
                   2024 HINT:  Is another postmaster already running on port 5432?";
        assert_eq!(address_in_use(log).as_deref(), Some("127.0.0.1"));
        let log = "FATAL:  lock file \"/tmp/s/.s.PGSQL.5432.lock\" already exists\n\
                   HINT:  Is another postmaster (PID 42) using socket file \"/tmp/s/.s.PGSQL.5432\"?";
        assert_eq!(
            address_in_use(log).as_deref(),
            Some("unix socket /tmp/s/.s.PGSQL.5432")
        );
        assert_eq!(address_in_use("FATAL: something else"), None);
    }
}
