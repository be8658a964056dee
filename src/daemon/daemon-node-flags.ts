/**
 * The Node/V8 flags kuasard and the single-kind daemons run with (their launchers in bin/ pass
 * them; the test harness too). Chosen by measurement (`test/tools/kuasard-footprint.ts`, 20 runc
 * pods, PSS after a full GC, docs/benchmarks.md): a 1 MB semi-space cuts the daemon's PSS from
 * 40.6 to 27.0 MB with no change in pod start latency. The young generation otherwise grows to
 * 16 MB semi-spaces that a daemon of small, short-lived objects never needs.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=1"];

/** The launchers in bin/ that start a daemon (kuasar-ctl and the shim launcher are not daemons). */
export const DAEMON_LAUNCHERS: readonly string[] = ["kuasard", "runc-sandboxer", "wasm-sandboxer", "vmm-sandboxer", "gvisor-sandboxer"];
