//! The tenant's existing rows by natural key, read by the seeding steps
//! (what is missing) and the dry run (what a run would insert) alike.

use std::collections::HashSet;

use entity::device_registry;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait as _,
};

use crate::db::Txn;

/// Device ids read per page, in the key's order: a page's rows are what
/// the client holds at once besides the set (some 10 MB).
const ID_PAGE: u64 = 100_000;

/// The tenant's device ids, as a set that answers "is this id there?".
///
/// A million ids as strings took some 250 MB at peak (the driver's rows,
/// the list and the set); streamed (PostgreSQL) or read by pages, and kept
/// as 128-bit hashes (see `DeviceIdSet::key`), they take about 40 MB. Two different ids share a hash
/// with a probability of about 2⁻¹²⁸ per pair.
pub async fn existing_device_ids(txn: &Txn, tenant_id: &str) -> Result<DeviceIdSet, DbErr> {
    // PostgreSQL streams the rows: one unordered read, as fast as reading
    // them all at once (an ordered one walks the index, and the heap of a
    // table not vacuumed yet). Elsewhere, pages in the key's order (the
    // clustered primary key on MySQL/MariaDB, an index walk on SQLite).
    let mut set = DeviceIdSet::default();
    let all = device_registry::Entity::find()
        .select_only()
        .column(device_registry::Column::DeviceId)
        .filter(device_registry::Column::TenantId.eq(tenant_id))
        .build(DbBackend::Postgres);
    if txn.for_each_text(all, |id| set.insert(id)).await? {
        return Ok(set);
    }
    device_ids_by_page(txn, tenant_id, ID_PAGE).await
}

async fn device_ids_by_page<C: ConnectionTrait>(
    conn: &C,
    tenant_id: &str,
    page_size: u64,
) -> Result<DeviceIdSet, DbErr> {
    let mut set = DeviceIdSet::default();
    let mut after: Option<String> = None;
    loop {
        let mut page = device_registry::Entity::find()
            .select_only()
            .column(device_registry::Column::DeviceId)
            .filter(device_registry::Column::TenantId.eq(tenant_id));
        if let Some(last) = &after {
            // Keyset paging: the database's own order of the key, whatever
            // its collation, so no id is skipped or read twice.
            page = page.filter(device_registry::Column::DeviceId.gt(last.as_str()));
        }
        let ids: Vec<String> = page
            .order_by_asc(device_registry::Column::DeviceId)
            .limit(page_size)
            .into_tuple::<String>()
            .all(conn)
            .await?;
        let full = ids.len() as u64 == page_size;
        for id in &ids {
            set.insert(id);
        }
        if !full {
            return Ok(set);
        }
        after = ids.into_iter().last();
    }
}

/// A set of device ids kept as 128-bit hashes (see [`existing_device_ids`]).
#[derive(Debug, Default, Clone)]
pub struct DeviceIdSet {
    hashes: HashSet<u128, std::hash::BuildHasherDefault<KeyHasher>>,
}

/// The set's own hasher: its keys are hashes already, so it takes their
/// bits as they are instead of hashing them again.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used by u128 keys; folded in for completeness.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, key: u128) {
        self.0 = (key as u64) ^ ((key >> 64) as u64);
    }
}

impl DeviceIdSet {
    /// Two unrelated 64-bit hashes of the id: FNV-1a over its bytes, and
    /// a multiply-xorshift over its 8-byte words (SplitMix64's finaliser
    /// per word). Both are cheap, which matters: a rerun hashes two
    /// million ids, and std's SipHash took a fifth of its client time.
    fn key(id: &str) -> u128 {
        let bytes = id.as_bytes();
        let mut fnv: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in bytes {
            fnv = (fnv ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut mix: u64 = 0x9e37_79b9_7f4a_7c15 ^ bytes.len() as u64;
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            mix ^= u64::from_le_bytes(word);
            mix = (mix ^ (mix >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            mix = (mix ^ (mix >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            mix ^= mix >> 31;
        }
        (u128::from(mix) << 64) | u128::from(fnv)
    }

    pub fn insert(&mut self, id: &str) {
        self.hashes.insert(Self::key(id));
    }

    pub fn contains(&self, id: &str) -> bool {
        self.hashes.contains(&Self::key(id))
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }
}

/// A campaign's counters as its status rows give them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignCounters {
    pub total_devices: i64,
    pub succeeded: i64,
    pub failed: i64,
}

#[cfg(test)]
mod tests {
    use migration::{Migrator, MigratorTrait as _};
    use sea_orm::{ConnectionTrait as _, Statement};

    use super::*;

    /// Pages of 4 over the demo's 15 devices of tenant-a: every id read
    /// once, none of tenant-b's. The rows are inserted here directly (only
    /// the columns the schema requires), not by a seeding run, so that
    /// this module's tests need nothing of the seeding core.
    #[tokio::test]
    async fn ids_are_read_by_pages_without_loss() -> Result<(), Box<dyn std::error::Error>> {
        let db = sea_orm::Database::connect("sqlite::memory:").await?;
        Migrator::up(&db, None).await?;
        let dataset = crate::Dataset::demo();
        for plan in &dataset.tenants {
            let tenant = &plan.tenant.tenant_id;
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO tenants (tenant_id, name, status, created_at) \
                 VALUES (?, ?, 'active', '2026-01-01T00:00:00Z')",
                [tenant.as_str().into(), tenant.as_str().into()],
            ))
            .await?;
            let mut ids = Vec::new();
            plan.fleet.every_device_id(|id| {
                ids.push(id.to_owned());
                true
            });
            for id in ids {
                db.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "INSERT INTO device_registry \
                     (tenant_id, device_id, site_id, status, provisioned_at, metadata) \
                     VALUES (?, ?, 'site', 'active', '2026-01-01T00:00:00Z', '{}')",
                    [tenant.as_str().into(), id.into()],
                ))
                .await?;
            }
        }
        let set = device_ids_by_page(&db, "tenant-a", 4).await?;
        assert_eq!(set.len(), 15);
        let plan = &dataset.tenants[0];
        assert_eq!(plan.tenant.tenant_id, "tenant-a");
        assert!(plan.fleet.every_device_id(|id| set.contains(id)));
        assert!(!set.contains("factory-floor-sensor-01"), "tenant-b's");
        Ok(())
    }
}
