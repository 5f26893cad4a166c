//! `ota_campaigns`: each tenant's campaigns, identified by name (the
//! platform's schema has no key for them; the tenant lock keeps a
//! concurrent seeder from inserting the same one). Counters start at zero
//! and are counted from the status rows afterwards (`campaign_counters`).

use entity::ota_campaigns;
use sea_orm::{ActiveValue::Set, DbErr};

use super::batch::{Conflicts, insert_rows};
use super::found::{Found, read_campaigns};
use super::sink::{Batch, Sink};
use crate::report::TableCounts;
use crate::table::Table;

pub struct CampaignsPlan {
    /// Per tenant of the batch, the indexes of its missing campaigns.
    pub missing: Vec<Vec<usize>>,
}

impl CampaignsPlan {
    pub fn counts(&self, batch: &Batch<'_>) -> TableCounts {
        let wanted: u64 = batch.plans.iter().map(|p| p.campaigns.len() as u64).sum();
        let missing: u64 = self.missing.iter().map(|m| m.len() as u64).sum();
        TableCounts {
            inserted: missing,
            present: wanted - missing,
            ..TableCounts::default()
        }
    }
}

pub fn plan(batch: &Batch<'_>, found: &Found) -> CampaignsPlan {
    let missing = batch
        .plans
        .iter()
        .map(|p| {
            let there = found.campaigns.get(&p.tenant.tenant_id);
            p.campaigns
                .iter()
                .enumerate()
                .filter(|(_, c)| there.is_none_or(|t| !t.iter().any(|s| s.name == c.name)))
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    CampaignsPlan { missing }
}

/// Inserts the missing campaigns (their firmware found by natural key in
/// `found`, never assumed), then reads the campaigns back for their ids.
pub async fn apply(
    sink: &Sink<'_>,
    batch: &Batch<'_>,
    plan: &CampaignsPlan,
    found: &mut Found,
) -> Result<TableCounts, DbErr> {
    let wanted: u64 = batch.plans.iter().map(|p| p.campaigns.len() as u64).sum();
    let progress = sink.step(Table::Campaigns, wanted);
    let mut rows = Vec::new();
    for (p, lacks) in batch.plans.iter().zip(&plan.missing) {
        let tenant = &p.tenant.tenant_id;
        let created_by = p.created_by();
        for &i in lacks {
            let c = &p.campaigns[i];
            let firmware = found
                .firmware
                .get(tenant)
                .and_then(|f| f.get(&(c.firmware_version.clone(), Some(c.device_type.clone()))))
                .map(|f| f.id)
                .ok_or_else(|| {
                    DbErr::RecordNotFound(format!(
                        "firmware {} for {} of tenant {tenant} (needed by a campaign; include `firmware` in --only)",
                        c.firmware_version, c.device_type
                    ))
                })?;
            rows.push(ota_campaigns::ActiveModel {
                tenant_id: Set(tenant.clone()),
                name: Set(c.name.clone()),
                firmware_version_id: Set(firmware),
                target_group_id: Set(c.target_group_id.clone()),
                rollout_strategy: Set(c.rollout_strategy.into()),
                rollout_rate: Set(c.rollout_rate),
                abort_threshold: Set(c.abort_threshold),
                status: Set(c.status.into()),
                started_at: Set(c.started_at(batch.now)),
                completed_at: Set(c.completed_at(batch.now)),
                created_by: Set(Some(created_by.clone())),
                created_at: Set(c.created_at(batch.now)),
                ..Default::default()
            });
        }
    }
    let sent = rows.len() as u64;
    // No key to conflict on: the tenant lock is what keeps a concurrent
    // seeder from inserting the same campaign, so none can conflict.
    let inserted = insert_rows(
        sink.txn,
        rows,
        Conflicts::Impossible,
        &progress,
        sink.interrupt,
    )
    .await?;
    let mut declined = 0;
    if sent > 0 {
        found.campaigns = read_campaigns(sink, &batch.ids).await?;
        if inserted < sent {
            for p in &batch.plans {
                let there = found.campaigns.get(&p.tenant.tenant_id);
                declined += p
                    .campaigns
                    .iter()
                    .filter(|c| there.is_none_or(|t| !t.iter().any(|s| s.name == c.name)))
                    .count() as u64;
            }
        }
    }
    let counts = TableCounts {
        inserted,
        present: wanted - inserted - declined,
        declined,
        ..TableCounts::default()
    };
    progress.finish(counts);
    Ok(counts)
}
