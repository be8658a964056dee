import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { validateId } from "../sandbox/id.js";
import type { OciSpec } from "./oci-spec.js";

/** Annotation CRI puts on every container naming its pod. */
const SANDBOX_ID_ANNOTATION = "io.kubernetes.cri.sandbox-id";

/** Reads and parses `<bundle>/config.json`; InvalidArgument when it is missing or not JSON. */
export async function readSpec(bundle: string): Promise<OciSpec> {
  let text: string;
  try {
    text = await readFile(join(bundle, "config.json"), "utf8");
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
export async function sandboxIdOf(bundle: string, spec: OciSpec): Promise<string> {
  const fromFile = await readFile(join(bundle, "sandbox"), "utf8").then(
    (s) => s.trim(),
    () => "",
  );
  const id = fromFile || spec.annotations?.[SANDBOX_ID_ANNOTATION] || "";
  if (!id) throw new RuntimeError(Code.FailedPrecondition, `bundle ${bundle}: no sandbox id (no sandbox file, no ${SANDBOX_ID_ANNOTATION} annotation)`);
  return validateId("sandbox", id);
}

