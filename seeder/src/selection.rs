//! What a run covers: tables (closed over their dependencies) and tenant
//! ids, validated before anything is opened or written.

use crate::dataset::Dataset;
use crate::error::SeedError;
use crate::table::Table;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    tables: Vec<Table>,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            tables: Table::ALL.to_vec(),
        }
    }
}

impl Selection {
    /// The tables, each with the tables it references.
    pub fn of(tables: impl IntoIterator<Item = Table>) -> Selection {
        let mut all = Vec::new();
        for t in tables {
            all.push(t);
            all.extend_from_slice(t.requires());
        }
        all.sort();
        all.dedup();
        Selection { tables: all }
    }

    pub fn includes(&self, table: Table) -> bool {
        self.tables.contains(&table)
    }

    #[cfg(test)]
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }
}

/// Checks `--tenant` ids against the dataset. Empty means every tenant.
pub fn select_tenants(dataset: &Dataset, requested: &[String]) -> Result<Vec<String>, SeedError> {
    let known = dataset.tenant_ids();
    if requested.is_empty() {
        return Ok(known.iter().map(|s| (*s).to_owned()).collect());
    }
    // Sets: a run may name every one of 100,000 tenants.
    let known_set: std::collections::HashSet<&str> = known.iter().copied().collect();
    let mut seen = std::collections::HashSet::new();
    let mut chosen = Vec::new();
    for id in requested {
        if !known_set.contains(id.as_str()) {
            return Err(SeedError::UnknownTenant {
                // Debug formatting escapes quotes and control characters.
                id: id.chars().take(100).collect(),
                valid: abbreviated(&known),
            });
        }
        if seen.insert(id.as_str()) {
            chosen.push(id.clone());
        }
    }
    Ok(chosen)
}

/// The list, or its first ten and how many there are in all.
fn abbreviated(ids: &[&str]) -> String {
    const SHOWN: usize = 10;
    if ids.len() <= SHOWN {
        ids.join(", ")
    } else {
        format!("{}, ... ({} in all)", ids[..SHOWN].join(", "), ids.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetSpec;

    #[test]
    fn tables_bring_what_they_reference() {
        let of = |t: &[Table]| Selection::of(t.iter().copied()).tables().to_vec();
        assert_eq!(
            of(&[Table::Firmware, Table::Campaigns, Table::DeviceStatus]),
            [
                Table::Tenants,
                Table::Firmware,
                Table::Campaigns,
                Table::DeviceStatus
            ]
        );
        assert_eq!(of(&[Table::Devices]), [Table::Tenants, Table::Devices]);
        assert_eq!(
            of(&[Table::Campaigns]),
            [Table::Tenants, Table::Firmware, Table::Campaigns]
        );
    }

    #[test]
    fn unknown_tenants_list_the_valid_ones() {
        let d = Dataset::generate(&DatasetSpec::default());
        assert_eq!(
            select_tenants(&d, &["tenant-b".into()]).expect("known"),
            ["tenant-b"]
        );
        let err = select_tenants(&d, &["x'; DROP TABLE tenants; --".into()])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown tenant \"x'; DROP TABLE tenants; --\"; the dataset's tenants are: tenant-a, tenant-b"
        );
    }
}
