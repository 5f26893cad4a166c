//! What a run covers: `--only` tables (closed over their dependencies) and
//! `--tenant` ids, validated before anything is opened or written.

use crate::dataset::Dataset;
use crate::error::SeedError;
use crate::table::Table;

/// `ota` names the three OTA tables at once.
const OTA_GROUP: &str = "ota";

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
    /// Parses `--only` values (each may be comma-separated).
    pub fn parse(names: &[String]) -> Result<Selection, SeedError> {
        if names.is_empty() {
            return Ok(Selection::default());
        }
        let mut tables = Vec::new();
        for name in names.iter().flat_map(|n| n.split(',')).map(str::trim) {
            let named: Vec<Table> = if name == OTA_GROUP {
                vec![Table::Firmware, Table::Campaigns, Table::DeviceStatus]
            } else {
                match Table::ALL.iter().find(|t| t.cli_name() == name) {
                    Some(t) => vec![*t],
                    None => {
                        return Err(SeedError::UnknownTable {
                            name: name.to_owned(),
                            valid: valid_table_names(),
                        });
                    }
                }
            };
            for t in named {
                tables.push(t);
                tables.extend_from_slice(t.requires());
            }
        }
        tables.sort();
        tables.dedup();
        Ok(Selection { tables })
    }

    pub fn includes(&self, table: Table) -> bool {
        self.tables.contains(&table)
    }

    pub fn tables(&self) -> &[Table] {
        &self.tables
    }
}

fn valid_table_names() -> String {
    let mut names: Vec<&str> = Table::ALL.iter().map(|t| t.cli_name()).collect();
    names.push(OTA_GROUP);
    names.join(", ")
}

/// Checks `--tenant` ids against the dataset. Empty means every tenant.
pub fn select_tenants(dataset: &Dataset, requested: &[String]) -> Result<Vec<String>, SeedError> {
    let known = dataset.tenant_ids();
    if requested.is_empty() {
        return Ok(known.iter().map(|s| (*s).to_owned()).collect());
    }
    let mut chosen = Vec::new();
    for id in requested {
        if !known.contains(&id.as_str()) {
            return Err(SeedError::UnknownTenant {
                // Debug formatting escapes quotes and control characters.
                id: id.chars().take(100).collect(),
                valid: abbreviated(&known),
            });
        }
        if !chosen.contains(id) {
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

    fn parse(s: &str) -> Result<Vec<Table>, SeedError> {
        Selection::parse(&[s.to_owned()]).map(|s| s.tables().to_vec())
    }

    #[test]
    fn ota_without_devices_keeps_devices_out() {
        assert_eq!(
            parse("ota").expect("valid"),
            [
                Table::Tenants,
                Table::Firmware,
                Table::Campaigns,
                Table::DeviceStatus
            ]
        );
        assert_eq!(
            parse("tenants,devices").expect("valid"),
            [Table::Tenants, Table::Devices]
        );
        assert_eq!(
            parse("campaigns").expect("valid"),
            [Table::Tenants, Table::Firmware, Table::Campaigns]
        );
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = parse("tenants,firmwares").unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown table \"firmwares\" in --only; valid names: tenants, devices, firmware, campaigns, device-status, ota"
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
