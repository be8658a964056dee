import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { parseProcCgroup } from "../../../src/cgroup/cgroup-stats.js";
import { Code } from "../../../src/errors/code.js";
import { isErrorCode } from "../../../src/errors/runtime-error.js";
import { silentLogger } from "../../../src/log/logger.js";
import { WasmHostZygote } from "../../../src/sandboxers/wasm/wasm-host-zygote.js";
import { WASM_ZYGOTE_COMM } from "../../../src/sandboxers/wasm/wasmedge-pod-engine.js";
import { refusingCgroup2Dir, testCgroup } from "../../../testing/test-cgroup.js";
import { wasmEdgePodPrograms, wasmEdgePodSkip } from "../../../testing/wasm-pod-host.js";

const programs = wasmEdgePodPrograms;
const skip = wasmEdgePodSkip;

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(10)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

/** A stand-in holder: a process in new network, IPC and UTS namespaces (the zygote's fork joins them). */
async function fakeHolder(t: TestContext): Promise<ChildProcess> {
  const p = spawn("/usr/bin/unshare", ["--net", "--ipc", "--uts", "/bin/sleep", "100"], { stdio: "ignore" });
  t.after(() => p.kill("SIGKILL"));
  await until(() => p.pid !== undefined && readlinkSync(`/proc/${p.pid}/ns/uts`) !== readlinkSync("/proc/self/ns/uts"), "unshare");
  return p;
}

async function wasmDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp("/tmp/kz-");
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function zygote(t: TestContext): WasmHostZygote {
  const z = new WasmHostZygote(programs!.hostArgv, silentLogger());
  t.after(() => z.close());
  return z;
}

describe("the node's wasm zygote (kuasar-wasm-host --zygote)", { skip }, () => {
  it("forks a pod's host into the holder's namespaces, listening in the pod's dir; a second ask finds it there", async (t) => {
    const z = zygote(t);
    const holder = await fakeHolder(t);
    const dir = await wasmDir(t);
    const host = await z.hostFor({ holderPid: holder.pid!, hostDir: dir, cgroups: [] });
    t.after(() => (alive(host) ? process.kill(host, "SIGKILL") : undefined));
    assert.ok(host > 0);
    assert.equal(readFileSync(`/proc/${host}/comm`, "utf8").trim(), "kuasar-wasm-hos");
    assert.equal(readFileSync(`/proc/${z.pid}/comm`, "utf8").trim(), WASM_ZYGOTE_COMM);
    for (const ns of ["net", "ipc", "uts"]) assert.equal(readlinkSync(`/proc/${host}/ns/${ns}`), readlinkSync(`/proc/${holder.pid}/ns/${ns}`), ns);
    assert.equal(readlinkSync(`/proc/${host}/cwd`), dir);
    assert.ok(existsSync(join(dir, "wasm-host.sock")));
    assert.equal(await z.hostFor({ holderPid: holder.pid!, hostDir: dir, cgroups: [] }), 0, "a host answers there already");
    // The host leaves with its holder (its pidfd), not with the zygote.
    z.close();
    await sleep(50);
    assert.ok(alive(host), "the zygote's end leaves the host");
    holder.kill("SIGKILL");
    await until(() => !alive(host), "the host to leave with its holder");
  });

  it("forks the host into the pod's cgroup in every hierarchy (v2 by starting it there); a v2 dir that takes no process fails with its name", async (t) => {
    const cg = testCgroup(t, "kz-test");
    if (!cg) return t.skip("no cgroup hierarchy is mounted here");
    const z = zygote(t);
    const holder = await fakeHolder(t);
    const host = await z.hostFor({ holderPid: holder.pid!, hostDir: await wasmDir(t), cgroups: cg.dirs });
    t.after(async () => {
      if (alive(host)) process.kill(host, "SIGKILL");
      await until(() => !alive(host), "the host to leave");
    });
    for (const m of parseProcCgroup(readFileSync(`/proc/${host}/cgroup`, "utf8"))) assert.equal(m.path, `/${cg.path}`, `the host in ${m.path}`);
    const { cgroup2 } = cg;
    if (!cgroup2) return;
    const invalid = refusingCgroup2Dir({ ...cg, cgroup2 });
    await assert.rejects(z.hostFor({ holderPid: holder.pid!, hostDir: await wasmDir(t), cgroups: [invalid] }), (e: unknown) => e instanceof Error && e.message.includes(invalid));
    assert.equal(readFileSync(join(invalid, "cgroup.procs"), "utf8"), "");
  });

  it("refuses what it cannot serve, each with a reason and code, and serves on", async (t) => {
    const z = zygote(t);
    const holder = await fakeHolder(t);
    const dir = await wasmDir(t);
    await assert.rejects(z.hostFor({ holderPid: holder.pid!, hostDir: "relative", cgroups: [] }), (e: unknown) => isErrorCode(e, Code.InvalidArgument));
    await assert.rejects(z.hostFor({ holderPid: holder.pid!, hostDir: `${dir}\tx`, cgroups: [] }), (e: unknown) => isErrorCode(e, Code.InvalidArgument));
    await assert.rejects(z.hostFor({ holderPid: 1, hostDir: dir, cgroups: [] }), (e: unknown) => isErrorCode(e, Code.InvalidArgument));
    const gone = spawn("/bin/true");
    await once(gone, "exit");
    await assert.rejects(z.hostFor({ holderPid: gone.pid!, hostDir: dir, cgroups: [] }), (e: unknown) => isErrorCode(e, Code.NotFound) && /holder/.test((e as Error).message));
    await assert.rejects(z.hostFor({ holderPid: holder.pid!, hostDir: join(dir, "missing"), cgroups: [] }), (e: unknown) => isErrorCode(e, Code.NotFound) && /missing/.test((e as Error).message));
    await assert.rejects(z.hostFor({ holderPid: holder.pid!, hostDir: dir, cgroups: ["/sys/fs/cgroup/no-such-cgroup"] }), (e: unknown) => isErrorCode(e, Code.NotFound) && /no-such-cgroup/.test((e as Error).message));
    const host = await z.hostFor({ holderPid: holder.pid!, hostDir: dir, cgroups: [] });
    assert.ok(host > 0, "still serving");
    process.kill(host, "SIGKILL");
  });

  it("killed with SIGKILL: asks fail at once (Unavailable), then a new zygote serves; hosts made before run on", async (t) => {
    const z = zygote(t);
    const holder = await fakeHolder(t);
    const first = await z.hostFor({ holderPid: holder.pid!, hostDir: await wasmDir(t), cgroups: [] });
    t.after(() => (alive(first) ? process.kill(first, "SIGKILL") : undefined));
    const old = z.pid!;
    process.kill(old, "SIGKILL");
    await until(() => z.pid === undefined, "the daemon to see the zygote's end");
    assert.equal(alive(old), false, "reaped");
    await assert.rejects(z.hostFor({ holderPid: holder.pid!, hostDir: await wasmDir(t), cgroups: [] }), (e: unknown) => isErrorCode(e, Code.Unavailable));
    await sleep(1100);
    const second = await z.hostFor({ holderPid: holder.pid!, hostDir: await wasmDir(t), cgroups: [] });
    t.after(() => (alive(second) ? process.kill(second, "SIGKILL") : undefined));
    assert.ok(second > 0 && z.pid !== old, "a new zygote made it");
    assert.ok(alive(first), "the host made by the killed zygote runs on");
  });
});
