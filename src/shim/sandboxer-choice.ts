import { join } from "node:path";
import { readSmallFileSync } from "../fs/read-text.js";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { Sandboxer } from "../sandbox/sandboxer.js";
import { KUASAR_SANDBOXER } from "./cri-annotations.js";

/**
 * File the launcher writes in the bundle it starts in when its invocation names a
 * sandboxer: the `sandboxer` key of the runtime handler's options (read from its
 * stdin), else the kind in the name it was run as (`containerd-shim-kuasar-wasm-v2`).
 */
export const LAUNCHER_SANDBOXER_FILE = "kuasar-sandboxer";

/** The kind the launcher recorded in `bundle`; undefined when it recorded none. */
export function sandboxerFromBundle(bundle: string): string | undefined {
  if (!bundle) return undefined;
  try {
    return readSmallFileSync(join(bundle, LAUNCHER_SANDBOXER_FILE), 4096).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A pod's sandboxer: its `io.kuasar.sandboxer` annotation, else what the runtime
 * handler asked for (`fromRuntime`), else the default kind.
 */
export function chooseSandboxer(sandboxers: ReadonlyMap<string, Sandboxer>, defaultKind: string, annotations: Record<string, string>, fromRuntime?: string): Sandboxer {
  const kind = annotations[KUASAR_SANDBOXER] || fromRuntime || defaultKind;
  const s = sandboxers.get(kind);
  if (!s) throw new RuntimeError(Code.FailedPrecondition, `sandboxer ${JSON.stringify(kind)} is not enabled (enabled: ${[...sandboxers.keys()].join(", ")})`);
  return s;
}

/** The sandboxer holding sandbox `id`, if any. */
export function sandboxOwner(sandboxers: ReadonlyMap<string, Sandboxer>, id: string): Sandboxer | undefined {
  for (const s of sandboxers.values()) if (s.has(id)) return s;
  return undefined;
}
