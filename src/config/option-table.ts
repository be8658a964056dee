import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { checkField, type FieldSpec } from "./schema.js";

/**
 * One key of a config table: its type and checks, its default and a one-line doc.
 * The table is the single place a key's default lives (packaging/kuasard.toml is checked
 * against it by test/config/documented-config.test.ts).
 */
export type OptionSpec<V> =
  | (FieldSpec & { readonly default: V; readonly doc: string })
  | { readonly kind: "table"; readonly table: OptionTable<V>; readonly doc: string };

/** The keys of a config table, named as the options object's fields (camelCase; TOML has snake_case). */
export type OptionTable<T> = { readonly [K in keyof T]: OptionSpec<T[K]> };

/** `memoryInMb` -> `memory_in_mb`: how a field is spelled in TOML. */
export function tomlKey(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The options object holding every key's default (nested tables included). */
export function defaultsOf<T>(table: OptionTable<T>): T {
  const out: Record<string, unknown> = {};
  for (const [field, spec] of Object.entries(table) as [string, OptionSpec<unknown>][]) {
    out[field] = spec.kind === "table" ? defaultsOf(spec.table) : structuredClone(spec.default);
  }
  return out as T;
}

/** Where a key was found, for error messages: the TOML table (`sandboxers.runc`) or "" for the top level. */
export type TableName = string;

/** Says which other table a key belongs to (`it belongs to gvisor`), or undefined when none does. */
export type KeyOwner = (key: string) => string | undefined;

/** An InvalidArgument naming the table and key: `config [sandboxers.runc] runc_binary: expected a string`. */
export function configError(table: TableName, key: string, why: string): RuntimeError {
  return new RuntimeError(Code.InvalidArgument, `config ${table === "" ? "" : `[${table}] `}${key}: ${why}`);
}

/**
 * Reads a TOML table (snake_case keys) against `table`, over its defaults. A key the table
 * does not have is an error, never ignored: with `owner`'s hint when it is another table's key.
 */
export function resolveTable<T>(table: OptionTable<T>, input: Readonly<Record<string, unknown>>, name: TableName, owner?: KeyOwner): T {
  const byKey = new Map(Object.keys(table).map((field) => [tomlKey(field), field]));
  const out = defaultsOf(table) as Record<string, unknown>;
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    const field = byKey.get(key);
    if (field === undefined) {
      const elsewhere = owner?.(key);
      const kind = /^sandboxers\.([^.]+)$/.exec(name)?.[1];
      const what = kind !== undefined ? `not a key of the ${kind} kind` : name === "" ? "not a top-level key" : "not a key of this table";
      throw configError(name, key, elsewhere ? `${what} (it belongs to ${elsewhere})` : `${what} (known: ${[...byKey.keys()].join(", ")})`);
    }
    const spec = (table as Record<string, OptionSpec<unknown>>)[field] as OptionSpec<unknown>;
    if (spec.kind === "table") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw configError(name, key, "expected a table");
      out[field] = resolveTable(spec.table, value as Record<string, unknown>, name === "" ? key : `${name}.${key}`);
    } else {
      out[field] = checkField(spec, value, (why) => configError(name, key, why));
    }
  }
  return out as T;
}

/** Every TOML key of a table, nested tables' keys as `table.key`. */
export function tomlKeysOf(table: OptionTable<unknown>): string[] {
  return Object.entries(table as Record<string, OptionSpec<unknown>>).flatMap(([field, spec]) =>
    spec.kind === "table" ? tomlKeysOf(spec.table).map((k) => `${tomlKey(field)}.${k}`) : [tomlKey(field)],
  );
}
