import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { requestedOf } from "../../bench/finish-run.js";
import { runVerdict } from "../../bench/run-verdict.js";
import { measured, notRun, results } from "./bench-fixture.js";

describe("runVerdict", () => {
  it("passes a run where the baseline and every requested configuration measured", () => {
    const r = results([measured("base", "baseline", 150), measured("ours", "ours", 80)]);
    assert.deepEqual(runVerdict(r, ["ours"], false), { ok: true, problems: [] });
  });

  it("fails when every configuration was not available, naming each with its reason", () => {
    const r = results([notRun("base", "baseline", "not_available", "containerd 1.7 missing (run packaging/install-deps.sh)"), notRun("ours", "ours", "not_available", "holder missing")]);
    const v = runVerdict(r, ["base", "ours"], false);
    assert.equal(v.ok, false);
    assert.deepEqual(v.problems, ["base: not_available: containerd 1.7 missing (run packaging/install-deps.sh)", "ours: not_available: holder missing"]);
  });

  it("fails when the baseline did not run, even if it was not listed", () => {
    const v = runVerdict(results([notRun("base", "baseline", "failed", "setup: boom"), measured("ours", "ours", 80)]), ["ours"], false);
    assert.deepEqual(v.problems, ["base: failed: setup: boom"]);
  });

  it("fails on a requested configuration that broke, and ignores one that was not requested", () => {
    const r = results([measured("base", "baseline", 150), measured("ours", "ours", 80), notRun("crun", "ours", "failed", "serial start: every pod start failed")]);
    assert.equal(runVerdict(r, ["ours"], false).ok, true);
    assert.deepEqual(runVerdict(r, ["ours", "crun"], false).problems, ["crun: failed: serial start: every pod start failed"]);
  });

  it("fails when a requested configuration is missing from the run, or the VM section is", () => {
    const r = results([measured("base", "baseline", 150)]);
    assert.deepEqual(runVerdict(r, ["nope"], true).problems, ["nope: not in the run", "vmm: not in the run"]);
  });
});

describe("requestedOf", () => {
  it("reads --only from the results, else every configuration plus the VM section", () => {
    const two = [measured("base", "baseline", 150), measured("ours", "ours", 80)];
    assert.deepEqual(requestedOf(results(two, ["ours"])), { configurations: ["ours"], vmm: false });
    assert.deepEqual(requestedOf(results(two, ["ours", "vmm"])), { configurations: ["ours"], vmm: true });
    assert.deepEqual(requestedOf(results(two, [])), { configurations: ["base", "ours"], vmm: true });
  });
});
