/**
 * WASI preview1 test modules, written by hand in WAT and compiled with wabt
 * while the tests run (nothing downloaded). Each function returns the module's
 * bytes.
 */
import wabtInit from "wabt";

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
let wabt: Promise<Wabt> | undefined;

/** Compiles WAT text to a validated wasm binary. */
export async function watToWasm(name: string, wat: string): Promise<Uint8Array> {
  wabt ??= wabtInit();
  const module = (await wabt).parseWat(`${name}.wat`, wat);
  try {
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

const wasi = (name: string, params: string, result = "(result i32)"): string =>
  `(import "wasi_snapshot_preview1" "${name}" (func $${name} (param ${params}) ${result}))`;

const FD_WRITE = wasi("fd_write", "i32 i32 i32 i32");
const PROC_EXIT = wasi("proc_exit", "i32", "");

/** `$write(fd, ptr, len)` through one iovec at address 0, `nwritten` at 8. */
const WRITE_FN = `
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))`;

/** The WASI imports {@link ECHO_FNS} and {@link PRINT_ARGS_AND_GREETING} call, and opening a file in a preopen. */
const ECHO_IMPORTS = `${wasi("args_sizes_get", "i32 i32")}
  ${wasi("args_get", "i32 i32")}
  ${wasi("environ_sizes_get", "i32 i32")}
  ${wasi("environ_get", "i32 i32")}
  ${wasi("fd_prestat_get", "i32 i32")}
  ${wasi("fd_prestat_dir_name", "i32 i32 i32")}
  ${wasi("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32")}`;

/**
 * What the echo modules (preview 1 and the component fixture) share: string length, byte
 * compare, write a line to stdout, find a preopen by name. Their memory layout: 24 prestat,
 * 128 "\n", 49152 preopen name.
 */
const ECHO_FNS = `  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $n))
  (func $memeq (param $a i32) (param $b i32) (param $n i32) (result i32)
    (block $differ (loop $next
      (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
      (br_if $differ (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))))
      (local.set $a (i32.add (local.get $a) (i32.const 1)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (i32.const 0))
  (func $line (param $p i32)
    (call $write (i32.const 1) (local.get $p) (call $strlen (local.get $p)))
    (call $write (i32.const 1) (i32.const 128) (i32.const 1)))
  (func $find_preopen (param $name i32) (param $len i32) (result i32) (local $fd i32)
    (local.set $fd (i32.const 3))
    (block $none (loop $next
      (br_if $none (call $fd_prestat_get (local.get $fd) (i32.const 24)))
      (if (i32.eq (i32.load (i32.const 28)) (local.get $len)) (then
        (drop (call $fd_prestat_dir_name (local.get $fd) (i32.const 49152) (local.get $len)))
        (if (call $memeq (i32.const 49152) (local.get $name) (local.get $len))
          (then (return (local.get $fd))))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br $next)))
    (i32.const -1))`;

/** Prints "arg: <a>" per argument and the GREETING= environment entry (layout: 16/20 sizes, 64 "GREETING=", 136 "arg: ", 1024/2048 argv, 8192/12288 environ). */
const PRINT_ARGS_AND_GREETING = `    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 1024) (i32.const 2048)))
    (local.set $n (i32.load (i32.const 16)))
    (block $end (loop $next
      (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
      (call $write (i32.const 1) (i32.const 136) (i32.const 5))
      (call $line (i32.load (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $environ_get (i32.const 8192) (i32.const 12288)))
    (local.set $n (i32.load (i32.const 16)))
    (local.set $i (i32.const 0))
    (block $end (loop $next
      (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $p (i32.load (i32.add (i32.const 8192) (i32.shl (local.get $i) (i32.const 2)))))
      (if (call $memeq (local.get $p) (i32.const 64) (i32.const 9)) (then (call $line (local.get $p))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))`;

/** A WAT string literal for data segments (ASCII plus `\n`). */
function str(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/**
 * Module (a): prints `arg: <argv[i]>` for every argument and the `GREETING=...`
 * environment entry on stdout, writes `written by wasm\n` to `out.txt` in the
 * preopened directory named `/data` or `data` (found through `fd_prestat_*`,
 * ignoring a leading slash as wasi-libc does), then `proc_exit(5)`. Exits 3 when `/data` is not
 * preopened, 4 when `path_open` fails.
 */
export function echoArgsEnvFileModule(): Promise<Uint8Array> {
  return watToWasm("echo-args-env-file", `
(module
  ${FD_WRITE}
  ${PROC_EXIT}
  ${ECHO_IMPORTS}
  ${wasi("fd_close", "i32")}
  ;; 0: iovec, 8: nwritten, 16/20: sizes, 24: prestat, 32: opened fd
  ;; 1024: argv[], 2048: argv strings, 8192: environ[], 12288: environ strings, 49152: preopen name
  (memory (export "memory") 1)
  (data (i32.const 64) "GREETING=")
  (data (i32.const 80) "/data")
  (data (i32.const 96) "out.txt")
  (data (i32.const 112) ${str("written by wasm\n")})
  (data (i32.const 128) ${str("\n")})
  (data (i32.const 136) "arg: ")
  ${WRITE_FN}
${ECHO_FNS}
  (func (export "_start") (local $i i32) (local $n i32) (local $p i32) (local $dir i32)
${PRINT_ARGS_AND_GREETING}
    (local.set $dir (call $find_preopen (i32.const 80) (i32.const 5)))
    ;; WasmEdge names it without the slash; wasi-libc strips leading slashes alike.
    (if (i32.lt_s (local.get $dir) (i32.const 0)) (then (local.set $dir (call $find_preopen (i32.const 81) (i32.const 4)))))
    (if (i32.lt_s (local.get $dir) (i32.const 0)) (then (call $proc_exit (i32.const 3))))
    ;; oflags CREAT|TRUNC = 9, rights fd_write = 1 << 6
    (if (call $path_open (local.get $dir) (i32.const 0) (i32.const 96) (i32.const 7) (i32.const 9)
          (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 32))
      (then (call $proc_exit (i32.const 4))))
    (call $write (i32.load (i32.const 32)) (i32.const 112) (i32.const 16))
    (drop (call $fd_close (i32.load (i32.const 32))))
    (call $proc_exit (i32.const 5))))
`);
}

/** Module (b): prints `looping\n` on stdout, then spins forever. */
export function infiniteLoopModule(): Promise<Uint8Array> {
  return watToWasm("infinite-loop", `
(module
  ${FD_WRITE}
  (memory (export "memory") 1)
  (data (i32.const 64) ${str("looping\n")})
  ${WRITE_FN}
  (func (export "_start")
    (call $write (i32.const 1) (i32.const 64) (i32.const 8))
    (loop $forever (br $forever))))
`);
}

/**
 * Module (c): grows its memory one page at a time, touching each new page,
 * until `memory.grow` returns -1; then traps (`unreachable`, what Rust's
 * allocation failure does) or calls `proc_exit(1)`.
 */
export function memoryHogModule(onFailure: "trap" | "exit"): Promise<Uint8Array> {
  const end = onFailure === "trap" ? "(unreachable)" : "(call $proc_exit (i32.const 1))";
  return watToWasm(`memory-hog-${onFailure}`, `
(module
  ${PROC_EXIT}
  (memory (export "memory") 1)
  (func (export "_start") (local $page i32)
    (loop $grow
      (local.set $page (memory.grow (i32.const 1)))
      (if (i32.ne (local.get $page) (i32.const -1)) (then
        (i32.store8 (i32.shl (local.get $page) (i32.const 16)) (i32.const 1))
        (br $grow))))
    ${end}))
`);
}

/** A module whose initial memory is `pages` pages; `_start` returns at once. */
export function bigInitialMemoryModule(pages: number): Promise<Uint8Array> {
  return watToWasm("big-initial-memory", `(module (memory (export "memory") ${pages}) (func (export "_start")))`);
}

/** Module (d): prints `to stderr\n` on stderr and returns from `_start` (exit 0). */
export function stderrModule(): Promise<Uint8Array> {
  return watToWasm("stderr", `
(module
  ${FD_WRITE}
  (memory (export "memory") 1)
  (data (i32.const 64) ${str("to stderr\n")})
  ${WRITE_FN}
  (func (export "_start")
    (call $write (i32.const 2) (i32.const 64) (i32.const 10))))
`);
}

/** Traps with `unreachable` at once. */
export function trapModule(): Promise<Uint8Array> {
  return watToWasm("trap", `(module (memory (export "memory") 1) (func (export "_start") (unreachable)))`);
}

/** A valid module that imports from `env`, which no WASI engine provides. */
export function foreignImportModule(): Promise<Uint8Array> {
  return watToWasm("foreign-import", `
(module
  (import "env" "host_thing" (func $thing))
  (memory (export "memory") 1)
  (func (export "_start") (call $thing)))
`);
}

/**
 * The core module of the test component (see `wasm-components.ts`): prints `arg: <argv[i]>`
 * for every argument and the `GREETING=...` environment entry, then `file: <contents>` of
 * `in.txt` in the preopened `/data`, and exits `exitCode` through WASI preview 2's
 * `wasi:cli/exit` `exit-with-code` (imported directly: the preview1 adapter maps
 * `proc_exit(n)` to `exit(err)`, which is 1). Exits 3 when `/data` is not preopened, 4 when
 * `in.txt` cannot be opened.
 */
export function echoArgsEnvReadModule(exitCode: number): Promise<Uint8Array> {
  return watToWasm("echo-args-env-read", `
(module
  ${FD_WRITE}
  ${ECHO_IMPORTS}
  ${wasi("fd_read", "i32 i32 i32 i32")}
  (import "wasi:cli/exit@0.2.12" "exit-with-code" (func $exit (param i32)))
  ;; 0: iovec, 8: nwritten/nread, 16/20: sizes, 24: prestat, 32: opened fd
  ;; 1024: argv[], 2048: argv strings, 8192: environ[], 12288: environ strings, 16384: file, 49152: preopen name
  (memory (export "memory") 1)
  (data (i32.const 64) "GREETING=")
  (data (i32.const 80) "/data")
  (data (i32.const 96) "in.txt")
  (data (i32.const 112) "file: ")
  (data (i32.const 128) ${str("\n")})
  (data (i32.const 136) "arg: ")
  ${WRITE_FN}
${ECHO_FNS}
  (func (export "_start") (local $i i32) (local $n i32) (local $p i32) (local $dir i32)
${PRINT_ARGS_AND_GREETING}
    (local.set $dir (call $find_preopen (i32.const 80) (i32.const 5)))
    (if (i32.lt_s (local.get $dir) (i32.const 0)) (then (call $exit (i32.const 3)) (unreachable)))
    ;; oflags 0, rights fd_read = 1 << 1
    (if (call $path_open (local.get $dir) (i32.const 0) (i32.const 96) (i32.const 6) (i32.const 0)
          (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 32))
      (then (call $exit (i32.const 4)) (unreachable)))
    ;; reads until EOF (short reads are allowed), then writes until all is out (short writes too)
    (local.set $p (i32.const 16384))
    (block $eof (loop $more
      (i32.store (i32.const 0) (local.get $p))
      (i32.store (i32.const 4) (i32.const 4096))
      (br_if $eof (call $fd_read (i32.load (i32.const 32)) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $eof (i32.eqz (i32.load (i32.const 8))))
      (local.set $p (i32.add (local.get $p) (i32.load (i32.const 8))))
      (br $more)))
    (call $write (i32.const 1) (i32.const 112) (i32.const 6))
    (local.set $i (i32.const 16384))
    (block $done (loop $more
      (br_if $done (i32.ge_u (local.get $i) (local.get $p)))
      (i32.store (i32.const 0) (local.get $i))
      (i32.store (i32.const 4) (i32.sub (local.get $p) (local.get $i)))
      (br_if $done (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.load (i32.const 8))))
      (br $more)))
    (call $exit (i32.const ${exitCode}))
    (unreachable)))
`);
}
