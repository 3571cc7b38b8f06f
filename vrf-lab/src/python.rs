//! The Python package `vrf_socket` in the lab: the wheel `scripts/build-wheel.sh` builds, unpacked for
//! Debian's python3 (the suite's `python::` tests and the `python` bench).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::cmd;

/// The wheel to test: `VRF_LAB_WHEEL`, else the newest `target/wheels/vrf_socket-*.whl`.
pub fn wheel() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("VRF_LAB_WHEEL").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wheels");
    crate::newest_file(&dir, "vrf_socket-", ".whl").with_context(|| {
        format!(
            "no vrf_socket wheel in {}: build it with scripts/build-wheel.sh (scripts/test-all.sh does)",
            dir.display()
        )
    })
}

/// Unpacks the wheel into `site` (a wheel is a zip of what goes into site-packages): no pip, no
/// network, and nothing installed outside the test's directory.
pub fn unpack_wheel(wheel: &Path, site: &Path) -> Result<()> {
    cmd::run(
        Command::new("/usr/bin/python3")
            .args(["-m", "zipfile", "-e"])
            .arg(wheel)
            .arg(site),
    )?
    .ok()
    .with_context(|| format!("unpacking {}", wheel.display()))?;
    chmod_tree(site)
}

/// Sets `path`'s permission bits to `mode`.
pub fn chmod(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// Directories 755 and files 644 under `dir`.
pub fn chmod_tree(dir: &Path) -> Result<()> {
    chmod(dir, 0o755)?;
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            chmod_tree(&p)?;
        } else {
            chmod(&p, 0o644)?;
        }
    }
    Ok(())
}
