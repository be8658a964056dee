import { RunnerExit } from "./wasm-engine.js";

/**
 * The POSIX shell gate in front of an engine that cannot wait on the start FIFO
 * itself (wasmtime, WasmEdge), run as `sh -c GATE kuasar-wasm-gate MODULE FIFO
 * NAME DIR COMMAND...`. It mirrors the node runner's contract where a shell can:
 * 127 when the module is missing (during Create), then waits on the start FIFO
 * with the shell's own `read` (no child process, so SIGTERM/SIGKILL during the
 * wait leave nothing behind), 125 when the writer closed without a byte, then
 * enters DIR (when not empty) and `exec`s COMMAND under the same pid. `read`
 * returns at a newline or end of file, so the daemon must close the FIFO after
 * its byte (or write `"\n"`).
 */
const GATE = [
  'm=$1 f=$2 n=$3 d=$4; shift 4',
  `[ -e "$m" ] || { printf 'wasm module %s not found\\n' "$n" >&2; exit ${RunnerExit.NotFound}; }`,
  'if [ -n "$f" ]; then',
  '  b=; IFS= read -r b < "$f" && b=x',
  `  [ -n "$b" ] || { echo 'wasm runner: start FIFO closed before start' >&2; exit ${RunnerExit.RuntimeFailure}; }`,
  'fi',
  `[ -z "$d" ] || cd "$d" || exit ${RunnerExit.RuntimeFailure}`,
  'exec "$@"',
].join("\n");

/** What the gate checks, waits on and then runs. */
export interface GatedCommand {
  /** The POSIX shell, absolute. */
  shell: string;
  /** Host path of the module (missing: exit 127 at once). */
  module: string;
  /** The start FIFO; empty for none. */
  startFifo: string;
  /** The module's name in messages (its guest path). */
  name: string;
  /** Directory to enter before `exec`; empty to stay. */
  cwd: string;
  /** The engine's argv, argv[0] absolute. */
  command: string[];
}

/** The gate's argv: the shell, its script, then the gate's arguments and the engine's command. */
export function gatedArgv(g: GatedCommand): string[] {
  return [g.shell, "-c", GATE, "kuasar-wasm-gate", g.module, g.startFifo, g.name, g.cwd, ...g.command];
}

/**
 * A command that reports the memory limit as the node runner does (stderr
 * message, OOM marker, exit 137), for a module that cannot start under its cap
 * when the engine itself would not say so.
 */
export function memoryLimitCommand(shell: string, oomMarker: string, limitBytes: number): string[] {
  const script = [
    `printf 'wasm module exceeded its memory limit of %s bytes\\n' "$2" >&2`,
    `printf '{"memoryLimitBytes":%s}\\n' "$2" > "$1" || true`,
    `exit ${RunnerExit.MemoryLimit}`,
  ].join("\n");
  return [shell, "-c", script, "kuasar-wasm-oom", oomMarker, String(limitBytes)];
}
