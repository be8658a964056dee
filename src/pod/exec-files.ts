import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PodAgent } from "../holder/pod-agent.js";
import { holderLaunchEnv } from "../oci-runtime/cli-command.js";
import type { Container } from "./container.js";
import type { OciProcess } from "./oci-spec.js";
import { clampProcessOomScoreAdj } from "./pod-context.js";
import type { ProcessRecord } from "./records.js";
import type { Stdio } from "../task/task-backend.js";

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
 * Spawns an OCI runtime command (`argv`: create of an init, exec of a process) through the
 * pod's holder in the bundle, with the process's stdio; with a terminal there is no stderr
 * (the terminal carries both). Returns the command's host pid.
 */
export function spawnWithStdio(holder: PodAgent, spawnId: string, bundle: string, stdio: Stdio, argv: string[], consoleSocket: string | undefined): Promise<number> {
  return holder.spawn({
    id: spawnId,
    cwd: bundle,
    stdin: stdio.stdin,
    stdout: stdio.stdout,
    stderr: stdio.terminal ? "" : stdio.stderr,
    console: consoleSocket,
    argv,
    env: holderLaunchEnv(),
  });
}

/** {@link spawnWithStdio} for an exec of container `c`. */
export function spawnExec(holder: PodAgent, c: Container, p: ProcessRecord, argv: string[], consoleSocket: string | undefined): Promise<number> {
  return spawnWithStdio(holder, p.spawnId, c.record.bundle, p.stdio, argv, consoleSocket);
}
