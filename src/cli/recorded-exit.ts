import { readTextOr } from "../fs/read-text.js";
import { parseJournal } from "../holder/holder-protocol.js";
import type { ContainerRecord } from "../pod/records.js";
import { parseWaitResult } from "../sandboxers/gvisor/wait-result.js";
import { EXIT_SOURCE_FILE, type ExitSource } from "../task/exit-source.js";
import { join } from "node:path";

/** How a container's init ended, as recorded on disk. */
export interface RecordedExit {
  status: number;
  exitedAt: Date;
}

/**
 * The exit of the container whose task bundle is `bundle`, read from disk without
 * the daemon: its record when the daemon saw the exit, else its pod supervisor's
 * journal (which outlives the daemon); undefined when neither has it (it may still
 * run, or nothing was recorded).
 */
export function recordedExitOfBundle(bundle: string): RecordedExit | undefined {
  const source = readJson(join(bundle, EXIT_SOURCE_FILE)) as Partial<ExitSource> | undefined;
  if (typeof source?.record !== "string" || typeof source.journal !== "string") return undefined;
  return recordedExit({ record: source.record, journal: source.journal, clockSkewMs: Number(source.clockSkewMs) || 0, waiterResult: typeof source.waiterResult === "string" ? source.waiterResult : undefined });
}

/** See {@link recordedExitOfBundle}. */
export function recordedExit(source: ExitSource): RecordedExit | undefined {
  const init = (readJson(source.record) as Partial<ContainerRecord> | undefined)?.init;
  if (!init || typeof init.pid !== "number") return undefined;
  if (init.state === "stopped") return { status: init.exitStatus, exitedAt: dateOr(init.exitedAt) };
  if (init.pid <= 0) return undefined;
  // Only an exit at or after the init started is its own (pids are reused); a later line wins, as in the daemon.
  const floor = (init.startedAt ? Date.parse(init.startedAt) : 0) - source.clockSkewMs;
  const e = parseJournal(readTextOr(source.journal)).filter((x) => x.pid === init.pid && x.exitedAt.getTime() >= floor).at(-1);
  if (!e) return undefined;
  return { status: source.waiterResult ? parseWaitResult(readTextOr(source.waiterResult)) : e.status, exitedAt: e.exitedAt };
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readTextOr(path, "null")) as unknown;
  } catch {
    return undefined; // torn or damaged: as if absent
  }
}

function dateOr(iso: string | undefined): Date {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? new Date(t) : new Date();
}
