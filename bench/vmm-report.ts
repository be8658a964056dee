/**
 * The "VM pods (vmm sandboxer)" part of the markdown report, from the `vmm` key of the JSON.
 *
 * @internal benchmark, not part of the runtime
 */
import type { VmmSection } from "./vmm-results.js";

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
  out.push(
    `Stock containerd 2.x with kuasard hosting runc + vmm, handler \`kuasar-vmm\`; ${v.iterations} serial pod starts interleaved with ${v.iterations} bare boots of the same kernel + initrd to the guest agent's first answer (the floor). ${acceleratorLine(v)}`,
    "",
  );
  const s = v.summary;
  if (s === null) return out;
  out.push("| metric | min | median | p90 |", "|---|---:|---:|---:|");
  out.push(`| floor: bare boot to agent answer (ms) | ${cell(s.floor_ms_min)} | ${cell(s.floor_ms_median)} | ${cell(s.floor_ms_p90)} |`);
  out.push(`| VM pod start (ms) | ${cell(s.pod_start_ms_min)} | ${cell(s.pod_start_ms_median)} | ${cell(s.pod_start_ms_p90)} |`);
  out.push("");
  out.push(`Pod start / floor (medians): **${s.pod_start_over_floor === null ? "—" : `${s.pod_start_over_floor.toFixed(2)}x`}**.`, "");
  if (v.samples.memory.length > 0) {
    out.push("| VM pods | management PSS (MB) | QEMU PSS per pod (MB) | QEMU RSS per pod (MB) | virtiofsd PSS per pod (MB) |", "|---:|---:|---:|---:|---:|");
    for (const m of v.samples.memory) {
      const perPod = (x: number): string => (m.pods === 0 ? "—" : x.toFixed(1));
      out.push(`| ${m.pods} | ${m.mgmt_pss_mb.toFixed(1)} | ${perPod(m.qemu_pss_mb)} | ${perPod(m.qemu_rss_mb)} | ${perPod(m.virtiofsd_pss_mb)} |`);
    }
    out.push("");
    out.push(
      `Management (kuasard + kuasar-endpoint) PSS slope: **${cell(s.mgmt_pss_mb_per_pod, 2)} MB per VM pod**; QEMU and virtiofsd are per-pod infrastructure, reported apart (the guest's memory lives in QEMU).`,
      "",
    );
  }
  return out;
}
