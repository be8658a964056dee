import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ContainerState, type ContainerConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { decodeOut, logFile, podConfig, runPod, shContainer, waitExited, waitForLog } from "../../testing/cri-pod.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, HANDLER, WASM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, WASM_HANDLER_17 } from "../../testing/kuasar-containerd17.js";
import { importWasmImage } from "../../testing/wasm-image.js";
import { echoArgsEnvFileModule, infiniteLoopModule, memoryHogModule } from "../../testing/wat-modules.js";

assertIsolated();

const WASM_IMAGE = "docker.io/library/wasm-demo:latest";

type ContainerConfig = MessageInitShape<typeof ContainerConfigSchema>;

/** A CRI container running `/<module>` of the wasm image; `extra` adds args, envs, mounts, resources. */
function wasmContainer(name: string, module: string, extra: Omit<ContainerConfig, "$typeName" | "metadata"> = {}): ContainerConfig {
  return { ...extra, metadata: { name, attempt: 0 }, image: { image: WASM_IMAGE }, command: [`/${module}`], logPath: `${name}.log` } as ContainerConfig;
}

describe("wasm sandboxer under stock containerd 2.x, beside runc on the same kuasard", () => {
  it("runs a WASI module: args, env, a host volume, exit 5 and the CRI log; loops and memory hogs are stopped; a runc pod runs alongside", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "wasm"]);
    const { cri } = env;
    await importWasmImage(env.containerd, "k8s.io", WASM_IMAGE, { "echo.wasm": await echoArgsEnvFileModule(), "loop.wasm": await infiniteLoopModule(), "hog.wasm": await memoryHogModule("trap") }, "/echo.wasm");
    const vol = mkdtempSync("/tmp/wasm-vol-");
    t.after(() => rmSync(vol, { recursive: true, force: true }));

    // A runc pod at the same time, on the same daemon.
    const runcPod = await runPod(cri, HANDLER, podConfig("beside", `${env.dir}/logs/beside`), [shContainer("sh", "exec sleep 1000")]);

    const cfg = podConfig("wasm", `${env.dir}/logs/wasm`);
    const echo = wasmContainer("echo", "echo.wasm", {
      args: ["hello", "world"],
      envs: [{ key: "GREETING", value: new TextEncoder().encode("hi-from-cri") }],
      mounts: [{ containerPath: "/data", hostPath: vol }],
    });
    const { podId, ids } = await runPod(cri, WASM_HANDLER, cfg, [echo]);
    const st = await waitExited(cri, ids[0]!);
    assert.equal(st.exitCode, 5);
    const out = await waitForLog(logFile(cfg, echo), "GREETING=hi-from-cri");
    assert.match(out, /stdout F arg: \/echo\.wasm/);
    assert.match(out, /stdout F arg: hello/);
    assert.match(out, /stdout F arg: world/);
    assert.equal(readFileSync(join(vol, "out.txt"), "utf8"), "written by wasm\n");

    // exec of something that is not a module of the image is refused clearly.
    await assert.rejects(cri.runtime.execSync({ containerId: ids[0]!, cmd: ["sh"], timeout: 5n }));

    // An endless loop is stopped within its grace period.
    const loop = wasmContainer("loop", "loop.wasm");
    const { containerId: loopId } = await cri.runtime.createContainer({ podSandboxId: podId, config: loop, sandboxConfig: cfg });
    await cri.runtime.startContainer({ containerId: loopId });
    await waitForLog(logFile(cfg, loop), "looping");
    // exec runs another module of the image in the running container (no /data there: exit 3).
    const viaExec = await cri.runtime.execSync({ containerId: loopId, cmd: ["/echo.wasm", "via-exec"], timeout: 30n });
    assert.equal(viaExec.exitCode, 3);
    assert.equal(decodeOut(viaExec.stdout), "arg: /echo.wasm\narg: via-exec\n");
    const before = Date.now();
    await cri.runtime.stopContainer({ containerId: loopId, timeout: 2n });
    const ls = await waitExited(cri, loopId);
    assert.ok(ls.exitCode === 143 || ls.exitCode === 137, `exit ${ls.exitCode}`);
    assert.ok(Date.now() - before < 10_000);

    // A module growing past its memory limit fails with a clear reason.
    const hog = wasmContainer("hog", "hog.wasm", { linux: { resources: { memoryLimitInBytes: 4n << 20n } } });
    const { containerId: hogId } = await cri.runtime.createContainer({ podSandboxId: podId, config: hog, sandboxConfig: cfg });
    await cri.runtime.startContainer({ containerId: hogId });
    const hs = await waitExited(cri, hogId);
    assert.equal(hs.exitCode, 137);
    assert.equal(hs.reason, "OOMKilled");
    await waitForLog(logFile(cfg, hog), "exceeded its memory limit");

    // The daemon kept serving throughout: the runc pod is still fine.
    const ex = await cri.runtime.execSync({ containerId: runcPod.ids[0]!, cmd: ["echo", "runc-alive"], timeout: 10n });
    assert.equal(decodeOut(ex.stdout), "runc-alive\n");
    assert.equal((await cri.runtime.containerStatus({ containerId: runcPod.ids[0]! })).status?.state, ContainerState.CONTAINER_RUNNING);
    for (const p of [podId, runcPod.podId]) {
      await cri.runtime.stopPodSandbox({ podSandboxId: p });
      await cri.runtime.removePodSandbox({ podSandboxId: p });
    }
  });
});

describe("wasm sandboxer under stock containerd 1.7 (shim bridge)", () => {
  it("runs a WASI module in a pod whose runtime handler options pick the wasm sandboxer", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc", "wasm"]);
    const { cri } = env;
    await importWasmImage(env.containerd, "k8s.io", WASM_IMAGE, { "echo.wasm": await echoArgsEnvFileModule() }, "/echo.wasm");
    const vol = mkdtempSync("/tmp/wasm-vol-");
    t.after(() => rmSync(vol, { recursive: true, force: true }));
    const cfg = podConfig("wasm17", `${env.dir}/logs/wasm17`);
    const echo = wasmContainer("echo", "echo.wasm", {
      args: ["from", "bridge"],
      envs: [{ key: "GREETING", value: new TextEncoder().encode("hi-1.7") }],
      mounts: [{ containerPath: "/data", hostPath: vol }],
    });
    const { podId, ids } = await runPod(cri, WASM_HANDLER_17, cfg, [echo]);
    assert.equal((await waitExited(cri, ids[0]!)).exitCode, 5);
    const out = await waitForLog(logFile(cfg, echo), "GREETING=hi-1.7");
    assert.match(out, /stdout F arg: bridge/);
    assert.equal(readFileSync(join(vol, "out.txt"), "utf8"), "written by wasm\n");
    assert.match(env.kuasard.logs(), /"sandboxer":"wasm".*"engine":"node".*"msg":"container created"/);
    await cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await cri.runtime.removePodSandbox({ podSandboxId: podId });
  });
});
