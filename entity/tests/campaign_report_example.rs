//! Runs the shipped example's code, so the documented way of loading a
//! campaign through the relations stays compiled and correct.

#[path = "../examples/campaign_report.rs"]
#[allow(dead_code)]
mod campaign_report;

use sea_orm::Database;

#[tokio::test]
async fn example_loads_campaign_with_firmware_statuses_and_devices() -> anyhow::Result<()> {
    let db = Database::connect("sqlite::memory:").await?;
    campaign_report::insert_sample(&db).await?;

    let report = campaign_report::load_campaign_report(&db, "tenant-a", "Fleet Update to v1.1.0")
        .await?
        .expect("the sample campaign exists");

    assert_eq!(report.campaign.name, "Fleet Update to v1.1.0");
    assert_eq!(report.firmware.id, report.campaign.firmware_version_id);
    assert_eq!(report.firmware.version, "1.1.0");
    let rows: Vec<(&str, &str, Option<&str>)> = report
        .devices
        .iter()
        .map(|(s, d)| {
            (
                s.device_id.as_str(),
                s.status.as_str(),
                d.as_ref().map(|d| d.site_id.as_str()),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("site-1-sensor-01", "DOWNLOADING", Some("site-1")),
            ("site-1-sensor-02", "PENDING", Some("site-1")),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn example_reports_a_missing_campaign_as_none() -> anyhow::Result<()> {
    let db = Database::connect("sqlite::memory:").await?;
    campaign_report::insert_sample(&db).await?;
    let report =
        campaign_report::load_campaign_report(&db, "tenant-b", "Fleet Update to v1.1.0").await?;
    assert!(report.is_none());
    Ok(())
}
