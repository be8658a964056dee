import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { parse } from "smol-toml";
import { defaultsOf, tomlKey, type OptionSpec, type OptionTable } from "../../src/config/option-table.js";
import { limitsTable, servingTable, topTable } from "../../src/daemon/kuasard-options.js";
import { builtinSandboxerKinds } from "../../src/daemon/sandboxer-kinds.js";

// packaging/kuasard.toml is the documented config: every key of every table in it, each with
// the code's default. A key whose default depends on the install dir is documented commented out.
const file = fileURLToPath(new URL("../../../packaging/kuasard.toml", import.meta.url));
const text = readFileSync(file, "utf8");
const parsed = parse(text) as Record<string, unknown>;

/** The keys written (`key = ...`) or commented out (`# key = ...`) in one `[table]` section of the file. */
function documentedKeys(section: string): Set<string> {
  const keys = new Set<string>();
  let current = "";
  for (const line of text.split("\n")) {
    const header = /^\[([^\]]+)\]/.exec(line);
    if (header) current = header[1] as string;
    const key = /^#?\s*([a-z_]+)\s*=/.exec(line);
    if (key && current === section) keys.add(key[1] as string);
  }
  return keys;
}

function tableAt(path: string): Record<string, unknown> {
  let t: unknown = parsed;
  for (const p of path === "" ? [] : path.split(".")) t = (t as Record<string, unknown> | undefined)?.[p];
  return (t ?? {}) as Record<string, unknown>;
}

/** Checks one table of the file against a schema; nested tables are their own sections. */
function check(section: string, table: OptionTable<unknown>, problems: string[]): void {
  const documented = documentedKeys(section);
  const values = tableAt(section);
  const defaults = defaultsOf(table) as Record<string, unknown>;
  for (const [field, spec] of Object.entries(table as Record<string, OptionSpec<unknown>>)) {
    const key = tomlKey(field);
    if (spec.kind === "table") {
      check(section === "" ? key : `${section}.${key}`, spec.table, problems);
      continue;
    }
    if (!documented.has(key)) problems.push(`[${section}] ${key}: not documented`);
    else if (key in values && JSON.stringify(values[key]) !== JSON.stringify(defaults[field])) {
      problems.push(`[${section}] ${key}: documented as ${JSON.stringify(values[key])}, the default is ${JSON.stringify(defaults[field])}`);
    } else if (!(key in values) && !String(defaults[field]).includes("/build/guest")) {
      problems.push(`[${section}] ${key}: only commented out, though its default does not depend on the install dir`);
    }
  }
  const known = new Set(Object.keys(table).map(tomlKey));
  for (const key of documented) if (!known.has(key)) problems.push(`[${section}] ${key}: documented but not a key of the table`);
}

describe("packaging/kuasard.toml documents the config schemas", () => {
  it("has every key of every table with the code's default, and no other key", () => {
    const problems: string[] = [];
    // `sandboxers` at the top level is documented by the [sandboxers.<kind>] tables instead.
    const { sandboxers: _s, ...top } = topTable;
    check("", top as OptionTable<unknown>, problems);
    check("limits", limitsTable, problems);
    for (const kind of builtinSandboxerKinds) {
      check(`sandboxers.${kind.name}`, { ...servingTable(kind.name), ...kind.options } as OptionTable<unknown>, problems);
    }
    assert.deepEqual(problems, []);
  });

  it("catches a wrong default (the check itself works)", () => {
    const problems: string[] = [];
    check("limits", { ...limitsTable, maxConnections: { kind: "int", default: 7, doc: "" } } as OptionTable<unknown>, problems);
    check("limits", { ...limitsTable, absentKey: { kind: "bool", default: false, doc: "" } } as OptionTable<unknown>, problems);
    assert.deepEqual(problems, ["[limits] max_connections: documented as 256, the default is 7", "[limits] absent_key: not documented"]);
  });
});
