import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import type { SandboxCreateRequest, Sandboxer, SandboxStatus } from "../../src/sandbox/sandboxer.js";
import type { TaskBackend } from "../../src/task/task-backend.js";

/** A fake {@link Sandboxer} for service tests, whose sandboxes are entries of a map the test can read. */
export interface MapSandboxer extends Sandboxer {
  readonly sandboxes: Map<string, { req: SandboxCreateRequest; state: SandboxStatus["state"] }>;
}

export interface MapSandboxerOptions {
  /** Its task backend (default: none, an empty object). */
  tasks?: TaskBackend;
  /** Update (default: accepts anything and does nothing). */
  update?: Sandboxer["update"];
  /** Changes the status it reports (default: pid 4242 when ready, else 0; created at 0; no task address; Task API v2; info names the kind). */
  status?: (base: SandboxStatus) => SandboxStatus;
}

/** A sandboxer of `kind` that creates, starts, stops and shuts down entries of a map; unknown ids are NotFound. */
export function mapSandboxer(kind: string, o: MapSandboxerOptions = {}): MapSandboxer {
  const sandboxes: MapSandboxer["sandboxes"] = new Map();
  const need = (id: string) => {
    const s = sandboxes.get(id);
    if (!s) throw new RuntimeError(Code.NotFound, `sandbox ${id} not found`);
    return s;
  };
  const status = (id: string): SandboxStatus => {
    const state = need(id).state;
    const base: SandboxStatus = {
      id,
      state,
      pid: state === "ready" ? 4242 : 0,
      createdAt: new Date(0),
      exitedAt: undefined,
      exitStatus: 0,
      taskAddress: "",
      taskApiVersion: 2,
      labels: {},
      info: { sandboxer: kind },
    };
    return o.status ? o.status(base) : base;
  };
  return {
    kind,
    sandboxes,
    tasks: o.tasks ?? ({} as TaskBackend),
    has: (id) => sandboxes.has(id),
    async create(req) {
      sandboxes.set(req.id, { req, state: "created" });
    },
    async start(id) {
      need(id).state = "ready";
      return status(id);
    },
    async platform() {
      return { os: "linux", architecture: "amd64", variant: "" };
    },
    async stop(id) {
      need(id).state = "stopped";
    },
    async wait() {
      return { exitStatus: 0, exitedAt: new Date(0) };
    },
    async status(id) {
      return status(id);
    },
    async shutdown(id) {
      need(id);
      sandboxes.delete(id);
    },
    async metrics() {
      throw new Error("not used");
    },
    update: o.update ?? (async () => {}),
    async recover() {},
    async close() {},
    debugExec: () => Promise.reject(new Error("no exec in a map")),
    inventory: () => ({
      sandboxes: [...sandboxes].map(([id, s]) => ({ id, namespace: s.req.namespace, state: s.state, pid: s.state === "ready" ? 4242 : 0, createdAt: new Date(0).toISOString(), exitedAt: undefined, dir: "", netns: s.req.netnsPath, cgroupPath: "" })),
      containers: [],
    }),
  };
}
