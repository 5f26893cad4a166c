//! Invariant 11: firmware lines are real. A tenant's builds are a handful
//! of rows, so they are read whole and checked here rather than in SQL
//! (semantic versions do not order as text).

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbErr};

use super::Finding;
use crate::queries::sql::Query;
use crate::report::{Violation, ViolationKind};

const BAD_CHECKSUM: &str = "checksum_sha256 is not 64 lowercase hex characters";
const NOT_LARGER: &str =
    "file_size_bytes is not larger than that of the version before it on its line";

/// One build as this check reads it.
struct Build {
    id: i32,
    tenant_id: String,
    version: String,
    file_size_bytes: Option<i64>,
    checksum_sha256: Option<String>,
    row: String,
}

/// The builds of the `tenants` that break invariant 11: a checksum that is
/// not 64 lowercase hex digits; a size not larger than that of the version
/// before it on its line.
///
/// A line is a tenant's builds of one device_type (NULL being a line of
/// its own), ordered by semantic version; a line with a version that is
/// not one is ordered by created_at, then id, instead. Builds without a
/// file_size_bytes are skipped in that comparison (the next size is
/// compared with the one before them).
pub(super) async fn firmware_line_violations<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
) -> Result<Vec<Finding>, DbErr> {
    // In created_at order (as instants: SQLite's texts may carry any
    // offset), which is a line's order when its versions are not all
    // semantic versions.
    let rows = Query::new(
        "SELECT f.id, f.tenant_id, f.version, f.device_type, f.file_size_bytes, f.checksum_sha256 \
         FROM firmware_versions f \
         WHERE {tenants:f} \
         ORDER BY f.tenant_id, {instant:f.created_at}, f.id",
    )
    .tenants("f", tenants)
    .all(conn)
    .await?;
    let mut violations = Vec::new();
    // Lines keyed by (tenant, device_type), each in created_at order.
    let mut lines: BTreeMap<(String, Option<String>), Vec<Build>> = BTreeMap::new();
    for r in &rows {
        let id: i32 = r.try_get("", "id")?;
        let tenant_id: String = r.try_get("", "tenant_id")?;
        let version: String = r.try_get("", "version")?;
        let device_type: Option<String> = r.try_get("", "device_type")?;
        let build = Build {
            row: format!(
                "firmware_versions id={id} ({tenant_id}, {}, {version:?})",
                device_type.as_deref().unwrap_or("NULL")
            ),
            id,
            tenant_id: tenant_id.clone(),
            version,
            file_size_bytes: r.try_get("", "file_size_bytes")?,
            checksum_sha256: r.try_get("", "checksum_sha256")?,
        };
        lines
            .entry((tenant_id, device_type))
            .or_default()
            .push(build);
    }
    let mut not_larger = Vec::new();
    for builds in lines.values_mut() {
        for b in builds.iter() {
            if b.checksum_sha256
                .as_deref()
                .is_some_and(|c| !is_sha256_hex(c))
            {
                violations.push((
                    b.id,
                    Finding::new(
                        &b.tenant_id,
                        Violation::new(ViolationKind::BadChecksum, &b.row, BAD_CHECKSUM),
                    ),
                ));
            }
        }
        order_line(builds);
        let mut before: Option<i64> = None;
        for b in builds.iter() {
            let Some(size) = b.file_size_bytes else {
                continue;
            };
            if before.is_some_and(|before| size <= before) {
                not_larger.push((
                    b.id,
                    Finding::new(
                        &b.tenant_id,
                        Violation::new(ViolationKind::SizeNotLarger, &b.row, NOT_LARGER),
                    ),
                ));
            }
            before = Some(size);
        }
    }
    // Each kind of finding in id order, as the other checks report theirs.
    violations.sort_by_key(|(id, _)| *id);
    not_larger.sort_by_key(|(id, _)| *id);
    Ok(violations
        .into_iter()
        .chain(not_larger)
        .map(|(_, v)| v)
        .collect())
}

/// Orders one line (given in created_at, id order) by semantic version
/// when every version is one; otherwise leaves it as given.
fn order_line(builds: &mut Vec<Build>) {
    let Some(versions) = builds
        .iter()
        .map(|b| semver::Version::parse(&b.version).ok())
        .collect::<Option<Vec<semver::Version>>>()
    else {
        return;
    };
    // Equal versions (only possible on a NULL device_type line, which the
    // unique key does not constrain) keep their created_at order: the sort
    // is stable.
    let mut keyed: Vec<(semver::Version, Build)> =
        versions.into_iter().zip(builds.drain(..)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    builds.extend(keyed.into_iter().map(|(_, b)| b));
}

/// A SHA-256 written as the platform writes it: 64 lowercase hex digits.
fn is_sha256_hex(checksum: &str) -> bool {
    checksum.len() == 64
        && checksum
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds given in created_at order, as the query returns them.
    fn line(versions: &[&str]) -> Vec<Build> {
        versions
            .iter()
            .zip(1..)
            .map(|(v, id)| Build {
                id,
                tenant_id: String::new(),
                version: (*v).to_owned(),
                file_size_bytes: None,
                checksum_sha256: None,
                row: String::new(),
            })
            .collect()
    }

    fn ordered(versions: &[&str]) -> Vec<String> {
        let mut builds = line(versions);
        order_line(&mut builds);
        builds.into_iter().map(|b| b.version).collect()
    }

    #[test]
    fn semantic_versions_order_a_line() {
        // As text 1.10.0 sorts before 1.9.0, and a release after its
        // pre-release.
        assert_eq!(
            ordered(&["1.10.0", "1.9.0", "2.0.0", "2.0.0-rc.1", "1.0.0"]),
            ["1.0.0", "1.9.0", "1.10.0", "2.0.0-rc.1", "2.0.0"]
        );
    }

    #[test]
    fn one_version_that_is_not_semantic_keeps_the_created_order() {
        assert_eq!(
            ordered(&["1.10.0", "v1.9", "1.0.0"]),
            ["1.10.0", "v1.9", "1.0.0"]
        );
    }

    #[test]
    fn equal_versions_keep_the_created_order() {
        let mut builds = line(&["1.0.0", "1.0.0", "0.9.0"]);
        order_line(&mut builds);
        let ids: Vec<i32> = builds.iter().map(|b| b.id).collect();
        assert_eq!(ids, [3, 1, 2]);
    }

    #[test]
    fn checksums_are_64_lowercase_hex_digits() {
        assert!(is_sha256_hex(&"a".repeat(64)));
        assert!(is_sha256_hex(&"0123456789abcdef".repeat(4)));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex(&"a".repeat(63)));
        assert!(!is_sha256_hex(&"a".repeat(65)));
        assert!(!is_sha256_hex(&"g".repeat(64)));
        // 64 bytes, fewer characters: not 64 hex digits either.
        assert!(!is_sha256_hex(&format!("{}é", "a".repeat(62))));
    }
}
