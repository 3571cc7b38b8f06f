//! The vrf-toolkit kernel lab.
//!
//! Our development machines run kernels without VRF support, so every end-to-end test runs in a lab:
//! natively when the running kernel has VRF and we are root, otherwise inside a small VM (virtme-ng booting
//! Debian's stock kernel under qemu) that sees the host's files. [`lab`] decides and boots, [`harness`]
//! makes `cargo test` use it transparently (and [`mod@bench`] `cargo bench`), and [`topology`] builds the
//! two-VRF network every test, bench and the demo use.

#![forbid(unsafe_code)]

pub mod bench;
pub mod ca;
pub mod cmd;
pub mod dnsmasq;
pub mod harness;
pub mod http;
pub mod lab;
pub mod netns;
pub mod python;
mod results;
pub mod scale;
pub mod systemd;
pub mod topology;

/// The path of a binary of this workspace (`vrf-exec`, `vrf-ping` …), built next to the calling one:
/// in the same directory (`target/<profile>/`), or one up for test binaries (`target/<profile>/deps/`).
///
/// In the lab VM the path is that of a copy in the guest's `/tmp` (made once per run): `target/` is on
/// the host's file system over 9p without caching, where every start of a large debug binary reads
/// its pages from the host again, seconds each under TCG.
///
/// `cargo test --workspace` builds every binary; a test that needs one fails with this message otherwise.
pub fn tool(name: &str) -> anyhow::Result<std::path::PathBuf> {
    built(
        "",
        name,
        "`cargo test --workspace` (or `cargo build --workspace`)",
    )
}

/// The path of an example of this workspace (`multi_vrf_echo` of vrf-socket …): the build in
/// `target/<profile>/examples/`, found and copied into the lab VM's `/tmp` as [`tool`] does.
///
/// `cargo test --workspace` builds every example; a test that needs one fails with this message otherwise.
pub fn example(name: &str) -> anyhow::Result<std::path::PathBuf> {
    built(
        "examples",
        name,
        "`cargo test --workspace` (or `cargo build --workspace --examples`)",
    )
}

/// The most recently modified file of `dir` whose name starts with `prefix` and ends with `suffix`
/// (the newest package or wheel a build left there).
pub fn newest_file(
    dir: &std::path::Path,
    prefix: &str,
    suffix: &str,
) -> Option<std::path::PathBuf> {
    let mut found: Vec<(std::time::SystemTime, std::path::PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(prefix) && n.ends_with(suffix)
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

/// `name` in directory `dir` of the calling program's `target/<profile>/` (test binaries and benches
/// are in `target/<profile>/deps/`), or in the lab VM a copy of it; `build` says how to make it.
fn built(dir: &str, name: &str, build: &str) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context as _;
    static COPIES: std::sync::Mutex<Vec<(std::path::PathBuf, std::path::PathBuf)>> =
        std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe().context("finding this program's path")?;
    let profile = exe
        .ancestors()
        .skip(1)
        .find(|d| d.file_name().is_some_and(|n| n != "deps"))
        .with_context(|| format!("{} is in no target directory", exe.display()))?;
    let built = profile.join(dir).join(name);
    if !built.is_file() {
        anyhow::bail!("{} is not built: run {build} first", built.display());
    }
    if std::env::var_os(lab::GUEST_ENV).is_none() {
        return Ok(built);
    }
    let mut copies = COPIES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, p)) = copies.iter().find(|(b, _)| *b == built) {
        return Ok(p.clone());
    }
    let copies_dir = std::env::temp_dir().join(format!("vrf-lab-tools-{}", std::process::id()));
    std::fs::create_dir_all(copies_dir.join(dir))?;
    for d in [&copies_dir, &copies_dir.join(dir)] {
        // Readable and searchable by everyone: tests run tools as `nobody` too.
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    }
    let copy = copies_dir.join(dir).join(name);
    std::fs::copy(&built, &copy)
        .with_context(|| format!("copying {} to {}", built.display(), copy.display()))?;
    copies.push((built, copy.clone()));
    Ok(copy)
}

pub use topology::{PEER_V4, PEER_V6, ROUTER_V4, ROUTER_V6, ResolvConfs, Site, Topology};

static NEXT_DIR: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A scratch directory under the system's temporary directory, deleted with its contents on drop.
#[derive(Debug)]
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// Creates `<tmp>/<prefix>-<pid>-<n>`, unique within this host.
    pub fn new(prefix: &str) -> anyhow::Result<TempDir> {
        let d = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", d.display()))?;
        Ok(TempDir(d))
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// The path of `name` in the directory.
    pub fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }

    /// Writes `contents` to `name` in the directory and returns its path.
    pub fn file(
        &self,
        name: &str,
        contents: impl AsRef<[u8]>,
    ) -> anyhow::Result<std::path::PathBuf> {
        let p = self.0.join(name);
        std::fs::write(&p, contents)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", p.display()))?;
        Ok(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn missing_builds_say_how_to_make_them() {
        let e = super::example("no_such_example").unwrap_err().to_string();
        assert!(
            e.contains("/examples/no_such_example is not built")
                && e.contains("cargo build --workspace --examples"),
            "{e}"
        );
        let e = super::tool("no-such-tool").unwrap_err().to_string();
        assert!(
            e.contains("/no-such-tool is not built") && e.contains("cargo build --workspace`"),
            "{e}"
        );
        assert!(!e.contains("/deps/"), "{e}");
    }
}
