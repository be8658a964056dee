/**
 * The Node/V8 flags kuasard and the single-kind daemons run with (their launchers in bin/ pass
 * them; the test harness too). Chosen by measurement (`test/tools/kuasard-footprint.ts`,
 * docs/benchmarks.md): a 1 MB semi-space cut the daemon's PSS at 20 runc pods from 40.6 to
 * 27.0 MB with no change in pod start latency (the young generation otherwise grows to 16 MB
 * semi-spaces that a daemon of small, short-lived objects never needs). V8's tiers stop at
 * Sparkplug (`--max-opt=1`: baseline machine code for hot functions, no optimizing compiler, whose
 * code and feedback were most of the heap), with `--optimize-for-size`. `--lite-mode` (interpreter
 * only) saved another ~1.2 MB at 50 pods but ran every call's own JavaScript (protobuf, fs and
 * path argument checks, the holder protocol) several times slower: where the engine itself is
 * fast, as a wasm container's Create (4-5 ms, against runc's 45), that was a tenth to a fifth of
 * the call (measured, docs/benchmarks.md round 9). `--expose-gc` lets the daemon collect its heap
 * once it goes quiet after work (idle-collector.ts).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=1", "--max-opt=1", "--optimize-for-size", "--expose-gc"];

/** The launchers in bin/ that start a daemon (kuasar-ctl and the shim launcher are not daemons). */
export const DAEMON_LAUNCHERS: readonly string[] = ["kuasard", "runc-sandboxer", "wasm-sandboxer", "vmm-sandboxer", "gvisor-sandboxer"];
