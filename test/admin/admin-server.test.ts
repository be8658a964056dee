import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { MAX_ADMIN_REQUEST_BYTES, parseAdminRequest, type AdminReply, type AdminRequest } from "../../src/admin/admin-protocol.js";
import { serveAdmin } from "../../src/admin/admin-server.js";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { silentLogger } from "../../src/log/logger.js";

/** Sends raw bytes, returns the reply line parsed (or undefined when the server closed without one). */
function ask(path: string, bytes: string | Buffer): Promise<AdminReply | undefined> {
  return new Promise((resolve) => {
    const s = connect(path);
    let buf = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => (buf += d));
    s.on("error", () => {});
    s.on("close", () => resolve(buf ? (JSON.parse(buf) as AdminReply) : undefined));
    s.on("connect", () => s.write(bytes));
  });
}

describe("admin protocol", () => {
  it("parses each op and fills exec's default timeout", () => {
    assert.deepEqual(parseAdminRequest('{"op":"ps"}'), { op: "ps" });
    assert.deepEqual(parseAdminRequest('{"op":"status","extra":1}'), { op: "status" });
    assert.deepEqual(parseAdminRequest('{"op":"inspect","sandbox":"p1"}'), { op: "inspect", sandbox: "p1" });
    assert.deepEqual(parseAdminRequest('{"op":"exec","sandbox":"p1","argv":["ls","-l"]}'), { op: "exec", sandbox: "p1", argv: ["ls", "-l"], timeoutMs: 60_000 });
    assert.deepEqual(parseAdminRequest('{"op":"exec","sandbox":"p1","container":"c","argv":["id"],"timeoutMs":5}'), { op: "exec", sandbox: "p1", container: "c", argv: ["id"], timeoutMs: 5 });
  });

  it("refuses bad requests with InvalidArgument naming what is wrong", () => {
    const cases: [string, RegExp][] = [
      ["not json", /not JSON/],
      ["[1,2]", /JSON object/],
      ['{"op":"rm -rf"}', /unknown op "rm -rf"/],
      ['{"op":"inspect"}', /sandbox must be/],
      ['{"op":"inspect","sandbox":""}', /sandbox must be/],
      ['{"op":"exec","sandbox":"p","argv":[]}', /argv must be a non-empty array/],
      ['{"op":"exec","sandbox":"p","argv":["a",1]}', /argv must be/],
      ['{"op":"exec","sandbox":"p","argv":["a"],"timeoutMs":-1}', /timeoutMs/],
      ['{"op":"exec","sandbox":"p","argv":["a"],"container":5}', /container must be/],
    ];
    for (const [line, msg] of cases) {
      assert.throws(() => parseAdminRequest(line), (e: unknown) => e instanceof RuntimeError && e.code === Code.InvalidArgument && msg.test(e.message), line);
    }
  });
});

describe("admin socket", async () => {
  const dir = mkdtempSync("/tmp/admin-");
  const path = join(dir, "admin.sock");
  const seen: AdminRequest[] = [];
  const server = await serveAdmin(
    path,
    async (r) => {
      seen.push(r);
      if (r.op === "inspect") throw new RuntimeError(Code.NotFound, `sandbox ${r.sandbox} not found`);
      return { pods: 0 };
    },
    silentLogger(),
  );
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is root-only (0600)", () => {
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  it("answers a request line with its result, and an error with its code", async () => {
    assert.deepEqual(await ask(path, '{"op":"ps"}\n'), { ok: true, result: { pods: 0 } });
    assert.deepEqual(await ask(path, '{"op":"inspect","sandbox":"nope"}\n'), { ok: false, error: "sandbox nope not found", code: Code.NotFound, codeName: "NotFound" });
  });

  it("answers bad input with InvalidArgument and never calls the handler for it", async () => {
    const before = seen.length;
    const r = await ask(path, "garbage\n");
    assert.equal(r?.ok, false);
    assert.equal(r && !r.ok && r.code, Code.InvalidArgument);
    const big = await ask(path, Buffer.alloc(MAX_ADMIN_REQUEST_BYTES + 10, 0x61));
    assert.match(big && !big.ok ? big.error : "", /longer than/);
    const s = connect(path);
    await new Promise((r2) => s.once("connect", r2));
    s.end('{"op":"ps"}'); // no newline, then the end
    const cut = await new Promise<string>((resolve) => {
      let b = "";
      s.on("data", (d: Buffer) => (b += d.toString()));
      s.on("close", () => resolve(b));
    });
    assert.match(cut, /ended before a whole request line/);
    assert.equal(seen.length, before);
    assert.deepEqual(await ask(path, '{"op":"status"}\n'), { ok: true, result: { pods: 0 } });
  });
});
