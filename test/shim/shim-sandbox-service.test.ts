import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "../../src/errors/code.js";
import { isErrorCode, RuntimeError } from "../../src/errors/runtime-error.js";
import { PodSandboxConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { silentLogger } from "../../src/log/logger.js";
import type { SandboxCreateRequest, Sandboxer, SandboxStatus } from "../../src/sandbox/sandboxer.js";
import { DELETED_MARKER } from "../../src/shim/bridge-tasks.js";
import { LAUNCHER_SANDBOXER_FILE } from "../../src/shim/sandboxer-choice.js";
import { shimSandboxServiceImpl } from "../../src/shim/shim-sandbox-service.js";
import type { CallContext } from "../../src/ttrpc/server.js";
import type { TaskBackend } from "../../src/task/task-backend.js";

/** A sandboxer that keeps its sandboxes in a map and records what it was asked. */
function fakeSandboxer(kind: string) {
  const sandboxes = new Map<string, { req: SandboxCreateRequest; state: SandboxStatus["state"] }>();
  const need = (id: string) => {
    const s = sandboxes.get(id);
    if (!s) throw new RuntimeError(Code.NotFound, `sandbox ${id} not found`);
    return s;
  };
  const status = (id: string): SandboxStatus => ({
    id,
    state: need(id).state,
    pid: need(id).state === "ready" ? 4242 : 0,
    createdAt: new Date(0),
    exitedAt: undefined,
    exitStatus: 0,
    taskAddress: "",
    taskApiVersion: 2,
    labels: {},
    info: { sandboxer: kind },
  });
  const s: Sandboxer & { sandboxes: typeof sandboxes } = {
    kind,
    sandboxes,
    tasks: {} as TaskBackend,
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
    async update() {},
    async recover() {},
    async close() {},
  };
  return s;
}

const ctx = { metadata: new Map([["containerd-namespace-ttrpc", ["k8s.io"]]]), signal: new AbortController().signal } as unknown as CallContext;

function service() {
  const runc = fakeSandboxer("runc");
  const wasm = fakeSandboxer("wasm");
  const svc = shimSandboxServiceImpl(new Map<string, Sandboxer>([["runc", runc], ["wasm", wasm]]), "runc", (md) => md.get("containerd-namespace-ttrpc")?.[0] ?? "default", silentLogger());
  return { runc, wasm, svc };
}

const podOptions = (annotations: Record<string, string>) => ({
  typeUrl: "runtime.v1.PodSandboxConfig",
  value: toBinary(PodSandboxConfigSchema, create(PodSandboxConfigSchema, { metadata: { name: "p", namespace: "default", uid: "u" }, annotations })),
});

describe("the shim sandbox service (containerd.runtime.sandbox.v1.Sandbox on the bridge)", () => {
  const dir = mkdtempSync("/tmp/kshimsb-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("creates in the default kind, in the launcher's kind, or in the annotation's, in that order of precedence", async () => {
    const { runc, wasm, svc } = service();
    await svc.createSandbox({ sandboxId: "a", bundlePath: "", netnsPath: "/run/netns/x", options: podOptions({}), annotations: {} } as never, ctx);
    assert.ok(runc.has("a"));
    assert.equal(runc.sandboxes.get("a")!.req.namespace, "k8s.io");
    assert.equal(runc.sandboxes.get("a")!.req.netnsPath, "/run/netns/x");
    assert.equal(runc.sandboxes.get("a")!.req.pod?.name, "p");

    const b = mkdtempSync(join(dir, "b-"));
    writeFileSync(join(b, LAUNCHER_SANDBOXER_FILE), "wasm\n");
    await svc.createSandbox({ sandboxId: "b", bundlePath: b, netnsPath: "", options: podOptions({}), annotations: {} } as never, ctx);
    assert.ok(wasm.has("b"));

    await svc.createSandbox({ sandboxId: "c", bundlePath: b, netnsPath: "", options: podOptions({ "io.kuasar.sandboxer": "runc" }), annotations: {} } as never, ctx);
    assert.ok(runc.has("c"));
  });

  it("refuses a kind that is not enabled and an invalid id, creating nothing", async () => {
    const { runc, wasm, svc } = service();
    await assert.rejects(svc.createSandbox({ sandboxId: "d", bundlePath: "", netnsPath: "", options: podOptions({ "io.kuasar.sandboxer": "vmm" }), annotations: {} } as never, ctx), (e) => isErrorCode(e, Code.FailedPrecondition) && /"vmm" is not enabled/.test((e as Error).message));
    await assert.rejects(svc.createSandbox({ sandboxId: "../x", bundlePath: "", netnsPath: "", annotations: {} } as never, ctx), (e) => isErrorCode(e, Code.InvalidArgument));
    assert.equal(runc.sandboxes.size + wasm.sandboxes.size, 0);
  });

  it("starts, reports status as CRI's state strings, stops; unknown sandboxes are NotFound", async () => {
    const { svc } = service();
    await svc.createSandbox({ sandboxId: "a", bundlePath: "", netnsPath: "", annotations: {} } as never, ctx);
    const started = await svc.startSandbox({ sandboxId: "a" } as never, ctx);
    assert.equal(started.pid, 4242);
    assert.equal((await svc.sandboxStatus({ sandboxId: "a", verbose: true } as never, ctx)).state, "SANDBOX_READY");
    await svc.stopSandbox({ sandboxId: "a", timeoutSecs: 0 } as never, ctx);
    assert.equal((await svc.sandboxStatus({ sandboxId: "a", verbose: false } as never, ctx)).state, "SANDBOX_NOTREADY");
    await assert.rejects(svc.startSandbox({ sandboxId: "nope" } as never, ctx), (e) => isErrorCode(e, Code.NotFound));
    await assert.rejects(svc.pingSandbox({ sandboxId: "nope" } as never, ctx), (e) => isErrorCode(e, Code.NotFound));
  });

  it("shutdown removes the sandbox, leaves the launcher's deleted marker, and is done again for a sandbox already gone", async () => {
    const { runc, svc } = service();
    const b = mkdtempSync(join(dir, "s-"));
    await svc.createSandbox({ sandboxId: "a", bundlePath: b, netnsPath: "", annotations: {} } as never, ctx);
    await svc.shutdownSandbox({ sandboxId: "a" } as never, ctx);
    assert.equal(runc.has("a"), false);
    assert.ok(existsSync(join(b, DELETED_MARKER)));
    await svc.shutdownSandbox({ sandboxId: "a" } as never, ctx);
  });
});
