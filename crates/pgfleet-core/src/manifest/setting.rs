//! A connection setting in the manifest: a literal, or a value read from an environment variable.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

/// `host = "db.internal"`, `port = 5432`, or `user = { env = "APP_DB_USER", default = "app" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    Literal(String),
    FromEnv {
        var: String,
        default: Option<String>,
    },
}

impl Setting {
    /// The variable this setting reads, if any.
    pub fn var(&self) -> Option<&str> {
        match self {
            Setting::Literal(_) => None,
            Setting::FromEnv { var, .. } => Some(var),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Setting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SettingVisitor)
    }
}

struct SettingVisitor;

impl<'de> Visitor<'de> for SettingVisitor {
    type Value = Setting;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(r#"a string, an integer, or a table like { env = "VAR", default = "value" }"#)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Setting, E> {
        Ok(Setting::Literal(v.to_owned()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Setting, E> {
        Ok(Setting::Literal(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Setting, E> {
        Ok(Setting::Literal(v.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Setting, A::Error> {
        let mut var: Option<String> = None;
        let mut default: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "env" => var = Some(map.next_value()?),
                "default" => default = Some(map.next_value::<LiteralValue>()?.0),
                other => return Err(de::Error::unknown_field(other, &["env", "default"])),
            }
        }
        let var = var.ok_or_else(|| de::Error::missing_field("env"))?;
        if !is_env_var_name(&var) {
            return Err(de::Error::custom(format!(
                "`{var}` is not an environment variable name (use letters, digits and underscores)"
            )));
        }
        Ok(Setting::FromEnv { var, default })
    }
}

/// A default may be written as a string or a number.
struct LiteralValue(String);

impl<'de> serde::Deserialize<'de> for LiteralValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match SettingVisitor.visit_any(deserializer)? {
            Setting::Literal(value) => Ok(LiteralValue(value)),
            Setting::FromEnv { .. } => Err(de::Error::custom("a default must be a plain value")),
        }
    }
}

impl SettingVisitor {
    fn visit_any<'de, D: Deserializer<'de>>(self, deserializer: D) -> Result<Setting, D::Error> {
        deserializer.deserialize_any(self)
    }
}

pub(crate) fn is_env_var_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
