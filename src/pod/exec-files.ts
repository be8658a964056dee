import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PodAgent } from "../holder/pod-agent.js";
import { holderLaunchEnv } from "../oci-runtime/cli-command.js";
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

/**
 * Spawns an exec's OCI runtime command (`argv`) through the pod's holder with the
 * exec's stdio; with a terminal there is no stderr (the terminal carries both).
 * Returns the command's host pid.
 */
export function spawnExec(holder: PodAgent, c: Container, p: ProcessRecord, argv: string[], consoleSocket: string | undefined): Promise<number> {
  return holder.spawn({
    id: p.spawnId,
    cwd: c.record.bundle,
    stdin: p.stdio.stdin,
    stdout: p.stdio.stdout,
    stderr: p.stdio.terminal ? "" : p.stdio.stderr,
    console: consoleSocket,
    argv,
    env: holderLaunchEnv(),
  });
}
