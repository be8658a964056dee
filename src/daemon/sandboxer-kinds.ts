import { gvisorKind } from "../sandboxers/gvisor/gvisor-kind.js";
import { runcKind } from "../sandboxers/runc/runc-kind.js";
import type { AnySandboxerKind } from "../sandboxers/sandboxer-kind.js";
import { vmmKind } from "../sandboxers/vmm/vmm-kind.js";
import { wasmKind } from "../sandboxers/wasm/wasm-kind.js";

/** The sandboxer kinds kuasard serves: each defines itself in its folder (`<kind>-kind.ts`); adding one is a line here. */
export const builtinSandboxerKinds: readonly AnySandboxerKind[] = [runcKind, wasmKind, vmmKind, gvisorKind] as readonly AnySandboxerKind[];

/** Their names, in the order above. */
export const builtinKindNames: readonly string[] = builtinSandboxerKinds.map((k) => k.name);
