#!/usr/bin/env bash
# Checks a vrf-toolkit .deb (scripts/package.sh runs it): its control fields (Depends with libc6), that
# it holds every file it should (the three binaries and no vrf-lab, a man page for vrf-exec and each of
# its subcommands as the packaged vrf-exec lists them, vrf-ping's and vrf-curl-lite's, 9 completion
# scripts, the systemd templates, README, copyright), that its vrf-exec is statically linked, that each
# binary runs `--version`, and that each man page renders without a warning. Names every miss, then
# exits 1.
#   scripts/check-package.sh [DEB]      (default: target/debian/vrf-toolkit_*_amd64.deb)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
deb=${1:-}
if [ -z "$deb" ]; then
  debs=(target/debian/vrf-toolkit_*_amd64.deb)
  if [ ! -f "${debs[0]}" ] || [ ${#debs[@]} -ne 1 ]; then
    echo "check-package: give the .deb (target/debian/ holds ${#debs[@]}: ${debs[*]})" >&2
    exit 2
  fi
  deb=${debs[0]}
fi
for tool in dpkg-deb readelf man gzip; do
  command -v "$tool" >/dev/null || { echo "check-package: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

failures=()
fail() { failures+=("$*"); }

# Control fields.
field() { dpkg-deb --field "$deb" "$1"; }
[ "$(field Package)" = vrf-toolkit ] || fail "Package is '$(field Package)', not vrf-toolkit"
[ "$(field Architecture)" = amd64 ] || fail "Architecture is '$(field Architecture)', not amd64"
[ "$(field Section)" = net ] || fail "Section is '$(field Section)', not net"
[ "$(field Priority)" = optional ] || fail "Priority is '$(field Priority)', not optional"
# Debian's synopsis is one line; cargo-deb takes vrf-exec's description and splits it at 79 characters.
synopsis=$(python3 -c 'import tomllib; print(tomllib.load(open("vrf-exec/Cargo.toml", "rb"))["package"]["description"])')
[ "$(field Description | head -1)" = "$synopsis" ] ||
  fail "the synopsis is not vrf-exec's description: keep that under 80 characters ('$(field Description | head -1)')"
libc6='(^|[ ,])libc6([ ,(]|$)'
[[ "$(field Depends)" =~ $libc6 ]] || fail "Depends has no libc6: '$(field Depends)'"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb --contents "$deb" | awk '{print $6}' | sed 's|^\./||; s|/$||' >"$tmp/contents"
dpkg-deb -x "$deb" "$tmp/root"
root=$tmp/root

# The subcommands the packaged vrf-exec has, from its help (clap's `Commands:` list; wrapped lines are
# indented further), so that a page missing for a new one is caught.
subcommands=()
if "$root/usr/bin/vrf-exec" --help >"$tmp/help" 2>&1; then
  mapfile -t subcommands < <(awk '/^Commands:/ {on = 1; next} on && /^$/ {exit} on && /^  [^ ]/ {print $1}' \
    "$tmp/help" | grep -vx help)
fi
[ ${#subcommands[@]} -gt 0 ] || fail "no subcommand read from the packaged vrf-exec --help"

expected=(
  usr/bin/vrf-exec usr/bin/vrf-ping usr/bin/vrf-curl-lite
  usr/share/man/man8/vrf-exec.8.gz usr/share/man/man8/vrf-ping.8.gz usr/share/man/man1/vrf-curl-lite.1.gz
  usr/share/doc/vrf-toolkit/README.md usr/share/doc/vrf-toolkit/copyright
  usr/lib/systemd/system/vrf-sshd@.service
)
for sub in "${subcommands[@]}"; do
  expected+=("usr/share/man/man8/vrf-exec-$sub.8.gz")
done
for t in vrf-exec vrf-ping vrf-curl-lite; do
  expected+=(
    "usr/share/bash-completion/completions/$t"
    "usr/share/zsh/vendor-completions/_$t"
    "usr/share/fish/vendor_completions.d/$t.fish"
  )
done
for unit in vrf-exec/systemd/*.service; do
  [ -e "$unit" ] && expected+=("usr/lib/systemd/system/${unit##*/}")
done
for path in "${expected[@]}"; do
  grep -qxF "$path" "$tmp/contents" || fail "missing: /$path"
done
for path in $(grep -E '^usr/share/(bash-completion|zsh|fish)/.*[^/]$' "$tmp/contents"); do
  [ -s "$root/$path" ] || fail "empty: /$path"
done
! grep -q vrf-lab "$tmp/contents" || fail "vrf-lab (the test lab) is in the package: $(grep vrf-lab "$tmp/contents" | tr '\n' ' ')"
if ! bash -n "$root/usr/share/bash-completion/completions/vrf-exec" 2>"$tmp/bash"; then
  fail "the bash completion of vrf-exec does not parse: $(cat "$tmp/bash")"
fi

# vrf-exec is the static PIE: no program interpreter, no shared library.
exec_bin=$root/usr/bin/vrf-exec
if [ -f "$exec_bin" ]; then
  ! readelf -lW "$exec_bin" | grep -q INTERP || fail "vrf-exec has a program interpreter: not the static build"
  ! readelf -dW "$exec_bin" | grep -q NEEDED ||
    fail "vrf-exec needs shared libraries: $(readelf -dW "$exec_bin" | grep NEEDED | tr -s ' ' | tr '\n' ' ')"
  readelf -hW "$exec_bin" | grep -q 'DYN' || fail "vrf-exec is not position-independent"
fi

# Each binary runs.
for t in vrf-exec vrf-ping vrf-curl-lite; do
  [ -x "$root/usr/bin/$t" ] || continue
  if ! out=$("$root/usr/bin/$t" --version 2>&1) || [[ "$out" != "$t "* ]]; then
    fail "/usr/bin/$t --version: $out"
  fi
  if readelf -SW "$root/usr/bin/$t" | grep -q '\.debug_info'; then
    fail "/usr/bin/$t still has debug sections (not stripped)"
  fi
done

# Each page renders without a warning.
pages=("$root"/usr/share/man/man*/*.gz)
for page in "${pages[@]}"; do
  [ -f "$page" ] || continue
  warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || echo "man failed")
  [ -z "$warnings" ] || fail "${page#"$root"}: $warnings"
done

if [ ${#failures[@]} -gt 0 ]; then
  echo "check-package: $deb FAILED:" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "check-package: $deb ok ($(wc -l <"$tmp/contents") entries, ${#pages[@]} man pages," \
  "vrf-exec subcommands: ${subcommands[*]}; Depends: $(field Depends))"
