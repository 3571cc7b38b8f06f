#!/usr/bin/env bash
# Installs everything vrf-toolkit needs on a fresh Debian 12 machine (run as root). Idempotent: a second
# run only checks. Afterwards, `cargo` is in ~/.cargo/bin and `vng` in /usr/local/bin.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run me as root (apt-get and the kernel lab need it)" >&2
  exit 1
fi

pkgs=(
  # The kernel lab: Debian's stock kernel (VRF=m) booted under qemu by virtme-ng (needs busybox).
  linux-image-amd64 qemu-system-x86 busybox-static kmod
  # virtme-ng lives in its own venv made with Debian's python3.
  python3 python3-venv
  python3-pytest python3-paramiko python3-requests
  # Networking tools for the lab topology and the tests.
  iproute2 iputils-ping procps
  # Tracing system calls (the lab test that counts what a VRF connect costs).
  strace
  # Unmodified programs the vrf-exec tests run inside VRFs (curl itself is installed below), and the sshd
  # of the service tests (vrf-sshd@.service under systemd, whose 252 is Debian 12's own).
  socat openssh-server systemd
  # setcap: the vrf-exec test that a file-capability install refuses to run.
  libcap2-bin
  # GNU time: the peak memory of a program the lab runs (its ru_maxrss, not the test's).
  time
  # The DNS servers of the resolver's lab tests and bench (dnsmasq, without a system service).
  dnsmasq-base
  # Building Rust code (the linker), and fetching rustup when there is no cargo yet.
  gcc libc6-dev curl ca-certificates
  # libFuzzer (C++) for the fuzz targets.
  g++
  # The Debian package (scripts/package.sh, check-package.sh): dpkg-shlibdeps for its Depends, strip
  # and readelf, xz for cargo-deb (built without liblzma), man to render the pages.
  dpkg-dev binutils xz-utils man-db
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# virtme-ng provides `vng`, which boots a kernel with the host's root file system as the guest's.
venv=/opt/vrf-toolkit/venv
if [ ! -x "$venv/bin/vng" ]; then
  echo "install-deps: pip install virtme-ng (into $venv)"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'virtme-ng>=1.30'
fi
# maturin builds vrf_socket's wheel (scripts/build-wheel.sh): from PyPI, it is not in Debian 12.
if ! "$venv/bin/maturin" --version >/dev/null 2>&1; then
  echo "install-deps: pip install maturin (into $venv)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'maturin>=1.9.4,<2'
fi
for tool in "$venv"/bin/vng "$venv"/bin/virtme-*; do
  ln -sf "$tool" /usr/local/bin/
done

# Rust: the machine's toolchain if there is one, else rustup's stable.
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: installing Rust with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
fi
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi
# cargo-fuzz: the fuzz targets' driver (libFuzzer), on the stable toolchain through RUSTC_BOOTSTRAP=1.
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "install-deps: cargo install cargo-fuzz"
  cargo install --quiet --locked cargo-fuzz
fi
# cargo-deb: makes the Debian package (scripts/package.sh); about 90 s to build on 2 cores. Without its
# default features (liblzma built from C, debug ids), which we do not need: it compresses with the xz
# program, and package.sh strips the binaries.
cargo_deb_min=3.8.0
cargo_deb=$(cargo deb --version 2>/dev/null | awk '{print $2}')
if [ -z "$cargo_deb" ] || [ "$(printf '%s\n' "$cargo_deb_min" "$cargo_deb" | sort -V | head -1)" != "$cargo_deb_min" ]; then
  echo "install-deps: cargo install cargo-deb (${cargo_deb:-none} < $cargo_deb_min)"
  cargo install --quiet --locked --no-default-features --version "^$cargo_deb_min" cargo-deb
fi
echo "install-deps: ok ($(vng --version 2>/dev/null | head -1), $(cargo --version))"
