//! The config file pgfleet manages inside the data directory.

use std::fmt::Write as _;

use crate::{ClusterError, ClusterSpec};

/// Name of the config file pgfleet manages inside the data directory. It is included at the
/// end of postgresql.conf, so it overrides that file (ALTER SYSTEM still wins over both).
pub const MANAGED_CONF: &str = "pgfleet.conf";

/// Settings derived from [`ClusterSpec`] fields; passing them in `settings` would conflict.
const MANAGED_SETTINGS: [&str; 4] = [
    "port",
    "listen_addresses",
    "unix_socket_directories",
    "unix_socket_permissions",
];

/// The contents of [`MANAGED_CONF`] for `spec`.
pub(crate) fn render(spec: &ClusterSpec) -> Result<String, ClusterError> {
    let mut socket_dir = spec.socket_dir.to_str().map(str::to_owned).ok_or_else(|| {
        ClusterError::InvalidSetting {
            name: "unix_socket_directories".to_owned(),
            value: spec.socket_dir.display().to_string(),
            reason: "path is not valid UTF-8".to_owned(),
        }
    })?;
    if socket_dir.contains([',', ' ', '\t', '"']) {
        // The setting is a comma-separated list; double quotes protect one entry.
        socket_dir = format!("\"{}\"", socket_dir.replace('"', "\"\""));
    }
    let mut conf = String::from(
        "# Managed by pgfleet and rewritten on every init/start: edit postgresql.conf\n\
         # or use ALTER SYSTEM for your own settings.\n",
    );
    let mut push = |name: &str, value: &str| -> Result<(), ClusterError> {
        let _ = writeln!(conf, "{name} = {}", quote_value(name, value)?);
        Ok(())
    };
    push("port", &spec.port.to_string())?;
    push("listen_addresses", &spec.listen_addresses)?;
    push("unix_socket_directories", &socket_dir)?;
    push("unix_socket_permissions", "0700")?;
    for (name, value) in &spec.settings {
        validate_name(name, value)?;
        if MANAGED_SETTINGS
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name))
        {
            return Err(ClusterError::InvalidSetting {
                name: name.clone(),
                value: value.clone(),
                reason: "derived from ClusterSpec fields; set those instead".to_owned(),
            });
        }
        push(name, value)?;
    }
    Ok(conf)
}

fn validate_name(name: &str, value: &str) -> Result<(), ClusterError> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if valid {
        Ok(())
    } else {
        Err(ClusterError::InvalidSetting {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: "not a valid setting name".to_owned(),
        })
    }
}

/// Quotes a value for postgresql.conf (single quotes; `'` doubled, `\` escaped).
fn quote_value(name: &str, value: &str) -> Result<String, ClusterError> {
    if value.contains(['\n', '\r', '\0']) {
        return Err(ClusterError::InvalidSetting {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: "values cannot contain line breaks or NUL".to_owned(),
        });
    }
    Ok(format!(
        "'{}'",
        value.replace('\\', "\\\\").replace('\'', "''")
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_value("a", "it's").unwrap(), "'it''s'");
        assert_eq!(quote_value("a", r"c:\x").unwrap(), r"'c:\\x'");
        assert!(quote_value("a", "x\ny").is_err());
        assert!(validate_name("shared_buffers", "").is_ok());
        assert!(validate_name("auto_explain.log_min_duration", "").is_ok());
        assert!(validate_name("x = 1\nfsync", "").is_err());
        assert!(validate_name("", "").is_err());
    }

    #[test]
    fn renders_spec_and_rejects_managed_settings() {
        let mut spec = ClusterSpec {
            data_dir: "/d".into(),
            socket_dir: "/tmp/a b".into(),
            port: 5433,
            listen_addresses: String::new(),
            superuser: "postgres".to_owned(),
            host_auth: crate::HostAuth::Trust,
            settings: vec![("fsync".to_owned(), "off".to_owned())],
        };
        let conf = render(&spec).unwrap();
        assert!(conf.contains("port = '5433'\n"), "{conf}");
        assert!(conf.contains("listen_addresses = ''\n"), "{conf}");
        assert!(
            conf.contains("unix_socket_directories = '\"/tmp/a b\"'\n"),
            "{conf}"
        );
        assert!(conf.contains("fsync = 'off'\n"), "{conf}");
        spec.settings.push(("Port".to_owned(), "1".to_owned()));
        assert!(matches!(
            render(&spec),
            Err(ClusterError::InvalidSetting { .. })
        ));
    }
}
