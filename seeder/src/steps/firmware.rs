use std::collections::HashMap;

use entity::firmware_versions;
use sea_orm::{ActiveValue::Set, DbErr};

use super::TenantScope;
use super::batch::{Conflicts, insert_rows};
use super::differing;
use crate::dataset::FirmwareSeed;
use crate::queries::existing_firmware;
use crate::report::DifferingRow;
use crate::report::TableCounts;
use crate::table::Table;

/// `firmware_versions`: the tenant's builds, keyed by (version, device_type).
/// A build already present is left as it is, and reported when its
/// description, file or checksum differ from the dataset's.
pub struct FirmwareStep;

impl FirmwareStep {
    pub async fn run(
        &self,
        scope: &TenantScope<'_>,
    ) -> Result<(TableCounts, Vec<DifferingRow>), DbErr> {
        let existing = existing_firmware(scope.txn, scope.tenant_id()).await?;
        let wanted = &scope.plan.firmware;
        let (missing, differing) = compare(wanted, &existing);
        let created_by = scope.plan.created_by();
        let missing: Vec<firmware_versions::ActiveModel> = missing
            .into_iter()
            .map(|f| firmware_versions::ActiveModel {
                tenant_id: Set(scope.tenant_id().to_owned()),
                version: Set(f.version.clone()),
                description: Set(Some(f.description.clone())),
                file_url: Set(f.file_url.clone()),
                file_size_bytes: Set(Some(f.file_size_bytes)),
                checksum_sha256: Set(Some(f.checksum_sha256.clone())),
                device_type: Set(Some(f.device_type.to_owned())),
                created_by: Set(Some(created_by.clone())),
                created_at: Set(f.released.at(scope.now)),
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
        let inserted = insert_rows(
            scope.txn,
            missing,
            Conflicts::SkipOn(&key),
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
        Ok((counts, differing))
    }
}

/// The step's rule, which the dry run asks too: the builds missing by
/// natural key, and the present ones whose contents differ from the
/// dataset (left as found, reported).
pub(crate) fn compare<'p>(
    wanted: &'p [FirmwareSeed],
    existing: &HashMap<(String, Option<String>), firmware_versions::Model>,
) -> (Vec<&'p FirmwareSeed>, Vec<DifferingRow>) {
    let mut missing = Vec::new();
    let mut differing = Vec::new();
    for f in wanted {
        match existing.get(&(f.version.clone(), Some(f.device_type.to_owned()))) {
            Some(stored) => differing.extend(differing::firmware(stored, f)),
            None => missing.push(f),
        }
    }
    (missing, differing)
}
