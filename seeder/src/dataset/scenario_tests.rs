//! The generator on the built-in scenarios: each reads, checks and plans;
//! the history holds together in the plan itself (before any database).

use std::collections::{BTreeMap, HashMap};

use entity::status::{CampaignStatus, DeviceUpdateStatus};

use super::*;
use crate::scenario::{BUILTIN, Provisioning, Scenario};

fn small_history() -> Scenario {
    let mut s = Scenario::builtin("history").expect("built-in");
    s.set_tenant_count(1);
    s.fleet.sites_per_tenant = 1;
    s.fleet.devices_per_site = 10;
    s.fleet.revoked_share = 0.0;
    if let Provisioning::Spread(g) = &mut s.fleet.provisioned {
        g.initial_share = 1.0;
    }
    s
}

#[test]
fn every_builtin_reads_checks_and_plans() {
    for b in BUILTIN {
        let s = Scenario::load(b.name).unwrap_or_else(|e| panic!("{}: {e}", b.name));
        assert_eq!(s.name, b.name);
        let d = Dataset::from_scenario(&s, DEFAULT_SEED).unwrap_or_else(|e| panic!("{e}"));
        assert!(!d.tenants.is_empty());
    }
    // The demo scenario is exactly the demo dataset.
    let demo = Dataset::from_scenario(&Scenario::demo(), DEFAULT_SEED).expect("demo");
    assert_eq!(demo, Dataset::demo());
}

/// Hand-worked: one site of 10 devices with shares 0.6 / 0.15 / 0.25 holds
/// round(6) = 6 sensors, round(7.5) - 6 = 2 gateways and 10 - 8 = 2
/// cameras. All were provisioned 365 days ago, after each line's first
/// release (380, 390, 375 days ago) and before its second (333, 300, 315),
/// so every campaign of a type targets all its devices: the lines have
/// 9, 5 and 7 releases, hence 8, 4 and 6 campaigns and as many updates per
/// device; 6 × 8 + 2 × 4 + 2 × 6 = 68 status rows.
#[test]
fn history_figures_for_a_small_fleet() {
    let d = Dataset::from_scenario(&small_history(), DEFAULT_SEED).expect("plan");
    let plan = &d.tenants[0];
    let devices: Vec<DeviceSeed> = plan.devices().collect();
    let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
    for dev in &devices {
        *per_type.entry(&dev.device_type).or_default() += 1;
    }
    assert_eq!(
        per_type,
        BTreeMap::from([("camera", 2), ("gateway", 2), ("sensor", 6)])
    );
    assert_eq!(devices[0].device_id, "warehouse-east-camera-01");
    assert_eq!(devices[2].device_id, "warehouse-east-gateway-01");
    assert_eq!(devices[4].device_id, "warehouse-east-sensor-01");

    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for c in &plan.campaigns {
        *states.entry(format!("{:?}", c.status)).or_default() += 1;
    }
    assert_eq!(
        states,
        BTreeMap::from([
            ("Aborted".to_owned(), 1),
            ("Completed".to_owned(), 14),
            ("Created".to_owned(), 1),
            ("Paused".to_owned(), 1),
            ("Running".to_owned(), 1),
        ])
    );
    let mut updates: HashMap<usize, usize> = HashMap::new();
    for c in 0..plan.campaigns.len() {
        for (ordinal, _) in plan.fleet.targets(&plan.campaigns, c) {
            *updates.entry(ordinal).or_default() += 1;
        }
    }
    let per_device: Vec<usize> = (0..devices.len()).map(|o| updates[&o]).collect();
    assert_eq!(per_device, [6, 6, 4, 4, 8, 8, 8, 8, 8, 8]);
    assert_eq!(per_device.iter().sum::<usize>(), 68);
}

/// The plan's own history is coherent: a device runs its latest
/// successful update's version (or what it was provisioned with), and a
/// campaign only targets devices of its type provisioned before it.
#[test]
fn history_devices_run_their_latest_success() {
    let mut s = Scenario::builtin("history").expect("built-in");
    s.set_tenant_count(1);
    let d = Dataset::from_scenario(&s, 7).expect("plan");
    let plan = &d.tenants[0];
    let devices: Vec<DeviceSeed> = plan.devices().collect();
    let mut latest: HashMap<usize, String> = HashMap::new();
    let mut failed_somewhere = 0;
    for (c, campaign) in plan.campaigns.iter().enumerate() {
        for (ordinal, rank) in plan.fleet.targets(&plan.campaigns, c) {
            assert_eq!(
                &*devices[ordinal].device_type,
                campaign.device_type.as_str()
            );
            let row =
                campaign.release_outcome(rank, plan.fleet.seed(), plan.fleet.stream(), ordinal);
            match row.status {
                DeviceUpdateStatus::Success => {
                    latest.insert(ordinal, campaign.firmware_version.clone());
                }
                DeviceUpdateStatus::Failed => failed_somewhere += 1,
                _ => {}
            }
        }
    }
    assert!(failed_somewhere > 0);
    for (o, dev) in devices.iter().enumerate() {
        let expected = latest
            .get(&o)
            .map_or(&*dev.provisioned_version, String::as_str);
        assert_eq!(dev.fw_version, expected, "{}", dev.device_id);
    }
    // Some devices were revoked, some joined late and had fewer updates.
    assert!(devices.iter().any(|d| d.revoked));
    let sensors = plan
        .campaigns
        .iter()
        .filter(|c| c.device_type == "sensor")
        .count();
    assert_eq!(sensors, 8);
    assert!(
        plan.campaigns
            .iter()
            .any(|c| c.status == CampaignStatus::Aborted)
    );
}

/// docs/scenarios.md's example file reads, checks and plans as printed.
#[test]
fn the_documented_example_reads() {
    let doc = include_str!("../../../docs/scenarios.md");
    let start = doc.find("```toml\nname = \"mine\"").expect("the example") + "```toml\n".len();
    let end = start + doc[start..].find("```").expect("its end");
    let s = Scenario::from_toml(&doc[start..end], "docs/scenarios.md")
        .unwrap_or_else(|e| panic!("{e}"));
    Dataset::from_scenario(&s, 42).unwrap_or_else(|e| panic!("{e}"));
}
