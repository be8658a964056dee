import { readSmallFileSync } from "../fs/read-text.js";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { validateId } from "../sandbox/id.js";
import type { OciSpec } from "./oci-spec.js";

/** Annotation CRI puts on every container naming its pod. */
const SANDBOX_ID_ANNOTATION = "io.kubernetes.cri.sandbox-id";
/** Largest config.json read (a spec is a few KB; containerd's own limit on a request is 16 MiB). */
const MAX_SPEC_BYTES = 16 << 20;

/**
 * Reads and parses `<bundle>/config.json`; InvalidArgument when it is missing or not JSON.
 * Read on the event loop ({@link readSmallFileSync}): an fs promise is four trips through
 * libuv's pool, a tenth of a wasm container's Create (measured).
 */
export function readSpec(bundle: string): OciSpec {
  let text: string;
  try {
    text = readSmallFileSync(join(bundle, "config.json"), MAX_SPEC_BYTES);
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, `bundle ${bundle}: cannot read config.json: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as OciSpec;
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, `bundle ${bundle}: config.json: ${(err as Error).message}`, { cause: err });
  }
}

/** The pod of a container: containerd 2.x writes `<bundle>/sandbox`; CRI also annotates the spec. */
export function sandboxIdOf(bundle: string, spec: OciSpec): string {
  let fromFile = "";
  try {
    fromFile = readSmallFileSync(join(bundle, "sandbox"), 4096).trim();
  } catch {
    /* containerd 1.7 writes none: the annotation says */
  }
  const id = fromFile || spec.annotations?.[SANDBOX_ID_ANNOTATION] || "";
  if (!id) throw new RuntimeError(Code.FailedPrecondition, `bundle ${bundle}: no sandbox id (no sandbox file, no ${SANDBOX_ID_ANNOTATION} annotation)`);
  return validateId("sandbox", id);
}

