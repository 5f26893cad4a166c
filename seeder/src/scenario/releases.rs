//! A firmware line's releases, listed then generated, as the scenario
//! defines them: versions, sizes, descriptions and release times. The
//! checks (`validate`) read them; the generator builds its firmware rows
//! from them (`dataset::line_releases`), so both see the same line.

use super::{DeviceTypeSpec, Moment, When};

/// One release of a line.
pub(crate) struct LineRelease {
    pub version: String,
    pub description: String,
    pub size_bytes: i64,
    /// The scenario's own checksum, when a listed release gives one.
    pub checksum_sha256: Option<String>,
    pub released: Moment,
}

impl DeviceTypeSpec {
    /// The releases of this line: the listed ones, then the generated ones
    /// (`count` of them, or, when the scenario leaves it out, enough for the
    /// line to have `needed` releases in all).
    pub(crate) fn releases(&self, needed: usize) -> Vec<LineRelease> {
        let line = &self.firmware;
        let mut builds: Vec<LineRelease> = line
            .releases
            .iter()
            .map(|r| LineRelease {
                version: r.version.to_string(),
                description: r.description.clone(),
                size_bytes: r.size_bytes,
                checksum_sha256: r.checksum_sha256.clone(),
                released: r.released.moment(),
            })
            .collect();
        let Some(g) = &line.generated else {
            return builds;
        };
        let listed = line.releases.last();
        let count = g
            .count
            .map_or_else(|| needed.saturating_sub(builds.len()), |c| c as usize);
        for k in 0..count {
            let (version, size) = match listed {
                Some(last) => {
                    let mut v = last.version.clone();
                    v.minor += k as u64 + 1;
                    v.patch = 0;
                    v.pre = semver::Prerelease::EMPTY;
                    v.build = semver::BuildMetadata::EMPTY;
                    (v, last.size_bytes + (k as i64 + 1) * g.size_step_bytes)
                }
                None => {
                    let mut v = g
                        .first_version
                        .clone()
                        .unwrap_or_else(|| semver::Version::new(1, 0, 0));
                    v.minor += k as u64;
                    (
                        v,
                        g.first_size_bytes.unwrap_or(1) + k as i64 * g.size_step_bytes,
                    )
                }
            };
            let version = version.to_string();
            let description =
                g.descriptions[k % g.descriptions.len().max(1)].replace("{version}", &version);
            let released = match g.first_released {
                When::Date(date) => Moment::Date(
                    date + chrono::Duration::days((g.every_days * k as f64).round() as i64),
                ),
                When::DaysAgo(days) => Moment::days_ago(days - g.every_days * k as f64),
            };
            builds.push(LineRelease {
                version,
                description,
                size_bytes: size,
                checksum_sha256: None,
                released,
            });
        }
        builds
    }
}
