/**
 * `argv` run so that it joins the cgroup `dirs` before it executes: a shell
 * writes its own pid into each dir's `cgroup.procs`, then execs `argv` (same
 * pid). Whatever the program allocates from its first instruction is charged
 * to those cgroups; moving it after spawn would leave its startup memory
 * charged where the daemon runs. A dir that refuses the pid fails the start.
 */
export function execInCgroups(dirs: readonly string[], argv: readonly string[]): string[] {
  if (dirs.length === 0) return [...argv];
  const script = 'while [ "$1" != -- ]; do echo $$ >"$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"';
  return ["/bin/sh", "-c", script, "sh", ...dirs, "--", ...argv];
}
