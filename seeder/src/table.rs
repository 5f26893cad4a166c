//! The seeder's one vocabulary for the tables it fills: selection, steps,
//! verification and reports all name tables through [`Table`].

/// The tables the seeder fills, in dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Tenants,
    Devices,
    Firmware,
    Campaigns,
    DeviceStatus,
}

impl Table {
    pub const ALL: [Table; 5] = [
        Table::Tenants,
        Table::Devices,
        Table::Firmware,
        Table::Campaigns,
        Table::DeviceStatus,
    ];

    /// The name accepted by `--only`.
    pub fn cli_name(self) -> &'static str {
        match self {
            Table::Tenants => "tenants",
            Table::Devices => "devices",
            Table::Firmware => "firmware",
            Table::Campaigns => "campaigns",
            Table::DeviceStatus => "device-status",
        }
    }

    /// The database table.
    pub fn table_name(self) -> &'static str {
        match self {
            Table::Tenants => "tenants",
            Table::Devices => "device_registry",
            Table::Firmware => "firmware_versions",
            Table::Campaigns => "ota_campaigns",
            Table::DeviceStatus => "ota_device_status",
        }
    }

    /// Tables whose rows this one references and so cannot do without.
    /// Status rows need no *seeded* devices: they are made for the devices
    /// that exist, so `device-status` does not pull in `devices`.
    pub(crate) fn requires(self) -> &'static [Table] {
        match self {
            Table::Tenants => &[],
            Table::Devices => &[Table::Tenants],
            Table::Firmware => &[Table::Tenants],
            Table::Campaigns => &[Table::Tenants, Table::Firmware],
            Table::DeviceStatus => &[Table::Tenants, Table::Firmware, Table::Campaigns],
        }
    }
}

impl Table {
    /// The table's short name, as `seeder --only` takes it.
    pub fn from_cli_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.cli_name() == name)
    }
}

/// Serialised by the database's table name (`"device_registry"`).
impl serde::Serialize for Table {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.table_name())
    }
}
