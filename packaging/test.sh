#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs everything from nothing,
# builds, checks generated code is current, then runs unit and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash packaging/install-deps.sh
# Exactly what the lock file says (it lists every platform's optional packages).
npm ci --no-audit --no-fund
npm run build

# Generated code (protobuf, the holder protocol's constants) is committed; a stale copy is a failure.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  if ! git diff --quiet -- src/gen || [ -n "$(git status --porcelain -- src/gen)" ]; then
    echo "src/gen is not what 'npm run generate' produces from proto/ and native/holder/protocol.h:" >&2
    git status --porcelain -- src/gen >&2
    exit 1
  fi
fi

# One node:test run over unit and e2e tests, as pid 1 of private namespaces
# (test/run.ts), so whatever a test starts dies with it.
exec node dist/test/run.js
