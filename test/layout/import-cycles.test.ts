import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { repoRoot } from "../../testing/deps.js";
import { cycles, fileGraph, folderGraph, readImports } from "../../testing/import-graph.js";

describe("import cycles in src/", () => {
  const files = fileGraph(readImports(repoRoot(), "src"));

  it("finds a cycle when there is one (the detector itself works)", () => {
    const g = new Map([
      ["src/a/x.ts", new Set(["src/b/y.ts"])],
      ["src/b/y.ts", new Set(["src/a/z.ts"])],
      ["src/a/z.ts", new Set<string>()],
    ]);
    assert.deepEqual(cycles(g), []);
    assert.deepEqual(cycles(folderGraph(g)), ["src/a -> src/b -> src/a"]);
  });

  it("has none between files", () => {
    assert.deepEqual(cycles(files), []);
  });

  it("has none between folders", () => {
    assert.deepEqual(cycles(folderGraph(files)), []);
  });
});
