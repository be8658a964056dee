/**
 * The Node/V8 flags kuasard and the single-kind daemons run with (their launchers in bin/ pass
 * them; the test harness too). Chosen by measurement (`test/tools/kuasard-footprint.ts`,
 * docs/benchmarks.md): a 1 MB semi-space cut the daemon's PSS at 20 runc pods from 40.6 to
 * 27.0 MB with no change in pod start latency (the young generation otherwise grows to 16 MB
 * semi-spaces that a daemon of small, short-lived objects never needs). `--lite-mode` (no
 * optimizing compiler, feedback allocated lazily) then cut it at 50 pods from 34-43 to 28 MB with
 * the same CPU per pod start (108 ms): kuasard's time goes to system calls and children, not to
 * JavaScript worth optimizing, and most of its heap was code. Lite mode turns WebAssembly off in
 * the daemon (Node 20's V8): nothing in it uses any (a wasm container's runner is a node process
 * of its own, started with its own flags; Node's CommonJS lexer falls back to its JS build).
 * `--expose-gc` lets the daemon collect its heap once it goes quiet after work (idle-collector.ts).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=1", "--lite-mode", "--expose-gc"];

/** The launchers in bin/ that start a daemon (kuasar-ctl and the shim launcher are not daemons). */
export const DAEMON_LAUNCHERS: readonly string[] = ["kuasard", "runc-sandboxer", "wasm-sandboxer", "vmm-sandboxer", "gvisor-sandboxer"];
