/**
 * The "VM pods (vmm sandboxer)" part of the markdown report, from the `vmm` key of the JSON.
 *
 * @internal benchmark, not part of the runtime
 */
import type { VmmCriPhases, VmmSection } from "./vmm-results.js";

const cell = (v: number | null, digits = 0): string => (v === null ? "—" : v.toFixed(digits));
// Reasons quote QEMU's messages, which may hold table pipes and backticks.
const esc = (s: string): string => s.replace(/\|/g, "\\|").replace(/`/g, "'").replace(/\n/g, " ");

/** Why the run booted VMs the way it did, in words. */
function acceleratorLine(v: VmmSection): string {
  if (v.accelerator === null) return "Accelerator: not determined.";
  const how = v.accelerator === "kvm" ? "KVM (hardware-accelerated)" : "TCG (software emulation: KVM unavailable)";
  return `Accelerator: **${how}**${v.accelerator_reason !== null ? `, because ${esc(v.accelerator_reason)}` : ""}; each VM ${v.vcpus} vCPU, ${v.memory_mb} MB.`;
}

/** Markdown lines of the section (empty when the run has no `vmm` key); `h` is the heading prefix of the report. */
export function renderVmmSection(v: VmmSection | undefined, h: string): string[] {
  if (v === undefined) return [];
  const out = [`${h}# VM pods (vmm sandboxer)`, ""];
  if (v.status === "not_available") return [...out, `Not measured: ${esc(v.reason ?? "?")}`, ""];
  if (v.status === "failed") out.push(`**FAILED**: ${esc(v.reason ?? "?")}`, "");
  if (v.teardown_error !== null) out.push(`**Teardown FAILED** (the numbers below stand): ${esc(v.teardown_error)}`, "");
  const tp = v.template ?? null;
  out.push(
    `Stock containerd 2.x with kuasard hosting runc + vmm, handler \`kuasar-vmm\`; ${v.iterations} serial pod starts${tp !== null ? " of each path (boot: every pod boots its guest; template: `template = true`, pods restored from a VM template)" : ""} interleaved with ${v.iterations} bare boots of the same kernel + initrd to the guest agent's first answer (the floor). ${acceleratorLine(v)}`,
    "",
  );
  const s = v.summary;
  if (s === null) return out;
  const ts = tp?.summary ?? null;
  out.push("| metric | min | median | p90 |", "|---|---:|---:|---:|");
  out.push(`| floor: bare boot to agent answer (ms) | ${cell(s.floor_ms_min)} | ${cell(s.floor_ms_median)} | ${cell(s.floor_ms_p90)} |`);
  out.push(`| VM pod start${tp !== null ? ", boot path" : ""} (ms) | ${cell(s.pod_start_ms_min)} | ${cell(s.pod_start_ms_median)} | ${cell(s.pod_start_ms_p90)} |`);
  if (ts !== null) out.push(`| VM pod start, template path (ms) | ${cell(ts.pod_start_ms_min)} | ${cell(ts.pod_start_ms_median)} | ${cell(ts.pod_start_ms_p90)} |`);
  out.push("");
  const x = (r: number | null): string => (r === null ? "—" : `${r.toFixed(2)}x`);
  if (ts === null) out.push(`Pod start / floor (medians): **${x(s.pod_start_over_floor)}**.`, "");
  else {
    out.push(`Pod start / floor (medians): template path **${x(ts.pod_start_over_floor)}** (target <= 0.30x), boot path ${x(s.pod_start_over_floor)}; template / boot path ${x(ts.pod_start_over_boot_path)}.`, "");
  }
  if (tp !== null) {
    out.push(
      `Template ${tp.key === null ? "not built" : `\`${tp.key}\``}: built ahead of time (as \`kuasar-ctl template build\`) in ${cell(tp.build_ms)} ms, not counted in any pod start; its RAM file holds ${cell(tp.memory_file_data_mb, 1)} MB of data. The daemon restored ${tp.restored_pods} of the ${tp.started_pods} template-path pods.`,
      "",
    );
  }
  out.push(...whereStartGoes(v));
  const rows: [string, typeof v.samples.memory][] = [["boot", v.samples.memory], ...(tp !== null ? ([["template", tp.samples.memory]] as [string, typeof v.samples.memory][]) : [])];
  if (rows.some(([, ms]) => ms.length > 0)) {
    const pathCol = tp !== null;
    out.push(`|${pathCol ? " path |" : ""} VM pods | management PSS (MB) | QEMU PSS per pod (MB) | QEMU RSS per pod (MB) | virtiofsd PSS per pod (MB) |`, `|${pathCol ? "---|" : ""}---:|---:|---:|---:|---:|`);
    for (const [name, ms] of rows) {
      for (const m of ms) {
        const perPod = (n: number): string => (m.pods === 0 ? "—" : n.toFixed(1));
        out.push(`|${pathCol ? ` ${name} |` : ""} ${m.pods} | ${m.mgmt_pss_mb.toFixed(1)} | ${perPod(m.qemu_pss_mb)} | ${perPod(m.qemu_rss_mb)} | ${perPod(m.virtiofsd_pss_mb)} |`);
      }
    }
    out.push("");
    if (ts !== null) out.push(`QEMU PSS per VM pod at the largest count: template path **${cell(ts.qemu_pss_mb_per_pod, 1)} MB** (target <= 128 MB for a ${v.memory_mb} MB guest), boot path ${cell(s.qemu_pss_mb_per_pod, 1)} MB.`, "");
    out.push(
      `Management (kuasard + kuasar-endpoint) PSS slope${tp !== null ? " (boot path)" : ""}: **${cell(s.mgmt_pss_mb_per_pod, 2)} MB per VM pod**; QEMU and virtiofsd are per-pod infrastructure, reported apart (the guest's memory lives in QEMU).`,
      "",
    );
  }
  return out;
}

/** Labels of the restore steps the daemon logs, in order (`vm-restore.ts`). */
const RESTORE_STEP_LABELS: readonly (readonly [string, string])[] = [
  ["spawn_ms", "QEMU spawned"],
  ["qmp_ms", "QMP answers (QEMU's own start)"],
  ["state_loaded_ms", "device state loaded"],
  ["plugged_ms", "share and NIC plugged"],
  ["agent_ms", "guest agent answers"],
  ["mounted_ms", "share mounted in the guest"],
  ["restore_ms", "clock, entropy and journal set (restore done)"],
  ["setup_ms", "then: guest setup (hostname, NIC, addresses, routes, sysctls), its own ms"],
];

/** Where a VM pod's start goes: each path's CRI calls, and the template path's restore steps (medians). */
function whereStartGoes(v: VmmSection): string[] {
  const tp = v.template ?? null;
  const paths: [string, VmmCriPhases | null][] = [["boot", v.cri_phases_ms ?? null], ...(tp !== null ? [["template", tp.cri_phases_ms ?? null] as [string, VmmCriPhases | null]] : [])];
  const out: string[] = [];
  if (paths.some(([, p]) => p !== null)) {
    out.push("CRI calls of one VM pod start as the client saw them, median (ms):", "", "| path | RunPodSandbox | CreateContainer | StartContainer | until RUNNING |", "|---|---:|---:|---:|---:|");
    for (const [name, p] of paths) {
      if (p !== null) out.push(`| ${name} | ${cell(p.run_pod_sandbox_ms, 1)} | ${cell(p.create_container_ms, 1)} | ${cell(p.start_container_ms, 1)} | ${cell(p.until_running_ms, 1)} |`);
    }
    out.push("");
  }
  const steps = tp?.restore_steps_ms ?? null;
  if (steps !== null) {
    out.push("Restore steps inside RunPodSandbox (template path), median ms since the restore began, from the daemon's log:", "", "| step | ms |", "|---|---:|");
    for (const [key, label] of RESTORE_STEP_LABELS) if (steps[key] !== undefined) out.push(`| ${label} | ${cell(steps[key] ?? null, 0)} |`);
    out.push("");
  }
  return out;
}
