import { RuntimeError } from "../errors/runtime-error.js";
import { Code } from "../errors/code.js";

/**
 * A small typed-options validator: each field names its type and checks, and
 * every error names the offending key (`runc.binary: expected a string`).
 */
export type FieldSpec =
  | { kind: "string"; nonEmpty?: boolean }
  | { kind: "path"; maxBytes?: number }
  | { kind: "int"; min?: number; max?: number }
  | { kind: "bool" }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "stringList" };

/** Field specs for the keys of an options object. */
export type Schema<T> = { readonly [K in keyof T]: FieldSpec };


/**
 * Validates `input` (partial, possibly from TOML or flags) over `defaults`.
 * Unknown keys are rejected so a typo never silently falls back to a default.
 */
export function resolveOptions<T extends object>(schema: Schema<T>, defaults: T, input: Record<string, unknown>, prefix = ""): T {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    const spec = (schema as Record<string, FieldSpec>)[key];
    const name = prefix + key;
    if (!spec) throw bad(name, `unknown key (known: ${Object.keys(schema).join(", ")})`);
    out[key] = checkField(name, spec, value);
  }
  return out as T;
}

function checkField(name: string, spec: FieldSpec, value: unknown): unknown {
  switch (spec.kind) {
    case "string":
      if (typeof value !== "string") throw bad(name, "expected a string");
      if (spec.nonEmpty && value === "") throw bad(name, "must not be empty");
      return value;
    case "path":
      if (typeof value !== "string" || !value.startsWith("/")) throw bad(name, "expected an absolute path");
      if (spec.maxBytes !== undefined && Buffer.byteLength(value) > spec.maxBytes) {
        throw bad(name, `path is ${Buffer.byteLength(value)} bytes, longer than ${spec.maxBytes}`);
      }
      return value;
    case "int": {
      const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : typeof value === "bigint" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isInteger(n)) throw bad(name, "expected an integer");
      if (spec.min !== undefined && n < spec.min) throw bad(name, `must be at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw bad(name, `must be at most ${spec.max}`);
      return n;
    }
    case "bool":
      if (value === "true" || value === true) return true;
      if (value === "false" || value === false) return false;
      throw bad(name, "expected true or false");
    case "enum":
      if (typeof value !== "string" || !spec.values.includes(value)) throw bad(name, `expected one of ${spec.values.join(", ")}`);
      return value;
    case "stringList": {
      const list = typeof value === "string" ? value.split(",").map((s) => s.trim()).filter(Boolean) : value;
      if (!Array.isArray(list) || list.some((v) => typeof v !== "string")) throw bad(name, "expected a list of strings");
      return list;
    }
  }
}

function bad(key: string, why: string): RuntimeError {
  return new RuntimeError(Code.InvalidArgument, `config ${key}: ${why}`);
}
