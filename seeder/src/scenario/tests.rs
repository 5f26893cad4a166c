//! Scenario files refused with where and why: one case per kind of
//! problem, each an edit of a built-in file.

use super::*;

/// The history file with `from` replaced by `to` (which must occur).
fn history_with(from: &str, to: &str) -> String {
    let text = BUILTIN[2].text;
    assert!(text.contains(from), "{from:?} is not in history.toml");
    text.replacen(from, to, 1)
}

fn refusal(text: &str) -> String {
    match Scenario::from_toml(text, "mine.toml") {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

/// 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).expect("needle")]
        .matches('\n')
        .count()
        + 1
}

#[test]
fn builtins_read_and_show_what_they_are() {
    for b in BUILTIN {
        let s = Scenario::from_toml(b.text, b.name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.name, b.name);
    }
}

#[test]
fn a_typo_names_the_key_and_the_allowed_ones() {
    let text = history_with("devices_per_site = 40", "devices_per_sit = 40");
    let line = line_of(&text, "devices_per_sit ");
    assert_eq!(
        refusal(&text),
        format!(
            "mine.toml:{line}:1: unknown field `devices_per_sit`, expected one of `sites_per_tenant`, `devices_per_site`, `provisioned`, `revoked_share`"
        )
    );
}

#[test]
fn a_negative_count_says_what_is_allowed() {
    let text = history_with("devices_per_site = 40", "devices_per_site = -5");
    let line = line_of(&text, "devices_per_site");
    assert_eq!(
        refusal(&text),
        format!("mine.toml:{line}:20: -5 is not allowed here: a count of at least 1")
    );
}

#[test]
fn an_unknown_device_type_in_a_campaign_lists_the_known_ones() {
    let text = history_with(
        "[[campaigns.aborted]]\ndevice_type = \"camera\"",
        "[[campaigns.aborted]]\ndevice_type = \"camra\"",
    );
    let line = line_of(&text, "device_type = \"camra\"");
    assert_eq!(
        refusal(&text),
        format!(
            "mine.toml:{line}:1: unknown device type \"camra\": the scenario defines \"sensor\", \"gateway\", \"camera\""
        )
    );
}

#[test]
fn releases_out_of_order_are_refused_at_the_later_one() {
    let demo = BUILTIN[0].text;
    let text = demo.replacen("version = \"1.1.0\"", "version = \"0.9.0\"", 1);
    let line = line_of(&text, "version = \"0.9.0\"");
    assert_eq!(
        refusal(&text),
        format!(
            "mine.toml:{line}:1: releases are listed oldest first: 0.9.0 comes after 1.0.0, so its version must be higher"
        )
    );
}

#[test]
fn shares_must_sum_to_one() {
    let text = history_with("share = 0.6", "share = 0.5");
    let line = line_of(&text, "share = 0.5");
    assert_eq!(
        refusal(&text),
        format!("mine.toml:{line}:1: the device types' shares sum to 0.9, not 1")
    );
}

#[test]
fn a_rollout_that_would_overlap_the_next_release_is_refused() {
    let text = history_with("duration_days = 5", "duration_days = 50");
    assert!(
        refusal(&text).ends_with(
            "two sensor releases 47 days apart: a rollout (lag_days 3 + duration_days 50) must end before the next release"
        ),
        "{}",
        refusal(&text)
    );
}

#[test]
fn a_running_campaign_must_have_started() {
    let text = history_with("lag_days = 3", "lag_days = 6");
    assert!(
        refusal(&text).contains(
            "the sensor campaign for its release of 4 days ago cannot have started by now (it needs 6 days)"
        ),
        "{}",
        refusal(&text)
    );
}

#[test]
fn too_many_slice_campaigns_for_a_counted_line() {
    let text = BUILTIN[0]
        .text
        .replacen(
            "first_released = \"7 days ago\"",
            "count = 1\nfirst_released = \"7 days ago\"",
            1,
        )
        .replacen("per_tenant = 1", "per_tenant = 4", 1);
    assert!(
        refusal(&text).ends_with(
            "4 campaigns need 5 releases (each rolls out the next one), the sensor line has 3: add releases or leave generated.count out"
        ),
        "{}",
        refusal(&text)
    );
}

#[test]
fn a_time_that_is_not_one() {
    let text = history_with("created = \"400 days ago\"", "created = \"last year\"");
    let line = line_of(&text, "created = ");
    assert_eq!(
        refusal(&text),
        format!(
            "mine.toml:{line}:11: \"last year\" is not a time: write a date (\"2024-01-15\") or \"N days ago\" with N from 0 to 36500"
        )
    );
}

#[test]
fn a_huge_generated_count_is_refused_at_once() {
    let text = history_with("count = 9", "count = 4000000000");
    let line = line_of(&text, "count = 4000000000");
    assert_eq!(
        refusal(&text),
        format!("mine.toml:{line}:1: at most 1000 generated releases per line")
    );
}

#[test]
fn a_mistake_inside_campaigns_is_reported_at_its_key() {
    let text = history_with("state = \"paused\"", "state = \"pasued\"");
    let line = line_of(&text, "state = \"pasued\"");
    assert!(
        refusal(&text).starts_with(&format!("mine.toml:{line}:9: unknown variant `pasued`")),
        "{}",
        refusal(&text)
    );
    let text = history_with("lag_days = 3", "lag_day = 3");
    let line = line_of(&text, "lag_day = 3");
    assert!(
        refusal(&text).starts_with(&format!("mine.toml:{line}:1: unknown field `lag_day`")),
        "{}",
        refusal(&text)
    );
}

#[test]
fn the_newest_campaign_cannot_be_aborted_and_running() {
    let text = history_with(
        "[[campaigns.aborted]]\ndevice_type = \"camera\"\nversion = \"2.3.0\"",
        "[[campaigns.aborted]]\ndevice_type = \"sensor\"\nversion = \"1.8.0\"",
    );
    assert!(
        refusal(&text).ends_with(
            "sensor 1.8.0 is its line's newest campaign, whose state [[campaigns.now]] gives: an aborted campaign is finished, so it cannot be both"
        ),
        "{}",
        refusal(&text)
    );
    let twice = history_with(
        "[[campaigns.aborted]]\ndevice_type = \"camera\"\nversion = \"2.3.0\"",
        "[[campaigns.aborted]]\ndevice_type = \"camera\"\nversion = \"2.3.0\"\n\n[[campaigns.aborted]]\ndevice_type = \"camera\"\nversion = \"2.3.0\"",
    );
    assert!(
        refusal(&twice).ends_with("camera 2.3.0 is listed as aborted twice"),
        "{}",
        refusal(&twice)
    );
}

#[test]
fn a_site_named_twice_and_shares_shown_rounded() {
    let text = history_with(
        "sites = [\"warehouse-east\", \"warehouse-west\"",
        "sites = [\"warehouse-east\", \"warehouse-east\"",
    );
    assert!(
        refusal(&text).ends_with("site \"warehouse-east\" is listed twice for tenant \"tenant-a\""),
        "{}",
        refusal(&text)
    );
    let text = history_with("share = 0.6", "share = 0.55");
    assert!(
        refusal(&text).ends_with("the device types' shares sum to 0.95, not 1"),
        "{}",
        refusal(&text)
    );
}
