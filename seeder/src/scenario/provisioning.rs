//! Reading `[fleet] provisioned`: a time (`"2024-01-15"`, `"30 days ago"`)
//! or a growth window (`{ from, until, initial_share }`). An untagged enum
//! would answer any mistake in either with "data did not match any variant
//! of untagged enum Provisioning"; this reads the value's own type and
//! reports the mistake inside it (an unknown key, a time that is not one, a
//! share above 1), at its line and column.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::{GrowthSpec, Provisioning, When};

impl<'de> Deserialize<'de> for Provisioning {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Provisioning, D::Error> {
        d.deserialize_any(ProvisioningVisitor)
    }
}

struct ProvisioningVisitor;

impl<'de> Visitor<'de> for ProvisioningVisitor {
    type Value = Provisioning;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a time (\"2024-01-15\" or \"N days ago\") or a window \
             { from = \"365 days ago\", until = \"10 days ago\", initial_share = 0.4 }",
        )
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Provisioning, E> {
        text.parse::<When>()
            .map(Provisioning::Once)
            .map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Provisioning, A::Error> {
        // The window's own derive (with deny_unknown_fields) reads the
        // table, so its errors name the key at fault.
        GrowthSpec::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(Provisioning::Spread)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Fleet {
        #[allow(dead_code)]
        provisioned: Provisioning,
    }

    fn error(value: &str) -> String {
        toml::from_str::<Fleet>(&format!("provisioned = {value}"))
            .expect_err(value)
            .message()
            .trim_end()
            .to_owned()
    }

    #[test]
    fn a_time_or_a_window() {
        let read = |value: &str| {
            toml::from_str::<Fleet>(&format!("provisioned = {value}"))
                .expect(value)
                .provisioned
        };
        assert_eq!(
            read("\"3 days ago\""),
            Provisioning::Once(When::DaysAgo(3.0))
        );
        assert_eq!(
            read("{ from = \"30 days ago\", until = \"1 day ago\" }"),
            Provisioning::Spread(GrowthSpec {
                from: When::DaysAgo(30.0),
                until: When::DaysAgo(1.0),
                initial_share: 0.0,
            })
        );
    }

    #[test]
    fn mistakes_are_named_inside_the_value() {
        assert_eq!(
            error("\"yesterday\""),
            "\"yesterday\" is not a time: write a date (\"2024-01-15\") or \"N days ago\" with N from 0 to 36500"
        );
        assert_eq!(
            error("{ from = \"3 days ago\", until = \"1 day ago\", initial_shar = 0.4 }"),
            "unknown field `initial_shar`, expected one of `from`, `until`, `initial_share`"
        );
        assert_eq!(error("{ from = \"3 days ago\" }"), "missing field `until`");
        assert_eq!(
            error("5"),
            "invalid type: integer `5`, expected a time (\"2024-01-15\" or \"N days ago\") or a window { from = \"365 days ago\", until = \"10 days ago\", initial_share = 0.4 }"
        );
    }
}
