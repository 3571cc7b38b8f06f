//! Where the configuration files of a VRF live.
//!
//! There is no kernel notion of per-VRF configuration; the convention (iproute2 has the same one for
//! network namespaces, `/etc/netns/NAME/`) is a directory per VRF under `/etc/vrf/`. vrf-exec shows a
//! command of VRF `NAME` the file `/etc/vrf/NAME/resolv.conf` as its `/etc/resolv.conf`, and the
//! resolver of `vrf_socket::dns` reads the same file: one definition, here, for both.

use std::path::{Path, PathBuf};

/// The directory that holds one directory of configuration files per VRF.
pub const VRF_CONFIG_DIR: &str = "/etc/vrf";
/// The system-wide resolver configuration.
pub const SYSTEM_RESOLV_CONF: &str = "/etc/resolv.conf";
/// The static host table.
pub const SYSTEM_HOSTS: &str = "/etc/hosts";

/// Where VRF `vrf`'s own resolv.conf lives, whether or not it exists: `/etc/vrf/VRF/resolv.conf`.
///
/// ```
/// assert_eq!(
///     vrf_socket::paths::vrf_resolv_conf("blue"),
///     std::path::Path::new("/etc/vrf/blue/resolv.conf")
/// );
/// ```
pub fn vrf_resolv_conf(vrf: &str) -> PathBuf {
    Path::new(VRF_CONFIG_DIR).join(vrf).join("resolv.conf")
}

/// The resolv.conf that applies to VRF `vrf`: its own ([`vrf_resolv_conf`]) if it exists, else
/// `/etc/resolv.conf`.
pub fn resolv_conf_for(vrf: &str) -> PathBuf {
    let own = vrf_resolv_conf(vrf);
    if own.exists() {
        own
    } else {
        PathBuf::from(SYSTEM_RESOLV_CONF)
    }
}
