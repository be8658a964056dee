import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/** Allowed moves of a literal-union state: `from -> [to...]`. */
export type Transitions<S extends string> = { readonly [K in S]: readonly S[] };

/**
 * Checks a move against `table`; an illegal one throws FailedPrecondition
 * "invalid state transition: a => b". Returns the new state for chaining.
 */
export function transition<S extends string>(table: Transitions<S>, what: string, from: S, to: S): S {
  if (!table[from].includes(to)) {
    throw new RuntimeError(Code.FailedPrecondition, `${what}: invalid state transition: ${from} => ${to}`);
  }
  return to;
}
