import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { describe, it, type TestContext } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ContainerConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { Code } from "../../src/errors/code.js";
import { WASM_ENGINE_ANNOTATION } from "../../src/sandboxers/wasm/engine-choice.js";
import { wasmBinaryKind } from "../../src/sandboxers/wasm/wasm-binary-kind.js";
import { locateWasmEdge } from "../../src/sandboxers/wasm/wasmedge-location.js";
import type { Containerd } from "../../testing/containerd.js";
import type { CriClient } from "../../testing/cri.js";
import { decodeOut, logFile, podConfig, runPod, waitExited, waitForLog } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, WASM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, WASM_HANDLER_17 } from "../../testing/kuasar-containerd17.js";
import { censusDiff, takeCensus } from "../../testing/leak-census.js";
import { echoReadComponent } from "../../testing/wasm-components.js";
import { importWasmArtifact, importWasmImage } from "../../testing/wasm-image.js";
import { echoArgsEnvFileModule, infiniteLoopModule } from "../../testing/wat-modules.js";

assertIsolated();

const IMAGE = "docker.io/library/wasm-component:latest";
const ARTIFACT = "docker.io/library/wasm-component-artifact:latest";

type ContainerConfig = MessageInitShape<typeof ContainerConfigSchema>;

function wasmedgeInstalled(): boolean {
  try {
    return locateWasmEdge("wasmedge").length > 0;
  } catch {
    return false;
  }
}

/** Puts the component (`/app.wasm`, beside preview 1 modules `/echo.wasm` and `/loop.wasm`) in a rootfs image, and alone as an artifact. */
async function importComponent(containerd: Containerd): Promise<void> {
  const component = await echoReadComponent(42);
  assert.equal(wasmBinaryKind(component), "component", "the fixture is a component, not a core module");
  await importWasmImage(containerd, "k8s.io", IMAGE, { "app.wasm": component, "echo.wasm": await echoArgsEnvFileModule(), "loop.wasm": await infiniteLoopModule() }, "/app.wasm");
  await importWasmArtifact(containerd, "k8s.io", ARTIFACT, component);
}

function componentContainer(name: string, image: string, vol: string, arg: string): ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image },
    command: ["/app.wasm"],
    args: ["from", arg],
    envs: [{ key: "GREETING", value: new TextEncoder().encode(`hi-${arg}`) }],
    mounts: [{ containerPath: "/data", hostPath: vol }],
    logPath: `${name}.log`,
  } as ContainerConfig;
}

/**
 * The component in a pod: from the rootfs image and from the artifact, each prints its args
 * and env, reads the preopened volume's file, and exits 42, all seen through CRI; an exec
 * runs the component in a running preview 1 container. Nothing is left after the pod.
 */
async function componentPod(t: TestContext, cri: CriClient, handler: string, logDir: string): Promise<void> {
  const vol = mkdtempSync("/tmp/wasm-component-vol-");
  t.after(() => rmSync(vol, { recursive: true, force: true }));
  writeFileSync(`${vol}/in.txt`, "from the volume\n");
  const before = takeCensus();
  const cfg = podConfig("wasm-component", logDir);
  const fromImage = componentContainer("image", IMAGE, vol, "image");
  const fromArtifact = componentContainer("artifact", ARTIFACT, vol, "artifact");
  const { podId, ids } = await runPod(cri, handler, cfg, [fromImage, fromArtifact]);
  for (const [i, c] of [fromImage, fromArtifact].entries()) {
    const st = await waitExited(cri, ids[i]!);
    assert.equal(st.exitCode, 42, `${c.metadata?.name}: ${st.message}`);
    const arg = c.args![1]!;
    const out = await waitForLog(logFile(cfg, c), "file: from the volume");
    assert.match(out, /stdout F arg: \/app\.wasm/);
    assert.match(out, new RegExp(`stdout F arg: ${arg}`));
    assert.match(out, new RegExp(`stdout F GREETING=hi-${arg}`));
  }
  // exec of the component (found by its header) in a running preview 1 container: no /data there, exit 3.
  const loop = { metadata: { name: "loop", attempt: 0 }, image: { image: IMAGE }, command: ["/loop.wasm"], logPath: "loop.log" } as ContainerConfig;
  const { containerId: loopId } = await cri.runtime.createContainer({ podSandboxId: podId, config: loop, sandboxConfig: cfg });
  await cri.runtime.startContainer({ containerId: loopId });
  await waitForLog(logFile(cfg, loop), "looping");
  const viaExec = await cri.runtime.execSync({ containerId: loopId, cmd: ["/app.wasm", "via-exec"], timeout: 60n }, { timeoutMs: 90_000 });
  assert.equal(viaExec.exitCode, 3, decodeOut(viaExec.stderr));
  assert.equal(decodeOut(viaExec.stdout), "arg: /app.wasm\narg: via-exec\n");
  await cri.runtime.stopPodSandbox({ podSandboxId: podId });
  await cri.runtime.removePodSandbox({ podSandboxId: podId });
  // Runners (node), holders and transpiler children all end with the pod; no mount stays.
  const diff = censusDiff(before, takeCensus());
  assert.deepEqual((diff.processes ?? []).filter((p) => /node|kuasar/.test(p)), [], JSON.stringify(diff));
  assert.deepEqual(diff.mounts ?? [], []);
}

/**
 * A component on WasmEdge (the pod's annotation) is refused with FailedPrecondition naming the
 * engine, when its task is created: CRI creates it at StartContainer (containerd 1.7 and 2.x).
 */
async function wasmedgeRefuses(t: TestContext, cri: CriClient, handler: string, logDir: string): Promise<void> {
  if (!wasmedgeInstalled()) {
    t.diagnostic("WasmEdge is not installed (packaging/install-deps.sh): its refusal of components is not checked");
    return;
  }
  const cfg = { ...podConfig("wasm-component-edge", logDir), annotations: { [WASM_ENGINE_ANNOTATION]: "wasmedge" } };
  const { podSandboxId } = await cri.runtime.runPodSandbox({ config: cfg, runtimeHandler: handler });
  const started = Date.now();
  await assert.rejects(
    (async () => {
      const { containerId } = await cri.runtime.createContainer({ podSandboxId, config: componentContainer("edge", IMAGE, "/tmp", "edge"), sandboxConfig: cfg });
      await cri.runtime.startContainer({ containerId });
    })(),
    (err: { code?: number; message?: string }) => {
      t.diagnostic(`refused with code ${err.code}: ${err.message}`);
      assert.match(err.message ?? "", /wasm engine wasmedge cannot run WASI preview 2 components \(\/app\.wasm is a WASI preview 2 component\)/);
      assert.equal(err.code, Code.FailedPrecondition);
      return true;
    },
  );
  assert.ok(Date.now() - started < 30_000, "refused at once, no hang");
  await cri.runtime.stopPodSandbox({ podSandboxId });
  await cri.runtime.removePodSandbox({ podSandboxId });
}

describe("WASI preview 2 components (wasi:cli/command) on the wasm sandboxer's node engine", () => {
  it("containerd 2.x: a component from a rootfs image and from an application/wasm artifact; transpiled once; WasmEdge refuses one clearly", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "wasm"]);
    await importComponent(env.containerd);
    await componentPod(t, env.cri, WASM_HANDLER, `${env.dir}/logs/component`);
    const logs = env.sandboxer.logs();
    assert.equal(logs.split("\n").filter((l) => l.includes('"msg":"component transpiled"')).length, 1, "both containers (same bytes) share one transpile");
    assert.match(logs, /"engine":"node".*"component":"[^"]*wasm-components\/[0-9a-f]{64}".*"msg":"container created"/);

    await wasmedgeRefuses(t, env.cri, WASM_HANDLER, `${env.dir}/logs/edge`);
  });

  it("containerd 1.7 (shim bridge): the same component, from the image and the artifact", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc", "wasm"]);
    await importComponent(env.containerd);
    await componentPod(t, env.cri, WASM_HANDLER_17, `${env.dir}/logs/component17`);
    assert.match(env.kuasard.logs(), /"sandboxer":"wasm".*"engine":"node".*"component":.*"msg":"container created"/);
    await wasmedgeRefuses(t, env.cri, WASM_HANDLER_17, `${env.dir}/logs/edge17`);
  });
});

