import { podRuntimeKeys, podRuntimeOptions, type PodRuntimeKeys } from "../pod-runtime-keys.js";
import type { SandboxerKindDefinition } from "../sandboxer-kind.js";
import { createGvisorSandboxer } from "./gvisor-sandboxer.js";
import { runscNetworkModes, type RunscNetwork } from "./runsc-cli.js";

/** The gvisor kind's own keys of `[sandboxers.gvisor]`. */
export interface GvisorKindOptions extends PodRuntimeKeys {
  runscBinary: string;
  runscPlatform: string;
  runscNetwork: RunscNetwork;
  runscDebugLogDir: string;
  runscFlags: string[];
  runscCommandTimeoutMs: number;
}

export const gvisorKind: SandboxerKindDefinition<GvisorKindOptions> = {
  name: "gvisor",
  options: {
    ...podRuntimeKeys,
    runscBinary: { kind: "string", nonEmpty: true, default: "runsc", doc: "The runsc binary, a name looked up on PATH or a path." },
    runscPlatform: { kind: "enum", values: ["ptrace", "systrap", "kvm"], default: "ptrace", doc: "gVisor platform: ptrace everywhere; systrap or kvm where runsc and the host support them." },
    // Debian's runsc (2022-12) refuses "sandbox" on kernels that expose net.core sysctls in every network namespace.
    runscNetwork: { kind: "enum", values: runscNetworkModes, default: "host", doc: "Network of gVisor pods: host (the pod's own namespace), sandbox (gVisor's stack) or none." },
    runscDebugLogDir: { kind: "string", default: "", doc: `Directory for runsc's per-command debug logs; "" for none.` },
    runscFlags: { kind: "stringList", default: [], doc: "More global runsc flags." },
    runscCommandTimeoutMs: { kind: "int", min: 100, max: 600_000, default: 30_000, doc: "Deadline of one short runsc command, in ms." },
  },
  programs: (o) => ({ runsc: o.runscBinary }),
  create(base, o, s) {
    const runsc = { binary: o.runscBinary, platform: o.runscPlatform, network: o.runscNetwork, debugLogDir: o.runscDebugLogDir, extraFlags: o.runscFlags, commandTimeoutMs: o.runscCommandTimeoutMs };
    return createGvisorSandboxer({ ...podRuntimeOptions(base, o), runsc }, s.log, s.events, s.minOomScoreAdj);
  },
};
