import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { TestContext } from "node:test";
import { join } from "node:path";
import { echoArgsEnvFileModule } from "./wat-modules.js";
import type { Containerd } from "./containerd.js";
import type { CriClient } from "./cri.js";
import { logFile, podConfig, runPod, waitExited, waitForLog } from "./cri-pod.js";
import { importWasmImage } from "./wasm-image.js";

const WASM_IMAGE = "docker.io/library/wasm-demo:latest";

export interface WasmEchoPodOptions {
  cri: CriClient;
  containerd: Containerd;
  handler: string;
  /** The pod's CRI log directory. */
  logDir: string;
  /** The module's second argument, which must come back in its log. */
  arg: string;
  /** What must hold once the module exited, before the pod is stopped and removed. */
  afterExit?: () => Promise<void> | void;
  /** Puts the echo module in containerd as image `ref` (default: a rootfs image with `/echo.wasm`). */
  importImage?: (ref: string) => Promise<void>;
  /** The pod's annotations. */
  annotations?: Record<string, string>;
  /** More to do in the running pod (its id) before it is stopped and removed. */
  beforeStop?: (podId: string) => Promise<void>;
}

/**
 * A WASI module in a pod of `handler`: its args, env, a preopened host volume and its
 * exit status (5) reach CRI; the pod is then stopped and removed. Returns the pod's id.
 */
export async function wasmEchoPod(t: TestContext, o: WasmEchoPodOptions): Promise<string> {
  const { cri } = o;
  if (o.importImage) await o.importImage(WASM_IMAGE);
  else await importWasmImage(o.containerd, "k8s.io", WASM_IMAGE, { "echo.wasm": await echoArgsEnvFileModule() }, "/echo.wasm");
  const vol = mkdtempSync("/tmp/wasm-vol-");
  t.after(() => rmSync(vol, { recursive: true, force: true }));
  const cfg = { ...podConfig("wasm-pod", o.logDir), annotations: o.annotations ?? {} };
  const echo = {
    metadata: { name: "echo", attempt: 0 },
    image: { image: WASM_IMAGE },
    command: ["/echo.wasm"],
    args: ["from", o.arg],
    envs: [{ key: "GREETING", value: new TextEncoder().encode("hi-wasm") }],
    mounts: [{ containerPath: "/data", hostPath: vol }],
    logPath: "echo.log",
  };
  const { podId, ids } = await runPod(cri, o.handler, cfg, [echo]);
  assert.equal((await waitExited(cri, ids[0]!)).exitCode, 5);
  const out = await waitForLog(logFile(cfg, echo), "GREETING=hi-wasm");
  assert.ok(out.includes(`stdout F arg: ${o.arg}`), out);
  assert.equal(readFileSync(join(vol, "out.txt"), "utf8"), "written by wasm\n");
  await o.afterExit?.();
  await o.beforeStop?.(podId);
  await cri.runtime.stopPodSandbox({ podSandboxId: podId });
  await cri.runtime.removePodSandbox({ podSandboxId: podId });
  return podId;
}
