import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Code } from "../../../src/errors/code.js";
import type { Logger } from "../../../src/log/logger.js";
import type { OciRuntimeCommand } from "../../../src/oci-runtime/oci-runtime-command.js";
import { chooseOciRuntime, runtimeStatusInfo, type ChoiceOptions } from "../../../src/sandboxers/runc/runtime-choice.js";

const root = mkdtempSync(join(tmpdir(), "runtime-choice-"));
after(() => rmSync(root, { recursive: true, force: true }));
const bin = join(root, "bin");
mkdirSync(bin);
for (const b of ["runc", "crun"]) {
  writeFileSync(join(bin, b), "#!/bin/sh\n");
  chmodSync(join(bin, b), 0o755);
}

/** A logger that keeps what was logged at info and warn. */
function recordingLog(): { log: Logger; lines: { level: string; msg: string; o: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; o: Record<string, unknown> }[] = [];
  const at = (level: string) => (o: Record<string, unknown>, msg: string) => lines.push({ level, msg, o });
  return { log: { info: at("info"), warn: at("warn") } as unknown as Logger, lines };
}

/** Options with a fake probe that passes only for the commands `passes` accepts, recording each one probed. */
function options(hybrid: boolean, passes: (c: OciRuntimeCommand) => boolean, probed: OciRuntimeCommand[]): ChoiceOptions {
  return {
    dir: join(root, "probe"),
    pauseBinary: "/pause",
    systemdCgroup: false,
    timeoutMs: 1000,
    hideCgroup2Binary: "/hide",
    hybridWithV2Controllers: () => hybrid,
    where: { path: bin, crunDir: join(root, "none") },
    probe: async (c) => {
      probed.push(c);
      if (!passes(c)) throw new Error("create: cgroups in hybrid mode not supported");
    },
  };
}

describe("choosing the OCI runtime at sandboxer start", () => {
  it("takes runc as configured, without a probe", async () => {
    const probed: OciRuntimeCommand[] = [];
    const c = await chooseOciRuntime("runc", "runc", options(true, () => false, probed), recordingLog().log);
    assert.deepEqual(c, { command: { name: "runc", binary: join(bin, "runc"), launcher: [] }, reason: "configured" });
    assert.equal(probed.length, 0);
  });

  it("takes crun when its probe passes as it is (a pure v2 host)", async () => {
    const probed: OciRuntimeCommand[] = [];
    const { log, lines } = recordingLog();
    const c = await chooseOciRuntime("crun", "runc", options(false, () => true, probed), log);
    assert.deepEqual(c.command, { name: "crun", binary: join(bin, "crun"), launcher: [] });
    assert.equal(c.reason, "configured; probe passed");
    assert.equal(probed.length, 1);
    assert.deepEqual(lines.map((l) => [l.level, l.msg]), [["info", "OCI runtime chosen"]]);
  });

  it("runs crun through the cgroup2 hider on a hybrid host whose cgroup2 has controllers", async () => {
    const probed: OciRuntimeCommand[] = [];
    const c = await chooseOciRuntime("crun", "runc", options(true, (x) => x.launcher[0] === "/hide", probed), recordingLog().log);
    assert.deepEqual(c.command, { name: "crun", binary: join(bin, "crun"), launcher: ["/hide"] });
    assert.match(c.reason, /cgroup2 mount hidden/);
    assert.equal(probed.length, 2, "as it is first, then hidden");
    assert.deepEqual(runtimeStatusInfo(c), { oci_runtime: "crun", oci_runtime_binary: join(bin, "crun"), oci_runtime_reason: c.reason });
  });

  it("falls back to runc with a warning and the reason when every probe fails", async () => {
    const probed: OciRuntimeCommand[] = [];
    const { log, lines } = recordingLog();
    const c = await chooseOciRuntime("crun", "runc", options(true, () => false, probed), log);
    assert.deepEqual(c.command, { name: "runc", binary: join(bin, "runc"), launcher: [] });
    assert.equal(
      c.reason,
      "crun failed its probe (as it is: create: cgroups in hybrid mode not supported; with cgroup2 hidden: create: cgroups in hybrid mode not supported); runc used",
    );
    assert.deepEqual(lines.map((l) => [l.level, l.msg]), [["warn", "OCI runtime falls back to runc"]]);
    assert.equal(lines[0]!.o["reason"], c.reason);
  });

  it("fails the start when the configured runtime is missing, or when runc is needed and missing", async () => {
    const o = options(false, () => false, []);
    await assert.rejects(chooseOciRuntime("/nonexistent/crun", "runc", o, recordingLog().log), { code: Code.FailedPrecondition, message: /\/nonexistent\/crun not found/ });
    await assert.rejects(chooseOciRuntime("crun", "/nonexistent/runc", o, recordingLog().log), { code: Code.FailedPrecondition, message: /runc binary "\/nonexistent\/runc" not found/ });
    await assert.rejects(chooseOciRuntime("runc", "/nonexistent/runc", o, recordingLog().log), { code: Code.FailedPrecondition });
  });
});
