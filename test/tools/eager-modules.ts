/**
 * Loads what kuasard loaded before its kinds, the shim bridge and the kuasar-io fork's API
 * were imported only when configured: `kuasard-footprint.ts` preloads it (`node --import`) to
 * measure what loading them lazily saves.
 */
import "../../src/sandboxers/vmm/vmm-sandboxer.js";
import "../../src/sandboxers/wasm/wasm-sandboxer.js";
import "../../src/sandboxers/gvisor/gvisor-sandboxer.js";
import "../../src/daemon/shim-bridge-routes.js";
import "../../src/daemon/kuasar-io-socket.js";
