#!/usr/bin/env bash
# Mutation testing of the state machine, the protected future, the windows and permits. Not part of .ci/run (it takes
# tens of minutes); run it before changing either file:  bash scripts/mutants.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
# The doc tests add minutes per mutant and cover nothing the integration tests do not.
cargo mutants --file src/machine.rs --file src/protected.rs --file src/window.rs \
    --file src/permit.rs --timeout 30 "$@" -- --lib --tests
