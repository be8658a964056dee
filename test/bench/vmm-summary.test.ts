import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { VmmMemoryPoint } from "../../bench/vmm-results.js";
import { summarizeVmm, summarizeVmmTemplate } from "../../bench/vmm-summary.js";

const point = (pods: number, mgmt: number, qemu = 60, fsd = 4): VmmMemoryPoint => ({
  pods,
  mgmt_pss_mb: mgmt,
  qemu_pss_mb: pods === 0 ? 0 : qemu,
  qemu_rss_mb: pods === 0 ? 0 : qemu + 10,
  virtiofsd_pss_mb: pods === 0 ? 0 : fsd,
  qemu_processes: pods,
  virtiofsd_processes: pods * 2,
});

describe("summarizeVmm", () => {
  it("gives order statistics of both series and the ratio of the medians", () => {
    const floor = [4000, 5000, 6000].map((ms) => ({ ok: true, boot_ms: ms, error: null }));
    const s = summarizeVmm(floor, [8000, 7000, 9000], []);
    assert.equal(s.floor_ms_min, 4000);
    assert.equal(s.floor_ms_median, 5000);
    assert.equal(s.floor_ms_p90, 5800);
    assert.equal(s.pod_start_ms_min, 7000);
    assert.equal(s.pod_start_ms_median, 8000);
    assert.equal(s.pod_start_over_floor, 1.6);
  });

  it("leaves failed samples out and reports null when nothing was measured", () => {
    const s = summarizeVmm([{ ok: false, boot_ms: null, error: "boom" }], [null, 3000], []);
    assert.equal(s.floor_ms_median, null);
    assert.equal(s.floor_ms_min, null);
    assert.equal(s.pod_start_ms_median, 3000);
    assert.equal(s.pod_start_over_floor, null);
    assert.equal(s.mgmt_pss_mb_per_pod, null);
    assert.equal(s.qemu_pss_mb_per_pod, null);
  });

  it("fits the management slope over the pod counts and takes QEMU and virtiofsd at the largest count", () => {
    const s = summarizeVmm([], [], [point(0, 100), point(1, 101), point(3, 103), point(6, 106, 70, 5)]);
    assert.equal(s.mgmt_pss_mb_per_pod, 1);
    assert.equal(s.qemu_pss_mb_per_pod, 70);
    assert.equal(s.virtiofsd_pss_mb_per_pod, 5);
  });

  it("puts the template path against the same run's floor and boot path, and takes its QEMU and virtiofsd at the largest count", () => {
    const floor = [2000, 3000, 4000].map((ms) => ({ ok: true, boot_ms: ms, error: null }));
    const t = summarizeVmmTemplate(floor, [6000, null, 6000], [null, 900, 600], [point(0, 100), point(3, 103, 50, 0)]);
    assert.equal(t.pod_start_ms_min, 600);
    assert.equal(t.pod_start_ms_median, 750);
    assert.equal(t.pod_start_over_floor, 0.25);
    assert.equal(t.pod_start_over_boot_path, 0.13);
    assert.equal(t.qemu_pss_mb_per_pod, 50);
    assert.equal(t.virtiofsd_pss_mb_per_pod, 0);
    const none = summarizeVmmTemplate([], [], [], []);
    assert.equal(none.pod_start_over_floor, null);
    assert.equal(none.pod_start_over_boot_path, null);
    assert.equal(none.qemu_pss_mb_per_pod, null);
  });
});
