/**
 * WASI preview 2 test components, made while the tests run from our preview 1 test modules
 * (nothing downloaded): jco's `new` with the preview1 command adapter jco ships. Every
 * component is checked to be one by its header, so a test cannot pass on the module path.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { wasmBinaryKind } from "../src/sandboxers/wasm/wasm-binary-kind.js";
import { echoArgsEnvReadModule, infiniteLoopModule, memoryHogModule, trapModule } from "./wat-modules.js";

/**
 * The WIT world the core modules are embedded with before `new`: the adapter's imports plus
 * `wasi:cli/exit`'s `exit-with-code`, which the test component calls itself.
 */
const EXIT_WORLD = `package kuasar:fixture;
world command {
  import wasi:cli/exit@0.2.12;
}
package wasi:cli@0.2.12 {
  interface exit {
    exit: func(status: result);
    exit-with-code: func(status-code: u8);
  }
}
`;

/** A core WASI preview 1 command module as a `wasi:cli/command` component. */
export async function toComponent(core: Uint8Array): Promise<Uint8Array> {
  const jco = await import("@bytecodealliance/jco");
  const embedded = await jco.componentEmbed({ binary: core, witSource: EXIT_WORLD, world: "kuasar:fixture/command" });
  const adapter = readFileSync(jco.preview1AdapterCommandPath());
  const component = await jco.componentNew(embedded, [["wasi_snapshot_preview1", adapter]]);
  assert.equal(wasmBinaryKind(component), "component", "jco new made a component");
  return component;
}

/**
 * The test component: prints its args, `GREETING=...`, `file: <in.txt of /data>`, and exits
 * `exitCode` (3: no `/data`, 4: no `in.txt`). See `echoArgsEnvReadModule`.
 */
export async function echoReadComponent(exitCode = 42): Promise<Uint8Array> {
  return toComponent(await echoArgsEnvReadModule(exitCode));
}

/** A component that traps at once. */
export async function trapComponent(): Promise<Uint8Array> {
  return toComponent(await trapModule());
}

/** A component that prints `looping` and spins. */
export async function loopComponent(): Promise<Uint8Array> {
  return toComponent(await infiniteLoopModule());
}

/** A component that grows its memory until refused, then traps. */
export async function memoryHogComponent(): Promise<Uint8Array> {
  return toComponent(await memoryHogModule("trap"));
}
