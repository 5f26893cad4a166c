//! A list of tenant ids as the plain reports show it: whole up to ten,
//! abbreviated beyond, so that a report over twenty thousand tenants stays
//! a line long. The JSON documents always list every tenant.

use std::fmt;

/// Up to this many tenants, a list is shown whole.
pub const SHOWN_WHOLE: usize = 10;
/// A longer list shows this many of its first tenants ...
const FIRST: usize = 5;
/// ... and this many of its last.
const LAST: usize = 2;

/// Shows tenant ids, comma-separated: all of them when there are at most
/// ten, otherwise the first five, an ellipsis, the last two and how many
/// there are: `tenant-0001, tenant-0002, tenant-0003, tenant-0004,
/// tenant-0005, …, tenant-1999, tenant-2000 (2000 tenants)`.
#[derive(Debug, Clone, Copy)]
pub struct TenantList<'a>(pub &'a [String]);

impl fmt::Display for TenantList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = self.0;
        if ids.len() <= SHOWN_WHOLE {
            return f.write_str(&ids.join(", "));
        }
        write!(
            f,
            "{}, …, {} ({} tenants)",
            ids[..FIRST].join(", "),
            ids[ids.len() - LAST..].join(", "),
            ids.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("tenant-{i:04}")).collect()
    }

    #[test]
    fn ten_tenants_or_fewer_are_listed_whole() {
        assert_eq!(TenantList(&[]).to_string(), "");
        assert_eq!(TenantList(&ids(1)).to_string(), "tenant-0001");
        assert_eq!(
            TenantList(&ids(10)).to_string(),
            "tenant-0001, tenant-0002, tenant-0003, tenant-0004, tenant-0005, \
             tenant-0006, tenant-0007, tenant-0008, tenant-0009, tenant-0010"
        );
    }

    #[test]
    fn more_than_ten_show_the_first_five_the_last_two_and_the_count() {
        assert_eq!(
            TenantList(&ids(11)).to_string(),
            "tenant-0001, tenant-0002, tenant-0003, tenant-0004, tenant-0005, …, \
             tenant-0010, tenant-0011 (11 tenants)"
        );
        assert_eq!(
            TenantList(&ids(20_000)).to_string(),
            "tenant-0001, tenant-0002, tenant-0003, tenant-0004, tenant-0005, …, \
             tenant-19999, tenant-20000 (20000 tenants)"
        );
    }
}
