import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeBase64,
  decodeFields,
  encodeMessage,
  encodeSpawn,
  encodeWrite,
  HEADER_LENGTH,
  MalformedMessageError,
  MAX_REQUEST_LENGTH,
  MessageDecoder,
  OversizeMessageError,
  parseJournal,
  parseMessage,
  STREAM,
  STREAM_CHUNK_LENGTH,
} from "../../src/holder/holder-protocol.js";

const payloadOf = (m: Buffer) => m.subarray(HEADER_LENGTH);

describe("holder protocol codec", () => {
  it("encodes a big-endian length then NUL-terminated strings", () => {
    const m = encodeMessage(["ping", "r1"]);
    assert.deepEqual([...m], [0, 0, 0, 8, ...Buffer.from("ping\0r1\0")]);
  });

  it("round-trips empty strings and UTF-8", () => {
    const fields = ["spawn", "", "é€😀", ""];
    assert.deepEqual(decodeFields(payloadOf(encodeMessage(fields))), fields);
  });

  it("refuses a NUL inside a string and an oversize message", () => {
    assert.throws(() => encodeMessage(["a\0b"]), MalformedMessageError);
    assert.throws(() => encodeMessage(["x".repeat(MAX_REQUEST_LENGTH)]), OversizeMessageError);
    assert.equal(encodeMessage(["x".repeat(MAX_REQUEST_LENGTH - 1)]).length, HEADER_LENGTH + MAX_REQUEST_LENGTH);
  });

  it("rejects a payload whose last string is not terminated", () => {
    assert.throws(() => decodeFields(Buffer.from("ok\0r1")), MalformedMessageError);
    assert.deepEqual(decodeFields(new Uint8Array()), []);
  });

  it("encodes spawn with counts, flags and the environment exactly", () => {
    const m = encodeSpawn({ id: "c1", cwd: "/", stdin: "", stdout: "/o", stderr: "", console: "/s", argv: ["/bin/sh", "-c", "x"], env: ["A=1"] });
    assert.deepEqual(decodeFields(payloadOf(m)), ["spawn", "c1", "/", "", "/o", "", "console=/s", "3", "/bin/sh", "-c", "x", "1", "A=1"]);
    const plain = encodeSpawn({ id: "c2", cwd: "", stdin: "", stdout: "", stderr: "", argv: ["/bin/true"], env: [] });
    assert.deepEqual(decodeFields(payloadOf(plain)), ["spawn", "c2", "", "", "", "", "", "1", "/bin/true", "0"]);
  });

  it("reassembles a message split at every byte boundary", () => {
    const whole = encodeMessage(["ok", "r7", "1234"]);
    for (let cut = 1; cut < whole.length; cut++) {
      const d = new MessageDecoder();
      assert.deepEqual(d.push(whole.subarray(0, cut)), []);
      const got = d.push(whole.subarray(cut));
      assert.equal(got.length, 1, `cut at ${cut}`);
      assert.deepEqual(decodeFields(got[0]!), ["ok", "r7", "1234"]);
      assert.equal(d.pending, 0);
    }
  });

  it("splits merged messages in order and keeps the tail of a third", () => {
    const a = encodeMessage(["ok", "r1"]);
    const b = encodeMessage(["exit", "0", "10", "42", "1700000000", "5", "c1"]);
    const c = encodeMessage(["ok", "r2", "77", "0"]);
    const d = new MessageDecoder();
    const got = d.push(Buffer.concat([a, b, c.subarray(0, 6)]));
    assert.deepEqual(got.map((p) => decodeFields(p)[0]), ["ok", "exit"]);
    assert.equal(d.pending, 6);
    assert.deepEqual(decodeFields(d.push(c.subarray(6))[0]!), ["ok", "r2", "77", "0"]);
  });

  it("rejects an oversize length from the prefix alone, before buffering", () => {
    const d = new MessageDecoder(16);
    assert.throws(() => d.push(Buffer.from([0, 0, 0, 17])), OversizeMessageError);
    const e = new MessageDecoder(16);
    assert.deepEqual(e.push(Buffer.from([0, 0, 0])), []);
    assert.throws(() => e.push(Buffer.from([255, 1])), (err: unknown) => err instanceof OversizeMessageError && err.length === 255);
  });

  it("classifies replies and exit events", () => {
    assert.deepEqual(parseMessage(payloadOf(encodeMessage(["ok", "r1", "5", "0"]))), { kind: "ok", id: "r1", values: ["5", "0"] });
    assert.deepEqual(parseMessage(payloadOf(encodeMessage(["err", "c1", "2", "exec /x: No such file"]))), {
      kind: "err",
      id: "c1",
      errno: 2,
      message: "exec /x: No such file",
    });
    const ev = parseMessage(payloadOf(encodeMessage(["exit", "0", "123", "137", "1700000000", "250000001", "c1"])));
    assert.equal(ev.kind, "exit");
    if (ev.kind !== "exit") return;
    assert.equal(ev.exit.pid, 123);
    assert.equal(ev.exit.status, 137);
    assert.equal(ev.exit.id, "c1");
    assert.equal(ev.exit.seconds, 1_700_000_000n);
    assert.equal(ev.exit.nanos, 250_000_001);
    assert.equal(ev.exit.exitedAt.getTime(), 1_700_000_000_250);
    const unknown = parseMessage(payloadOf(encodeMessage(["exit", "0", "9", "0", "1", "0", "-"])));
    assert.equal(unknown.kind === "exit" && unknown.exit.id, undefined);
  });

  it("throws MalformedMessageError on garbage, never anything else", () => {
    const garbage: Buffer[] = [
      Buffer.from("ok\0"), // no request id
      Buffer.from("what\0r1\0"),
      Buffer.from("err\0r1\0notanumber\0m\0"),
      Buffer.from(["exit", "0", "1", ""].join("\0")),
      Buffer.from(["exit", "0", "x", "0", "1", "1", "id", ""].join("\0")),
      Buffer.from(["exit", "0", "1", "0", "1", "2000000000", "id", ""].join("\0")),
      Buffer.from("no terminator"),
    ];
    for (const g of garbage) assert.throws(() => parseMessage(g), MalformedMessageError, JSON.stringify(g.toString()));
    for (let seed = 1; seed < 200; seed++) {
      const bytes = Buffer.from(Array.from({ length: seed % 37 }, (_, i) => (seed * 31 + i * 17) % 256));
      try {
        parseMessage(bytes);
      } catch (err) {
        assert.ok(err instanceof MalformedMessageError, String(err));
      }
    }
  });

  it("encodes streamed stdio and write requests", () => {
    const m = encodeSpawn({ id: "c3", cwd: "", stdin: STREAM, stdout: STREAM, stderr: "", argv: ["/bin/cat"], env: [] });
    assert.deepEqual(decodeFields(payloadOf(m)).slice(3, 6), [":stream", ":stream", ""]);
    const bytes = Buffer.from([0, 1, 2, 0, 255, 10]);
    assert.deepEqual(decodeFields(payloadOf(encodeWrite("r4", "c3", bytes))), ["write", "r4", "c3", bytes.toString("base64")]);
    assert.deepEqual(decodeFields(payloadOf(encodeWrite("r5", "c3", new Uint8Array()))), ["write", "r5", "c3", ""]);
    const whole = Buffer.alloc(STREAM_CHUNK_LENGTH, 0xff);
    assert.ok(encodeWrite("r6", "c3", whole).length < MAX_REQUEST_LENGTH);
    assert.throws(() => encodeWrite("r7", "c3", Buffer.alloc(STREAM_CHUNK_LENGTH + 1)), OversizeMessageError);
  });

  it("classifies out and eof events, decoding base64 strictly", () => {
    const data = Buffer.from("out\n\0\xff", "latin1");
    assert.deepEqual(parseMessage(payloadOf(encodeMessage(["out", "0", "c1", "2", data.toString("base64")]))), {
      kind: "out",
      output: { id: "c1", fd: 2, data },
    });
    assert.deepEqual(parseMessage(payloadOf(encodeMessage(["out", "0", "c1", "1", ""]))), { kind: "out", output: { id: "c1", fd: 1, data: Buffer.alloc(0) } });
    assert.deepEqual(parseMessage(payloadOf(encodeMessage(["eof", "0", "c1", "1"]))), { kind: "eof", id: "c1", fd: 1 });
    for (const n of [0, 1, 2, 3, 4, 5, 47, 48 << 10]) {
      const b = Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) % 256));
      assert.ok(decodeBase64(b.toString("base64")).equals(b), `length ${n}`);
    }
    for (const bad of ["abc", "ab=c", "a===", "====", "!!!!", "QUJD\n", "QUJD QUJD", "QQ", "QUJD=", "=QUJ"]) {
      assert.throws(() => decodeBase64(bad), MalformedMessageError, bad);
      assert.throws(() => parseMessage(payloadOf(encodeMessage(["out", "0", "c1", "1", bad]))), MalformedMessageError, bad);
    }
    const garbage = [
      ["out", "0", "c1", "1"],
      ["out", "0", "c1", "3", "QQ=="],
      ["out", "0", "c1", "x", "QQ=="],
      ["out", "0", "c1", "1", "QQ==", "extra"],
      ["eof", "0", "c1"],
      ["eof", "0", "c1", "0"],
      ["eof", "0", "c1", "1", "x"],
    ];
    for (const g of garbage) assert.throws(() => parseMessage(payloadOf(encodeMessage(g))), MalformedMessageError, g.join(" "));
  });

  it("parses the journal, skipping malformed lines and a torn tail", () => {
    const text = "10 0 1700000000 5 c1\n11 137 1700000001 0 -\nbad line\n12 x 1 0 a\n13 1 1700000002 999999999 :podinit\n14 2 17";
    const exits = parseJournal(text);
    assert.deepEqual(
      exits.map((e) => [e.pid, e.status, e.id, e.nanos]),
      [
        [10, 0, "c1", 5],
        [11, 137, undefined, 0],
        [13, 1, ":podinit", 999_999_999],
      ],
    );
    assert.deepEqual(parseJournal(""), []);
  });
});
