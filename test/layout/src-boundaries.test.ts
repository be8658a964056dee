import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { describe, it } from "node:test";
import { repoRoot } from "../../testing/deps.js";
import { readImports } from "../../testing/import-graph.js";

// The product (src/) stands alone: the benchmark, the test harness and the tests build on it,
// never the other way round, and it needs only the runtime dependencies.
describe("src/ boundaries", () => {
  const root = repoRoot();
  const edges = readImports(root, "src");

  it("reads the imports of src/ (the check is not vacuous)", () => {
    assert.ok(edges.filter((e) => e.target !== undefined).length > 500);
  });

  it("imports no file outside src/ (no bench/, testing/ or test/)", () => {
    const outside = edges
      .filter((e) => e.target !== undefined && !e.target.startsWith("src/"))
      .map((e) => `${e.from} imports ${e.specifier}`);
    assert.deepEqual(outside, []);
  });

  it("imports only node builtins and the runtime dependencies of package.json", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    const allowed = new Set(Object.keys(pkg.dependencies));
    const packageOf = (s: string): string => (s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : (s.split("/")[0] as string));
    const builtin = (s: string): boolean => s.startsWith("node:") || builtinModules.includes(s);
    const stray = edges
      .filter((e) => e.target === undefined && !builtin(e.specifier) && !allowed.has(packageOf(e.specifier)))
      .map((e) => `${e.from} imports ${e.specifier}`);
    assert.deepEqual(stray, []);
  });
});

describe("bench/ and testing/ boundaries", () => {
  const root = repoRoot();

  it("testing/ imports neither bench/ nor test/", () => {
    const bad = readImports(root, "testing")
      .filter((e) => e.target !== undefined && (e.target.startsWith("bench/") || e.target.startsWith("test/")))
      .map((e) => `${e.from} imports ${e.specifier}`);
    assert.deepEqual(bad, []);
  });

  it("bench/ imports no test/ file", () => {
    const bad = readImports(root, "bench")
      .filter((e) => e.target !== undefined && e.target.startsWith("test/"))
      .map((e) => `${e.from} imports ${e.specifier}`);
    assert.deepEqual(bad, []);
  });
});
