#!/usr/bin/env bash
# The main job (README): install what the runtime needs, build it, start it under
# stock containerd 2.x and 1.7 in private namespaces, run a sample pod on each,
# and tear everything down. Touches nothing of a containerd already on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/install-deps.sh
# npm ci would insist on lock entries for other platforms' optional packages, which the
# registry reachable here does not serve; install keeps to the lock file all the same.
npm install --no-audit --no-fund
npm run build
exec node dist/test/quickstart.js
