import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { requireHolder } from "../../pod/pod-tasks.js";
import type { Pod } from "../../pod/pod.js";
import { waitExit } from "../../pod/wait-exit.js";
import { toGuest, type VmPaths } from "./guest-paths.js";
import { readTextOr } from "../../fs/read-text.js";

/** What a command run in the guest printed and how it ended. */
export interface GuestResult {
  status: number;
  stdout: string;
  stderr: string;
}

let counter = 0;

/**
 * Runs a short command inside a VM pod's guest through its agent and collects
 * its output: stdin/stdout/stderr are files in the shared directory, read on
 * the host once the agent reports the exit. When `signal` fires first, the command
 * is killed in the guest and the call fails with the signal's reason.
 */
export async function runInGuest(pod: Pod, paths: VmPaths, argv: string[], opts: { input?: string; timeoutMs: number; cwd?: string; signal?: AbortSignal | undefined }): Promise<GuestResult> {
  const agent = requireHolder(pod);
  const dir = join(paths.shared, "run");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = `${process.pid}-${++counter}`;
  const files = { in: join(dir, `${key}.in`), out: join(dir, `${key}.out`), err: join(dir, `${key}.err`) };
  try {
    if (opts.input !== undefined) writeFileSync(files.in, opts.input, { mode: 0o600 });
    const since = new Date();
    const pid = await agent.spawn({
      id: `run:${key}`,
      cwd: opts.cwd ?? "/",
      stdin: opts.input !== undefined ? toGuest(paths, files.in) : "",
      stdout: toGuest(paths, files.out),
      stderr: toGuest(paths, files.err),
      argv,
      env: ["PATH=/sbin:/bin:/usr/sbin:/usr/bin"],
    }, { signal: opts.signal });
    const exit = await waitExit(pod, pid, since, opts.timeoutMs, opts.signal).catch(async (err: unknown) => {
      await agent.kill(pid, 9).catch(() => {}); // abandoned: nothing of it keeps running
      throw err;
    });
    return { status: exit.status, stdout: readTextOr(files.out), stderr: readTextOr(files.err) };
  } finally {
    for (const f of Object.values(files)) rmSync(f, { force: true });
  }
}

/** Runs a command in the guest and fails with its stderr unless it exits 0. */
export async function checkInGuest(pod: Pod, paths: VmPaths, argv: string[], opts: { input?: string; timeoutMs: number; signal?: AbortSignal | undefined }): Promise<string> {
  const r = await runInGuest(pod, paths, argv, opts);
  if (r.status !== 0) throw new RuntimeError(Code.Internal, `${argv.join(" ")} in the guest of ${pod.id} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

