use std::collections::HashSet;

use entity::firmware_versions;
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::batch::{Conflicts, insert_rows};
use super::{TableCounts, TenantScope};
use crate::selection::Table;

/// `firmware_versions`: the tenant's builds, keyed by (version, device_type).
/// A build already present is left as it is, even if its description or
/// checksum differ from the dataset's.
pub struct FirmwareStep;

impl FirmwareStep {
    pub async fn run(&self, scope: &TenantScope<'_>) -> Result<TableCounts, DbErr> {
        let existing: HashSet<(String, Option<String>)> = firmware_versions::Entity::find()
            .select_only()
            .column(firmware_versions::Column::Version)
            .column(firmware_versions::Column::DeviceType)
            .filter(firmware_versions::Column::TenantId.eq(scope.tenant_id()))
            .into_tuple::<(String, Option<String>)>()
            .all(scope.txn)
            .await?
            .into_iter()
            .collect();
        let wanted = &scope.plan.firmware;
        let created_by = scope.plan.created_by();
        let missing: Vec<firmware_versions::ActiveModel> = wanted
            .iter()
            .filter(|f| !existing.contains(&(f.version.clone(), Some(f.device_type.to_owned()))))
            .map(|f| firmware_versions::ActiveModel {
                tenant_id: Set(scope.tenant_id().to_owned()),
                version: Set(f.version.clone()),
                description: Set(Some(f.description.clone())),
                file_url: Set(f.file_url.clone()),
                file_size_bytes: Set(Some(f.file_size_bytes)),
                checksum_sha256: Set(Some(f.checksum_sha256.clone())),
                device_type: Set(Some(f.device_type.to_owned())),
                created_by: Set(Some(created_by.clone())),
                ..Default::default()
            })
            .collect();
        let progress = scope
            .progress
            .step(scope.tenant_id(), Table::Firmware, wanted.len() as u64);
        let key = [
            firmware_versions::Column::TenantId,
            firmware_versions::Column::Version,
            firmware_versions::Column::DeviceType,
        ];
        let inserted = insert_rows(scope.txn, missing, Conflicts::SkipOn(&key), &progress).await?;
        let counts = TableCounts {
            inserted,
            present: wanted.len() as u64 - inserted,
            updated: 0,
        };
        progress.finish(counts);
        Ok(counts)
    }
}
