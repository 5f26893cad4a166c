use std::collections::HashMap;

use entity::ota_campaigns;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter,
};

use super::TenantScope;
use crate::queries::{CampaignCounters, count_status_rows};

/// `ota_campaigns` counters, counted from the status rows as they are in
/// the database now, so they stay true when devices are added and the
/// seeder runs again. Only the dataset's campaigns are touched, and only
/// when a counter differs.
pub struct CampaignCountersStep;

impl CampaignCountersStep {
    /// `counted`: the rows per campaign if the caller knows them to be
    /// current (no status row inserted since they were counted).
    pub async fn run(
        &self,
        scope: &TenantScope<'_>,
        counted: Option<HashMap<i32, CampaignCounters>>,
    ) -> Result<u64, DbErr> {
        let counted = match counted {
            Some(c) => c,
            None => count_status_rows(scope.txn, scope.tenant_id()).await?,
        };
        let planned: Vec<&str> = scope
            .plan
            .campaigns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let campaigns = ota_campaigns::Entity::find()
            .filter(ota_campaigns::Column::TenantId.eq(scope.tenant_id()))
            .filter(ota_campaigns::Column::Name.is_in(planned))
            .all(scope.txn)
            .await?;
        let mut updated = 0;
        for campaign in campaigns {
            let c = counted.get(&campaign.id).copied().unwrap_or_default();
            let stored = CampaignCounters {
                total_devices: campaign.total_devices.into(),
                succeeded: campaign.succeeded.into(),
                failed: campaign.failed.into(),
            };
            if stored == c {
                continue;
            }
            let to_i32 = |n: i64| {
                i32::try_from(n).map_err(|_| {
                    DbErr::Custom(format!(
                        "campaign {} has {n} status rows, more than its INT counters hold",
                        campaign.id
                    ))
                })
            };
            let mut row = campaign.clone().into_active_model();
            row.total_devices = Set(to_i32(c.total_devices)?);
            row.succeeded = Set(to_i32(c.succeeded)?);
            row.failed = Set(to_i32(c.failed)?);
            row.update(scope.txn).await?;
            updated += 1;
        }
        Ok(updated)
    }
}
