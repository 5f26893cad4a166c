//! The PostgreSQL catalog of a freshly migrated database against the
//! column reference in `docs/schema.md` (PostgreSQL is the reference
//! backend): columns, keys, foreign keys, CHECKs, indexes and row level
//! security, and what the policies let an application role see and write.
//!
//! These tests pin the schema on purpose. When one fails after a deliberate
//! change to a migration, update `docs/schema.md` (and the expected values
//! here) in the same change; otherwise the migration drifted from the
//! platform's schema. Behaviour on every backend is in
//! `schema_constraints.rs`.

use std::collections::BTreeSet;

use ota_seed_tests::cleanup::PgRole;
use ota_seed_tests::sql::table_rows;
use ota_seed_tests::{TestDb, backend_tests};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, TransactionTrait,
};

/// Said by every failure of a catalog comparison.
const DRIFT: &str = "the migrated schema differs from docs/schema.md (a deliberate schema change \
                     updates docs/schema.md and this test with the migration)";

async fn pg_rows(db: &DatabaseConnection, sql: &str) -> anyhow::Result<Vec<QueryResult>> {
    Ok(db
        .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?)
}

fn text(row: &QueryResult, col: &str) -> anyhow::Result<String> {
    Ok(row.try_get::<String>("", col)?)
}

fn opt_text(row: &QueryResult, col: &str) -> anyhow::Result<Option<String>> {
    Ok(row.try_get::<Option<String>>("", col)?)
}

/// (table, column, data_type, is_nullable, column_default, character_maximum_length)
type ColumnSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<i32>,
);

/// docs/schema.md, table by table, in column order, as information_schema
/// spells it.
const EXPECTED_COLUMNS: &[ColumnSpec] = &[
    ("device_registry", "tenant_id", "text", "NO", None, None),
    ("device_registry", "device_id", "text", "NO", None, None),
    ("device_registry", "site_id", "text", "NO", None, None),
    (
        "device_registry",
        "status",
        "text",
        "NO",
        Some("'ACTIVE'::text"),
        None,
    ),
    (
        "device_registry",
        "provisioned_at",
        "timestamp with time zone",
        "NO",
        Some("now()"),
        None,
    ),
    (
        "device_registry",
        "provision_token_hash",
        "text",
        "YES",
        None,
        None,
    ),
    (
        "device_registry",
        "device_pubkey",
        "text",
        "YES",
        None,
        None,
    ),
    ("device_registry", "fw_version", "text", "YES", None, None),
    (
        "device_registry",
        "metadata",
        "jsonb",
        "NO",
        Some("'{}'::jsonb"),
        None,
    ),
    // SERIAL: integer fed by the column's own sequence.
    (
        "firmware_versions",
        "id",
        "integer",
        "NO",
        Some("nextval('firmware_versions_id_seq'::regclass)"),
        None,
    ),
    ("firmware_versions", "tenant_id", "text", "NO", None, None),
    (
        "firmware_versions",
        "version",
        "character varying",
        "NO",
        None,
        Some(50),
    ),
    (
        "firmware_versions",
        "description",
        "text",
        "YES",
        None,
        None,
    ),
    ("firmware_versions", "file_url", "text", "NO", None, None),
    (
        "firmware_versions",
        "file_size_bytes",
        "bigint",
        "YES",
        None,
        None,
    ),
    (
        "firmware_versions",
        "checksum_sha256",
        "character varying",
        "YES",
        None,
        Some(64),
    ),
    (
        "firmware_versions",
        "device_type",
        "character varying",
        "YES",
        None,
        Some(50),
    ),
    (
        "firmware_versions",
        "created_at",
        "timestamp with time zone",
        "NO",
        Some("now()"),
        None,
    ),
    ("firmware_versions", "created_by", "text", "YES", None, None),
    (
        "ota_campaigns",
        "id",
        "integer",
        "NO",
        Some("nextval('ota_campaigns_id_seq'::regclass)"),
        None,
    ),
    ("ota_campaigns", "tenant_id", "text", "NO", None, None),
    (
        "ota_campaigns",
        "name",
        "character varying",
        "NO",
        None,
        Some(100),
    ),
    (
        "ota_campaigns",
        "firmware_version_id",
        "integer",
        "NO",
        None,
        None,
    ),
    ("ota_campaigns", "target_group_id", "text", "NO", None, None),
    (
        "ota_campaigns",
        "rollout_strategy",
        "character varying",
        "NO",
        Some("'linear'::character varying"),
        Some(20),
    ),
    (
        "ota_campaigns",
        "rollout_rate",
        "integer",
        "NO",
        Some("10"),
        None,
    ),
    (
        "ota_campaigns",
        "abort_threshold",
        "double precision",
        "NO",
        Some("0.1"),
        None,
    ),
    (
        "ota_campaigns",
        "status",
        "character varying",
        "NO",
        Some("'CREATED'::character varying"),
        Some(20),
    ),
    (
        "ota_campaigns",
        "total_devices",
        "integer",
        "NO",
        Some("0"),
        None,
    ),
    (
        "ota_campaigns",
        "succeeded",
        "integer",
        "NO",
        Some("0"),
        None,
    ),
    ("ota_campaigns", "failed", "integer", "NO", Some("0"), None),
    (
        "ota_campaigns",
        "started_at",
        "timestamp with time zone",
        "YES",
        None,
        None,
    ),
    (
        "ota_campaigns",
        "completed_at",
        "timestamp with time zone",
        "YES",
        None,
        None,
    ),
    (
        "ota_campaigns",
        "created_at",
        "timestamp with time zone",
        "NO",
        Some("now()"),
        None,
    ),
    ("ota_campaigns", "created_by", "text", "YES", None, None),
    // BIGSERIAL
    (
        "ota_device_status",
        "id",
        "bigint",
        "NO",
        Some("nextval('ota_device_status_id_seq'::regclass)"),
        None,
    ),
    ("ota_device_status", "tenant_id", "text", "NO", None, None),
    (
        "ota_device_status",
        "campaign_id",
        "integer",
        "NO",
        None,
        None,
    ),
    // Plain VARCHAR without a length, as the platform declares it.
    (
        "ota_device_status",
        "device_id",
        "character varying",
        "NO",
        None,
        None,
    ),
    (
        "ota_device_status",
        "status",
        "character varying",
        "NO",
        Some("'PENDING'::character varying"),
        Some(20),
    ),
    (
        "ota_device_status",
        "progress_pct",
        "integer",
        "NO",
        Some("0"),
        None,
    ),
    (
        "ota_device_status",
        "error_message",
        "text",
        "YES",
        None,
        None,
    ),
    (
        "ota_device_status",
        "started_at",
        "timestamp with time zone",
        "YES",
        None,
        None,
    ),
    (
        "ota_device_status",
        "completed_at",
        "timestamp with time zone",
        "YES",
        None,
        None,
    ),
    (
        "ota_device_status",
        "created_at",
        "timestamp with time zone",
        "NO",
        Some("now()"),
        None,
    ),
    ("tenants", "tenant_id", "text", "NO", None, None),
    ("tenants", "name", "text", "NO", None, None),
    (
        "tenants",
        "status",
        "text",
        "NO",
        Some("'ACTIVE'::text"),
        None,
    ),
    (
        "tenants",
        "created_at",
        "timestamp with time zone",
        "NO",
        Some("now()"),
        None,
    ),
    // Profile columns of the platform's table that our demo data uses.
    ("tenants", "contact_email", "text", "YES", None, None),
    ("tenants", "country", "text", "YES", None, None),
    (
        "tenants",
        "data_residency_region",
        "text",
        "YES",
        None,
        None,
    ),
];

async fn columns_match_docs(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let rows = pg_rows(
        &conn,
        "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                data_type::text AS data_type, is_nullable::text AS is_nullable, \
                column_default::text AS column_default, \
                character_maximum_length::int4 AS max_len \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> 'seaql_migrations' \
         ORDER BY table_name, ordinal_position",
    )
    .await?;
    let mut actual = Vec::new();
    for row in &rows {
        actual.push((
            text(row, "table_name")?,
            text(row, "column_name")?,
            text(row, "data_type")?,
            text(row, "is_nullable")?,
            opt_text(row, "column_default")?,
            row.try_get::<Option<i32>>("", "max_len")?,
        ));
    }
    let expected: Vec<_> = EXPECTED_COLUMNS
        .iter()
        .map(|(t, c, ty, null, default, len)| {
            (
                (*t).to_owned(),
                (*c).to_owned(),
                (*ty).to_owned(),
                (*null).to_owned(),
                default.map(str::to_owned),
                *len,
            )
        })
        .collect();
    for (i, (want, got)) in expected.iter().zip(&actual).enumerate() {
        assert_eq!(got, want, "column #{i}: {DRIFT}");
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "number of columns: {DRIFT}\n{actual:#?}"
    );
    Ok(())
}

async fn keys_match_docs(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let rows = pg_rows(
        &conn,
        "SELECT tc.table_name::text AS table_name, tc.constraint_type::text AS kind, \
                tc.constraint_name::text AS name, \
                string_agg(kcu.column_name::text, ',' ORDER BY kcu.ordinal_position) AS cols \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage kcu \
           ON kcu.constraint_schema = tc.constraint_schema \
          AND kcu.constraint_name = tc.constraint_name \
          AND kcu.table_name = tc.table_name \
         WHERE tc.table_schema = 'public' AND tc.table_name <> 'seaql_migrations' \
           AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE') \
         GROUP BY tc.table_name, tc.constraint_type, tc.constraint_name \
         ORDER BY 1, 2, 3",
    )
    .await?;
    let mut actual = Vec::new();
    for row in &rows {
        let kind = text(row, "kind")?;
        // docs/schema.md names the unique constraints, not the primary keys.
        let name = if kind == "UNIQUE" {
            text(row, "name")?
        } else {
            String::new()
        };
        actual.push(format!(
            "{} {kind} {name} ({})",
            text(row, "table_name")?,
            text(row, "cols")?
        ));
    }
    let expected = [
        "device_registry PRIMARY KEY  (tenant_id,device_id)",
        "firmware_versions PRIMARY KEY  (id)",
        "firmware_versions UNIQUE uq_firmware_tenant_version (tenant_id,version,device_type)",
        "ota_campaigns PRIMARY KEY  (id)",
        "ota_device_status PRIMARY KEY  (id)",
        "ota_device_status UNIQUE uq_ota_device_campaign (tenant_id,campaign_id,device_id)",
        "tenants PRIMARY KEY  (tenant_id)",
    ];
    assert_eq!(
        actual, expected,
        "primary keys and unique constraints: {DRIFT}"
    );

    // NULL device_types must stay distinct (PostgreSQL 15+ could say otherwise).
    let rows = pg_rows(
        &conn,
        "SELECT to_jsonb(i) ->> 'indnullsnotdistinct' AS nnd FROM pg_index i \
         WHERE indexrelid = 'uq_firmware_tenant_version'::regclass",
    )
    .await?;
    assert_eq!(
        rows.len(),
        1,
        "uq_firmware_tenant_version has no index: {DRIFT}"
    );
    let nulls_not_distinct = opt_text(&rows[0], "nnd")?;
    assert_ne!(
        nulls_not_distinct.as_deref(),
        Some("true"),
        "NULLS NOT DISTINCT is set: {DRIFT}"
    );
    Ok(())
}

async fn foreign_keys_match_docs(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let rows = pg_rows(
        &conn,
        "SELECT kcu.table_name::text AS from_table, kcu.column_name::text AS from_column, \
                ccu.table_name::text AS to_table, ccu.column_name::text AS to_column, \
                rc.delete_rule::text AS on_delete \
         FROM information_schema.referential_constraints rc \
         JOIN information_schema.key_column_usage kcu \
           ON kcu.constraint_schema = rc.constraint_schema AND kcu.constraint_name = rc.constraint_name \
         JOIN information_schema.constraint_column_usage ccu \
           ON ccu.constraint_schema = rc.constraint_schema AND ccu.constraint_name = rc.constraint_name \
         WHERE rc.constraint_schema = 'public' \
         ORDER BY 1, 2",
    )
    .await?;
    let mut actual = Vec::new();
    for row in &rows {
        actual.push(format!(
            "{}.{} -> {}.{} ON DELETE {}",
            text(row, "from_table")?,
            text(row, "from_column")?,
            text(row, "to_table")?,
            text(row, "to_column")?,
            text(row, "on_delete")?,
        ));
    }
    // Exactly these: in particular no key from ota_device_status.device_id
    // to device_registry, and none from device_registry to tenants.
    let expected = [
        "firmware_versions.tenant_id -> tenants.tenant_id ON DELETE CASCADE",
        "ota_campaigns.firmware_version_id -> firmware_versions.id ON DELETE RESTRICT",
        "ota_campaigns.tenant_id -> tenants.tenant_id ON DELETE CASCADE",
        "ota_device_status.campaign_id -> ota_campaigns.id ON DELETE CASCADE",
    ];
    assert_eq!(actual, expected, "foreign keys: {DRIFT}");
    Ok(())
}

/// The quoted literals of a constraint definition, e.g. `'linear'`.
fn literals(def: &str) -> BTreeSet<String> {
    def.split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

async fn checks_match_docs(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let rows = pg_rows(
        &conn,
        "SELECT c.conrelid::regclass::text AS table_name, \
                (SELECT string_agg(a.attname::text, ',') FROM pg_attribute a \
                  WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)) AS columns, \
                pg_get_constraintdef(c.oid) AS def \
         FROM pg_constraint c \
         WHERE c.contype = 'c' AND c.connamespace = 'public'::regnamespace \
         ORDER BY 1, 2",
    )
    .await?;
    let mut seen = Vec::new();
    for row in &rows {
        let (table, column, def) = (
            text(row, "table_name")?,
            text(row, "columns")?,
            text(row, "def")?,
        );
        let set = |values: &[&str]| {
            values
                .iter()
                .map(|v| (*v).to_owned())
                .collect::<BTreeSet<_>>()
        };
        match (table.as_str(), column.as_str()) {
            ("ota_campaigns", "rollout_strategy") => {
                assert_eq!(literals(&def), set(&["linear", "canary"]), "{def}: {DRIFT}");
            }
            ("ota_campaigns", "status") => assert_eq!(
                literals(&def),
                set(&["CREATED", "RUNNING", "PAUSED", "COMPLETED", "ABORTED"]),
                "{def}: {DRIFT}"
            ),
            ("ota_device_status", "status") => assert_eq!(
                literals(&def),
                set(&[
                    "PENDING",
                    "DOWNLOADING",
                    "INSTALLING",
                    "SUCCESS",
                    "FAILED",
                    "SKIPPED"
                ]),
                "{def}: {DRIFT}"
            ),
            ("ota_device_status", "progress_pct") => {
                assert!(
                    def.contains("progress_pct >= 0") && def.contains("progress_pct <= 100"),
                    "progress_pct check is {def}: {DRIFT}"
                );
            }
            other => panic!("unexpected CHECK constraint on {other:?}: {def}: {DRIFT}"),
        }
        seen.push(format!("{table}.{column}"));
    }
    assert_eq!(
        seen,
        [
            "ota_campaigns.rollout_strategy",
            "ota_campaigns.status",
            "ota_device_status.progress_pct",
            "ota_device_status.status",
        ],
        "CHECK constraints: {DRIFT}"
    );
    Ok(())
}

async fn indexes_match_docs(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let rows = pg_rows(
        &conn,
        "SELECT tablename::text AS table_name, indexname::text AS index_name, indexdef \
         FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'seaql_migrations' \
         ORDER BY 1, 2",
    )
    .await?;
    let mut plain = Vec::new();
    let mut pending_def = None;
    for row in &rows {
        let (table, name, def) = (
            text(row, "table_name")?,
            text(row, "index_name")?,
            text(row, "indexdef")?,
        );
        if name == "idx_ota_device_status_pending" {
            pending_def = Some(def.clone());
        }
        // Unique indexes back the keys checked in keys_match_docs.
        if def.starts_with("CREATE UNIQUE INDEX") {
            continue;
        }
        let shape = def
            .split_once(" USING btree ")
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_else(|| panic!("{name} is not a btree index: {def}: {DRIFT}"));
        plain.push(format!("{table} {shape}"));
    }
    plain.sort();
    let mut expected = vec![
        "firmware_versions (tenant_id)",
        "firmware_versions (tenant_id, device_type)",
        "ota_campaigns (tenant_id)",
        "ota_campaigns (tenant_id, status)",
        "ota_device_status (tenant_id, campaign_id)",
        "ota_device_status (tenant_id, device_id)",
        "ota_device_status (tenant_id, campaign_id, status) WHERE ((status)::text = 'PENDING'::text)",
    ];
    expected.sort_unstable();
    assert_eq!(plain, expected, "non-unique indexes: {DRIFT}");

    let pending_def = pending_def
        .unwrap_or_else(|| panic!("no partial index idx_ota_device_status_pending: {DRIFT}"));
    let (_, predicate) = pending_def
        .split_once(" WHERE ")
        .unwrap_or_else(|| panic!("the pending index is not partial: {pending_def}: {DRIFT}"));
    assert!(
        predicate.contains("status") && predicate.contains("= 'PENDING'"),
        "partial index predicate is {predicate}: {DRIFT}"
    );
    Ok(())
}

async fn row_level_security_matches_docs(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let rows = pg_rows(
        &conn,
        "SELECT relname::text AS table_name, relrowsecurity::text AS rls FROM pg_class \
         WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' \
           AND relname <> 'seaql_migrations' ORDER BY 1",
    )
    .await?;
    let mut actual = Vec::new();
    for row in &rows {
        actual.push(format!(
            "{} {}",
            text(row, "table_name")?,
            text(row, "rls")?
        ));
    }
    assert_eq!(
        actual,
        [
            "device_registry false",
            "firmware_versions true",
            "ota_campaigns true",
            "ota_device_status true",
            "tenants false",
        ],
        "row level security per table: {DRIFT}"
    );

    let rows = pg_rows(
        &conn,
        "SELECT tablename::text AS table_name, policyname::text AS policy, permissive, \
                roles::text AS roles, cmd, qual, with_check \
         FROM pg_policies WHERE schemaname = 'public' ORDER BY 1, 2",
    )
    .await?;
    let isolation = "(tenant_id = current_setting('app.tenant_id'::text, true))";
    let mut tables = Vec::new();
    for row in &rows {
        let table = text(row, "table_name")?;
        assert_eq!(
            text(row, "policy")?,
            "tenant_isolation",
            "{table}: policy name: {DRIFT}"
        );
        assert_eq!(
            text(row, "permissive")?,
            "PERMISSIVE",
            "{table}: permissive: {DRIFT}"
        );
        assert_eq!(
            text(row, "roles")?,
            "{public}",
            "{table}: policy roles: {DRIFT}"
        );
        assert_eq!(text(row, "cmd")?, "ALL", "{table}: policy command: {DRIFT}");
        assert_eq!(
            opt_text(row, "qual")?.as_deref(),
            Some(isolation),
            "{table}: USING: {DRIFT}"
        );
        assert_eq!(
            opt_text(row, "with_check")?.as_deref(),
            Some(isolation),
            "{table}: WITH CHECK: {DRIFT}"
        );
        tables.push(table);
    }
    assert_eq!(
        tables,
        ["firmware_versions", "ota_campaigns", "ota_device_status"],
        "tables with a tenant_isolation policy: {DRIFT}"
    );
    Ok(())
}

/// What a role that is subject to the policies sees and may write.
async fn rls_behaviour(conn: &DatabaseConnection, role: &str) -> anyhow::Result<()> {
    // Two tenants with two firmware builds and a campaign on each, written
    // by the owner (who is exempt from the policies).
    for (tenant, versions) in [
        ("tenant-a", ["1.0.0", "1.1.0"]),
        ("tenant-b", ["2.0.0", "2.1.0"]),
    ] {
        conn.execute_unprepared(&format!(
            "INSERT INTO tenants (tenant_id, name) VALUES ('{tenant}', 'Tenant {tenant}')"
        ))
        .await?;
        for version in versions {
            conn.execute_unprepared(&format!(
                "WITH fw AS (INSERT INTO firmware_versions (tenant_id, version, file_url) \
                   VALUES ('{tenant}', '{version}', 'https://fw.example/{version}.bin') RETURNING id) \
                 INSERT INTO ota_campaigns (tenant_id, name, firmware_version_id, target_group_id) \
                 SELECT '{tenant}', 'rollout-{version}', id, 'all' FROM fw"
            ))
            .await?;
        }
    }

    // With app.tenant_id set: only that tenant's rows are visible.
    let txn = conn.begin().await?;
    txn.execute_unprepared(&format!("SET LOCAL ROLE {role}"))
        .await?;
    txn.execute_unprepared("SELECT set_config('app.tenant_id', 'tenant-a', true)")
        .await?;
    let firmware = table_rows(&txn, "firmware_versions").await?;
    let campaigns = table_rows(&txn, "ota_campaigns").await?;
    let tenants_seen = table_rows(&txn, "tenants").await?;
    let updated = txn
        .execute_unprepared(
            "UPDATE ota_campaigns SET status = 'PAUSED' WHERE tenant_id = 'tenant-b'",
        )
        .await?
        .rows_affected();
    txn.rollback().await?;
    assert_eq!(
        firmware, 2,
        "tenant-a sees {firmware} firmware rows, expected its own 2"
    );
    assert_eq!(
        campaigns, 2,
        "tenant-a sees {campaigns} campaigns, expected its own 2"
    );
    assert_eq!(
        tenants_seen, 2,
        "tenants has no policy: all 2 rows are visible, saw {tenants_seen}"
    );
    assert_eq!(
        updated, 0,
        "tenant-a updated {updated} of tenant-b's campaigns"
    );

    // Writing another tenant's row is refused by WITH CHECK.
    let txn = conn.begin().await?;
    txn.execute_unprepared(&format!("SET LOCAL ROLE {role}"))
        .await?;
    txn.execute_unprepared("SELECT set_config('app.tenant_id', 'tenant-a', true)")
        .await?;
    let foreign = txn
        .execute_unprepared(
            "INSERT INTO firmware_versions (tenant_id, version, file_url) \
             VALUES ('tenant-b', '9.9.9', 'https://fw.example/9.9.9.bin')",
        )
        .await;
    txn.rollback().await?;
    let err = foreign.expect_err("tenant-a inserted a firmware row for tenant-b");
    assert!(
        err.to_string().contains("row-level security"),
        "cross-tenant insert failed for another reason: {err}"
    );

    // Without app.tenant_id: nothing is visible.
    let txn = conn.begin().await?;
    txn.execute_unprepared(&format!("SET LOCAL ROLE {role}"))
        .await?;
    let firmware = table_rows(&txn, "firmware_versions").await?;
    txn.rollback().await?;
    assert_eq!(
        firmware, 0,
        "without app.tenant_id the role sees {firmware} firmware rows"
    );
    Ok(())
}

async fn row_level_security_isolates_tenants(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    // Roles are cluster-wide: the guard drops it however the test ends.
    let role = PgRole::guard(&db, "app");
    conn.execute_unprepared(&format!(
        "CREATE ROLE {0} NOLOGIN;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {0};
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {0};",
        role.name
    ))
    .await?;
    rls_behaviour(&conn, &role.name).await?;
    conn.close().await?;
    Ok(())
}

backend_tests!(
    postgres_only: columns_match_docs,
    keys_match_docs,
    foreign_keys_match_docs,
    checks_match_docs,
    indexes_match_docs,
    row_level_security_matches_docs,
    row_level_security_isolates_tenants,
);
