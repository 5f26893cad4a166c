//! Where a database's schema stands for the seeder.

/// Whose schema it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaOrigin {
    /// There were no OTA tables: our migrations create (or would create)
    /// them.
    Created,
    /// Made by ota-seed's migrations (a history table records them).
    Managed,
    /// Made by someone else (the platform's own SQL migrations): seeded as
    /// it is, nothing created or recorded.
    Unmanaged,
}

/// Where the schema stands once prepared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SchemaReport {
    pub origin: SchemaOrigin,
    /// Migrations applied by this run.
    pub applied: usize,
    /// Migrations still pending (a dry run's "would apply").
    pub pending: usize,
    /// Which OTA tables exist now (a dry run reads only these).
    pub tables: Vec<&'static str>,
    /// PostgreSQL: the schema that holds the OTA tables.
    pub pg_schema: Option<String>,
}
