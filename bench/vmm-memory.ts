/**
 * One memory reading of a VM-pod node: the management processes (kuasard, kuasar-endpoint:
 * by recorded pid) apart from the per-pod infrastructure (QEMU, virtiofsd: by name), since a
 * VM's memory is its guest's and would drown what the runtime itself costs.
 *
 * @internal benchmark, not part of the runtime
 */
import { basename } from "node:path";
import { quantile } from "./stats.js";
import { listProcesses, readProcessMemory, type ProcessInfo } from "../testing/process-table.js";

/** Summed and per-process figures of one reading, KiB. */
export interface VmmMemoryReading {
  readonly mgmt_pss_kb: number;
  /** Median PSS of one QEMU process (0 with none). */
  readonly qemu_pss_kb: number;
  /** Median RSS of one QEMU process (0 with none). */
  readonly qemu_rss_kb: number;
  /** Summed PSS of every virtiofsd process. */
  readonly virtiofsd_pss_kb: number;
  readonly qemu_processes: number;
  readonly virtiofsd_processes: number;
}

/** What `p` is on a VM-pod node: QEMU, virtiofsd, or neither. */
export function vmmInfraKind(p: Pick<ProcessInfo, "comm" | "exe">): "qemu" | "virtiofsd" | undefined {
  const name = p.exe !== undefined ? basename(p.exe) : p.comm;
  if (name.startsWith("qemu-system") || p.comm.startsWith("qemu-system")) return "qemu";
  if (name === "virtiofsd" || p.comm === "virtiofsd") return "virtiofsd";
  return undefined;
}

const med = (xs: readonly number[]): number => (xs.length === 0 ? 0 : quantile(xs, 0.5));

/** Reads `smaps_rollup` of the management pids and every QEMU and virtiofsd process. */
export async function readVmmMemory(mgmtPids: readonly number[]): Promise<VmmMemoryReading> {
  const procs = await listProcesses();
  const mem = async (p: number) => (await readProcessMemory(p)) ?? { pss_kb: 0, rss_kb: 0, pss_anon_kb: 0, pss_file_kb: 0 };
  const mgmt = await Promise.all(mgmtPids.map(mem));
  const qemu = await Promise.all(procs.filter((p) => vmmInfraKind(p) === "qemu").map((p) => mem(p.pid)));
  const fsd = await Promise.all(procs.filter((p) => vmmInfraKind(p) === "virtiofsd").map((p) => mem(p.pid)));
  return {
    mgmt_pss_kb: mgmt.reduce((a, m) => a + m.pss_kb, 0),
    qemu_pss_kb: med(qemu.map((m) => m.pss_kb)),
    qemu_rss_kb: med(qemu.map((m) => m.rss_kb)),
    virtiofsd_pss_kb: fsd.reduce((a, m) => a + m.pss_kb, 0),
    qemu_processes: qemu.length,
    virtiofsd_processes: fsd.length,
  };
}
