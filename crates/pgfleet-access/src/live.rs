//! The live access state, read from the catalogs: pg_roles, pg_auth_members, and the ACLs of
//! pg_database, pg_namespace, pg_class and pg_proc expanded with `aclexplode` (a NULL ACL
//! through `acldefault`), pg_default_acl and pg_policies; owners of everything in a schema
//! from one listing (`owned_objects_sql`).

use super::facts::{DefaultKind, Fact, Object, ObjectKind};
use pgfleet_core::ident::quote_literal;
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

/// What one database looks like, for the roles and schemas pgfleet manages there.
#[derive(Debug, Default)]
pub struct Live {
    pub facts: BTreeSet<Fact>,
    /// Everything with an owner in the managed schemas (`owned_objects_sql`), with its schema.
    pub objects: Vec<(Object, String)>,
    /// Partitions → the name of their root table (an append-only root covers its partitions).
    pub partition_roots: BTreeMap<Object, String>,
    /// `schema.table` of RLS tables that exist → the type of their key column.
    pub rls_columns: BTreeMap<(String, String), String>,
}

/// Roles, memberships and role settings: cluster-wide facts.
pub async fn read_roles(
    client: &Client,
    roles: &[String],
) -> Result<BTreeSet<Fact>, tokio_postgres::Error> {
    let mut facts = BTreeSet::new();
    for row in client
        .query(
            "SELECT rolname::text, rolcanlogin, rolconnlimit, rolinherit,
                    array_remove(ARRAY[CASE WHEN rolsuper THEN 'SUPERUSER' END,
                                       CASE WHEN rolcreatedb THEN 'CREATEDB' END,
                                       CASE WHEN rolcreaterole THEN 'CREATEROLE' END,
                                       CASE WHEN rolreplication THEN 'REPLICATION' END,
                                       CASE WHEN rolbypassrls THEN 'BYPASSRLS' END], NULL)
               FROM pg_roles WHERE rolname = ANY($1)",
            &[&roles],
        )
        .await?
    {
        facts.insert(Fact::Role {
            role: row.get(0),
            login: row.get(1),
            connection_limit: row.get(2),
            inherit: row.get(3),
            elevated: row.get(4),
        });
    }
    for row in client
        .query(
            "SELECT r.rolname::text, m.rolname::text
               FROM pg_auth_members am
               JOIN pg_roles r ON r.oid = am.roleid
               JOIN pg_roles m ON m.oid = am.member
              WHERE r.rolname = ANY($1) OR m.rolname = ANY($1)",
            &[&roles],
        )
        .await?
    {
        facts.insert(Fact::Member {
            role: row.get(0),
            member: row.get(1),
        });
    }
    // ALTER ROLE … [IN DATABASE …] SET: each `name=value` entry of setconfig.
    for row in client
        .query(
            "SELECT r.rolname::text, d.datname::text, c.setting
               FROM pg_db_role_setting s
               JOIN pg_roles r ON r.oid = s.setrole
               LEFT JOIN pg_database d ON d.oid = s.setdatabase
               CROSS JOIN LATERAL unnest(s.setconfig) c(setting)
              WHERE r.rolname = ANY($1)",
            &[&roles],
        )
        .await?
    {
        let setting: String = row.get(2);
        let (name, value) = setting.split_once('=').unwrap_or((&setting, ""));
        // In pgfleet's spelling, so that `30s` set by hand is the `30000ms` the manifest asks.
        facts.insert(Fact::RoleSetting {
            role: row.get(0),
            database: row.get(1),
            name: name.to_owned(),
            value: crate::facts::canonical_setting(name, value),
        });
    }
    Ok(facts)
}

/// `Password` facts for the logins whose stored SCRAM verifier matches `passwords`. Reading
/// pg_authid needs a superuser; others get nothing (`--rotate-passwords` is their way).
pub async fn read_passwords(
    client: &Client,
    passwords: &BTreeMap<String, pgfleet_core::Secret>,
) -> Result<BTreeSet<Fact>, tokio_postgres::Error> {
    let roles: Vec<&String> = passwords.keys().collect();
    let mut facts = BTreeSet::new();
    for row in client
        .query(
            "SELECT rolname::text, rolpassword FROM pg_authid WHERE rolname = ANY($1)",
            &[&roles],
        )
        .await?
    {
        let role: String = row.get(0);
        let stored: Option<String> = row.get(1);
        if let (Some(stored), Some(password)) = (stored, passwords.get(&role))
            && pgfleet_pg::password::verifies(&stored, password)
        {
            facts.insert(Fact::Password { role });
        }
    }
    Ok(facts)
}

pub async fn is_superuser(client: &Client, role: &str) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_opt("SELECT rolsuper FROM pg_roles WHERE rolname = $1", &[&role])
        .await?
        .is_some_and(|r| r.get(0)))
}

/// What `read_database` reads: the managed schemas, the roles of the database's services and
/// the RLS tables (schema, table, key column).
#[derive(Debug, Default)]
pub struct DatabaseScope {
    pub schemas: Vec<String>,
    pub roles: Vec<String>,
    /// Roles that must own nothing (runtime and read-only roles): an object they own, anywhere
    /// in the database, lets them run DDL on it.
    pub owning_nothing: Vec<String>,
    pub rls_tables: Vec<(String, String, String)>,
    /// Migration logins: each run grants its own USAGE on `pgfleet` and EXECUTE on
    /// `pgfleet.record_step`, the one way it writes history (`migrate::login`).
    pub history_writers: Vec<String>,
}

/// The schema of pgfleet's history and audit tables: the services' roles have no rights there.
pub const PGFLEET_SCHEMA: &str = "pgfleet";

/// The database's own grants and everything in the scope's schemas.
pub async fn read_database(
    client: &Client,
    scope: &DatabaseScope,
) -> Result<Live, tokio_postgres::Error> {
    let schemas = &scope.schemas;
    let rls_tables = &scope.rls_tables;
    let mut live = Live::default();
    // Grants on the database, except the owner's own (implicit) ones.
    for row in client
        .query(
            "SELECT d.datname::text, coalesce(g.rolname::text, 'PUBLIC'), a.privilege_type
               FROM pg_database d
               CROSS JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
               LEFT JOIN pg_roles g ON g.oid = a.grantee
              WHERE d.datname = current_database() AND a.grantee <> d.datdba",
            &[],
        )
        .await?
    {
        live.facts.insert(Fact::Grant {
            object: Object::database(row.get(0)),
            grantee: row.get(1),
            privilege: row.get(2),
        });
    }
    // Schemas: owner and grants.
    for row in client
        .query(
            "SELECT n.nspname::text, pg_get_userbyid(n.nspowner)::text,
                    coalesce(g.rolname::text, 'PUBLIC'), a.privilege_type, a.grantee = n.nspowner
               FROM pg_namespace n
               CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
               LEFT JOIN pg_roles g ON g.oid = a.grantee
              WHERE n.nspname = ANY($1)",
            &[&schemas],
        )
        .await?
    {
        let object = Object::schema(row.get(0));
        live.facts.insert(Fact::Owner {
            object: object.clone(),
            role: row.get(1),
        });
        if !row.get::<_, bool>(4) {
            live.facts.insert(Fact::Grant {
                object,
                grantee: row.get(2),
                privilege: row.get(3),
            });
        }
    }
    // Everything in the managed schemas that has an owner: the owner role should own it.
    for row in client
        .query(
            &owned_objects_sql(
                "SELECT oid, nspname FROM pg_namespace WHERE nspname = ANY($1)",
                "",
            ),
            &[&schemas],
        )
        .await?
    {
        let Some(object) = object_at(&row) else {
            continue;
        };
        live.facts.insert(Fact::Owner {
            object: object.clone(),
            role: row.get(5),
        });
        let schema = object.schema.clone().unwrap_or_default();
        live.objects.push((object, schema));
    }
    // Grants on relations and sequences, and which root each partition has.
    for row in client
        .query(
            "SELECT 'pg_class', c.relkind::text, c.relname::text, n.nspname::text, NULL::text,
                    coalesce(g.rolname::text, 'PUBLIC'), a.privilege_type, a.grantee = c.relowner,
                    CASE WHEN c.relispartition THEN (SELECT relname::text FROM pg_class WHERE oid = pg_partition_root(c.oid)) END
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               CROSS JOIN LATERAL aclexplode(coalesce(c.relacl,
                    acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner))) a
               LEFT JOIN pg_roles g ON g.oid = a.grantee
              WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')",
            &[&schemas],
        )
        .await?
    {
        let Some(object) = object_at(&row) else {
            continue;
        };
        if let Some(root) = row.get::<_, Option<String>>(8) {
            live.partition_roots.insert(object.clone(), root);
        }
        add_grant(&mut live, object, &row);
    }
    // Grants on routines. PUBLIC's default EXECUTE is left alone: without USAGE on the schema
    // nobody else can reach them.
    for row in client
        .query(
            "SELECT 'pg_proc', p.prokind::text, p.proname::text, n.nspname::text,
                    pg_get_function_identity_arguments(p.oid),
                    coalesce(g.rolname::text, 'PUBLIC'), a.privilege_type, a.grantee = p.proowner OR a.grantee = 0
               FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace
               CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
               LEFT JOIN pg_roles g ON g.oid = a.grantee
              WHERE n.nspname = ANY($1)
                AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                 WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')",
            &[&schemas],
        )
        .await?
    {
        if let Some(object) = object_at(&row) {
            add_grant(&mut live, object, &row);
        }
    }
    // Default privileges in the managed schemas, and any that the services' roles set
    // anywhere, the schema-less form included (minus what that form holds by default).
    for row in client
        .query(
            "SELECT pg_get_userbyid(d.defaclrole)::text, n.nspname::text, d.defaclobjtype::text,
                    coalesce(g.rolname::text, 'PUBLIC'), a.privilege_type
               FROM pg_default_acl d
               LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
               CROSS JOIN LATERAL aclexplode(d.defaclacl) a
               LEFT JOIN pg_roles g ON g.oid = a.grantee
              WHERE (n.nspname = ANY($1) OR pg_get_userbyid(d.defaclrole) = ANY($2))
                AND NOT (d.defaclnamespace = 0 AND EXISTS (
                    SELECT 1 FROM aclexplode(acldefault(
                        CASE d.defaclobjtype WHEN 'S' THEN 's' ELSE d.defaclobjtype END::\"char\",
                        d.defaclrole)) x
                     WHERE x.grantee = a.grantee AND x.privilege_type = a.privilege_type))",
            &[schemas, &scope.roles],
        )
        .await?
    {
        let on = match row.get::<_, String>(2).as_str() {
            "r" => DefaultKind::Tables,
            "S" => DefaultKind::Sequences,
            "f" => DefaultKind::Functions,
            _ => continue,
        };
        live.facts.insert(Fact::DefaultGrant {
            owner: row.get(0),
            schema: row.get(1),
            on,
            grantee: row.get(3),
            privilege: row.get(4),
        });
    }
    read_pgfleet_grants(client, scope, &mut live).await?;
    read_owned_elsewhere(client, scope, &mut live).await?;
    // Row level security on the tables the manifest names, and who their policies apply to.
    for (schema, table, column) in rls_tables {
        let row = client
            .query_opt(
                "SELECT c.relrowsecurity AND c.relforcerowsecurity,
                        (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                          WHERE a.attrelid = c.oid AND a.attname = $3 AND NOT a.attisdropped)
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = $1 AND c.relname = $2",
                &[schema, table, column],
            )
            .await?;
        let Some(row) = row else { continue };
        let qualified = format!("{schema}.{table}");
        if row.get::<_, bool>(0) {
            live.facts.insert(Fact::RowSecurity {
                table: qualified.clone(),
            });
        }
        if let Some(column_type) = row.get::<_, Option<String>>(1) {
            live.rls_columns
                .insert((schema.clone(), table.clone()), column_type);
        }
        // Permissive policies only: a restrictive one can only narrow what the others allow.
        for policy in client
            .query(
                "SELECT policyname::text,
                        ARRAY(SELECT CASE WHEN r = 'public' THEN 'PUBLIC' ELSE r::text END
                                FROM unnest(roles) r ORDER BY 1),
                        cmd, qual, with_check
                   FROM pg_policies
                  WHERE schemaname = $1 AND tablename = $2 AND permissive = 'PERMISSIVE'",
                &[schema, table],
            )
            .await?
        {
            let canonical = |e: Option<String>| e.map(|e| super::desired::canonical_expression(&e));
            live.facts.insert(Fact::Policy {
                table: qualified.clone(),
                name: policy.get(0),
                roles: policy.get(1),
                command: policy.get(2),
                using: canonical(policy.get(3)),
                check: canonical(policy.get(4)),
            });
        }
    }
    Ok(live)
}

/// Grants to the services' roles (or PUBLIC) on the `pgfleet` schema and what is in it: none
/// are wanted, so each one is drift (a runtime role that could rewrite the audit log).
async fn read_pgfleet_grants(
    client: &Client,
    scope: &DatabaseScope,
    live: &mut Live,
) -> Result<(), tokio_postgres::Error> {
    if scope.schemas.iter().any(|s| s == PGFLEET_SCHEMA) {
        return Ok(());
    }
    let mut public = scope.roles.clone();
    public.push("PUBLIC".to_owned());
    for row in client
        .query(
            "SELECT 'pg_namespace', NULL::text, n.nspname::text, NULL::text, NULL::text,
                    coalesce(g.rolname::text, 'PUBLIC'), a.privilege_type
               FROM pg_namespace n
               CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
               LEFT JOIN pg_roles g ON g.oid = a.grantee
              WHERE n.nspname = $1 AND a.grantee <> n.nspowner
             UNION ALL
             SELECT 'pg_class', c.relkind::text, c.relname::text, n.nspname::text, NULL::text,
                    coalesce(g.rolname::text, 'PUBLIC'), a.privilege_type
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               CROSS JOIN LATERAL aclexplode(coalesce(c.relacl,
                    acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner))) a
               LEFT JOIN pg_roles g ON g.oid = a.grantee
              WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND a.grantee <> c.relowner
                AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
             UNION ALL
             SELECT 'pg_proc', p.prokind::text, p.proname::text, n.nspname::text, pg_get_function_identity_arguments(p.oid),
                    coalesce(g.rolname::text, 'PUBLIC'), a.privilege_type
               FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace
               CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
               LEFT JOIN pg_roles g ON g.oid = a.grantee
              WHERE n.nspname = $1 AND a.grantee <> p.proowner AND a.grantee <> 0
                AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                 WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')",
            &[&PGFLEET_SCHEMA],
        )
        .await?
    {
        let grantee: String = row.get(5);
        if !public.contains(&grantee) {
            continue;
        }
        let Some(object) = object_at(&row) else {
            continue;
        };
        let privilege: String = row.get(6);
        let writes_history = (object.kind == ObjectKind::Schema && privilege == "USAGE")
            || (object.kind == ObjectKind::Function
                && object.name == "record_step"
                && privilege == "EXECUTE");
        if writes_history && scope.history_writers.contains(&grantee) {
            continue;
        }
        live.facts.insert(Fact::Grant {
            object,
            grantee,
            privilege,
        });
    }
    Ok(())
}

/// Schemas, and whatever has an owner in the other schemas, that a role which must own
/// nothing owns outside the managed schemas (`CREATE SCHEMA rogue AUTHORIZATION app`): `Owner`
/// facts the manifest never wants.
async fn read_owned_elsewhere(
    client: &Client,
    scope: &DatabaseScope,
    live: &mut Live,
) -> Result<(), tokio_postgres::Error> {
    const ELSEWHERE: &str = "SELECT oid, nspname FROM pg_namespace
                              WHERE nspname <> ALL($1) AND nspname NOT LIKE 'pg\\_%'
                                AND nspname <> 'information_schema'";
    let schemas = format!(
        "SELECT 'pg_namespace', NULL::text, n.nspname::text, NULL::text, NULL::text,
                pg_get_userbyid(n.nspowner)::text
           FROM ({ELSEWHERE}) e JOIN pg_namespace n ON n.oid = e.oid
          WHERE pg_get_userbyid(n.nspowner) = ANY($2)"
    );
    let objects = owned_objects_sql(ELSEWHERE, "AND pg_get_userbyid(o.owner) = ANY($2)");
    for sql in [schemas, objects] {
        for row in client
            .query(&sql, &[&scope.schemas, &scope.owning_nothing])
            .await?
        {
            if let Some(object) = object_at(&row) {
                live.facts.insert(Fact::Owner {
                    object,
                    role: row.get(5),
                });
            }
        }
    }
    Ok(())
}

/// The query of every object that has an owner in the schemas `namespaces` selects (`oid,
/// nspname` rows), with `and` added to its condition: rows of catalog, kind, name, schema,
/// arguments and owner. Left out are members of extensions (the extension's to manage) and
/// the types the server makes with another object and hands over with it: a relation's row
/// type, array types, a range's multirange.
fn owned_objects_sql(namespaces: &str, and: &str) -> String {
    format!(
        "WITH n AS ({namespaces})
         SELECT o.classid::regclass::text, o.kind, o.name, n.nspname::text, o.args,
                pg_get_userbyid(o.owner)::text
           FROM (SELECT 'pg_class'::regclass AS classid, c.oid, c.relkind::text AS kind,
                        c.relname::text AS name, c.relnamespace AS namespace, NULL::text AS args,
                        c.relowner AS owner
                   FROM pg_class c WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                 UNION ALL
                 SELECT 'pg_proc', p.oid, p.prokind::text, p.proname::text, p.pronamespace,
                        pg_get_function_identity_arguments(p.oid), p.proowner
                   FROM pg_proc p
                 UNION ALL
                 SELECT 'pg_type', t.oid, t.typtype::text, t.typname::text, t.typnamespace, NULL,
                        t.typowner
                   FROM pg_type t
                  WHERE t.typtype IN ('b', 'c', 'd', 'e', 'r')
                    AND (t.typrelid = 0 OR EXISTS (SELECT FROM pg_class r
                                                    WHERE r.oid = t.typrelid AND r.relkind = 'c'))
                    AND NOT EXISTS (SELECT FROM pg_type e WHERE e.typarray = t.oid)
                 UNION ALL
                 SELECT 'pg_ts_config', oid, NULL, cfgname::text, cfgnamespace, NULL, cfgowner
                   FROM pg_ts_config
                 UNION ALL
                 SELECT 'pg_ts_dict', oid, NULL, dictname::text, dictnamespace, NULL, dictowner
                   FROM pg_ts_dict
                 UNION ALL
                 SELECT 'pg_collation', oid, NULL, collname::text, collnamespace, NULL, collowner
                   FROM pg_collation
                 UNION ALL
                 SELECT 'pg_conversion', oid, NULL, conname::text, connamespace, NULL, conowner
                   FROM pg_conversion
                 UNION ALL
                 SELECT 'pg_operator', oid, NULL, oprname::text, oprnamespace,
                        format('%s, %s',
                               CASE WHEN oprleft = 0 THEN 'NONE' ELSE format_type(oprleft, NULL) END,
                               format_type(oprright, NULL)),
                        oprowner
                   FROM pg_operator
                 UNION ALL
                 SELECT 'pg_opclass', c.oid, NULL, c.opcname::text, c.opcnamespace, am.amname::text,
                        c.opcowner
                   FROM pg_opclass c JOIN pg_am am ON am.oid = c.opcmethod
                 UNION ALL
                 SELECT 'pg_opfamily', f.oid, NULL, f.opfname::text, f.opfnamespace, am.amname::text,
                        f.opfowner
                   FROM pg_opfamily f JOIN pg_am am ON am.oid = f.opfmethod
                 UNION ALL
                 SELECT 'pg_statistic_ext', oid, NULL, stxname::text, stxnamespace, NULL, stxowner
                   FROM pg_statistic_ext) o
           JOIN n ON n.oid = o.namespace
          WHERE NOT EXISTS (SELECT FROM pg_depend d
                             WHERE d.classid = o.classid AND d.objid = o.oid AND d.deptype = 'e')
                {and}"
    )
}

/// The object of a row whose first columns are catalog (`pg_class`, `pg_proc`, …), kind there
/// (relkind, prokind, typtype), name, schema and arguments; `None` for a kind pgfleet does
/// not manage.
fn object_at(row: &tokio_postgres::Row) -> Option<Object> {
    let kind = ObjectKind::of_catalog(row.get::<_, &str>(0), row.get::<_, Option<&str>>(1))?;
    Some(Object {
        kind,
        name: row.get(2),
        schema: row.get(3),
        args: row.get(4),
    })
}

/// Columns 5 to 7 of a grant row: grantee, privilege, whether the grantee is the owner (whose
/// own rights are implicit).
fn add_grant(live: &mut Live, object: Object, row: &tokio_postgres::Row) {
    if !row.get::<_, bool>(7) {
        live.facts.insert(Fact::Grant {
            object,
            grantee: row.get(5),
            privilege: row.get(6),
        });
    }
}

/// The call of `pgfleet.new_objects` (the `pgfleet` schema's function) for `schema`, whose
/// rows `new_objects` reads: the objects a migration step has just created. `rls` is the
/// schema's (table, key column) pairs. Text, so that it travels in a step's pipeline.
pub fn new_objects_call(schema: &str, rls: &[(String, String)]) -> String {
    let array = |items: Vec<&str>| {
        let quoted: Vec<String> = items.into_iter().map(quote_literal).collect();
        format!("ARRAY[{}]::text[]", quoted.join(", "))
    };
    format!(
        "SELECT * FROM pgfleet.new_objects({}, {}, {})",
        quote_literal(schema),
        array(rls.iter().map(|(t, _)| t.as_str()).collect()),
        array(rls.iter().map(|(_, c)| c.as_str()).collect())
    )
}

/// The objects of `schema` that `new_objects_call` returned, as a `Live` whose facts are empty:
/// nothing is granted on them and none has row security, so the desired facts about them are
/// exactly what to do.
pub fn new_objects(schema: &str, rows: &[tokio_postgres::SimpleQueryMessage]) -> Live {
    let mut live = Live::default();
    for row in rows {
        let tokio_postgres::SimpleQueryMessage::Row(row) = row else {
            continue;
        };
        let text = |i: usize| row.get(i).map(str::to_owned);
        let kind = match row.get(1) {
            Some("S") => ObjectKind::Sequence,
            Some("F") => ObjectKind::Function,
            _ => ObjectKind::Table,
        };
        let object = Object {
            kind,
            schema: Some(schema.to_owned()),
            name: text(0).unwrap_or_default(),
            args: text(2),
        };
        if let Some(root) = text(3) {
            live.partition_roots.insert(object.clone(), root);
        }
        if let Some(key_type) = text(4) {
            live.rls_columns
                .insert((schema.to_owned(), object.name.clone()), key_type);
        }
        live.objects.push((object, schema.to_owned()));
    }
    live
}
