import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/** containerd's identifier rule (namespaces, bundle ids, CRI ids are 64 hex chars). */
const ID_PATTERN = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
/** containerd's limit on identifier length. */
export const MAX_ID_LENGTH = 76;

/**
 * Validates an id before it touches a path: no `/`, no `..`, no empty string.
 * Throws InvalidArgument naming the field.
 */
export function validateId(kind: string, id: string): string {
  if (!id) throw new RuntimeError(Code.InvalidArgument, `${kind} id must not be empty`);
  if (id.length > MAX_ID_LENGTH) throw new RuntimeError(Code.InvalidArgument, `${kind} id ${JSON.stringify(id.slice(0, 80))}… is longer than ${MAX_ID_LENGTH} characters`);
  if (!ID_PATTERN.test(id)) {
    throw new RuntimeError(Code.InvalidArgument, `${kind} id ${JSON.stringify(id)} is invalid: want letters and digits separated by single '.', '_' or '-'`);
  }
  return id;
}

/** True when `id` passes {@link validateId}. */
export function isValidId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_ID_LENGTH && ID_PATTERN.test(id);
}
