/**
 * Measures runc against crun on this host (not a test, not the benchmark):
 *
 *   node dist/test/tools/oci-runtime-latency.js cycle [rounds]   # create+start+delete of a busybox container
 *   node dist/test/tools/oci-runtime-latency.js start [rounds]   # CRI StartContainer through containerd 2.x and kuasard
 *
 * Both interleave the two runtimes round by round (alternating which goes first), since the
 * machine is shared and its load drifts; they print medians (and p90) as JSON. `cycle` drives
 * the runtimes directly, each as the runc sandboxer would run it here (crun through its private
 * loader and, on a hybrid host with cgroup2 controllers, kuasar-hide-cgroup2); `start` runs two
 * containerd 2.x + runc-sandboxer environments side by side, one with `runtime = "crun"`.
 * Runs as pid 1 of private namespaces, as the e2e tests do.
 */
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import type { Logger } from "../../src/log/logger.js";
import type { OciRuntimeCommand } from "../../src/oci-runtime/oci-runtime-command.js";
import { RuncCli } from "../../src/sandboxers/runc/runc-cli.js";
import { chooseOciRuntime } from "../../src/sandboxers/runc/runtime-choice.js";
import { defaultProbePauseBinary } from "../../src/sandboxers/runc/runtime-probe.js";
import { podConfig, runPod, shContainer } from "../../testing/cri-pod.js";
import { ISOLATION_ENV, reexecIsolated, setupIsolation } from "../../testing/isolation.js";
import { containerd2WithKuasar, HANDLER } from "../../testing/kuasar-containerd2.js";

const quiet = { info: () => {}, warn: () => {} } as unknown as Logger;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
const ms = (x: number) => Math.round(x * 100) / 100;
const summary = (xs: number[]) => ({ median_ms: ms(quantile(xs, 0.5)), p90_ms: ms(quantile(xs, 0.9)), n: xs.length });
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** CPU time of this process's waited-for children (utime + stime), ms. */
function childCpuMs(): number {
  const f = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // cutime, cstime at USER_HZ 100
}

/** A busybox bundle with a spec shaped like containerd's for a CRI container. */
function busyboxBundle(dir: string): string {
  const rootfs = join(dir, "rootfs");
  for (const d of ["bin", "dev", "proc", "sys", "tmp", "etc"]) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync("/bin/busybox", join(rootfs, "bin/busybox"));
  for (const a of ["sh", "sleep", "true"]) symlinkSync("busybox", join(rootfs, "bin", a));
  const caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"];
  const spec = {
    ociVersion: "1.1.0",
    process: { user: { uid: 0, gid: 0 }, args: ["sleep", "1000"], env: ["PATH=/bin"], cwd: "/", capabilities: { bounding: caps, effective: caps, permitted: caps }, noNewPrivileges: true },
    root: { path: "rootfs" },
    hostname: "bench",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }], memory: { limit: 128 << 20 }, cpu: { shares: 512 }, pids: { limit: 64 } },
      namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "network" }],
      maskedPaths: ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
  return dir;
}

function runDetached(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
    c.once("error", reject);
    c.once("exit", (code) => resolve(code ?? 1));
  });
}

async function cycle(rounds: number): Promise<void> {
  const dir = mkdtempSync("/tmp/oci-latency-");
  const bundle = busyboxBundle(join(dir, "bundle"));
  const crun = await chooseOciRuntime("crun", "runc", { dir: join(dir, "probe"), pauseBinary: defaultProbePauseBinary, systemdCgroup: false, timeoutMs: 10_000 }, quiet);
  const runc = await chooseOciRuntime("runc", "runc", { dir: join(dir, "probe"), pauseBinary: defaultProbePauseBinary, systemdCgroup: false, timeoutMs: 10_000 }, quiet);
  if (crun.command.name !== "crun") throw new Error(`crun unusable here: ${crun.reason}`);
  const runtimes: [string, OciRuntimeCommand][] = [["runc", runc.command], ["crun", crun.command]];
  const times: Record<string, { create: number[]; start: number[]; delete: number[]; total: number[]; cpu: number }> = {};
  for (const [name] of runtimes) times[name] = { create: [], start: [], delete: [], total: [], cpu: 0 };
  const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as { linux: { cgroupsPath?: string } };
  for (let r = 0; r < rounds; r++) {
    for (const [name, cmd] of r % 2 === 0 ? runtimes : [...runtimes].reverse()) {
      const cli = new RuncCli({ binary: cmd.binary, launcher: cmd.launcher, root: join(dir, `root-${name}`), systemdCgroup: false, commandTimeoutMs: 30_000 });
      const id = `bench-${name}-${r}`;
      spec.linux.cgroupsPath = `/kuasar-oci-latency/${id}`;
      writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
      const t = times[name]!;
      const cpu0 = childCpuMs();
      const t0 = now();
      const status = await runDetached(cli.createArgv(id, bundle, join(dir, `${id}.pid`), join(dir, `${id}.log`)));
      if (status !== 0) throw new Error(`${name} create: ${readFileSync(join(dir, `${id}.log`), "utf8")}`);
      const t1 = now();
      await cli.start(id);
      const t2 = now();
      await cli.delete(id, true);
      const t3 = now();
      t.cpu += childCpuMs() - cpu0;
      t.create.push(t1 - t0);
      t.start.push(t2 - t1);
      t.delete.push(t3 - t2);
      t.total.push(t3 - t0);
    }
  }
  for (const d of readdirSync("/sys/fs/cgroup")) {
    try {
      rmdirSync(`/sys/fs/cgroup/${d}/kuasar-oci-latency`);
    } catch {
      /* not made in this hierarchy */
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const out: Record<string, unknown> = { rounds, crun_reason: crun.reason };
  for (const [name, t] of Object.entries(times)) {
    out[name] = { create: summary(t.create), start: summary(t.start), delete: summary(t.delete), total: summary(t.total), runtime_cpu_ms_per_cycle: ms(t.cpu / rounds) };
  }
  process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
}

async function start(rounds: number): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as TestContext;
  try {
    const envs = { runc: await containerd2WithKuasar(t, ["runc"]), crun: await containerd2WithKuasar(t, ["runc"], 'runtime = "crun"\n') };
    const pods: Record<string, { podId: string; cfg: ReturnType<typeof podConfig> }> = {};
    for (const [name, env] of Object.entries(envs)) {
      const cfg = podConfig(`lat-${name}`, join(env.dir, "logs", name));
      // One warm-up container per environment (image unpack, first exec of every binary).
      const { podId } = await runPod(env.cri, HANDLER, cfg, [shContainer("warm", "exec sleep 1000")]);
      pods[name] = { podId, cfg };
    }
    const lat: Record<string, number[]> = { runc: [], crun: [] };
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 === 0 ? ["runc", "crun"] : ["crun", "runc"]) {
        const env = envs[name as "runc" | "crun"];
        const { podId, cfg } = pods[name]!;
        const { containerId } = await env.cri.runtime.createContainer({ podSandboxId: podId, config: shContainer(`c${r}`, "exec sleep 1000"), sandboxConfig: cfg });
        const t0 = now();
        await env.cri.runtime.startContainer({ containerId });
        lat[name]!.push(now() - t0);
      }
    }
    for (const [name, env] of Object.entries(envs)) {
      await env.cri.runtime.stopPodSandbox({ podSandboxId: pods[name]!.podId });
      await env.cri.runtime.removePodSandbox({ podSandboxId: pods[name]!.podId });
    }
    process.stdout.write(`${JSON.stringify({ rounds, start_container: { runc: summary(lat["runc"]!), crun: summary(lat["crun"]!) } }, null, 1)}\n`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

const [mode = "cycle", n] = process.argv.slice(2);
if (process.env[ISOLATION_ENV] !== "1") process.exit(await reexecIsolated(fileURLToPath(import.meta.url), process.argv.slice(2)));
await setupIsolation();
await (mode === "start" ? start(Number(n ?? 30)) : cycle(Number(n ?? 100)));
process.exit(0);
