/**
 * The report's "where the time goes" section: the CRI calls of a pod start as the client saw
 * them (serial and under concurrency), and for ours what kuasard itself spent on each RPC and
 * pod step (its phase log). A step whose parallel median is far above its serial one waits on
 * something shared under concurrency.
 *
 * @internal benchmark, not part of the runtime
 */
import type { ConfigurationResult, CriPhaseMedians, PhaseStat } from "./results.js";

const esc = (s: string): string => s.replace(/\|/g, "\\|");
const ms = (v: number | null | undefined): string => (v === null || v === undefined ? "—" : v.toFixed(1));
const stat = (s: PhaseStat | undefined): string => (s === undefined ? "—" : `${s.count} | ${s.median_ms.toFixed(1)} | ${s.p90_ms.toFixed(1)}`);

/** RPCs that wait for an event rather than do work (their duration is the container's life). */
const LONG_POLLS = new Set(["Wait"]);

/** The section, or nothing when no configuration has the breakdown (files written before it existed). */
export function renderPhaseSection(ran: readonly ConfigurationResult[], h: string): string[] {
  const withPhases = ran.filter((c) => c.summary?.phases_ms !== undefined);
  if (withPhases.length === 0) return [];
  const out: string[] = [`${h}# Where the time goes`, "", "CRI calls of one pod start as the client saw them, median (ms):", ""];
  out.push("| configuration | window | RunPodSandbox | CreateContainer | StartContainer | until RUNNING |");
  out.push("|---|---|---:|---:|---:|---:|");
  for (const c of withPhases) {
    const p = c.summary?.phases_ms as { serial: CriPhaseMedians; parallel: CriPhaseMedians };
    for (const [w, m] of [["serial", p.serial], ["parallel", p.parallel]] as const) {
      out.push(`| ${esc(c.label)} | ${w} | ${ms(m.run_pod_sandbox_ms)} | ${ms(m.create_container_ms)} | ${ms(m.start_container_ms)} | ${ms(m.until_running_ms)} |`);
    }
  }
  out.push("");
  const inside = withPhases.filter((c) => c.summary?.daemon_phases != null);
  if (inside.length > 0) {
    out.push(
      "Inside kuasard (its `phase_log`): each RPC from arrival to answer and each step of a pod start, successful ones; " +
        "`pod start.holder` is the holder's spawn until it answers, `pod start.engine` what the kind does after. " +
        "n, median and p90 (ms) over the serial iterations and over the parallel rounds (`Wait` calls, which last as long as the container, left out):",
    );
    out.push("");
    out.push("| configuration | step | serial n | median | p90 | parallel n | median | p90 |");
    out.push("|---|---|---:|---:|---:|---:|---:|---:|");
    for (const c of inside) {
      const d = c.summary?.daemon_phases;
      if (d == null) continue;
      const keys = [...new Set([...Object.keys(d.serial), ...Object.keys(d.parallel)])].filter((k) => !LONG_POLLS.has(k.split(" ").at(-1) ?? "")).sort();
      for (const k of keys) out.push(`| ${esc(c.label)} | ${esc(k)} | ${stat(d.serial[k])} | ${stat(d.parallel[k])} |`);
    }
    out.push("");
  }
  return out;
}
