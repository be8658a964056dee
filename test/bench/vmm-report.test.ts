import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { VmmSection } from "../../bench/vmm-results.js";
import { renderVmmSection } from "../../bench/vmm-report.js";
import { emptyVmmSection, restoreSteps } from "../../bench/vmm-section.js";
import { summarizeVmm, summarizeVmmTemplate } from "../../bench/vmm-summary.js";

function measured(accelerator: "kvm" | "tcg", reason: string): VmmSection {
  const floor = [{ ok: true, boot_ms: 5000, error: null }];
  const memory = [
    { pods: 0, mgmt_pss_mb: 90, qemu_pss_mb: 0, qemu_rss_mb: 0, virtiofsd_pss_mb: 0, qemu_processes: 0, virtiofsd_processes: 0 },
    { pods: 1, mgmt_pss_mb: 92, qemu_pss_mb: 80, qemu_rss_mb: 95, virtiofsd_pss_mb: 3, qemu_processes: 1, virtiofsd_processes: 2 },
  ];
  return {
    status: "ok",
    reason: null,
    accelerator,
    accelerator_reason: reason,
    vcpus: 1,
    memory_mb: 256,
    iterations: 1,
    teardown_error: null,
    summary: summarizeVmm(floor, [7500], memory),
    samples: { floor, pod_start_ms: [7500], pod_start_errors: [], memory },
  };
}

describe("renderVmmSection", () => {
  it("renders nothing for a run without the section", () => {
    assert.deepEqual(renderVmmSection(undefined, "##"), []);
  });

  it("names TCG and why, the latencies, the ratio and the memory table", () => {
    const md = renderVmmSection(measured("tcg", "/dev/kvm unusable (ENOENT)"), "##").join("\n");
    assert.match(md, /^### VM pods \(vmm sandboxer\)/);
    assert.match(md, /TCG \(software emulation/);
    assert.match(md, /because \/dev\/kvm unusable \(ENOENT\)/);
    assert.match(md, /\| VM pod start \(ms\) \| 7500 \| 7500 \| 7500 \|/);
    assert.match(md, /\*\*1\.50x\*\*/);
    assert.match(md, /\| 1 \| 92\.0 \| 80\.0 \| 95\.0 \| 3\.0 \|/);
    assert.match(md, /\*\*2\.00 MB per VM pod\*\*/);
  });

  it("reports a failed teardown beside the numbers", () => {
    const md = renderVmmSection({ ...measured("tcg", "configured"), teardown_error: "pod x: Deadline exceeded" }, "##").join("\n");
    assert.match(md, /\*\*Teardown FAILED\*\* \(the numbers below stand\): pod x: Deadline exceeded/);
    assert.match(md, /\| VM pod start \(ms\) \|/);
  });

  it("says KVM when the guest booted accelerated", () => {
    assert.match(renderVmmSection(measured("kvm", "probe guest answered in 300 ms"), "#").join("\n"), /KVM \(hardware-accelerated\)/);
  });

  it("reports a missing prerequisite instead of numbers", () => {
    const md = renderVmmSection(emptyVmmSection("not_available", "guest kernel missing at /x | y", 3), "##").join("\n");
    assert.match(md, /Not measured: guest kernel missing at \/x \\\| y/);
    assert.doesNotMatch(md, /\| metric \|/);
  });

  it("puts the template path beside the boot path: its start, ratios against the targets, build and memory rows", () => {
    const v = measured("tcg", "configured");
    const memory = [
      { pods: 0, mgmt_pss_mb: 90, qemu_pss_mb: 0, qemu_rss_mb: 0, virtiofsd_pss_mb: 0, qemu_processes: 0, virtiofsd_processes: 0 },
      { pods: 3, mgmt_pss_mb: 95, qemu_pss_mb: 60, qemu_rss_mb: 120, virtiofsd_pss_mb: 0, qemu_processes: 3, virtiofsd_processes: 0 },
    ];
    const md = renderVmmSection(
      {
        ...v,
        template: {
          key: "tcg-0123",
          build_ms: 3100,
          memory_file_data_mb: 67.2,
          restored_pods: 5,
          started_pods: 5,
          summary: summarizeVmmTemplate(v.samples.floor, v.samples.pod_start_ms, [1000], memory),
          samples: { pod_start_ms: [1000], pod_start_errors: [], memory },
        },
      },
      "##",
    ).join("\n");
    assert.match(md, /\| VM pod start, boot path \(ms\) \| 7500 \|/);
    assert.match(md, /\| VM pod start, template path \(ms\) \| 1000 \| 1000 \| 1000 \|/);
    assert.match(md, /template path \*\*0\.20x\*\* \(target <= 0\.30x\), boot path 1\.50x/);
    assert.match(md, /`tcg-0123`: built ahead of time .* in 3100 ms, not counted in any pod start; its RAM file holds 67\.2 MB/);
    assert.match(md, /restored 5 of the 5 template-path pods/);
    assert.match(md, /\| boot \| 1 \| 92\.0 \| 80\.0 \| 95\.0 \| 3\.0 \|/);
    assert.match(md, /\| template \| 3 \| 95\.0 \| 60\.0 \| 120\.0 \| 0\.0 \|/);
    assert.match(md, /template path \*\*60\.0 MB\*\* \(target <= 128 MB for a 256 MB guest\), boot path 80\.0 MB/);
  });

  it("shows where a VM pod's start goes: each path's CRI calls and the template path's restore steps, in order", () => {
    const v = measured("tcg", "configured");
    const phases = (run: number) => ({ run_pod_sandbox_ms: run, create_container_ms: 12.5, start_container_ms: 400, until_running_ms: 2 });
    const md = renderVmmSection(
      {
        ...v,
        cri_phases_ms: phases(4100),
        template: {
          key: "tcg-0123",
          build_ms: 3100,
          memory_file_data_mb: 67.2,
          restored_pods: 1,
          started_pods: 1,
          summary: null,
          cri_phases_ms: phases(900),
          restore_steps_ms: { restore_ms: 800, spawn_ms: 40, qmp_ms: 300 },
          samples: { pod_start_ms: [1000], pod_start_errors: [], memory: [] },
        },
      },
      "##",
    ).join("\n");
    assert.match(md, /\| boot \| 4100\.0 \| 12\.5 \| 400\.0 \| 2\.0 \|/);
    assert.match(md, /\| template \| 900\.0 \| 12\.5 \| 400\.0 \| 2\.0 \|/);
    assert.match(md, /\| QEMU spawned \| 40 \|\n\| QMP answers \(QEMU's own start\) \| 300 \|\n\| clock, entropy and journal set \(restore done\) \| 800 \|/);
    assert.doesNotMatch(renderVmmSection(v, "##").join("\n"), /Restore steps/, "no steps without a template path");
  });

  it("takes the restore steps' medians from the daemon's log lines, skipping other and torn lines", () => {
    const line = (agent: number) => JSON.stringify({ level: 30, msg: "guest agent answered (restored from a template)", spawn_ms: 10, agent_ms: agent, restore_ms: agent + 100 });
    const logs = [line(300), '{"msg":"sandbox started"}', line(500), '{"msg":"guest agent answered (restored from a template)", "agent_', line(400)].join("\n");
    assert.deepEqual(restoreSteps(logs), { spawn_ms: 10, agent_ms: 400, restore_ms: 500 });
    assert.equal(restoreSteps('{"msg":"other"}'), null);
  });

  it("adds the guest setup's median (its own duration) from its own log lines", () => {
    const setup = (ms: number) => JSON.stringify({ level: 30, msg: "guest set up", setup_ms: ms, by: "agent verbs" });
    const restored = JSON.stringify({ level: 30, msg: "guest agent answered (restored from a template)", restore_ms: 430 });
    assert.deepEqual(restoreSteps([restored, setup(40), setup(90), setup(50)].join("\n")), { restore_ms: 430, setup_ms: 50 });
    assert.deepEqual(restoreSteps(setup(60)), { setup_ms: 60 });
  });
});
