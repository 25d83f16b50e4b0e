#!/usr/bin/env bash
# Makes the offline source release target/dist/sse-auto-<version>.tar.gz: the module's sources
# with every crate it needs vendored (cargo vendor) and the cargo configuration that uses them,
# so that
#
#     tar xzf sse-auto-<version>.tar.gz
#     cd nginx-X.Y.Z && ./configure --with-compat ... --add-dynamic-module=../sse-auto-<version>
#     make modules
#
# builds with no network (packagers, Docker builds). Needs cargo and the network (or a filled
# cargo cache) once, here. The tarball is reproducible: file order, owners and times are fixed
# (times: the last commit's). The last line on stdout is the absolute path of the tarball.
set -euo pipefail

exec 3>&1 1>&2
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || { echo "no version in Cargo.toml"; exit 1; }
name=sse-auto-$version
out=${DIST_OUT_DIR:-$repo/target/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$out/stage/$name
rm -rf "$out/stage"
mkdir -p "$stage"

# the tracked files a build needs (not the tests, benchmarks, their tools and CI)
# (and the glibc 2.17 link: scripts/build/zig.sh installs zig, scripts/build/floor-cc is SSE_AUTO_LINKER)
git ls-files -z -- config config.make Cargo.toml Cargo.lock build.rs src sse-auto-core \
        README.md CHANGELOG.md SECURITY.md docs/INSTALL.md docs/BUILDING.md docs/DIRECTIVES.md \
        docs/METRICS.md examples packaging scripts/build/zig.sh scripts/build/floor-cc \
        scripts/build/glibc-floor.sh \
    | xargs -0 cp --parents -t "$stage"

# the benchmark tool is a workspace member only in the repository
sed -i 's/^members = \[.*\]$/members = [".", "sse-auto-core"]/' "$stage/Cargo.toml"
grep -q '^members = \[".", "sse-auto-core"\]$' "$stage/Cargo.toml" \
    || { echo "Cargo.toml: no workspace members line to rewrite"; exit 1; }

# vendor what the module and sse-auto-core need; Cargo.lock loses the benchmark's crates
(cd "$stage" && cargo vendor --quiet --versioned-dirs vendor >/dev/null)

mkdir -p "$stage/.cargo"
cat >"$stage/.cargo/config.toml" <<'EOF'
# sse_auto offline source release: every crate comes from vendor/ (cargo vendor), and cargo
# never uses the network. nginx's build (config.make) passes this file to cargo with --config;
# a cargo build run in this directory reads it by itself.
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "vendor"

[net]
offline = true

[env]
NGX_CONFIGURE_ARGS = "--with-debug"
EOF

epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
tarball=$out/$name.tar.gz
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$out/stage" -cf - "$name" | gzip -9 -n >"$tarball.tmp"
mv -f "$tarball.tmp" "$tarball"
rm -rf "$out/stage"

echo "$(basename "$tarball"): $(du -h "$tarball" | cut -f1), $(ls "$stage/../.." >/dev/null 2>&1; tar -tzf "$tarball" | grep -c '/vendor/[^/]*/$') crates vendored"
sha256sum "$tarball"
echo "$tarball" >&3
