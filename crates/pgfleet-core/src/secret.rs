//! A password that cannot be printed by accident.

use std::fmt;

/// A secret value (a password). `Debug` and `Display` print `***`; `Serialize` writes `"***"`.
/// The one way to read it is [`Secret::expose`], called where a connection is made or a secret
/// is deliberately exported.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// What every redacted secret is shown as.
pub const REDACTED: &str = "***";

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call only at the point of connecting or of an explicit export.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(***)");
        assert_eq!(
            serde_json::to_string(&secret).ok().as_deref(),
            Some("\"***\"")
        );
        assert_eq!(secret.expose(), "hunter2");
    }
}
