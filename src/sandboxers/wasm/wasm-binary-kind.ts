import { closeSync, openSync, readSync } from "node:fs";

/**
 * What a `.wasm` file holds, from its 8-byte header: `\0asm`, then a 16-bit version and a
 * 16-bit layer, little-endian. A core module (WASI preview 1) is version 1, layer 0; a
 * component (WASI preview 2, `wasi:cli/command`) is version 0x0d, layer 1 (the component
 * model's binary format, pre-1.0). Anything else is `"unknown"` (the engine says why).
 */
export type WasmBinaryKind = "module" | "component" | "unknown";

/** The kind of a wasm binary from its first bytes. */
export function wasmBinaryKind(bytes: Uint8Array): WasmBinaryKind {
  if (bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) return "unknown";
  const version = bytes[4]! | (bytes[5]! << 8);
  const layer = bytes[6]! | (bytes[7]! << 8);
  if (version === 1 && layer === 0) return "module";
  if (version === 0x0d && layer === 1) return "component";
  return "unknown";
}

/** The kind of the wasm file at `path` (reads its header only); `"unknown"` when it cannot be read. */
export function wasmFileKind(path: string): WasmBinaryKind {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return "unknown";
  }
  try {
    const header = Buffer.alloc(8);
    const n = readSync(fd, header, 0, 8, 0);
    return wasmBinaryKind(header.subarray(0, n));
  } catch {
    return "unknown";
  } finally {
    closeSync(fd);
  }
}
