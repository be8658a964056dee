#!/usr/bin/env bash
# The main job (README): install what the runtime needs, build it, start it under
# stock containerd 2.x and 1.7 in private namespaces, run a pod of every kind (runc,
# wasm, gvisor, vmm) on each, show what runs inside and how fast it started, and tear
# everything down. Touches nothing of a containerd already on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/install-deps.sh
# Exactly what the lock file says (it lists every platform's optional packages).
npm ci --no-audit --no-fund
npm run build
exec node dist/test/quickstart.js
