import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Container } from "./container.js";
import type { OciProcess } from "./oci-spec.js";
import { clampProcessOomScoreAdj } from "./pod-context.js";
import type { ProcessRecord } from "./records.js";

/** Where the files of a container's execs (process spec, pid, log) live. */
export function execDir(c: Container): string {
  return join(c.pod.dir, "exec", c.id);
}

/**
 * Writes an exec's OCI process for the OCI runtime's `exec --process`: the terminal
 * as its stdio has it, oom_score_adj no lower than `minOomScoreAdj`. Returns the
 * exec's base path (`<execDir>/<execId>`): the spec is `<base>.json`, the other files beside it.
 */
export async function writeExecProcess(c: Container, execId: string, p: ProcessRecord, minOomScoreAdj: number): Promise<string> {
  const dir = execDir(c);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const base = join(dir, execId);
  const process = { ...(p.process as OciProcess), terminal: p.stdio.terminal };
  clampProcessOomScoreAdj(process, minOomScoreAdj);
  await writeFile(`${base}.json`, JSON.stringify(process), { mode: 0o600 });
  return base;
}
