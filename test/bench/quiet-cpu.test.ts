import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { cpus } from "node:os";
import { describe, it } from "node:test";
import { cpuJiffies, waitForQuietCpu } from "../../bench/quiet-cpu.js";

describe("waiting for a quiet node", () => {
  it("counts idle and iowait as not busy, everything else on the cpu line as busy", () => {
    const stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1\n";
    assert.deepEqual(cpuJiffies(stat), { busy: 161, total: 1181 });
    assert.throws(() => cpuJiffies("intr 1\n"), /no cpu line/);
  });

  it("returns true once a window is quiet, false when the CPUs stay busier than allowed until the deadline", async (t) => {
    assert.equal(await waitForQuietCpu({ busyFraction: 1, windowMs: 10 }), true, "any window is quiet enough at 100%");
    // A process spinning on one core keeps the node busier than half a core's share, in every window.
    const spinner = spawn(process.execPath, ["-e", "process.stdout.write('go\\n'); for (;;) {}"], { stdio: ["ignore", "pipe", "ignore"] });
    t.after(() => spinner.kill("SIGKILL"));
    await once(spinner.stdout, "data");
    const halfACore = 0.5 / cpus().length;
    assert.equal(await waitForQuietCpu({ busyFraction: halfACore, windowMs: 100, maxMs: 500 }), false, "a spinning process keeps the node busy");
  });
});
