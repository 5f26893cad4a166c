//! Every kind of violation `verify` can report, caught on purpose: a small
//! `history` dataset (every campaign state present, nothing broken) is
//! corrupted by one SQL statement per kind, and the whole violation list
//! the library reports (kind, invariant, row, problem, in the report's
//! order) is compared with the one the definition (docs/dataset.md) gives.
//! A kind of [`ViolationKind::ALL`] without a case here fails
//! `every_kind_has_a_case`; one case also runs through the binary, which
//! must exit with status 1.
//!
//! The rows are named by what they are (campaign name, device, version);
//! only their ids are read back from the database. Between cases the
//! tables are emptied and the dataset seeded again, so each case starts
//! from the clean dataset (checked) and sees only its own corruption.

use std::collections::HashMap;

use ota_seed_tests::{TestDb, backend_tests, small_history};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use seeder::{DEFAULT_SEED, Dataset, Seeder, Violation, ViolationKind};

use ViolationKind as K;

/// The one tenant of the dataset.
const TENANT: &str = "tenant-a";

/// A second tenant some cases add (not part of the dataset, so not
/// verified): where the rows of "another tenant" come from.
const ADD_OUTSIDER: &str = "INSERT INTO tenants (tenant_id, name) VALUES ('tenant-z', 'Outsider')";

struct Case {
    kind: ViolationKind,
    /// Statements that break nothing on their own (checked): what the
    /// corruption needs in place first.
    setup: &'static [&'static str],
    /// The corruption: one statement, the same on every backend.
    corrupt: &'static str,
    /// The violations expected afterwards, in the report's order.
    expected: fn(&Ids) -> Vec<Violation>,
}

const CASES: &[Case] = &[
    Case {
        kind: K::CountersDiffer,
        setup: &[],
        corrupt: "UPDATE ota_campaigns SET succeeded = 4 WHERE name = 'Sensor 1.1.0 rollout'",
        expected: |ids| {
            vec![Violation::new(
                K::CountersDiffer,
                ids.campaign("Sensor 1.1.0 rollout"),
                "counters say 6 total / 4 succeeded / 1 failed, its status rows say 6 / 5 / 1",
            )]
        },
    },
    Case {
        kind: K::FirmwareOfAnotherTenant,
        setup: &[
            ADD_OUTSIDER,
            // The outsider's copy of the campaign's build.
            "INSERT INTO firmware_versions \
               (tenant_id, version, description, file_url, file_size_bytes, checksum_sha256, device_type, created_at) \
             SELECT 'tenant-z', version, description, file_url, file_size_bytes, checksum_sha256, device_type, created_at \
             FROM firmware_versions WHERE tenant_id = 'tenant-a' AND device_type = 'sensor' AND version = '1.1.0'",
        ],
        corrupt: "UPDATE ota_campaigns SET firmware_version_id = \
                    (SELECT id FROM firmware_versions WHERE tenant_id = 'tenant-z') \
                  WHERE name = 'Sensor 1.1.0 rollout'",
        expected: |ids| {
            vec![Violation::new(
                K::FirmwareOfAnotherTenant,
                ids.campaign("Sensor 1.1.0 rollout"),
                "its firmware belongs to another tenant",
            )]
        },
    },
    Case {
        kind: K::CampaignOfAnotherTenant,
        setup: &[
            ADD_OUTSIDER,
            // The outsider's copy of a finished campaign, without rows.
            "INSERT INTO ota_campaigns \
               (tenant_id, name, firmware_version_id, target_group_id, abort_threshold, status, \
                total_devices, succeeded, failed, started_at, completed_at) \
             SELECT 'tenant-z', 'Outsider rollout', firmware_version_id, target_group_id, abort_threshold, status, \
                    0, 0, 0, started_at, completed_at \
             FROM ota_campaigns WHERE name = 'Sensor 1.1.0 rollout'",
        ],
        // One of tenant-a's rows moved into it: its own campaign counts one
        // SUCCESS row fewer.
        corrupt: "UPDATE ota_device_status SET campaign_id = \
                    (SELECT id FROM ota_campaigns WHERE name = 'Outsider rollout') \
                  WHERE device_id = 'warehouse-east-sensor-01' AND campaign_id = \
                    (SELECT id FROM ota_campaigns WHERE name = 'Sensor 1.1.0 rollout')",
        expected: |ids| {
            vec![
                Violation::new(
                    K::CountersDiffer,
                    ids.campaign("Sensor 1.1.0 rollout"),
                    "counters say 6 total / 5 succeeded / 1 failed, its status rows say 5 / 4 / 1",
                ),
                Violation::new(
                    K::CampaignOfAnotherTenant,
                    ids.status_row("Outsider rollout", "warehouse-east-sensor-01", "SUCCESS"),
                    "its campaign belongs to another tenant",
                ),
            ]
        },
    },
    Case {
        kind: K::DeviceNotRegistered,
        setup: &[],
        corrupt: "UPDATE ota_device_status SET device_id = 'warehouse-east-sensor-99' \
                  WHERE device_id = 'warehouse-east-sensor-01' AND campaign_id = \
                    (SELECT id FROM ota_campaigns WHERE name = 'Sensor 1.1.0 rollout')",
        expected: |ids| {
            vec![Violation::new(
                K::DeviceNotRegistered,
                ids.status_row(
                    "Sensor 1.1.0 rollout",
                    "warehouse-east-sensor-99",
                    "SUCCESS",
                ),
                "names a device that is not in device_registry for its tenant",
            )]
        },
    },
    Case {
        kind: K::FailedWithoutError,
        setup: &[],
        corrupt: "UPDATE ota_device_status SET error_message = NULL \
                  WHERE device_id = 'warehouse-east-sensor-02' AND campaign_id = \
                    (SELECT id FROM ota_campaigns WHERE name = 'Sensor 1.1.0 rollout')",
        expected: |ids| {
            vec![Violation::new(
                K::FailedWithoutError,
                ids.status_row("Sensor 1.1.0 rollout", "warehouse-east-sensor-02", "FAILED"),
                "FAILED without an error_message",
            )]
        },
    },
    Case {
        kind: K::ErrorButNotFailed,
        setup: &[],
        corrupt: "UPDATE ota_device_status SET error_message = 'Battery too low to install' \
                  WHERE device_id = 'warehouse-east-sensor-01' AND campaign_id = \
                    (SELECT id FROM ota_campaigns WHERE name = 'Sensor 1.1.0 rollout')",
        expected: |ids| {
            vec![Violation::new(
                K::ErrorButNotFailed,
                ids.status_row(
                    "Sensor 1.1.0 rollout",
                    "warehouse-east-sensor-01",
                    "SUCCESS",
                ),
                "has an error_message but is not FAILED",
            )]
        },
    },
    Case {
        kind: K::FinalNotAt100,
        setup: &[],
        corrupt: "UPDATE ota_device_status SET progress_pct = 99 \
                  WHERE device_id = 'warehouse-east-sensor-01' AND campaign_id = \
                    (SELECT id FROM ota_campaigns WHERE name = 'Sensor 1.1.0 rollout')",
        expected: |ids| {
            vec![Violation::new(
                K::FinalNotAt100,
                ids.status_row(
                    "Sensor 1.1.0 rollout",
                    "warehouse-east-sensor-01",
                    "SUCCESS",
                ),
                "terminal (SUCCESS/FAILED) with progress_pct other than 100",
            )]
        },
    },
    Case {
        kind: K::FinalWithoutTimes,
        setup: &[],
        // A success without completed_at: not the device's latest finished
        // update either (it has no completed_at to be latest by).
        corrupt: "UPDATE ota_device_status SET completed_at = NULL \
                  WHERE device_id = 'warehouse-east-sensor-01' AND campaign_id = \
                    (SELECT id FROM ota_campaigns WHERE name = 'Sensor 1.1.0 rollout')",
        expected: |ids| {
            vec![Violation::new(
                K::FinalWithoutTimes,
                ids.status_row(
                    "Sensor 1.1.0 rollout",
                    "warehouse-east-sensor-01",
                    "SUCCESS",
                ),
                "terminal (SUCCESS/FAILED) without started_at or completed_at",
            )]
        },
    },
    Case {
        kind: K::FinalCompletedBeforeStarted,
        setup: &[],
        // Started when its campaign completed, days after the row did.
        corrupt: "UPDATE ota_device_status SET started_at = \
                    (SELECT completed_at FROM ota_campaigns WHERE name = 'Sensor 1.1.0 rollout') \
                  WHERE device_id = 'warehouse-east-sensor-01' AND campaign_id = \
                    (SELECT id FROM ota_campaigns WHERE name = 'Sensor 1.1.0 rollout')",
        expected: |ids| {
            vec![Violation::new(
                K::FinalCompletedBeforeStarted,
                ids.status_row(
                    "Sensor 1.1.0 rollout",
                    "warehouse-east-sensor-01",
                    "SUCCESS",
                ),
                "terminal (SUCCESS/FAILED) with completed_at before started_at",
            )]
        },
    },
    Case {
        kind: K::PendingWithProgress,
        setup: &[],
        corrupt: "UPDATE ota_device_status SET progress_pct = 10 \
                  WHERE device_id = 'warehouse-east-sensor-04' AND campaign_id = \
                    (SELECT id FROM ota_campaigns WHERE name = 'Sensor 1.8.0 rollout')",
        expected: |ids| {
            vec![Violation::new(
                K::PendingWithProgress,
                ids.status_row(
                    "Sensor 1.8.0 rollout",
                    "warehouse-east-sensor-04",
                    "PENDING",
                ),
                "PENDING with progress_pct other than 0",
            )]
        },
    },
    Case {
        kind: K::PendingStarted,
        setup: &[],
        corrupt: "UPDATE ota_device_status SET started_at = \
                    (SELECT started_at FROM ota_campaigns WHERE name = 'Sensor 1.8.0 rollout') \
                  WHERE device_id = 'warehouse-east-sensor-04' AND campaign_id = \
                    (SELECT id FROM ota_campaigns WHERE name = 'Sensor 1.8.0 rollout')",
        expected: |ids| {
            vec![Violation::new(
                K::PendingStarted,
                ids.status_row(
                    "Sensor 1.8.0 rollout",
                    "warehouse-east-sensor-04",
                    "PENDING",
                ),
                "PENDING with a started_at",
            )]
        },
    },
    Case {
        kind: K::UnfinishedRowInFinishedCampaign,
        setup: &[],
        // The PAUSED campaign marked COMPLETED (with both times): one of
        // its two rows is still DOWNLOADING.
        corrupt: "UPDATE ota_campaigns SET status = 'COMPLETED', completed_at = started_at \
                  WHERE name = 'Gateway 3.4.0 rollout'",
        expected: |ids| {
            vec![Violation::new(
                K::UnfinishedRowInFinishedCampaign,
                ids.status_row(
                    "Gateway 3.4.0 rollout",
                    "warehouse-east-gateway-02",
                    "DOWNLOADING",
                ),
                "still PENDING, DOWNLOADING or INSTALLING in a COMPLETED or ABORTED campaign",
            )]
        },
    },
    Case {
        kind: K::FinishedCampaignWithoutTimes,
        setup: &[],
        corrupt: "UPDATE ota_campaigns SET completed_at = NULL WHERE name = 'Camera 2.3.0 rollout'",
        expected: |ids| {
            vec![Violation::new(
                K::FinishedCampaignWithoutTimes,
                ids.campaign("Camera 2.3.0 rollout"),
                "COMPLETED or ABORTED without started_at or completed_at",
            )]
        },
    },
    Case {
        kind: K::FinishedCampaignCompletedBeforeStarted,
        setup: &[],
        // Completed when its firmware was created, days before it started.
        corrupt: "UPDATE ota_campaigns SET completed_at = \
                    (SELECT f.created_at FROM firmware_versions f \
                     WHERE f.id = ota_campaigns.firmware_version_id) \
                  WHERE name = 'Sensor 1.1.0 rollout'",
        expected: |ids| {
            vec![Violation::new(
                K::FinishedCampaignCompletedBeforeStarted,
                ids.campaign("Sensor 1.1.0 rollout"),
                "COMPLETED or ABORTED with completed_at before started_at",
            )]
        },
    },
    Case {
        kind: K::StartedRowInCreatedCampaign,
        setup: &[],
        corrupt: "UPDATE ota_device_status SET status = 'SKIPPED' \
                  WHERE device_id = 'warehouse-east-camera-01' AND campaign_id = \
                    (SELECT id FROM ota_campaigns WHERE name = 'Camera 2.6.0 rollout')",
        expected: |ids| {
            vec![Violation::new(
                K::StartedRowInCreatedCampaign,
                ids.status_row(
                    "Camera 2.6.0 rollout",
                    "warehouse-east-camera-01",
                    "SKIPPED",
                ),
                "not PENDING in a CREATED campaign",
            )]
        },
    },
    Case {
        kind: K::CreatedCampaignStarted,
        setup: &[],
        corrupt: "UPDATE ota_campaigns SET started_at = \
                    (SELECT f.created_at FROM firmware_versions f \
                     WHERE f.id = ota_campaigns.firmware_version_id) \
                  WHERE name = 'Camera 2.6.0 rollout'",
        expected: |ids| {
            vec![Violation::new(
                K::CreatedCampaignStarted,
                ids.campaign("Camera 2.6.0 rollout"),
                "CREATED with a started_at",
            )]
        },
    },
    Case {
        kind: K::AbortBelowThreshold,
        setup: &[],
        // One of its two rows failed: a ratio of 0.5, which does not
        // exceed a threshold of 0.5 (the boundary).
        corrupt: "UPDATE ota_campaigns SET abort_threshold = 0.5 WHERE name = 'Camera 2.3.0 rollout'",
        expected: |ids| {
            vec![Violation::new(
                K::AbortBelowThreshold,
                ids.campaign("Camera 2.3.0 rollout"),
                "ABORTED, but its failure ratio 0.500 (1 of 2) does not exceed abort_threshold 0.5",
            )]
        },
    },
    Case {
        kind: K::OffLatestFinishedUpdate,
        setup: &[],
        corrupt: "UPDATE device_registry SET fw_version = '1.7.0' \
                  WHERE device_id = 'warehouse-east-sensor-01'",
        expected: |_| {
            vec![Violation::new(
                K::OffLatestFinishedUpdate,
                device("warehouse-east-sensor-01"),
                "its latest finished update installed 1.8.0 but fw_version is \"1.7.0\"",
            )]
        },
    },
    Case {
        kind: K::StartedBeforeProvisioning,
        setup: &[],
        // Provisioned when the first sensor campaign completed: its row
        // there started before (its later rows after).
        corrupt: "UPDATE device_registry SET provisioned_at = \
                    (SELECT completed_at FROM ota_campaigns WHERE name = 'Sensor 1.1.0 rollout') \
                  WHERE device_id = 'warehouse-east-sensor-01'",
        expected: |ids| {
            vec![Violation::new(
                K::StartedBeforeProvisioning,
                ids.status_row(
                    "Sensor 1.1.0 rollout",
                    "warehouse-east-sensor-01",
                    "SUCCESS",
                ),
                "started before its device was provisioned",
            )]
        },
    },
    Case {
        kind: K::StartedBeforeFirmware,
        setup: &[],
        // Build 1.1.0 created when its campaign completed: every row of
        // that campaign started before.
        corrupt: "UPDATE firmware_versions SET created_at = \
                    (SELECT completed_at FROM ota_campaigns WHERE name = 'Sensor 1.1.0 rollout') \
                  WHERE device_type = 'sensor' AND version = '1.1.0'",
        expected: |ids| {
            [
                ("01", "SUCCESS"),
                ("02", "FAILED"),
                ("03", "SUCCESS"),
                ("04", "SUCCESS"),
                ("05", "SUCCESS"),
                ("06", "SUCCESS"),
            ]
            .into_iter()
            .map(|(n, status)| {
                Violation::new(
                    K::StartedBeforeFirmware,
                    ids.status_row(
                        "Sensor 1.1.0 rollout",
                        &format!("warehouse-east-sensor-{n}"),
                        status,
                    ),
                    "started before its campaign's firmware was created",
                )
            })
            .collect()
        },
    },
    Case {
        kind: K::SeveralUnfinishedCampaigns,
        setup: &[],
        // Both cameras are in the CREATED campaign already.
        corrupt: "UPDATE ota_campaigns SET status = 'RUNNING', completed_at = NULL \
                  WHERE name = 'Camera 2.5.0 rollout'",
        expected: |ids| {
            let campaigns = format!(
                "in more than one unfinished (CREATED, RUNNING or PAUSED) campaign: \
                 id={} (\"Camera 2.5.0 rollout\"), id={} (\"Camera 2.6.0 rollout\")",
                ids.campaigns["Camera 2.5.0 rollout"], ids.campaigns["Camera 2.6.0 rollout"]
            );
            ["warehouse-east-camera-01", "warehouse-east-camera-02"]
                .into_iter()
                .map(|d| Violation::new(K::SeveralUnfinishedCampaigns, device(d), &campaigns))
                .collect()
        },
    },
    Case {
        kind: K::WrongDeviceType,
        setup: &[],
        // The CREATED campaign's build said to be a gateway's (first on the
        // gateway line, and smaller than 3.0.0: the line holds).
        corrupt: "UPDATE firmware_versions SET device_type = 'gateway' \
                  WHERE device_type = 'camera' AND version = '2.6.0'",
        expected: |ids| {
            ["warehouse-east-camera-01", "warehouse-east-camera-02"]
                .into_iter()
                .map(|d| {
                    Violation::new(
                        K::WrongDeviceType,
                        ids.status_row("Camera 2.6.0 rollout", d, "PENDING"),
                        "its device's type is not its campaign's firmware's device_type",
                    )
                })
                .collect()
        },
    },
    Case {
        kind: K::OffLatestSuccess,
        // sensor-03's failure in 1.6.0 said to have completed when 1.8.0
        // started: after its success in 1.7.0, which it still runs.
        setup: &["UPDATE ota_device_status SET completed_at = \
                    (SELECT started_at FROM ota_campaigns WHERE name = 'Sensor 1.8.0 rollout') \
                  WHERE device_id = 'warehouse-east-sensor-03' AND campaign_id = \
                    (SELECT id FROM ota_campaigns WHERE name = 'Sensor 1.6.0 rollout')"],
        corrupt: "UPDATE device_registry SET fw_version = '1.6.0' \
                  WHERE device_id = 'warehouse-east-sensor-03'",
        expected: |_| {
            vec![Violation::new(
                K::OffLatestSuccess,
                device("warehouse-east-sensor-03"),
                "its latest successful update installed 1.7.0 but fw_version is \"1.6.0\"",
            )]
        },
    },
    Case {
        kind: K::OffProvisionedFirmware,
        setup: &[],
        // A third camera, in no campaign, provisioned with 2.0.0 but
        // reporting 2.5.0.
        corrupt: "INSERT INTO device_registry \
                    (tenant_id, device_id, site_id, status, provisioned_at, provision_token_hash, \
                     device_pubkey, fw_version, metadata) \
                  SELECT tenant_id, 'warehouse-east-camera-03', site_id, status, provisioned_at, \
                         provision_token_hash, device_pubkey, fw_version, metadata \
                  FROM device_registry WHERE device_id = 'warehouse-east-camera-02'",
        expected: |_| {
            vec![Violation::new(
                K::OffProvisionedFirmware,
                device("warehouse-east-camera-03"),
                "no successful update, provisioned with 2.0.0 (metadata firmware) but fw_version is \"2.5.0\"",
            )]
        },
    },
    Case {
        kind: K::BadChecksum,
        setup: &[],
        corrupt: "UPDATE firmware_versions SET checksum_sha256 = UPPER(checksum_sha256) \
                  WHERE device_type = 'sensor' AND version = '1.3.0'",
        expected: |ids| {
            vec![Violation::new(
                K::BadChecksum,
                ids.firmware("sensor", "1.3.0"),
                "checksum_sha256 is not 64 lowercase hex characters",
            )]
        },
    },
    Case {
        kind: K::SizeNotLarger,
        setup: &[],
        // As large as 1.1.0 (the boundary), still smaller than 1.3.0.
        corrupt: "UPDATE firmware_versions SET file_size_bytes = \
                    (SELECT s FROM (SELECT file_size_bytes AS s FROM firmware_versions \
                                    WHERE device_type = 'sensor' AND version = '1.1.0') AS before_it) \
                  WHERE device_type = 'sensor' AND version = '1.2.0'",
        expected: |ids| {
            vec![Violation::new(
                K::SizeNotLarger,
                ids.firmware("sensor", "1.2.0"),
                "file_size_bytes is not larger than that of the version before it on its line",
            )]
        },
    },
];

/// The ids of the rows the expectations name, read after the corruption.
struct Ids {
    /// By name.
    campaigns: HashMap<String, i32>,
    /// By (campaign name, device): id and campaign id.
    status_rows: HashMap<(String, String), (i64, i32)>,
    /// By (device_type, version), tenant-a's.
    firmware: HashMap<(String, String), i32>,
}

impl Ids {
    async fn read(conn: &DatabaseConnection) -> anyhow::Result<Ids> {
        let rows = |sql: &'static str| async move {
            Ok::<_, anyhow::Error>(
                conn.query_all_raw(sea_orm::Statement::from_string(
                    conn.get_database_backend(),
                    sql,
                ))
                .await?,
            )
        };
        let mut ids = Ids {
            campaigns: HashMap::new(),
            status_rows: HashMap::new(),
            firmware: HashMap::new(),
        };
        for r in rows("SELECT id, name FROM ota_campaigns").await? {
            ids.campaigns
                .insert(r.try_get("", "name")?, r.try_get("", "id")?);
        }
        for r in rows(
            "SELECT s.id, s.campaign_id, s.device_id, c.name \
             FROM ota_device_status s JOIN ota_campaigns c ON c.id = s.campaign_id",
        )
        .await?
        {
            ids.status_rows.insert(
                (r.try_get("", "name")?, r.try_get("", "device_id")?),
                (r.try_get("", "id")?, r.try_get("", "campaign_id")?),
            );
        }
        for r in rows(
            "SELECT id, device_type, version FROM firmware_versions WHERE tenant_id = 'tenant-a'",
        )
        .await?
        {
            ids.firmware.insert(
                (r.try_get("", "device_type")?, r.try_get("", "version")?),
                r.try_get("", "id")?,
            );
        }
        Ok(ids)
    }

    /// A campaign of tenant-a as a violation names it.
    fn campaign(&self, name: &str) -> String {
        format!(
            "ota_campaigns id={} ({TENANT}, \"{name}\")",
            self.campaigns[name]
        )
    }

    /// tenant-a's status row of `device` in the campaign `campaign`, whose
    /// status is `status`, as a violation names it.
    fn status_row(&self, campaign: &str, device: &str, status: &str) -> String {
        let (id, campaign_id) = self.status_rows[&(campaign.to_owned(), device.to_owned())];
        format!(
            "ota_device_status id={id} ({TENANT}, campaign {campaign_id}, device {device}, {status})"
        )
    }

    /// tenant-a's build `version` of `device_type`.
    fn firmware(&self, device_type: &str, version: &str) -> String {
        let id = self.firmware[&(device_type.to_owned(), version.to_owned())];
        format!("firmware_versions id={id} ({TENANT}, {device_type}, \"{version}\")")
    }
}

/// A device of tenant-a as a violation names it.
fn device(device_id: &str) -> String {
    format!("device_registry ({TENANT}, {device_id})")
}

/// The small history: one tenant, ten devices, 18 campaigns in every
/// state, 68 status rows.
fn dataset() -> Dataset {
    Dataset::from_scenario(&small_history(), DEFAULT_SEED).expect("the small history plans")
}

/// Empties the five tables (children first) and seeds the dataset again.
async fn reseed(conn: &DatabaseConnection, dataset: &Dataset) -> anyhow::Result<()> {
    for table in [
        "ota_device_status",
        "ota_campaigns",
        "firmware_versions",
        "device_registry",
        "tenants",
    ] {
        conn.execute_unprepared(&format!("DELETE FROM {table}"))
            .await?;
    }
    Seeder::new(dataset).run(conn).await?;
    Ok(())
}

async fn violations(
    conn: &DatabaseConnection,
    dataset: &Dataset,
) -> anyhow::Result<Vec<Violation>> {
    Ok(seeder::verify(conn, dataset).await?.violations)
}

/// The case table covers exactly the kinds `verify` can report, each once,
/// in their order.
#[test]
fn every_kind_has_a_case() {
    let kinds: Vec<ViolationKind> = CASES.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, ViolationKind::ALL);
}

async fn every_kind_is_caught(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let dataset = dataset();
    Seeder::new(&dataset).run(&conn).await?;
    // Every campaign state is there to corrupt.
    let states = ota_seed_tests::seeded::rows(
        &conn,
        "SELECT DISTINCT status FROM ota_campaigns ORDER BY status",
    )
    .await?
    .iter()
    .map(|r| r.try_get::<String>("", "status"))
    .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(
        states,
        ["ABORTED", "COMPLETED", "CREATED", "PAUSED", "RUNNING"]
    );
    let mut failures = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        if i > 0 {
            reseed(&conn, &dataset).await?;
        }
        let clean = violations(&conn, &dataset).await?;
        assert_eq!(clean, [], "the clean dataset before {:?}", case.kind);
        for statement in case.setup {
            conn.execute_unprepared(statement).await?;
        }
        if !case.setup.is_empty() {
            let after_setup = violations(&conn, &dataset).await?;
            assert_eq!(after_setup, [], "{:?}: the setup alone", case.kind);
        }
        conn.execute_unprepared(case.corrupt).await?;
        let found = violations(&conn, &dataset).await?;
        let expected = (case.expected)(&Ids::read(&conn).await?);
        assert!(
            expected.iter().any(|v| v.kind == case.kind),
            "{:?}: the case expects no violation of its kind",
            case.kind
        );
        if found != expected {
            failures.push(format!(
                "{:?}:\n  expected {expected:#?}\n  found {found:#?}",
                case.kind
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    Ok(())
}

/// The binary on one corruption: exit status 1, and the violation in
/// `--json` with its kind.
async fn the_binary_exits_1_on_a_violation(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let dataset = dataset();
    Seeder::new(&dataset).run(&conn).await?;
    let case = CASES
        .iter()
        .find(|c| c.kind == K::AbortBelowThreshold)
        .expect("the case of invariant 5");
    conn.execute_unprepared(case.corrupt).await?;
    let expected = (case.expected)(&Ids::read(&conn).await?);
    conn.close().await?;
    let summary = db.seeder_json(&["verify", "--tenant", TENANT], 1);
    let found = &summary["verification"]["violations"];
    let want: Vec<serde_json::Value> = expected
        .iter()
        .map(|v| {
            serde_json::json!({
                "invariant": v.invariant,
                "kind": "abort_below_threshold",
                "row": v.row,
                "problem": v.problem,
            })
        })
        .collect();
    assert_eq!(found, &serde_json::Value::from(want), "{summary:#}");
    Ok(())
}

backend_tests!(every_kind_is_caught, the_binary_exits_1_on_a_violation);
