//! Many VRFs in one network namespace, for the scale and launch benches and for lab tests: VRF `s<i>`
//! routes with table `10000 + i`, has a dummy port `sd<i>` enslaved, both up, and its table closed as
//! the [topology](crate::topology)'s are (an `unreachable default` route per family, of metric
//! [`CLOSING_METRIC`]), so that no tool has a leaking table to warn about.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! vrf_lab::scale::add_vrfs(0, 100)?; // s0 … s99
//! vrf_lab::scale::add_vrfs(100, 900)?; // s100 … s999
//! # Ok(()) }
//! ```

use std::process::Command;

use anyhow::{Context, Result};

use crate::topology::CLOSING_METRIC;
use crate::{TempDir, cmd};

/// VRF `s<i>` routes with table `TABLE_BASE + i`: clear of the tables the topology uses (10, 20) and of
/// the kernel's own (253 to 255).
pub const TABLE_BASE: u32 = 10_000;

/// The name of VRF `i`: `s<i>`.
pub fn vrf_name(i: usize) -> String {
    format!("s{i}")
}

/// The name of VRF `i`'s dummy port: `sd<i>`.
pub fn port_name(i: usize) -> String {
    format!("sd{i}")
}

/// The routing table of VRF `i`, `TABLE_BASE + i`; an error past the last table there is.
pub fn table(i: usize) -> Result<u32> {
    u32::try_from(i)
        .ok()
        .and_then(|i| i.checked_add(TABLE_BASE))
        .with_context(|| format!("VRF {i} would need a table past {}", u32::MAX))
}

/// The `ip` commands (without `ip`) that make VRF `i`, close its table and give it its port.
pub fn commands(i: usize) -> Result<[String; 5]> {
    let (vrf, port, table) = (vrf_name(i), port_name(i), table(i)?);
    Ok([
        format!("link add {vrf} up type vrf table {table}"),
        // `default` is IPv4 in a batch, which takes no -6: `::/0` for IPv6.
        format!("route add vrf {vrf} unreachable default metric {CLOSING_METRIC}"),
        format!("route add vrf {vrf} unreachable ::/0 metric {CLOSING_METRIC}"),
        // Enslaved while down, then up: the kernel takes a device that is up down and up again to
        // enslave it, and those events make it walk its routing tables (thousands here).
        format!("link add {port} master {vrf} type dummy"),
        format!("link set {port} up"),
    ])
}

/// Adds VRFs `first` to `first + count - 1` ([`commands`]) in the calling thread's network namespace,
/// in one `ip -batch` file: one process for all of them, which stops at the first command that fails.
///
/// A file rather than [`ip_batch`](crate::topology::ip_batch)'s standard input: with thousands of
/// commands, a failure names the file and line (`ip` says `Command failed FILE:LINE`) instead of
/// quoting every command.
pub fn add_vrfs(first: usize, count: usize) -> Result<()> {
    if count == 0 {
        return Ok(());
    }
    let mut batch = String::new();
    for i in first..first + count {
        for c in commands(i)? {
            batch.push_str(&c);
            batch.push('\n');
        }
    }
    let dir = TempDir::new("vrf-lab-scale")?;
    let file = dir.file("vrfs.batch", batch)?;
    cmd::run(Command::new("ip").arg("-batch").arg(&file))?
        .ok()
        .with_context(|| {
            format!(
                "adding VRFs {} to {}",
                vrf_name(first),
                vrf_name(first + count - 1)
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_tables_follow() {
        assert_eq!(
            (vrf_name(3999), port_name(3999)),
            ("s3999".into(), "sd3999".into())
        );
        assert_eq!(table(4).unwrap(), 10_004);
        assert!(table(u32::MAX as usize).is_err());
        let c = commands(7).unwrap();
        assert_eq!(c[0], "link add s7 up type vrf table 10007");
        assert_eq!(c[3], "link add sd7 master s7 type dummy");
    }
}
