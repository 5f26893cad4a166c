//! `firmware_versions`: each tenant's builds, keyed by (version,
//! device_type). A build already present is left as it is, and reported
//! when its description, file or checksum differ from the dataset's.

use entity::firmware_versions;
use sea_orm::{ActiveValue::Set, DbErr};

use super::batch::{Conflicts, insert_rows};
use super::differing;
use super::found::{FirmwareByKey, Found, read_firmware};
use super::sink::{Batch, Sink};
use crate::dataset::FirmwareSeed;
use crate::report::{DifferingRow, TableCounts};
use crate::table::Table;

pub struct FirmwarePlan {
    /// Per tenant of the batch, the indexes of its missing builds.
    pub missing: Vec<Vec<usize>>,
    pub differing: Vec<DifferingRow>,
}

impl FirmwarePlan {
    pub fn counts(&self, batch: &Batch<'_>) -> TableCounts {
        let wanted: u64 = batch.plans.iter().map(|p| p.firmware.len() as u64).sum();
        let missing: u64 = self.missing.iter().map(|m| m.len() as u64).sum();
        TableCounts {
            inserted: missing,
            present: wanted - missing,
            ..TableCounts::default()
        }
    }
}

/// The rule: builds missing by natural key; present ones whose contents
/// differ are left as found and reported.
pub fn plan(batch: &Batch<'_>, found: &Found) -> FirmwarePlan {
    let empty = FirmwareByKey::new();
    let mut missing = Vec::new();
    let mut differing_rows = Vec::new();
    for plan in &batch.plans {
        let there = found.firmware.get(&plan.tenant.tenant_id).unwrap_or(&empty);
        let mut lacks = Vec::new();
        for (i, f) in plan.firmware.iter().enumerate() {
            match there.get(&key(f)) {
                Some(stored) => differing_rows.extend(differing::firmware(stored, f)),
                None => lacks.push(i),
            }
        }
        missing.push(lacks);
    }
    FirmwarePlan {
        missing,
        differing: differing_rows,
    }
}

fn key(f: &FirmwareSeed) -> (String, Option<String>) {
    (f.version.clone(), Some(f.device_type.to_owned()))
}

/// Inserts the missing builds; returns the figures and the builds as they
/// are afterwards (campaigns need their ids).
pub async fn apply(
    sink: &Sink<'_>,
    batch: &Batch<'_>,
    plan: &FirmwarePlan,
    found: &mut Found,
) -> Result<TableCounts, DbErr> {
    let wanted: u64 = batch.plans.iter().map(|p| p.firmware.len() as u64).sum();
    let progress = sink.step(Table::Firmware, wanted);
    let rows: Vec<firmware_versions::ActiveModel> = batch
        .plans
        .iter()
        .zip(&plan.missing)
        .flat_map(|(p, lacks)| {
            let created_by = p.created_by();
            lacks.iter().map(move |&i| {
                let f = &p.firmware[i];
                firmware_versions::ActiveModel {
                    tenant_id: Set(p.tenant.tenant_id.clone()),
                    version: Set(f.version.clone()),
                    description: Set(Some(f.description.clone())),
                    file_url: Set(f.file_url.clone()),
                    file_size_bytes: Set(Some(f.file_size_bytes)),
                    checksum_sha256: Set(Some(f.checksum_sha256.clone())),
                    device_type: Set(Some(f.device_type.to_owned())),
                    created_by: Set(Some(created_by.clone())),
                    created_at: Set(f.released.at(batch.now)),
                    ..Default::default()
                }
            })
        })
        .collect();
    let sent = rows.len() as u64;
    let key_columns = [
        firmware_versions::Column::TenantId,
        firmware_versions::Column::Version,
        firmware_versions::Column::DeviceType,
    ];
    // Tenants without a build under their lock: nothing can conflict.
    let none_there = batch
        .plans
        .iter()
        .zip(&plan.missing)
        .filter(|(_, lacks)| !lacks.is_empty())
        .all(|(p, _)| {
            found
                .firmware
                .get(&p.tenant.tenant_id)
                .is_none_or(|f| f.is_empty())
        });
    let conflicts = if none_there {
        Conflicts::Impossible
    } else {
        Conflicts::SkipOn(&key_columns)
    };
    let inserted = insert_rows(sink.txn, rows, conflicts, &progress, sink.interrupt).await?;
    let mut declined = 0;
    if sent > 0 {
        found.firmware = read_firmware(sink, &batch.ids).await?;
        if inserted < sent {
            let empty = FirmwareByKey::new();
            for p in &batch.plans {
                let there = found.firmware.get(&p.tenant.tenant_id).unwrap_or(&empty);
                declined += p
                    .firmware
                    .iter()
                    .filter(|f| !there.contains_key(&key(f)))
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
