import { podRuntimeKeys, podRuntimeOptions, type PodRuntimeKeys } from "../pod-runtime-keys.js";
import type { SandboxerKindDefinition } from "../sandboxer-kind.js";

/** The runc kind's own keys of `[sandboxers.runc]`. */
export interface RuncKindOptions extends PodRuntimeKeys {
  runcBinary: string;
  runtime: string;
  systemdCgroup: boolean;
  runcCommandTimeoutMs: number;
}

export const runcKind: SandboxerKindDefinition<RuncKindOptions> = {
  name: "runc",
  options: {
    ...podRuntimeKeys,
    runcBinary: { kind: "string", nonEmpty: true, default: "runc", doc: "The runc binary, a name looked up on PATH or a path." },
    runtime: {
      kind: "string",
      nonEmpty: true,
      default: "runc",
      doc: `The OCI runtime: "runc" (runc_binary), "crun", or an absolute path to a runc-compatible one; probed at start, runc when it fails.`,
    },
    systemdCgroup: { kind: "bool", default: false, doc: "runc's systemd cgroup driver (--systemd-cgroup)." },
    runcCommandTimeoutMs: { kind: "int", min: 100, max: 600_000, default: 30_000, doc: "Deadline of one short runc command (create, start, kill, delete, state), in ms." },
  },
  programs: (o) => ({ runc: o.runcBinary }),
  async create(base, o, s) {
    // Loaded only for a configured kind: a daemon carries the code of the kinds it serves.
    const { createRuncSandboxer } = await import("./runc-sandboxer.js");
    return createRuncSandboxer(
      { ...podRuntimeOptions(base, o), runtime: o.runtime, runc: { binary: o.runcBinary, systemdCgroup: o.systemdCgroup, commandTimeoutMs: o.runcCommandTimeoutMs } },
      s.log,
      s.events,
      s.minOomScoreAdj,
    );
  },
};
