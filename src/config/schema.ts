/**
 * The type and checks of one config value (config/option-table.ts adds its default and doc);
 * the caller's `fail` names the key in the error.
 */
export type FieldSpec =
  | { kind: "string"; nonEmpty?: boolean }
  | { kind: "path"; maxBytes?: number }
  | { kind: "int"; min?: number; max?: number }
  | { kind: "bool" }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "stringList" };

/** Checks one value against its spec; `fail` makes the error (it knows the key's name). */
export function checkField(spec: FieldSpec, value: unknown, fail: (why: string) => Error): unknown {
  switch (spec.kind) {
    case "string":
      if (typeof value !== "string") throw fail("expected a string");
      if (spec.nonEmpty && value === "") throw fail("must not be empty");
      return value;
    case "path":
      if (typeof value !== "string" || !value.startsWith("/")) throw fail("expected an absolute path");
      if (spec.maxBytes !== undefined && Buffer.byteLength(value) > spec.maxBytes) {
        throw fail(`path is ${Buffer.byteLength(value)} bytes, longer than ${spec.maxBytes}`);
      }
      return value;
    case "int": {
      const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : typeof value === "bigint" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isInteger(n)) throw fail("expected an integer");
      if (spec.min !== undefined && n < spec.min) throw fail(`must be at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw fail(`must be at most ${spec.max}`);
      return n;
    }
    case "bool":
      if (value === "true" || value === true) return true;
      if (value === "false" || value === false) return false;
      throw fail("expected true or false");
    case "enum":
      if (typeof value !== "string" || !spec.values.includes(value)) throw fail(`expected one of ${spec.values.join(", ")}`);
      return value;
    case "stringList": {
      const list = typeof value === "string" ? value.split(",").map((s) => s.trim()).filter(Boolean) : value;
      if (!Array.isArray(list) || list.some((v) => typeof v !== "string")) throw fail("expected a list of strings");
      return list;
    }
  }
}
