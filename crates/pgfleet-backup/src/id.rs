//! Backup ids in seed 004's shape: `full_YYYYMMDD_HHMMSS` for a backup of the whole fleet,
//! `<service>_YYYYMMDD_HHMMSS` for one service's. Ids sort by time within a name, and the
//! time in an id is UTC.

use crate::BackupError;
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use std::fmt;

/// The name of a backup of every service (and the servers' roles).
pub const FULL: &str = "full";
const TIME_FORMAT: &str = "%Y%m%d_%H%M%S";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackupId {
    /// `full` or a service's name.
    pub name: String,
    pub taken_at: Timestamp,
}

impl BackupId {
    pub fn new(name: &str, taken_at: Timestamp) -> Self {
        // An id names a second; its timestamp is that second, so parse(id) == id.
        let taken_at = Timestamp::from_second(taken_at.as_second()).unwrap_or(taken_at);
        BackupId {
            name: name.to_owned(),
            taken_at,
        }
    }

    pub fn parse(text: &str) -> Result<Self, BackupError> {
        let bad = || BackupError::BadId(text.to_owned());
        // The name may itself hold underscores; the time is the last two parts.
        let (rest, time) = text.rsplit_once('_').ok_or_else(bad)?;
        let (name, date) = rest.rsplit_once('_').ok_or_else(bad)?;
        if name.is_empty() {
            return Err(bad());
        }
        let civil = DateTime::strptime(TIME_FORMAT, format!("{date}_{time}")).map_err(|_| bad())?;
        let taken_at = civil
            .to_zoned(TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp();
        let id = BackupId::new(name, taken_at);
        // Only the canonical spelling: `full_2024115_…` must not name `full_20241105_…`.
        if id.to_string() != text {
            return Err(bad());
        }
        Ok(id)
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let civil = self.taken_at.to_zoned(TimeZone::UTC).datetime();
        write!(f, "{}_{}", self.name, civil.strftime(TIME_FORMAT))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_in_the_seeds_shape() {
        let at: Timestamp = "2024-01-15T14:30:22.75Z".parse().unwrap();
        let id = BackupId::new(FULL, at);
        assert_eq!(id.to_string(), "full_20240115_143022");
        assert_eq!(BackupId::parse("full_20240115_143022").unwrap(), id);
        let service = BackupId::parse("user_service_20240115_143022").unwrap();
        assert_eq!(service.name, "user_service");
        for bad in [
            "full",
            "full_20240115",
            "_20240115_143022",
            "full_2024011_143022",
            "full_20241315_143022",
        ] {
            assert!(BackupId::parse(bad).is_err(), "{bad}");
        }
    }
}
