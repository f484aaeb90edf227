//! The vocabulary shared by the desired state (from the manifest) and the live state (from
//! the catalogs): facts that are either present or not. A plan is their difference.

use pgfleet_core::ident::quote_ident;
use serde::Serialize;
use std::fmt;

/// A database object grants can be made on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Database,
    Schema,
    Table,
    Sequence,
    Function,
}

impl ObjectKind {
    /// The keyword in GRANT/REVOKE/ALTER … OWNER.
    pub fn keyword(&self) -> &'static str {
        match self {
            ObjectKind::Database => "DATABASE",
            ObjectKind::Schema => "SCHEMA",
            ObjectKind::Table => "TABLE",
            ObjectKind::Sequence => "SEQUENCE",
            // ROUTINE covers functions, procedures and aggregates alike.
            ObjectKind::Function => "ROUTINE",
        }
    }
}

/// An object by kind and name, unquoted (quoting happens when SQL is written).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Object {
    pub kind: ObjectKind,
    /// The schema of relations, sequences and functions.
    pub schema: Option<String>,
    pub name: String,
    /// A function's identity arguments, as the server prints them.
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
        let mut sql = match &self.schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&self.name)),
            None => quote_ident(&self.name),
        };
        if let Some(args) = &self.args {
            sql.push_str(&format!("({args})"));
        }
        sql
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ObjectKind::Function => "function",
            ref other => &other.keyword().to_lowercase(),
        };
        match (&self.schema, &self.args) {
            (Some(schema), Some(args)) => write!(f, "{kind} {schema}.{}({args})", self.name),
            (Some(schema), None) => write!(f, "{kind} {schema}.{}", self.name),
            _ => write!(f, "{kind} {}", self.name),
        }
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
