//! The built-in scenarios: TOML files compiled in, read by the same code
//! as a user's file (`seeder scenario show NAME` prints them).

/// A built-in scenario.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    pub name: &'static str,
    /// One line, for `seeder scenarios`.
    pub summary: &'static str,
    /// The commented TOML file.
    pub text: &'static str,
}

/// Every built-in scenario; `demo` is the default.
pub const BUILTIN: &[Builtin] = &[
    Builtin {
        name: "demo",
        summary: "the platform's demo: 2 tenants, 15 sensors each, one completed rollout (the default)",
        text: include_str!("../../scenarios/demo.toml"),
    },
    Builtin {
        name: "fleet",
        summary: "the demo's shape at size: 10 tenants of 1,000 sensors, 5 campaigns each in every state",
        text: include_str!("../../scenarios/fleet.toml"),
    },
    Builtin {
        name: "history",
        summary: "a year of OTA: sensors, gateways and cameras, release lines, every campaign state",
        text: include_str!("../../scenarios/history.toml"),
    },
];
