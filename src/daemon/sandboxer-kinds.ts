import { gvisorKind } from "../sandboxers/gvisor/gvisor-kind.js";
import { runcKind } from "../sandboxers/runc/runc-kind.js";
import type { AnySandboxerKind } from "../sandboxers/sandboxer-kind.js";
import { vmmKind } from "../sandboxers/vmm/vmm-kind.js";
import { wasmKind } from "../sandboxers/wasm/wasm-kind.js";

/** The sandboxer kinds kuasard serves: adding a kind is one line here (docs/adding-a-sandboxer-kind.md). */
export const builtinSandboxerKinds: readonly AnySandboxerKind[] = [runcKind, wasmKind, vmmKind, gvisorKind] as readonly AnySandboxerKind[];
