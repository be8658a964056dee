import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const generator = join(root, "packaging/gen-holder-protocol.mjs");

function run(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [generator, ...args], { encoding: "utf8" });
  return { status: r.status, stderr: r.stderr };
}

async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp("/tmp/gen-holder-");
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe("packaging/gen-holder-protocol", () => {
  it("finds src/gen/holder-protocol.ts current with native/holder/protocol.h", () => {
    const r = run("--check");
    assert.equal(r.status, 0, r.stderr);
  });

  it("fails the check once the header says something the output does not", async (t) => {
    const dir = await scratch(t);
    const header = await readFile(join(root, "native/holder/protocol.h"), "utf8");
    const changed = header.replace(/#define HOLDER_PORT_RECHECK_MS \d+/, "#define HOLDER_PORT_RECHECK_MS 250");
    assert.notEqual(changed, header);
    await writeFile(join(dir, "protocol.h"), changed);
    const r = run("--check", "--header", join(dir, "protocol.h"), "--out", join(root, "src/gen/holder-protocol.ts"));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /holder-protocol\.ts is not what .* makes of .*protocol\.h: run npm run generate/);
  });

  it("maps names, evaluates integer expressions exactly and groups verbs, replies and events", async (t) => {
    const dir = await scratch(t);
    await writeFile(
      join(dir, "p.h"),
      [
        "/* A size. */",
        "#define HOLDER_A (1u << 20)",
        "#define HOLDER_B_LENGTH (HOLDER_A + 2u * 3)",
        '#define HOLDER_NAME ":x"',
        '#define HOLDER_VERB_CLOSE_STDIN "closestdin"',
        '#define HOLDER_EVENT_EOF "eof"',
        "#define OTHER 7",
      ].join("\n"),
    );
    const r = run("--header", join(dir, "p.h"), "--out", join(dir, "p.ts"));
    assert.equal(r.status, 0, r.stderr);
    const ts = await readFile(join(dir, "p.ts"), "utf8");
    assert.match(ts, /\/\*\* A size\. \(C: `\(1u << 20\)`\) \*\/\nexport const A = 1048576;/);
    assert.match(ts, /export const B_LENGTH = 1048582;/);
    assert.match(ts, /export const NAME = ":x";/);
    assert.match(ts, /export const Verb = \{\n {2}CloseStdin: "closestdin",\n\} as const;/);
    assert.match(ts, /export const Event = \{\n {2}Eof: "eof",\n\} as const;/);
    assert.doesNotMatch(ts, /OTHER|Reply/);
  });

  it("refuses what it cannot translate exactly, naming the line", async (t) => {
    const dir = await scratch(t);
    for (const [define, why] of [
      ["#define HOLDER_X (1u >> 2)", /p\.h:1 HOLDER_X: unsupported token ">"/],
      ["#define HOLDER_X HOLDER_LATER", /p\.h:1 HOLDER_X: HOLDER_LATER is not an earlier integer/],
      ['#define HOLDER_X "a\\"b"', /p\.h:1: HOLDER_X: only plain string literals/],
      ["#define HOLDER_VERB_X 3", /HOLDER_VERB_X: Verb names must be strings/],
      ["#define HOLDER_X (1u << 60)", /beyond what a TypeScript number holds exactly/],
    ] as const) {
      await writeFile(join(dir, "p.h"), define + "\n");
      const r = run("--header", join(dir, "p.h"), "--out", join(dir, "p.ts"));
      assert.equal(r.status, 1, define);
      assert.match(r.stderr, why, define);
    }
  });
});
