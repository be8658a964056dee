import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { daemonPhases } from "../../bench/daemon-phases.js";
import { checkChosenRuntime, kuasarDirectConfiguration } from "../../bench/kuasar-direct.js";
import { renderPhaseSection } from "../../bench/phase-report.js";
import { measured } from "./bench-fixture.js";

const line = (at: number, o: Record<string, unknown>) => JSON.stringify({ at, ...o });

describe("daemonPhases", () => {
  it("puts each line in its window, counts only successes, and skips a torn last line", () => {
    const text = [
      line(5, { what: "pod", kind: "runc", phase: "start", ms: 99, ok: true }), // warm-up: before the serial window
      line(10, { what: "pod", kind: "runc", phase: "start", ms: 20, ok: true }),
      line(11, { what: "pod", kind: "runc", phase: "start", ms: 40, ok: true }),
      line(12, { what: "rpc", api: "task", method: "Start", ms: 7, code: 0 }),
      line(13, { what: "rpc", api: "task", method: "Start", ms: 1, code: 5 }),
      line(20, { what: "pod", kind: "runc", phase: "start.holder", ms: 30, ok: true }),
      line(21, { what: "pod", kind: "runc", phase: "start.holder", ms: 1, ok: false }),
      '{"at":22,"what":"rpc"',
    ].join("\n");
    const d = daemonPhases(text, { serial: [10, 20], parallel: [20, 30] });
    assert.deepEqual(d.serial, {
      "pod start": { count: 2, median_ms: 30, p90_ms: 38, max_ms: 40 },
      "rpc task Start": { count: 1, median_ms: 7, p90_ms: 7, max_ms: 7 },
    });
    assert.deepEqual(d.parallel, { "pod start.holder": { count: 1, median_ms: 30, p90_ms: 30, max_ms: 30 } });
  });
});

describe("the crun configuration", () => {
  it("is the runc sandboxer on crun, compared with the runc sandboxer on runc", () => {
    const c = kuasarDirectConfiguration("runc", { runtime: "crun" });
    assert.equal(c.id, "kuasar-runc-crun-direct-ctrd2");
    assert.equal(c.compareWith, "kuasar-runc-direct-ctrd2");
    assert.throws(() => kuasarDirectConfiguration("wasm", { runtime: "crun" }), /only the runc kind/);
    assert.throws(() => kuasarDirectConfiguration("runc", { wasmEngine: "wasmedge-pod" }), /only the wasm kind/);
  });

  it("fails setup when kuasard fell back to runc, and passes when it chose crun", () => {
    const fellBack = `{"level":40,"oci_runtime":"runc","wanted":"crun","msg":"OCI runtime falls back to runc"}\n`;
    assert.throws(() => checkChosenRuntime(fellBack, "crun"), /kuasard runs runc, not crun/);
    assert.throws(() => checkChosenRuntime("", "crun"), /did not log/);
    checkChosenRuntime(`{"level":30,"oci_runtime":"crun","msg":"OCI runtime chosen"}\n`, "crun");
    // runc is the configured default: nothing is probed or logged (what broke the first crun run).
    checkChosenRuntime("", "runc");
  });
});

describe("renderPhaseSection", () => {
  it("shows the CRI phases of every configuration and kuasard's steps for ours", () => {
    const base = measured("base", "baseline", 160);
    const ours0 = measured("ours", "ours", 80);
    const ours = { ...ours0, summary: { ...ours0.summary!, daemon_phases: { serial: { "pod start": { count: 3, median_ms: 12.5, p90_ms: 14, max_ms: 15 }, "rpc task Wait": { count: 3, median_ms: 9000, p90_ms: 9000, max_ms: 9000 } }, parallel: {} } } };
    const text = renderPhaseSection([base, ours], "##").join("\n");
    assert.match(text, /\| base \| serial \| 80\.0 \| 40\.0 \| 40\.0 \| 0\.0 \|/);
    assert.match(text, /\| ours \| pod start \| 3 \| 12\.5 \| 14\.0 \| — \|/);
    assert.doesNotMatch(text, /Wait \|/);
  });

  it("renders nothing for results written before the breakdown existed", () => {
    const old = measured("base", "baseline", 160);
    const { phases_ms: _p, ...summary } = old.summary!;
    assert.deepEqual(renderPhaseSection([{ ...old, summary }], "##"), []);
  });
});
