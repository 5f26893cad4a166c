/// A firmware build; its natural key is (tenant, version, device_type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareSeed {
    pub version: &'static str,
    pub description: &'static str,
    pub file_url: String,
    pub file_size_bytes: i64,
    pub checksum_sha256: String,
    pub device_type: &'static str,
}

/// The firmware every device starts on before any campaign.
pub const BASE_VERSION: &str = "1.0.0";

pub(super) fn demo_firmware() -> Vec<FirmwareSeed> {
    let build = |version, description, size, checksum_char: char| FirmwareSeed {
        version,
        description,
        file_url: format!("https://firmware.example.com/v{version}/firmware.bin"),
        file_size_bytes: size,
        checksum_sha256: checksum_char.to_string().repeat(64),
        device_type: "sensor",
    };
    vec![
        build(
            BASE_VERSION,
            "Initial release - basic telemetry and heartbeat",
            524_288,
            'a',
        ),
        build(
            "1.1.0",
            "Added OTA update support and improved power management",
            589_824,
            'b',
        ),
    ]
}
