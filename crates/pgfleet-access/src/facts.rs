//! The vocabulary shared by the desired state (from the manifest) and the live state (from
//! the catalogs): facts that are either present or not. A plan is their difference.

use pgfleet_core::ident::quote_ident;
use serde::Serialize;
use std::fmt;

/// A database object that has an owner (and, for some kinds, grants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Database,
    Schema,
    // Tables before sequences: a serial's sequence follows its table's owner, and may not be
    // handed over alone.
    Table,
    View,
    MaterializedView,
    ForeignTable,
    Sequence,
    Function,
    Procedure,
    Aggregate,
    Type,
    Domain,
    TextSearchConfiguration,
    TextSearchDictionary,
    Collation,
    Conversion,
    Operator,
    OperatorClass,
    OperatorFamily,
    Statistics,
}

impl ObjectKind {
    /// The kind of a row of `catalog` (`pg_class`, `pg_proc`, `pg_type`, …) whose kind column
    /// there (relkind, prokind, typtype) is `kind`. `None` for what pgfleet does not manage.
    pub fn of_catalog(catalog: &str, kind: Option<&str>) -> Option<ObjectKind> {
        use ObjectKind::*;
        Some(match (catalog, kind.unwrap_or("")) {
            ("pg_database", _) => Database,
            ("pg_namespace", _) => Schema,
            ("pg_class", "r" | "p") => Table,
            ("pg_class", "v") => View,
            ("pg_class", "m") => MaterializedView,
            ("pg_class", "f") => ForeignTable,
            ("pg_class", "S") => Sequence,
            // Window functions are functions to ALTER FUNCTION.
            ("pg_proc", "f" | "w") => Function,
            ("pg_proc", "p") => Procedure,
            ("pg_proc", "a") => Aggregate,
            ("pg_type", "d") => Domain,
            ("pg_type", _) => Type,
            ("pg_ts_config", _) => TextSearchConfiguration,
            ("pg_ts_dict", _) => TextSearchDictionary,
            ("pg_collation", _) => Collation,
            ("pg_conversion", _) => Conversion,
            ("pg_operator", _) => Operator,
            ("pg_opclass", _) => OperatorClass,
            ("pg_opfamily", _) => OperatorFamily,
            ("pg_statistic_ext", _) => Statistics,
            _ => return None,
        })
    }

    /// A table, view, materialized view or foreign table: what GRANT … ON TABLE covers.
    pub fn is_relation(self) -> bool {
        use ObjectKind::*;
        matches!(self, Table | View | MaterializedView | ForeignTable)
    }

    /// A function, procedure or aggregate: what GRANT … ON ROUTINE covers.
    pub fn is_routine(self) -> bool {
        use ObjectKind::*;
        matches!(self, Function | Procedure | Aggregate)
    }

    /// The keyword in GRANT/REVOKE.
    pub fn keyword(self) -> &'static str {
        match self {
            kind if kind.is_relation() => "TABLE",
            // ROUTINE covers functions, procedures and aggregates alike.
            kind if kind.is_routine() => "ROUTINE",
            kind => kind.alter_keyword(),
        }
    }

    /// The keyword in ALTER … OWNER TO.
    pub fn alter_keyword(self) -> &'static str {
        use ObjectKind::*;
        match self {
            Database => "DATABASE",
            Schema => "SCHEMA",
            Table => "TABLE",
            View => "VIEW",
            MaterializedView => "MATERIALIZED VIEW",
            ForeignTable => "FOREIGN TABLE",
            Sequence => "SEQUENCE",
            Function => "FUNCTION",
            Procedure => "PROCEDURE",
            Aggregate => "AGGREGATE",
            Type => "TYPE",
            Domain => "DOMAIN",
            TextSearchConfiguration => "TEXT SEARCH CONFIGURATION",
            TextSearchDictionary => "TEXT SEARCH DICTIONARY",
            Collation => "COLLATION",
            Conversion => "CONVERSION",
            Operator => "OPERATOR",
            OperatorClass => "OPERATOR CLASS",
            OperatorFamily => "OPERATOR FAMILY",
            Statistics => "STATISTICS",
        }
    }

    /// The word reports use, as the server's own messages do ("must be owner of type …").
    pub fn word(self) -> &'static str {
        use ObjectKind::*;
        match self {
            Database => "database",
            Schema => "schema",
            Table => "table",
            View => "view",
            MaterializedView => "materialized view",
            ForeignTable => "foreign table",
            Sequence => "sequence",
            Function => "function",
            Procedure => "procedure",
            Aggregate => "aggregate",
            Type => "type",
            Domain => "domain",
            TextSearchConfiguration => "text search configuration",
            TextSearchDictionary => "text search dictionary",
            Collation => "collation",
            Conversion => "conversion",
            Operator => "operator",
            OperatorClass => "operator class",
            OperatorFamily => "operator family",
            Statistics => "statistics object",
        }
    }
}

/// An object by kind and name, unquoted (quoting happens when SQL is written).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Object {
    pub kind: ObjectKind,
    /// The schema of everything but databases and schemas.
    pub schema: Option<String>,
    pub name: String,
    /// A routine's or an operator's identity arguments, as the server prints them; the index
    /// method of an operator class or family.
    pub args: Option<String>,
}

impl Object {
    pub fn database(name: &str) -> Self {
        Self {
            kind: ObjectKind::Database,
            schema: None,
            name: name.to_owned(),
            args: None,
        }
    }

    pub fn schema(name: &str) -> Self {
        Self {
            kind: ObjectKind::Schema,
            schema: None,
            name: name.to_owned(),
            args: None,
        }
    }

    /// The name as it goes into SQL.
    pub fn sql_name(&self) -> String {
        // An operator's name is its symbol, never quoted.
        let name = match self.kind {
            ObjectKind::Operator => self.name.clone(),
            _ => quote_ident(&self.name),
        };
        let name = match &self.schema {
            Some(schema) => format!("{}.{name}", quote_ident(schema)),
            None => name,
        };
        format!("{name}{}", self.suffix())
    }

    /// What follows the name: `(arguments)` or ` USING method`.
    fn suffix(&self) -> String {
        match (&self.args, self.kind) {
            (Some(method), ObjectKind::OperatorClass | ObjectKind::OperatorFamily) => {
                format!(" USING {method}")
            }
            // ALTER AGGREGATE spells "no arguments" `(*)`.
            (Some(args), ObjectKind::Aggregate) if args.is_empty() => "(*)".to_owned(),
            (Some(args), _) => format!("({args})"),
            (None, _) => String::new(),
        }
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.kind.word())?;
        if let Some(schema) = &self.schema {
            write!(f, "{schema}.")?;
        }
        write!(f, "{}{}", self.name, self.suffix())
    }
}

/// What default privileges apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultKind {
    Tables,
    Sequences,
    Functions,
}

impl DefaultKind {
    pub fn keyword(self) -> &'static str {
        match self {
            DefaultKind::Tables => "TABLES",
            DefaultKind::Sequences => "SEQUENCES",
            DefaultKind::Functions => "FUNCTIONS",
        }
    }
}

/// One fact about the access state. Role names are unquoted; `PUBLIC` is the pseudo-role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fact {
    /// A role and the attributes pgfleet manages.
    Role {
        role: String,
        login: bool,
        connection_limit: i32,
        inherit: bool,
        /// The elevated attributes it holds, as keywords (SUPERUSER, CREATEDB, CREATEROLE,
        /// REPLICATION, BYPASSRLS): none for service roles.
        elevated: Vec<String>,
    },
    /// The role's password is the one its variable gives (known only where the admin can read
    /// pg_authid's verifiers).
    Password {
        role: String,
    },
    /// `ALTER ROLE role [IN DATABASE database] SET name = value`.
    RoleSetting {
        role: String,
        database: Option<String>,
        name: String,
        value: String,
    },
    /// `member` is a member of `role`.
    Member {
        role: String,
        member: String,
    },
    Owner {
        object: Object,
        role: String,
    },
    Grant {
        object: Object,
        grantee: String,
        privilege: String,
    },
    /// ALTER DEFAULT PRIVILEGES FOR ROLE owner [IN SCHEMA schema] GRANT privilege ON kind TO
    /// grantee; `None` is the schema-less form, which applies in every schema.
    DefaultGrant {
        owner: String,
        schema: Option<String>,
        on: DefaultKind,
        grantee: String,
        privilege: String,
    },
    /// Row level security enabled and forced on a table.
    RowSecurity {
        table: String,
    },
    /// A permissive policy on `table`, with its definition: the roles it applies to, its
    /// command and its expressions in a canonical form (`policy::canonical`), so an altered
    /// policy is a different fact.
    Policy {
        table: String,
        name: String,
        roles: Vec<String>,
        command: String,
        using: Option<String>,
        check: Option<String>,
    },
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Role {
                role,
                login,
                connection_limit,
                inherit,
                elevated,
            } => {
                write!(
                    f,
                    "role {role} ({}, connection limit {connection_limit}",
                    if *login { "LOGIN" } else { "NOLOGIN" },
                )?;
                if !inherit {
                    write!(f, ", NOINHERIT")?;
                }
                for attribute in elevated {
                    write!(f, ", {attribute}")?;
                }
                write!(f, ")")
            }
            Fact::Password { role } => write!(f, "the password of {role} is its variable's"),
            Fact::RoleSetting {
                role,
                database,
                name,
                value,
            } => {
                write!(f, "role {role} sets {name} = {value}")?;
                match database {
                    Some(database) => write!(f, " in database {database}"),
                    None => Ok(()),
                }
            }
            Fact::Member { role, member } => write!(f, "{member} is a member of {role}"),
            Fact::Owner { object, role } => write!(f, "{object} is owned by {role}"),
            Fact::Grant {
                object,
                grantee,
                privilege,
            } => write!(f, "{grantee} has {privilege} on {object}"),
            Fact::DefaultGrant {
                owner,
                schema,
                on,
                grantee,
                privilege,
            } => write!(
                f,
                "{grantee} gets {privilege} on new {} of {owner} {}",
                on.keyword().to_lowercase(),
                match schema {
                    Some(schema) => format!("in schema {schema}"),
                    None => "in every schema".to_owned(),
                }
            ),
            Fact::RowSecurity { table } => {
                write!(f, "row level security is enabled and forced on {table}")
            }
            Fact::Policy {
                table,
                name,
                roles,
                command,
                using,
                check,
            } => {
                write!(
                    f,
                    "policy {name} on {table} lets {} {command}",
                    roles.join(", ")
                )?;
                if let Some(using) = using {
                    write!(f, " USING ({using})")?;
                }
                if let Some(check) = check {
                    write!(f, " WITH CHECK ({check})")?;
                }
                Ok(())
            }
        }
    }
}

/// The role settings pgfleet manages whose values are durations (PostgreSQL's base unit for
/// them is the millisecond).
pub const DURATION_SETTINGS: [&str; 3] = [
    "statement_timeout",
    "idle_in_transaction_session_timeout",
    "lock_timeout",
];

/// A duration as pgfleet writes it in a role setting: as PostgreSQL's `SHOW` prints it, in the
/// largest unit that holds it exactly (`30s`, `1min`, `1500ms`, `0`). A nonzero duration below
/// a millisecond is one millisecond, never zero (which means no limit).
pub fn duration_setting(duration: std::time::Duration) -> String {
    let ms = duration.as_nanos().div_ceil(1_000_000);
    show_ms(i64::try_from(ms).unwrap_or(i64::MAX))
}

fn show_ms(ms: i64) -> String {
    if ms == 0 {
        return "0".to_owned();
    }
    for (unit, factor) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1_000),
    ] {
        if ms % factor == 0 {
            return format!("{}{unit}", ms / factor);
        }
    }
    format!("{ms}ms")
}

/// A role setting's value in one spelling, so that values equal in meaning are one fact: a
/// duration setting as `SHOW` prints it (`30000`, `30000ms` and `0.5min` are `30s`), `search_path`
/// as its list of schemas (`a,public` and `"a", public` are `a, public`). A value this does not
/// understand stays as it is, and so differs from every value pgfleet writes.
pub fn canonical_setting(name: &str, value: &str) -> String {
    if DURATION_SETTINGS.contains(&name) {
        return duration_ms(value).map_or_else(|| value.to_owned(), show_ms);
    }
    if name == "search_path" {
        return split_identifiers(value).map_or_else(
            || value.to_owned(),
            |schemas| {
                schemas
                    .iter()
                    .map(|schema| setting_identifier(schema))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
    }
    value.to_owned()
}

/// A schema of a `search_path` as the value is written: bare when it needs no quotes (a
/// plain lowercase name that is no SQL keyword), else quoted.
pub fn setting_identifier(name: &str) -> String {
    let keyword = pg_query::scan_tokens(name).map_or(true, |tokens| {
        tokens
            .iter()
            .any(|t| t.keyword_kind != pg_query::protobuf::KeywordKind::NoKeyword as i32)
    });
    if pgfleet_core::ident::identifier_problem(name).is_none() && !keyword {
        name.to_owned()
    } else {
        quote_ident(name)
    }
}

/// A time setting's value in milliseconds, read as PostgreSQL reads it: a number (fractions
/// allowed) with an optional unit, milliseconds without one; rounded to the nearest.
fn duration_ms(value: &str) -> Option<i64> {
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+')))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let ms = (number * factor).round();
    (ms.is_finite() && ms.abs() < i64::MAX as f64).then_some(ms as i64)
}

/// A comma-separated list of identifiers as PostgreSQL splits it (`SplitIdentifierString`):
/// spaces around elements ignored, double-quoted ones kept as written (`""` is a quote),
/// others lower-cased. `None` for a list it would refuse.
fn split_identifiers(value: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut name = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next()? {
                    '"' if chars.next_if_eq(&'"').is_some() => name.push('"'),
                    '"' => break,
                    c => name.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',' && !c.is_whitespace()) {
                name.push(c);
            }
            if name.is_empty() {
                return None;
            }
            name = name.to_lowercase();
        }
        out.push(name);
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.next() {
            None => return Some(out),
            Some(',') => {}
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_equal_in_meaning_have_one_spelling() {
        for (live, canonical) in [
            ("30s", "30s"),
            ("30000", "30s"),
            ("30000ms", "30s"),
            (" 30 s", "30s"),
            ("0.5min", "30s"),
            ("60s", "1min"),
            ("1h", "1h"),
            ("90min", "90min"),
            ("1500", "1500ms"),
            ("1500us", "2ms"),
            ("0", "0"),
            ("0s", "0"),
            ("1d", "1d"),
        ] {
            assert_eq!(
                canonical_setting("statement_timeout", live),
                canonical,
                "{live}"
            );
        }
        assert_eq!(
            canonical_setting("lock_timeout", "5 fortnights"),
            "5 fortnights"
        );
        assert_eq!(canonical_setting("lock_timeout", "abc"), "abc");
        assert_eq!(duration_setting(Duration::from_secs(30)), "30s");
        assert_eq!(duration_setting(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration_setting(Duration::ZERO), "0");
        assert_eq!(duration_setting(Duration::from_micros(10)), "1ms");
        // Other settings are compared as written.
        assert_eq!(canonical_setting("work_mem", "4MB"), "4MB");
    }

    #[test]
    fn search_paths_compare_as_lists_of_schemas() {
        for live in [
            "edulink_profiles, public",
            "edulink_profiles,public",
            "\"edulink_profiles\", \"public\"",
            "  EDULINK_PROFILES ,  public ",
        ] {
            assert_eq!(
                canonical_setting("search_path", live),
                "edulink_profiles, public",
                "{live}"
            );
        }
        assert_eq!(
            canonical_setting("search_path", "\"$user\", public"),
            "\"$user\", public"
        );
        assert_eq!(
            canonical_setting("search_path", "\"Mixed\"\"Case\", public"),
            "\"Mixed\"\"Case\", public"
        );
        // One schema whose name holds a comma is not two schemas.
        assert_eq!(
            canonical_setting("search_path", "\"a, public\""),
            "\"a, public\""
        );
        assert_eq!(canonical_setting("search_path", "a,,b"), "a,,b");
        // A keyword is quoted, or `SET search_path = order` would not parse.
        assert_eq!(canonical_setting("search_path", "\"order\""), "\"order\"");
    }
}
