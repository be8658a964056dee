import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ContainerConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { locateWasmEdge } from "../../src/sandboxers/wasm/wasmedge-location.js";
import type { CriClient } from "../../testing/cri.js";
import { logFile, podConfig, waitExited, waitForLog } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, WASM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, WASM_HANDLER_17 } from "../../testing/kuasar-containerd17.js";
import { WASM_ENGINE_ANNOTATION } from "../../src/sandboxers/wasm/engine-choice.js";
import { wasmEchoPod } from "../../testing/wasm-echo-pod.js";
import { importWasmImage } from "../../testing/wasm-image.js";
import { memoryHogModule, trapModule } from "../../testing/wat-modules.js";

assertIsolated();

function installed(): boolean {
  try {
    return locateWasmEdge("wasmedge").length > 0;
  } catch {
    return false;
  }
}
const skip = installed() ? false : "WasmEdge is not installed: run `bash packaging/install-deps.sh` (it unpacks Debian trixie's into .deps/wasmedge)";

/** kuasard's wasm table is the last one the harness writes, so this line lands in `[sandboxers.wasm]`. */
const WASMEDGE_BY_CONFIG = `wasm_engine = "wasmedge"\n`;
const IMAGE = "docker.io/library/wasm-edge-faults:latest";

type ContainerConfig = MessageInitShape<typeof ContainerConfigSchema>;

/** In a running wasm pod: a trap exits 134 with WasmEdge's message in the log; growth past the memory limit fails. */
async function faultsUnderWasmEdge(cri: CriClient, podId: string, logDir: string): Promise<void> {
  const cfg = podConfig("wasm-pod", logDir);
  const run = async (c: ContainerConfig) => {
    const { containerId } = await cri.runtime.createContainer({ podSandboxId: podId, config: c, sandboxConfig: cfg });
    await cri.runtime.startContainer({ containerId });
    return { st: await waitExited(cri, containerId), log: logFile(cfg, c) };
  };
  const trap = await run({ metadata: { name: "trap", attempt: 0 }, image: { image: IMAGE }, command: ["/trap.wasm"], logPath: "trap.log" } as ContainerConfig);
  assert.equal(trap.st.exitCode, 134);
  await waitForLog(trap.log, "execution failed: unreachable");
  const hog = await run({
    metadata: { name: "hog", attempt: 0 },
    image: { image: IMAGE },
    command: ["/hog.wasm"],
    logPath: "hog.log",
    linux: { resources: { memoryLimitInBytes: 4n << 20n } },
  } as ContainerConfig);
  assert.equal(hog.st.exitCode, 1);
  await waitForLog(hog.log, "Memory grow page failed, exceeded limited 64 page");
}

describe("WasmEdge as the wasm sandboxer's engine, picked by the handler's sandboxer config", { skip }, () => {
  it("containerd 2.x: args, env, a volume, exit 5 and the log; a trap and the memory cap", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "wasm"], WASMEDGE_BY_CONFIG);
    await importWasmImage(env.containerd, "k8s.io", IMAGE, { "trap.wasm": await trapModule(), "hog.wasm": await memoryHogModule("exit") }, "/trap.wasm");
    const logDir = `${env.dir}/logs/edge`;
    await wasmEchoPod(t, {
      cri: env.cri,
      containerd: env.containerd,
      handler: WASM_HANDLER,
      logDir,
      arg: "edge-2x",
      beforeStop: (podId) => faultsUnderWasmEdge(env.cri, podId, logDir),
    });
    assert.match(env.sandboxer.logs(), /"sandboxer":"wasm".*"engine":"wasmedge".*"msg":"container created"/);
  });

  it("containerd 1.7 (shim bridge): the same module under WasmEdge", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc", "wasm"], WASMEDGE_BY_CONFIG);
    await wasmEchoPod(t, { cri: env.cri, containerd: env.containerd, handler: WASM_HANDLER_17, logDir: `${env.dir}/logs/edge17`, arg: "edge-17" });
    assert.match(env.kuasard.logs(), /"sandboxer":"wasm".*"engine":"wasmedge".*"msg":"container created"/);
  });

  it("containerd 2.x: a pod's io.kuasar.wasm.engine annotation picks WasmEdge on a node-engine sandboxer", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "wasm"]);
    await wasmEchoPod(t, { cri: env.cri, containerd: env.containerd, handler: WASM_HANDLER, logDir: `${env.dir}/logs/by-annotation`, arg: "annotated", annotations: { [WASM_ENGINE_ANNOTATION]: "wasmedge" } });
    await wasmEchoPod(t, { cri: env.cri, containerd: env.containerd, handler: WASM_HANDLER, logDir: `${env.dir}/logs/plain`, arg: "plain" });
    const created = env.sandboxer.logs().split("\n").filter((l) => l.includes('"msg":"container created"'));
    assert.deepEqual(created.map((l) => /"engine":"(\w+)"/.exec(l)?.[1]), ["wasmedge", "node"]);
  });

  it("containerd 1.7: the annotation too (pod_annotations passes io.kuasar.*)", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc", "wasm"]);
    await wasmEchoPod(t, { cri: env.cri, containerd: env.containerd, handler: WASM_HANDLER_17, logDir: `${env.dir}/logs/by-annotation17`, arg: "annotated-17", annotations: { [WASM_ENGINE_ANNOTATION]: "wasmedge" } });
    assert.match(env.kuasard.logs(), /"sandboxer":"wasm".*"engine":"wasmedge".*"msg":"container created"/);
  });
});
