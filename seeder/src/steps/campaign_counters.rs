//! `ota_campaigns` counters, counted from the status rows as they are in
//! the database now, so they stay true when devices are added and the
//! seeder runs again. Only the dataset's campaigns are touched, and only
//! when a counter differs: all of the batch's in one statement.

use std::collections::HashMap;

use entity::ota_campaigns;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use super::found::Found;
use super::scoped;
use super::sink::{Batch, Sink};
use crate::queries::CampaignCounters;
use crate::table::Table;

/// A campaign whose stored counters differ from `counters`.
pub struct CounterUpdate {
    pub tenant: String,
    pub id: i32,
    pub counters: CampaignCounters,
}

/// The dataset's campaigns of the batch whose stored counters differ from
/// `counted` (status rows per tenant and campaign id).
pub fn plan(
    batch: &Batch<'_>,
    campaigns: &HashMap<String, Vec<ota_campaigns::Model>>,
    counted: &HashMap<String, HashMap<i32, CampaignCounters>>,
) -> Vec<CounterUpdate> {
    let mut updates = Vec::new();
    for p in &batch.plans {
        let tenant = &p.tenant.tenant_id;
        let Some(stored) = campaigns.get(tenant) else {
            continue;
        };
        for c in stored
            .iter()
            .filter(|c| p.campaigns.iter().any(|s| s.name == c.name))
        {
            let rows = counted
                .get(tenant)
                .and_then(|m| m.get(&c.id))
                .copied()
                .unwrap_or_default();
            let now = CampaignCounters {
                total_devices: c.total_devices.into(),
                succeeded: c.succeeded.into(),
                failed: c.failed.into(),
            };
            if now != rows {
                updates.push(CounterUpdate {
                    tenant: tenant.clone(),
                    id: c.id,
                    counters: rows,
                });
            }
        }
    }
    updates
}

/// The dry run's figure: how many campaigns' counters a run would set,
/// from the counters predicted per (tenant, campaign index).
pub fn predicted_updates(
    batch: &Batch<'_>,
    found: &Found,
    predicted: &HashMap<(String, usize), CampaignCounters>,
) -> u64 {
    let mut n = 0;
    for p in &batch.plans {
        let tenant = &p.tenant.tenant_id;
        for (index, seed) in p.campaigns.iter().enumerate() {
            let after = predicted
                .get(&(tenant.clone(), index))
                .copied()
                .unwrap_or_default();
            let stored = found
                .campaigns
                .get(tenant)
                .and_then(|cs| cs.iter().find(|c| c.name == seed.name))
                .map(|c| CampaignCounters {
                    total_devices: c.total_devices.into(),
                    succeeded: c.succeeded.into(),
                    failed: c.failed.into(),
                })
                // A new campaign starts at zero.
                .unwrap_or_default();
            if after != stored {
                n += 1;
            }
        }
    }
    n
}

/// Sets the counters of `updates`: one statement for the batch (one per
/// tenant in one message under row level security); returns the campaigns
/// updated.
pub async fn apply(sink: &Sink<'_>, updates: &[CounterUpdate]) -> Result<u64, DbErr> {
    if updates.is_empty() {
        return Ok(0);
    }
    let to_i32 = |n: i64, id: i32| {
        i32::try_from(n).map_err(|_| {
            DbErr::Custom(format!(
                "campaign {id} has {n} status rows, more than its INT counters hold"
            ))
        })
    };
    let mut values: Vec<(String, [i32; 4])> = Vec::new();
    for u in updates {
        values.push((
            u.tenant.clone(),
            [
                u.id,
                to_i32(u.counters.total_devices, u.id)?,
                to_i32(u.counters.succeeded, u.id)?,
                to_i32(u.counters.failed, u.id)?,
            ],
        ));
    }
    let backend = sink.backend;
    // Integers only, written in: they are ours, not input.
    let statement = |rows: &[&[i32; 4]]| -> String {
        let derived = || {
            rows.iter()
                .map(|[id, t, s, f]| format!("SELECT {id} AS id, {t} AS t, {s} AS s, {f} AS f"))
                .collect::<Vec<_>>()
                .join(" UNION ALL ")
        };
        match backend {
            DbBackend::MySql => format!(
                "UPDATE ota_campaigns c JOIN ({}) v ON c.id = v.id \
                 SET c.total_devices = v.t, c.succeeded = v.s, c.failed = v.f",
                derived()
            ),
            DbBackend::Sqlite => format!(
                "UPDATE ota_campaigns SET total_devices = v.t, succeeded = v.s, failed = v.f \
                 FROM ({}) AS v WHERE ota_campaigns.id = v.id",
                derived()
            ),
            _ => {
                let list = rows
                    .iter()
                    .map(|[id, t, s, f]| format!("({id}, {t}, {s}, {f})"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "UPDATE ota_campaigns SET total_devices = v.t, succeeded = v.s, failed = v.f \
                     FROM (VALUES {list}) AS v(id, t, s, f) WHERE ota_campaigns.id = v.id"
                )
            }
        }
    };
    if sink.guards.applies(Table::Campaigns) {
        let mut tenants: Vec<String> = values.iter().map(|(t, _)| t.clone()).collect();
        tenants.dedup();
        return scoped::execute_per_tenant(sink.txn, true, &tenants, |tenant| {
            let rows: Vec<&[i32; 4]> = values
                .iter()
                .filter(|(t, _)| t == tenant)
                .map(|(_, v)| v)
                .collect();
            (!rows.is_empty()).then(|| statement(&rows))
        })
        .await;
    }
    let mut updated = 0;
    // SQLite allows 500 terms in a compound SELECT.
    for chunk in values.chunks(400) {
        let rows: Vec<&[i32; 4]> = chunk.iter().map(|(_, v)| v).collect();
        updated += sink
            .txn
            .execute_unprepared(&statement(&rows))
            .await?
            .rows_affected();
    }
    Ok(updated)
}
