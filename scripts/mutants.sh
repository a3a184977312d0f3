#!/usr/bin/env bash
# Mutation testing of the state machine (its windows included), the protected future and permits.
# Not part of .ci/run (it takes tens of minutes); run it before changing any of them:
#   bash scripts/mutants.sh          (extra arguments go to cargo mutants, e.g. --list)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
# The globs are cargo-mutants' (quoted, so the shell leaves them alone): one with a `/` matches
# paths from the crate root, and `**` any depth, so src/machine/window/ is in. The machine's
# unit tests are not code to mutate.
# The doc tests add minutes per mutant and cover nothing the integration tests do not.
cargo mutants --file 'src/machine/**/*.rs' --exclude src/machine/tests.rs \
    --file src/call/protected.rs --file src/call/permit.rs --timeout 30 "$@" -- --lib --tests
