#!/usr/bin/env bash
# Packages the crate as `cargo publish` would, then builds and runs the README's quick start in
# a new crate laid out beside the package: its [dependencies] are the README's quick-start
# `toml` block as written (`protego-breaker = "0.1"`), patched to the unpacked package, and its
# main.rs is the README's quick-start `rust` block. Offline: it reuses what cargo already has.
#
#   bash scripts/package-check.sh                 # CI: a clean checkout
#   bash scripts/package-check.sh --allow-dirty   # while editing (passed to `cargo package`)
set -euo pipefail
cd "$(dirname "$0")/.."

name=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
package="target/package/$name-$version"

cargo package --offline "$@"
test -f "$package/Cargo.toml" || { echo "no unpacked package at $package" >&2; exit 1; }

# The README inside the package is the one users read on crates.io.
grep -q "^$name = \"" "$package/README.md" ||
    { echo "the packaged README does not tell users to depend on $name" >&2; exit 1; }

# The README's first fenced block of a language after "## Quick start", with rustdoc's hidden
# lines (`# code`) shown, as a reader who copies it would need them.
quick_start() {
    awk -v lang="$1" '
        /^## Quick start/ { in_section = 1; next }
        in_section && /^## / { exit }
        in_section && !in_block && $0 == "```" lang { in_block = 1; next }
        in_block && /^```/ { exit }
        in_block && lang == "rust" && $0 == "#" { print ""; next }
        in_block && lang == "rust" { sub(/^# /, "") }
        in_block { print }
    ' "$package/README.md"
}

user="target/package/quick-start"
rm -rf "$user"
mkdir -p "$user/src"
{
    printf '[package]\nname = "quick-start"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
    quick_start toml
    printf '\n[patch.crates-io]\n%s = { path = "../%s-%s" }\n\n[workspace]\n' "$name" "$name" "$version"
} >"$user/Cargo.toml"
quick_start rust >"$user/src/main.rs"
grep -q 'fn main' "$user/src/main.rs" ||
    { echo "the README's quick start is not a whole program" >&2; exit 1; }
# Start from the package's lock file, so the offline build picks versions cargo already has.
cp "$package/Cargo.lock" "$user/Cargo.lock"

echo "==> $user/Cargo.toml"
cat "$user/Cargo.toml"
CARGO_TARGET_DIR=target/package/quick-start-target cargo run --offline --manifest-path "$user/Cargo.toml"
