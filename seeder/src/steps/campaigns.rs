use std::collections::HashSet;

use entity::{firmware_versions, ota_campaigns};
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::TenantScope;
use super::batch::{Conflicts, insert_rows};
use crate::dataset::CampaignSeed;
use crate::report::TableCounts;
use crate::table::Table;

/// `ota_campaigns`: the tenant's campaigns, identified by name. Counters
/// start at zero here and are computed from the status rows afterwards
/// (`CampaignCountersStep`).
pub struct CampaignStep;

impl CampaignStep {
    pub async fn run(&self, scope: &TenantScope<'_>) -> Result<TableCounts, DbErr> {
        let existing: HashSet<String> = ota_campaigns::Entity::find()
            .select_only()
            .column(ota_campaigns::Column::Name)
            .filter(ota_campaigns::Column::TenantId.eq(scope.tenant_id()))
            .into_tuple::<String>()
            .all(scope.txn)
            .await?
            .into_iter()
            .collect();
        let wanted = &scope.plan.campaigns;
        let created_by = scope.plan.created_by();
        let mut rows = Vec::new();
        for c in missing(wanted, |name| existing.contains(name)) {
            let firmware = firmware_id(scope, &c.firmware_version, &c.device_type).await?;
            rows.push(ota_campaigns::ActiveModel {
                tenant_id: Set(scope.tenant_id().to_owned()),
                name: Set(c.name.clone()),
                firmware_version_id: Set(firmware),
                target_group_id: Set(c.target_group_id.clone()),
                rollout_strategy: Set(c.rollout_strategy.into()),
                rollout_rate: Set(c.rollout_rate),
                abort_threshold: Set(c.abort_threshold),
                status: Set(c.status.into()),
                started_at: Set(c.started_at(scope.now)),
                completed_at: Set(c.completed_at(scope.now)),
                created_by: Set(Some(created_by.clone())),
                created_at: Set(c.created_at(scope.now)),
                ..Default::default()
            });
        }
        // No natural key to conflict on: the tenant lock is what keeps a
        // concurrent seeder from inserting the same campaign.
        let progress =
            scope
                .progress
                .step(scope.tenant_id(), Table::Campaigns, wanted.len() as u64);
        let inserted = insert_rows(
            scope.txn,
            rows,
            Conflicts::SkipOn(&[]),
            &progress,
            scope.interrupt,
        )
        .await?;
        let counts = TableCounts {
            inserted,
            present: wanted.len() as u64 - inserted,
            updated: 0,
        };
        progress.finish(counts);
        Ok(counts)
    }
}

/// The id of the tenant's firmware by natural key; ids are never assumed.
async fn firmware_id(
    scope: &TenantScope<'_>,
    version: &str,
    device_type: &str,
) -> Result<i32, DbErr> {
    firmware_versions::Entity::find()
        .select_only()
        .column(firmware_versions::Column::Id)
        .filter(firmware_versions::Column::TenantId.eq(scope.tenant_id()))
        .filter(firmware_versions::Column::Version.eq(version))
        .filter(firmware_versions::Column::DeviceType.eq(device_type))
        .into_tuple::<i32>()
        .one(scope.txn)
        .await?
        .ok_or_else(|| {
            DbErr::RecordNotFound(format!(
                "firmware {version} for {device_type} of tenant {} (needed by a campaign; include `firmware` in --only)",
                scope.tenant_id()
            ))
        })
}

/// The step's rule, which the dry run asks too: campaigns are identified by
/// name within the tenant (the platform's schema has no key for them).
pub(crate) fn missing(
    wanted: &[CampaignSeed],
    exists: impl Fn(&str) -> bool,
) -> impl Iterator<Item = &CampaignSeed> {
    wanted.iter().filter(move |c| !exists(&c.name))
}
