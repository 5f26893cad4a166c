//! Each tenant's rows as the owner sees them, read set-wise (one query per
//! table, grouped by tenant): whether every tenant of a fleet is complete or
//! absent, never half-written. Shared by `batch_kill.rs` and `rls_fleet.rs`
//! (included with `#[path]`, so the harness crate is left as it is).

use std::collections::{BTreeMap, BTreeSet};

use ota_seed_tests::platform_schema::TABLES;
use ota_seed_tests::sql::rows;
use sea_orm::ConnectionTrait;

/// The ids of a fleet of `n` tenants (docs/dataset.md, "Larger fleets"):
/// `tenant-a`, `tenant-b`, then `tenant-0003`, `tenant-0004`, ...
pub fn tenant_ids(n: usize) -> Vec<String> {
    (1..=n)
        .map(|k| match k {
            1 => "tenant-a".to_owned(),
            2 => "tenant-b".to_owned(),
            k => format!("tenant-{k:04}"),
        })
        .collect()
}

/// A tenant's rows per table, in [`TABLES`] order (tenants, devices,
/// firmware, campaigns, status rows).
pub type Rows = [i64; 5];

/// What one tenant of a fleet seeded with one campaign per tenant holds
/// when complete: its row, its devices, the base build and the campaign's
/// build, the campaign, one status row per device (docs/dataset.md).
pub fn complete(devices_per_tenant: i64) -> Rows {
    [1, devices_per_tenant, 2, 1, devices_per_tenant]
}

pub const ABSENT: Rows = [0; 5];

/// How the tenants of a database stand.
#[derive(Debug, Default)]
pub struct FleetState {
    /// Rows per table of every tenant id found in any table.
    pub rows: BTreeMap<String, Rows>,
    /// Campaigns whose counters disagree with their status rows:
    /// `tenant: counters t/s/f, rows t/s/f`.
    pub wrong_counters: Vec<String>,
}

impl FleetState {
    /// Reads every table once, grouped by tenant, and every campaign's
    /// counters against its status rows.
    pub async fn read(conn: &impl ConnectionTrait) -> anyhow::Result<FleetState> {
        let mut state = FleetState::default();
        for (slot, table) in TABLES.iter().enumerate() {
            let sql = format!("SELECT tenant_id, COUNT(*) AS n FROM {table} GROUP BY tenant_id");
            for row in rows(conn, &sql).await? {
                let tenant: String = row.try_get("", "tenant_id")?;
                state.rows.entry(tenant).or_default()[slot] = count(&row, "n")?;
            }
        }
        let sql = "SELECT c.tenant_id, c.total_devices AS total, c.succeeded AS ok, \
                   c.failed AS bad, \
                   (SELECT COUNT(*) FROM ota_device_status s WHERE s.campaign_id = c.id) AS r_total, \
                   (SELECT COUNT(*) FROM ota_device_status s WHERE s.campaign_id = c.id \
                      AND s.status = 'SUCCESS') AS r_ok, \
                   (SELECT COUNT(*) FROM ota_device_status s WHERE s.campaign_id = c.id \
                      AND s.status = 'FAILED') AS r_bad \
                   FROM ota_campaigns c";
        for row in rows(conn, sql).await? {
            let tenant: String = row.try_get("", "tenant_id")?;
            let counters = [
                count(&row, "total")?,
                count(&row, "ok")?,
                count(&row, "bad")?,
            ];
            let counted = [
                count(&row, "r_total")?,
                count(&row, "r_ok")?,
                count(&row, "r_bad")?,
            ];
            if counters != counted {
                state
                    .wrong_counters
                    .push(format!("{tenant}: counters {counters:?}, rows {counted:?}"));
            }
        }
        Ok(state)
    }

    /// The tenants (of `fleet`) that are complete; fails, listing them,
    /// if any tenant is neither complete nor absent, if a tenant outside
    /// `fleet` has rows, or if a campaign's counters disagree with its rows.
    pub fn complete_tenants(&self, fleet: &[String], whole: Rows) -> anyhow::Result<Vec<String>> {
        let known: BTreeSet<&String> = fleet.iter().collect();
        let strangers: Vec<&String> = self.rows.keys().filter(|t| !known.contains(t)).collect();
        anyhow::ensure!(
            strangers.is_empty(),
            "rows of tenants outside the fleet: {strangers:?}"
        );
        let mut complete = Vec::new();
        let mut partial = Vec::new();
        for tenant in fleet {
            match self.rows.get(tenant).copied().unwrap_or(ABSENT) {
                ABSENT => {}
                rows if rows == whole => complete.push(tenant.clone()),
                rows => partial.push(format!("{tenant}: {rows:?}")),
            }
        }
        anyhow::ensure!(
            partial.is_empty(),
            "tenants neither complete {whole:?} nor absent (rows per table {TABLES:?}): {partial:#?}"
        );
        anyhow::ensure!(
            self.wrong_counters.is_empty(),
            "campaign counters that disagree with their status rows: {:#?}",
            self.wrong_counters
        );
        Ok(complete)
    }
}

/// Column `column` of `row` as a number: `COUNT(*)` is 64-bit, the
/// counters 32-bit; MariaDB's subquery counts may come back as decimals.
fn count(row: &sea_orm::QueryResult, column: &str) -> anyhow::Result<i64> {
    row.try_get::<i64>("", column)
        .or_else(|_| row.try_get::<i32>("", column).map(i64::from))
        .map_err(|e| anyhow::anyhow!("column {column}: {e}"))
}
