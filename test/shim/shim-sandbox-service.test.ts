import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "../../src/errors/code.js";
import { isErrorCode } from "../../src/errors/runtime-error.js";
import { PodSandboxConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { silentLogger } from "../../src/log/logger.js";
import type { Sandboxer } from "../../src/sandbox/sandboxer.js";
import { DELETED_MARKER } from "../../src/shim/bridge-tasks.js";
import { LAUNCHER_SANDBOXER_FILE } from "../../src/shim/sandboxer-choice.js";
import { shimSandboxServiceImpl } from "../../src/shim/shim-sandbox-service.js";
import type { CallContext } from "../../src/ttrpc/server.js";
import { mapSandboxer } from "../sandbox/map-sandboxer.js";

const ctx = { metadata: new Map([["containerd-namespace-ttrpc", ["k8s.io"]]]), signal: new AbortController().signal } as unknown as CallContext;

function service() {
  const runc = mapSandboxer("runc");
  const wasm = mapSandboxer("wasm");
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
