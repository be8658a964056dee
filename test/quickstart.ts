/**
 * The main job of `bash packaging/quickstart.sh`: in private namespaces (nothing on the
 * host is touched), start stock containerd 2.x with every sandboxer kind as a proxy
 * sandbox plugin, then stock containerd 1.7 with every kind behind the shim bridge; on
 * each, run a pod of each kind through CRI, show what runs inside it and how fast it
 * started, and tear everything down. Ends with a table of all of it.
 */
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { BUSYBOX_IMAGE } from "../testing/busybox-image.js";
import type { Containerd } from "../testing/containerd.js";
import type { CriClient } from "../testing/cri.js";
import { logFile, podConfig, shContainer, waitExited, waitForLog } from "../testing/cri-pod.js";
import { ISOLATION_ENV, reexecIsolated, setupIsolation } from "../testing/isolation.js";
import { containerd2WithKuasar, type E2eKind } from "../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, handler17Of } from "../testing/kuasar-containerd17.js";
import { kernelReleases, VMM_TEST_CONFIG } from "../testing/vm-pod.js";
import { importWasmImage } from "../testing/wasm-image.js";
import { echoArgsEnvFileModule } from "../testing/wat-modules.js";

const say = (s: string) => process.stdout.write(`${s}\n`);
const KINDS: readonly E2eKind[] = ["runc", "wasm", "gvisor", "vmm"];
const WASM_IMAGE = "docker.io/library/wasm-demo:latest";

/** One pod of the summary. */
interface Shown {
  path: string;
  kind: E2eKind;
  /** RunPodSandbox alone, and through its container started. */
  sandboxMs: number;
  startedMs: number;
  inside: string;
}

/** Collects cleanups the harness registers, runs them in order at the end. */
function scope(): { t: TestContext; close(): Promise<void> } {
  const fns: (() => unknown)[] = [];
  return { t: { after: (fn: () => unknown) => fns.push(fn) } as unknown as TestContext, close: async () => { for (const f of fns) await f(); } };
}

/** Our processes and the pods' engines, by name (what runs on the node besides containerd). */
function processes(): string[] {
  const out: string[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const comm = readFileSync(`/proc/${e}/comm`, "utf8").trim();
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8").replace(/\0/g, " ");
      const ours = /dist\/src\/cli\/([\w-]+)\.js/.exec(cmd)?.[1];
      if (ours) out.push(ours);
      else if (["kuasar-holder", "kuasar-endpoint", "pod-init", "kuasar-pod-init", "runsc", "runsc-sandbox", "runsc-gofer", "virtiofsd", "wasi-runner"].includes(comm) || comm.startsWith("qemu-system") || comm.startsWith("containerd-shim")) out.push(comm);
    } catch {
      /* gone */
    }
  }
  const counts = new Map<string, number>();
  for (const p of out) counts.set(p, (counts.get(p) ?? 0) + 1);
  return [...counts].sort().map(([p, n]) => (n > 1 ? `${p} x${n}` : p));
}

/** The container each kind shows off, and how to read what it printed. */
function workload(kind: E2eKind, volume: string) {
  switch (kind) {
    case "runc":
      return { container: shContainer("main", "echo kernel $(uname -r), hostname $(hostname), pid 1 is $(cat /proc/1/comm); exec sleep 1000"), marker: "kernel " };
    case "gvisor":
      return { container: shContainer("main", "dmesg | head -n 2 | tr '\\n' ' '; echo; echo dmesg-done; exec sleep 1000"), marker: "dmesg-done" };
    case "vmm":
      return { container: shContainer("main", "echo guest kernel $(uname -r), $(nproc) vCPU, $(grep MemTotal /proc/meminfo | tr -s ' '); exec sleep 1000"), marker: "guest kernel" };
    case "wasm":
      return {
        container: {
          metadata: { name: "main", attempt: 0 },
          image: { image: WASM_IMAGE },
          command: ["/echo.wasm"],
          args: ["from", "quickstart"],
          envs: [{ key: "GREETING", value: new TextEncoder().encode("hi-wasm") }],
          mounts: [{ containerPath: "/data", hostPath: volume }],
          logPath: "main.log",
        },
        marker: "GREETING=hi-wasm",
      };
  }
}

/** The log's lines as the container printed them (CRI log prefix dropped). */
function printed(log: string): string[] {
  return log
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.replace(/^\S+ (stdout|stderr) [FP] /, ""));
}

/** How the daemon runs VMs, from what its KVM probe logged (KVM, or TCG and why). */
function acceleratorOf(daemonLog: string): string {
  for (const l of daemonLog.split("\n")) {
    if (!l.includes('"msg":"KVM')) continue;
    const { msg, reason } = JSON.parse(l) as { msg: string; reason?: string };
    return msg.includes("TCG") ? `TCG, software emulation (${(reason ?? "no KVM").split(":")[0]})` : "KVM";
  }
  return "an accelerator not logged yet";
}

/** Runs one pod of `kind` on `handler`, shows what it runs, stops and removes it. */
async function showPod(cri: CriClient, kind: E2eKind, handler: string, path: string, logDir: string, daemonLog: () => string): Promise<Shown> {
  const volume = mkdtempSync("/tmp/qs-vol-");
  try {
    const { container, marker } = workload(kind, volume);
    const cfg = podConfig(`${kind}-demo`, `${logDir}/${kind}`);
    const t0 = performance.now();
    const { podSandboxId } = await cri.runtime.runPodSandbox({ config: cfg, runtimeHandler: handler }, { timeoutMs: 300_000 });
    const sandboxMs = performance.now() - t0;
    const { containerId } = await cri.runtime.createContainer({ podSandboxId, config: container, sandboxConfig: cfg }, { timeoutMs: 120_000 });
    await cri.runtime.startContainer({ containerId }, { timeoutMs: 120_000 });
    const startedMs = performance.now() - t0;
    const lines = printed(await waitForLog(logFile(cfg, container), marker, 120_000));
    let inside: string;
    if (kind === "wasm") {
      const exit = (await waitExited(cri, containerId)).exitCode;
      const args = lines.filter((l) => l.startsWith("arg: ")).map((l) => l.slice(5));
      inside = `WASI module got args ${JSON.stringify(args)}, wrote ${JSON.stringify(readFileSync(`${volume}/out.txt`, "utf8").trim())} to its volume, exited ${exit}`;
    } else if (kind === "gvisor") {
      inside = `gVisor's dmesg: ${lines[0]?.trim()}`;
    } else if (kind === "vmm") {
      inside = `${lines.find((l) => l.startsWith("guest kernel"))} (host ${kernelReleases().host}); QEMU on ${acceleratorOf(daemonLog())}`;
    } else {
      inside = lines.find((l) => l.startsWith("kernel ")) ?? "";
    }
    say(`  ${kind.padEnd(6)} pod ${podSandboxId.slice(0, 12)}: sandbox ${Math.round(sandboxMs)} ms, container running after ${Math.round(startedMs)} ms`);
    say(`         ${inside}`);
    await cri.runtime.stopPodSandbox({ podSandboxId });
    await cri.runtime.removePodSandbox({ podSandboxId });
    return { path, kind, sandboxMs, startedMs, inside };
  } finally {
    rmSync(volume, { recursive: true, force: true });
  }
}

async function showAllKinds(cri: CriClient, containerd: Containerd, handlerOf: (k: E2eKind) => string, path: string, logDir: string, daemonLog: () => string): Promise<Shown[]> {
  await importWasmImage(containerd, "k8s.io", WASM_IMAGE, { "echo.wasm": await echoArgsEnvFileModule() }, "/echo.wasm");
  const shown: Shown[] = [];
  for (const kind of KINDS) shown.push(await showPod(cri, kind, handlerOf(kind), path, logDir, daemonLog));
  return shown;
}

async function demo2x(): Promise<Shown[]> {
  say("== containerd 2.x: every kind a proxy sandbox plugin (proxy_plugins type = \"sandbox\"), one kuasard ==");
  const s = scope();
  try {
    const env = await containerd2WithKuasar(s.t, KINDS, VMM_TEST_CONFIG);
    const shown = await showAllKinds(env.cri, env.containerd, (k) => `kuasar-${k}`, "2.x direct", `${env.dir}/logs`, () => env.sandboxer.logs());
    say(`  processes while idle: ${processes().join(", ")} (no shim)`);
    return shown;
  } finally {
    await s.close();
  }
}

async function demo17(): Promise<Shown[]> {
  say("== containerd 1.7: the shim bridge (runtime_type io.containerd.kuasar.v1), one kuasard ==");
  const s = scope();
  try {
    const env = await containerd17WithKuasar(s.t, KINDS, VMM_TEST_CONFIG);
    const r = await env.containerd.ctr(["run", "--rm", "--runtime", "io.containerd.kuasar.v1", BUSYBOX_IMAGE, "demo", "sh", "-c", "echo hello from ctr run; exit 3"], { allowFailure: true });
    say(`  ctr run printed ${JSON.stringify(r.stdout.trim())} and exited ${r.code}`);
    const shown = await showAllKinds(env.cri, env.containerd, handler17Of, "1.7 bridge", `${env.dir}/logs`, () => env.kuasard.logs());
    say(`  processes while idle: ${processes().join(", ")}`);
    return shown;
  } finally {
    await s.close();
  }
}

function summary(all: Shown[]): void {
  say("== sandboxers: a pod of each kind on each containerd path ==");
  say(`${"kind".padEnd(8)}${"containerd".padEnd(13)}${"sandbox ms".padStart(11)}${"running ms".padStart(12)}  what ran inside`);
  for (const r of all) say(`${r.kind.padEnd(8)}${r.path.padEnd(13)}${String(Math.round(r.sandboxMs)).padStart(11)}${String(Math.round(r.startedMs)).padStart(12)}  ${r.inside}`);
  say("(\"running ms\": RunPodSandbox through StartContainer, as CRI's caller sees it; one cold pod each, not a benchmark: npm run bench)");
}

async function inner(): Promise<number> {
  await setupIsolation();
  const all = [...(await demo2x()), ...(await demo17())];
  summary(all);
  return 0;
}

const code = process.env[ISOLATION_ENV] === "1" ? await inner() : await reexecIsolated(fileURLToPath(import.meta.url), process.argv.slice(2));
process.exit(code);
