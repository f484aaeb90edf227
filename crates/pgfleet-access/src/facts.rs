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
