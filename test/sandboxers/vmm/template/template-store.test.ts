import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Writable } from "node:stream";
import pino from "pino";
import type { Logger } from "../../../../src/log/logger.js";
import { templateIdentity, templateKey, type TemplateIdentity, type TemplateShape } from "../../../../src/sandboxers/vmm/template/template-shape.js";
import { BUILD_VM_PID, TemplateStore, type TemplateBuilder } from "../../../../src/sandboxers/vmm/template/template-store.js";

const MB = 2 ** 20;

function dir(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), "tmpl-store-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A logger whose warnings the test reads. */
function capture(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const line = JSON.parse(chunk.toString()) as { level: number; msg: string; reason?: string };
      if (line.level === 40) warnings.push(`${line.msg}: ${line.reason ?? ""}`);
      cb();
    },
  });
  return { log: pino({ level: "info" }, sink) as unknown as Logger, warnings };
}

const shape = (over: Partial<TemplateShape> = {}): TemplateShape => ({
  qemuPath: "/q", machineType: "q35", accelerator: "tcg", vcpus: 1, memoryMb: 4,
  kernelPath: "/k", initrdPath: "/i", kernelCmdline: "console=ttyS0 kuasar.share=later", hotplugSlots: 2, coldShare9p: true, ...over,
});
const files: Record<string, string> = { "/q": "qemu-7.2", "/k": "kernel-a", "/i": "initrd-a" };
const identity = (over: Partial<TemplateShape> = {}, f = files): TemplateIdentity => templateIdentity(shape(over), (p) => f[p] ?? assert.fail(p));

/** A builder that writes files of the right shape, counting its calls. */
function fakeBuilder(memoryMb = 4): TemplateBuilder & { calls: number } {
  const b = Object.assign(
    async (out: { memoryFile: string; stateFile: string }) => {
      b.calls++;
      await new Promise((r) => setTimeout(r, 5));
      writeFileSync(out.memoryFile, "");
      truncateSync(out.memoryFile, memoryMb * MB);
      writeFileSync(out.stateFile, "device state");
      return { share: "virtio-fs" as const };
    },
    { calls: 0 },
  );
  return b;
}

describe("VM template key", () => {
  it("changes with anything that shapes the guest, and says the accelerator", () => {
    const k = templateKey(identity());
    assert.match(k, /^tcg-[0-9a-f]{32}$/);
    assert.equal(templateKey(identity()), k, "stable");
    assert.match(templateKey(identity({ accelerator: "kvm" })), /^kvm-/);
    for (const over of [{ vcpus: 2 }, { memoryMb: 8 }, { kernelCmdline: "console=ttyS0 quiet kuasar.share=later" }, { machineType: "pc" }, { hotplugSlots: 3 }, { coldShare9p: false }]) {
      assert.notEqual(templateKey(identity(over)), k, JSON.stringify(over));
    }
    for (const [path, content] of [["/k", "kernel-b"], ["/i", "initrd-with-a-new-agent"], ["/q", "qemu-8.2"]] as const) {
      assert.notEqual(templateKey(identity({}, { ...files, [path]: content })), k, `a changed ${path}`);
    }
  });
});

describe("VM template store", () => {
  it("keeps the most recently used templates up to a count", async (t) => {
    const { log } = capture();
    const store = new TemplateStore(join(dir(t), "templates"), log);
    const a = await store.obtain(identity({ vcpus: 1 }), fakeBuilder());
    const b = await store.obtain(identity({ vcpus: 2 }), fakeBuilder());
    const c = await store.obtain(identity({ vcpus: 3 }), fakeBuilder());
    const past = new Date(Date.now() - 60_000);
    for (const [k, when] of [[a, past], [b, new Date(Date.now() - 30_000)], [c, past]] as const) utimesSync(k.dir, when, when);
    store.find(identity({ vcpus: 1 })); // a is used again
    assert.deepEqual(store.evict(2), [c.key]);
    assert.deepEqual(store.list().sort(), [a.key, b.key].sort());
  });

  it("builds a template once on first use, then finds it; concurrent first uses share one build", async (t) => {
    const { log } = capture();
    const store = new TemplateStore(join(dir(t), "templates"), log);
    const id = identity();
    assert.equal(store.find(id), undefined);
    const build = fakeBuilder();
    const [a, b] = await Promise.all([store.obtain(id, build), store.obtain(id, build)]);
    assert.equal(build.calls, 1);
    assert.equal(a.key, templateKey(id));
    assert.deepEqual(b, a);
    assert.deepEqual(store.find(id), a);
    assert.deepEqual(store.list(), [a.key], "no build dir left behind");
    await store.obtain(id, build);
    assert.equal(build.calls, 1, "not rebuilt");
  });

  it("never hands a TCG template to a KVM VM", async (t) => {
    const { log } = capture();
    const store = new TemplateStore(join(dir(t), "templates"), log);
    const tcg = await store.obtain(identity(), fakeBuilder());
    assert.equal(store.find(identity({ accelerator: "kvm" })), undefined);
    const kvm = await store.obtain(identity({ accelerator: "kvm" }), fakeBuilder());
    assert.notEqual(kvm.dir, tcg.dir);
  });

  it("removes a corrupt template with a warning (the pod boots; the next use builds anew)", async (t) => {
    const cases: [string, (dir: string) => void, RegExp][] = [
      ["state changed", (d) => writeFileSync(join(d, "state"), "garbage"), /checksum/],
      ["memory truncated", (d) => truncateSync(join(d, "memory"), MB), /memory file is 1048576 bytes/],
      ["memory gone", (d) => rmSync(join(d, "memory")), /memory file is missing/],
      ["metadata torn", (d) => writeFileSync(join(d, "template.json"), "{"), /unreadable/],
      ["metadata gone", (d) => rmSync(join(d, "template.json")), /template.json is missing/],
    ];
    for (const [what, damage, why] of cases) {
      const { log, warnings } = capture();
      const store = new TemplateStore(join(dir(t), "templates"), log);
      const id = identity();
      const tmpl = await store.obtain(id, fakeBuilder());
      damage(tmpl.dir);
      assert.equal(store.find(id), undefined, what);
      assert.match(warnings.join("\n"), why, what);
      assert.deepEqual(store.list(), [], `${what}: removed`);
      const build = fakeBuilder();
      await store.obtain(id, build);
      assert.equal(build.calls, 1, `${what}: rebuilt`);
    }
  });

  it("keeps nothing of a failed build", async (t) => {
    const { log } = capture();
    const root = join(dir(t), "templates");
    const store = new TemplateStore(root, log);
    await assert.rejects(store.obtain(identity(), async () => Promise.reject(new Error("guest did not answer"))), /guest did not answer/);
    assert.deepEqual(readdirSync(root), []);
    await assert.rejects(store.obtain(identity(), fakeBuilder(8)), /failed its checks/, "a build of the wrong size is not kept");
    assert.deepEqual(readdirSync(root), []);
  });

  it("prunes stale templates and builds a crash left (and their VM), keeps current ones and live builds", async (t) => {
    const { log } = capture();
    const root = join(dir(t), "templates");
    const store = new TemplateStore(root, log);
    const current = await store.obtain(identity(), fakeBuilder());
    const stale = await store.obtain(identity({}, { ...files, "/k": "old kernel" }), fakeBuilder());
    const crashed = join(root, `.build-${current.key}-999999999-1`); // no such pid: crashed
    mkdirSync(crashed);
    const leftVm = spawn(process.execPath, ["-e", "setTimeout(() => {}, 100_000)", crashed], { stdio: "ignore" }); // the VM it left, named by its build dir
    t.after(() => leftVm.kill("SIGKILL"));
    writeFileSync(join(crashed, BUILD_VM_PID), String(leftVm.pid));
    const vmEnded = once(leftVm, "exit");
    mkdirSync(join(root, `.build-${current.key}-${process.pid}-2`)); // a build under way
    const kernelNow = current.identity.kernel;
    assert.deepEqual(store.prune((_key, id) => id?.kernel === kernelNow).sort(), [`.build-${current.key}-999999999-1`, stale.key].sort());
    assert.deepEqual(readdirSync(root).sort(), [`.build-${current.key}-${process.pid}-2`, current.key].sort());
    assert.deepEqual(await vmEnded, [null, "SIGKILL"], "the crashed build's VM was stopped");
  });
});
