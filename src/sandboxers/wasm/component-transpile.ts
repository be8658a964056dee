/**
 * The component transpiler program, run by {@link JcoTranspiler} once per component not yet
 * cached: reads a WASI preview 2 component on stdin, transpiles it with jco's transpiler (sync
 * instantiation, so the runner compiles its core modules at Create and instantiates them at
 * Start without awaiting), and writes one JSON line on stdout: `{ files: { name: base64 },
 * imports, exports }`, only the top-level `.js` and `.wasm` files. Failure: a message on
 * stderr, exit 1. It runs apart from kuasard so jco's modules and its CPU time never reach
 * the daemon, and without the container's memory cap.
 */
import { readFileSync, writeSync } from "node:fs";

async function main(): Promise<void> {
  const component = readFileSync(0);
  // jco's transpiler alone (jco's CLI, with its JS componentizer, is only a test tool here).
  const { transpileBytes } = await import("@bytecodealliance/jco-transpile");
  const out = await transpileBytes(component, { name: "component", instantiation: "sync", emitTypescriptDeclarations: false, wasiShim: true });
  const files: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(out.files)) {
    if (!name.includes("/") && (name.endsWith(".js") || name.endsWith(".wasm"))) files[name] = Buffer.from(bytes).toString("base64");
  }
  const line = `${JSON.stringify({ files, imports: out.imports, exports: out.exports.map(([name]) => name) })}\n`;
  // stdout is a pipe the daemon reads at its pace: written through the stream, exit once flushed.
  await new Promise<void>((resolve, reject) => process.stdout.write(line, (err) => (err ? reject(err) : resolve())));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    writeSync(2, `${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
