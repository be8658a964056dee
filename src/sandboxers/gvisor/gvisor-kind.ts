import { podRuntimeKeys, podRuntimeOptions, type PodRuntimeKeys } from "../pod-runtime-keys.js";
import type { SandboxerKindDefinition } from "../sandboxer-kind.js";
import { resolveRunscBinary } from "./runsc-binary.js";
import { runscNetworkModes, type RunscNetwork } from "./runsc-network.js";

/** The gvisor kind's own keys of `[sandboxers.gvisor]`. */
export interface GvisorKindOptions extends PodRuntimeKeys {
  runscBinary: string;
  runscPlatform: string;
  runscNetwork: RunscNetwork | "auto";
  runscDebugLogDir: string;
  runscFlags: string[];
  runscCommandTimeoutMs: number;
}

export const gvisorKind: SandboxerKindDefinition<GvisorKindOptions> = {
  name: "gvisor",
  options: {
    ...podRuntimeKeys,
    runscBinary: {
      kind: "string",
      default: "",
      doc: `The runsc binary, a name looked up on PATH or a path; "" for the runsc packaging/install-deps.sh put in .deps/runsc-2024 when it is there, else runsc on PATH.`,
    },
    runscPlatform: { kind: "enum", values: ["auto", "systrap", "ptrace", "kvm"], default: "auto", doc: "gVisor platform: auto (systrap when a probe sandbox starts on it, else ptrace), or one named." },
    runscNetwork: {
      kind: "enum",
      values: ["auto", ...runscNetworkModes],
      default: "auto",
      doc: "Network of gVisor pods: auto (sandbox when a probe sandbox starts with it, else host), sandbox (gVisor's stack on the pod's interfaces), host (socket calls go to the pod's own namespace) or none.",
    },
    runscDebugLogDir: { kind: "string", default: "", doc: `Directory for runsc's per-command debug logs; "" for none.` },
    runscFlags: { kind: "stringList", default: [], doc: "More global runsc flags." },
    runscCommandTimeoutMs: { kind: "int", min: 100, max: 600_000, default: 30_000, doc: "Deadline of one short runsc command, in ms." },
  },
  programs: (o) => ({ runsc: resolveRunscBinary(o.runscBinary) }),
  async create(base, o, s) {
    // Loaded only for a configured kind: a daemon carries the code of the kinds it serves.
    const { createGvisorSandboxer } = await import("./gvisor-sandboxer.js");
    const runsc = { binary: resolveRunscBinary(o.runscBinary), platform: o.runscPlatform, network: o.runscNetwork, debugLogDir: o.runscDebugLogDir, extraFlags: o.runscFlags, commandTimeoutMs: o.runscCommandTimeoutMs };
    return createGvisorSandboxer({ ...podRuntimeOptions(base, o), runsc }, s.log, s.events, s.minOomScoreAdj);
  },
};
