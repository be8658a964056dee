import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cpuJiffies, waitForQuietCpu } from "../../bench/quiet-cpu.js";

describe("waiting for a quiet node", () => {
  it("counts idle and iowait as not busy, everything else on the cpu line as busy", () => {
    const stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1\n";
    assert.deepEqual(cpuJiffies(stat), { busy: 161, total: 1181 });
    assert.throws(() => cpuJiffies("intr 1\n"), /no cpu line/);
  });

  it("returns true once a window is quiet, false when the CPUs stay busier than allowed until the deadline", async () => {
    assert.equal(await waitForQuietCpu({ busyFraction: 1, windowMs: 10 }), true, "any window is quiet enough at 100%");
    const spin = setInterval(() => {
      const end = Date.now() + 9;
      while (Date.now() < end) {
        /* busy */
      }
    }, 10);
    try {
      assert.equal(await waitForQuietCpu({ busyFraction: 0, windowMs: 20, maxMs: 200 }), false, "a spinning process keeps 0% out of reach");
    } finally {
      clearInterval(spin);
    }
  });
});
