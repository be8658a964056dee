/**
 * The main job of `bash packaging/quickstart.sh`: in private namespaces (nothing
 * on the host is touched), start stock containerd 2.x with the runc sandboxer as
 * a proxy sandbox plugin and stock containerd 1.7 with the shim bridge, run a
 * sample pod through CRI on each, show what runs, and tear everything down.
 */
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { readdirSync, readFileSync } from "node:fs";
import { BUSYBOX_IMAGE } from "../testing/busybox-image.js";
import { decodeOut, podConfig, runPod, shContainer, waitForLog, logFile } from "../testing/cri-pod.js";
import { ISOLATION_ENV, reexecIsolated, setupIsolation } from "../testing/isolation.js";
import { containerd2WithKuasar, HANDLER } from "../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, HANDLER_17 } from "../testing/kuasar-containerd17.js";

const say = (s: string) => process.stdout.write(`${s}\n`);

/** Collects cleanups the harness registers, runs them in order at the end. */
function scope(): { t: TestContext; close(): Promise<void> } {
  const fns: (() => unknown)[] = [];
  return { t: { after: (fn: () => unknown) => fns.push(fn) } as unknown as TestContext, close: async () => { for (const f of fns) await f(); } };
}

function processes(): string[] {
  const out: string[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const comm = readFileSync(`/proc/${e}/comm`, "utf8").trim();
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8").replace(/\0/g, " ");
      const ours = /dist\/src\/cli\/([\w-]+)\.js/.exec(cmd)?.[1];
      if (ours) out.push(ours);
      else if (["kuasar-holder", "pod-init", "containerd", "httpd"].includes(comm) || comm.startsWith("containerd-shim")) out.push(comm);
    } catch {
      /* gone */
    }
  }
  return out.sort();
}

async function demo2x(): Promise<void> {
  say("== containerd 2.x + runc sandboxer (proxy_plugins type=sandbox) ==");
  const s = scope();
  try {
    const env = await containerd2WithKuasar(s.t);
    const cfg = podConfig("hello", `${env.dir}/logs`);
    const c = shContainer("web", "echo hello from a kuasar runc pod; exec httpd -f -p 127.0.0.1:8080 -h /etc");
    const { podId, ids } = await runPod(env.cri, HANDLER, cfg, [c]);
    say(`pod ${podId.slice(0, 12)} ready; container ${ids[0]!.slice(0, 12)} running`);
    say(`container log: ${(await waitForLog(logFile(cfg, c), "hello")).trim()}`);
    const ex = await env.cri.runtime.execSync({ containerId: ids[0]!, cmd: ["sh", "-c", "echo hostname=$(hostname) pid1=$(cat /proc/1/comm)"], timeout: 10n });
    say(`exec in the pod: ${decodeOut(ex.stdout).trim().replace(/\n/g, " / ")} (exit ${ex.exitCode})`);
    say(`processes: ${processes().join(", ")}`);
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
    say("pod stopped and removed");
  } finally {
    await s.close();
  }
}

async function demo17(): Promise<void> {
  say("== containerd 1.7 + shim bridge (runtime_type io.containerd.kuasar.v1) ==");
  const s = scope();
  try {
    const env = await containerd17WithKuasar(s.t);
    const r = await env.containerd.ctr(["run", "--rm", "--runtime", "io.containerd.kuasar.v1", BUSYBOX_IMAGE, "demo", "sh", "-c", "echo hello from ctr run; exit 3"], { allowFailure: true });
    say(`ctr run printed ${JSON.stringify(r.stdout.trim())} and exited ${r.code}`);
    const { podId } = await runPod(env.cri, HANDLER_17, podConfig("hello17", `${env.dir}/logs`), [shContainer("sleeper", "exec sleep 1000")]);
    say(`CRI pod ${podId.slice(0, 12)} ready; processes: ${processes().join(", ")}`);
    await env.cri.runtime.stopPodSandbox({ podSandboxId: podId });
    await env.cri.runtime.removePodSandbox({ podSandboxId: podId });
    say("pod stopped and removed");
  } finally {
    await s.close();
  }
}

async function inner(): Promise<number> {
  await setupIsolation();
  await demo2x();
  await demo17();
  say("== sandboxers ==");
  say("runc: ready (containerd 2.x direct, containerd 1.7 through the shim bridge)");
  say("wasm, vmm, gvisor: not yet");
  return 0;
}

const code = process.env[ISOLATION_ENV] === "1" ? await inner() : await reexecIsolated(fileURLToPath(import.meta.url), process.argv.slice(2));
process.exit(code);
