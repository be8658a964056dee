import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { create, equals, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "../../src/errors/code.js";
import { errors, RuntimeError } from "../../src/errors/runtime-error.js";
import {
  Controller,
  ControllerCreateRequestSchema,
  ControllerStatusRequestSchema,
  ControllerStatusResponseSchema,
  ControllerWaitRequestSchema,
  type ControllerCreateRequest,
} from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { PodSandboxConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { GrpcClient } from "../../src/grpc/client.js";
import { GrpcServer, type GrpcCallContext } from "../../src/grpc/server.js";
import { clientOf, deferred, lengthPrefixed, listeningServer, rawCall, tempDir } from "./helpers.js";

/** Go's zero time.Time, as containerd 2.x sends it in types.Sandbox.created_at. */
const ZERO_TIME = create(TimestampSchema, { seconds: -62135596800n });

const STATUS = `/${Controller.typeName}/Status`;

async function rejectsWith(p: Promise<unknown>, code: number, message?: string | RegExp): Promise<RuntimeError> {
  const err = await p.then(
    () => assert.fail("expected a rejection"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RuntimeError, `not a RuntimeError: ${String(err)}`);
  assert.equal(err.code, code, `got ${err.toString()}`);
  if (typeof message === "string") assert.equal(err.message, message);
  else if (message) assert.match(err.message, message);
  return err;
}

describe("gRPC server and client", () => {
  it("round-trips Controller Create and Status with Any, maps and a negative Timestamp", async (t) => {
    const podConfig = create(PodSandboxConfigSchema, {
      metadata: { name: "web", namespace: "default", uid: "u-1", attempt: 1 },
      hostname: "web-0",
      labels: { app: "web" },
    });
    const sent: MessageInitShape<typeof ControllerCreateRequestSchema> = {
      sandboxId: "sb-1",
      options: anyPack(PodSandboxConfigSchema, podConfig),
      netnsPath: "/var/run/netns/cni-1234",
      annotations: { "io.kubernetes.cri.sandbox-id": "sb-1", empty: "" },
      sandbox: {
        sandboxId: "sb-1",
        runtime: { name: "io.containerd.kuasar.v1" },
        labels: { name: "web_default_u-1_1" },
        createdAt: ZERO_TIME,
        updatedAt: ZERO_TIME,
        extensions: { metadata: anyPack(TimestampSchema, create(TimestampSchema, { seconds: 7n })) },
        sandboxer: "runc",
      },
      sandboxer: "runc",
    };
    let received: ControllerCreateRequest | undefined;
    const { path } = await listeningServer(t, Controller, {
      create: async (req) => {
        received = req;
        return { sandboxId: req.sandboxId };
      },
      status: async (req) => ({
        sandboxId: req.sandboxId,
        pid: 4242,
        state: "SANDBOX_READY",
        info: { kind: "runc", "io.kuasar/verbose": String(req.verbose) },
        createdAt: create(TimestampSchema, { seconds: 1_700_000_000n, nanos: 5 }),
        exitedAt: ZERO_TIME,
        extra: anyPack(PodSandboxConfigSchema, podConfig),
        address: "ttrpc+unix:///run/kuasar/task.sock",
        version: 3,
      }),
    });
    const ctrl = clientOf(t, path).service(Controller);

    const created = await ctrl.create(sent);
    assert.equal(created.sandboxId, "sb-1");
    assert.ok(received);
    assert.ok(equals(ControllerCreateRequestSchema, received, create(ControllerCreateRequestSchema, sent)));
    assert.equal(received.sandbox?.createdAt?.seconds, -62135596800n);
    assert.deepEqual(received.annotations, { "io.kubernetes.cri.sandbox-id": "sb-1", empty: "" });
    assert.ok(received.options && equals(PodSandboxConfigSchema, anyUnpack(received.options, PodSandboxConfigSchema)!, podConfig));

    const st = await ctrl.status({ sandboxId: "sb-1", verbose: true, sandboxer: "runc" });
    assert.equal(st.pid, 4242);
    assert.equal(st.state, "SANDBOX_READY");
    assert.deepEqual(st.info, { kind: "runc", "io.kuasar/verbose": "true" });
    assert.equal(st.exitedAt?.seconds, -62135596800n);
    assert.equal(st.createdAt?.nanos, 5);
    assert.equal(st.version, 3);
    assert.ok(st.extra && equals(PodSandboxConfigSchema, anyUnpack(st.extra, PodSandboxConfigSchema)!, podConfig));
  });

  it("sends handler errors as the same status codes, messages intact", async (t) => {
    const message = 'sandbox "sb-9": 100% ünïcode\nsecond line';
    const { path } = await listeningServer(t, Controller, {
      status: async (req) => {
        switch (req.sandboxId) {
          case "nf":
            throw errors.notFound(message);
          case "inval":
            throw errors.invalidArgument("sandbox id must not be empty");
          case "exists":
            throw errors.alreadyExists("sandbox sb-1 already exists");
          case "errno":
            throw Object.assign(new Error("open /run/x: no such file"), { code: "ENOENT" });
          default:
            throw new Error("boom");
        }
      },
    });
    const ctrl = clientOf(t, path).service(Controller);
    await rejectsWith(ctrl.status({ sandboxId: "nf" }), Code.NotFound, message);
    await rejectsWith(ctrl.status({ sandboxId: "inval" }), Code.InvalidArgument, "sandbox id must not be empty");
    await rejectsWith(ctrl.status({ sandboxId: "exists" }), Code.AlreadyExists, "sandbox sb-1 already exists");
    await rejectsWith(ctrl.status({ sandboxId: "errno" }), Code.NotFound, "open /run/x: no such file");
    await rejectsWith(ctrl.status({ sandboxId: "other" }), Code.Unknown, "boom");

    // On the wire: grpc-status plus a percent-encoded grpc-message (what grpc-go decodes).
    const raw = await rawCall(path, STATUS, lengthPrefixed(toBinary(ControllerStatusRequestSchema, create(ControllerStatusRequestSchema, { sandboxId: "nf" }))));
    assert.equal(raw.httpStatus, 200);
    assert.equal(raw.grpcStatus, Code.NotFound);
    assert.ok(raw.grpcMessageRaw !== undefined && /^[\x20-\x7e]*$/.test(raw.grpcMessageRaw), `not ASCII: ${raw.grpcMessageRaw}`);
    assert.match(raw.grpcMessageRaw, /100%25/);
    assert.equal(decodeURIComponent(raw.grpcMessageRaw), message);
  });

  it("answers methods left out of the implementation, and unknown paths, with Unimplemented", async (t) => {
    const { path } = await listeningServer(t, Controller, { status: async () => ({}) });
    await rejectsWith(clientOf(t, path).service(Controller).platform({ sandboxId: "x" }), Code.Unimplemented);
    const raw = await rawCall(path, `/${Controller.typeName}/NoSuchMethod`, lengthPrefixed(new Uint8Array()));
    assert.equal(raw.grpcStatus, Code.Unimplemented);
  });

  it("holds a Wait open until the server releases it, without blocking other calls", async (t) => {
    const exited = deferred<number>();
    const { server, path } = await listeningServer(t, Controller, {
      wait: async () => ({ exitStatus: await exited.promise, exitedAt: create(TimestampSchema, { seconds: 1_700_000_001n }) }),
      status: async (req) => ({ sandboxId: req.sandboxId, state: "SANDBOX_READY" }),
    });
    const ctrl = clientOf(t, path).service(Controller);
    const waiting = ctrl.wait({ sandboxId: "sb-1" });
    const st = await ctrl.status({ sandboxId: "sb-1" });
    assert.equal(st.state, "SANDBOX_READY");
    assert.equal(server.activeCalls, 1);
    exited.resolve(137);
    const res = await waiting;
    assert.equal(res.exitStatus, 137);
    assert.equal(res.exitedAt?.seconds, 1_700_000_001n);
    assert.equal(server.activeCalls, 0);
  });

  it("aborts the handler's signal when the client cancels a Wait", async (t) => {
    const started = deferred();
    const handlerAborted = deferred<unknown>();
    const { server, path } = await listeningServer(t, Controller, {
      wait: (_req, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener("abort", () => {
            handlerAborted.resolve(ctx.signal.reason);
            reject(ctx.signal.reason);
          });
          started.resolve();
        }),
    });
    const ac = new AbortController();
    const waiting = clientOf(t, path).service(Controller).wait({ sandboxId: "sb-1" }, { signal: ac.signal });
    await started.promise;
    ac.abort();
    await rejectsWith(waiting, Code.Canceled);
    const reason = await handlerAborted.promise;
    assert.ok(reason instanceof RuntimeError);
    assert.equal(reason.code, Code.Canceled);
    assert.equal(server.activeCalls, 0);

    // An already aborted signal fails before anything is sent.
    await rejectsWith(clientOf(t, path).service(Controller).wait({}, { signal: AbortSignal.abort() }), Code.Canceled);
  });

  it("gives the handler the request headers, lower-cased, and the containerd namespace", async (t) => {
    let seen: GrpcCallContext | undefined;
    const { path } = await listeningServer(t, Controller, {
      status: async (_req, ctx) => {
        seen = ctx;
        return {};
      },
    });
    const client = clientOf(t, path, { namespace: "default" });
    await client.service(Controller).status({}, { namespace: "k8s.io", metadata: { "X-Trace": ["a", "b"], "X-Single": "1" } });
    assert.ok(seen);
    assert.equal(seen.namespace, "k8s.io");
    assert.deepEqual(seen.headers.get("containerd-namespace"), ["k8s.io"]);
    assert.deepEqual(seen.headers.get("x-single"), ["1"]);
    // node:http2 folds a repeated header into one value, as HTTP allows.
    assert.deepEqual(seen.headers.get("x-trace"), ["a, b"]);
    assert.equal(seen.service, "containerd.services.sandbox.v1.Controller");
    assert.equal(seen.method, "Status");
    assert.equal(seen.deadlineMs, undefined);

    // The client-wide namespace applies when the call names none; grpc-go's own headers come through too.
    await client.service(Controller).status({});
    assert.equal(seen.namespace, "default");
    await rawCall(path, STATUS, lengthPrefixed(new Uint8Array()));
    assert.equal(seen.namespace, "k8s.io");
    assert.deepEqual(seen.headers.get("user-agent"), ["grpc-go/1.81.1"]);
    assert.equal(seen.headers.get("te"), undefined);
  });

  it("propagates the deadline: the handler sees it and its signal fires; the caller gets DeadlineExceeded", async (t) => {
    const handlerAborted = deferred<unknown>();
    const rawAborted = deferred<unknown>();
    let deadlineMs: number | undefined;
    const { server, path } = await listeningServer(t, Controller, {
      wait: (req, ctx) =>
        new Promise((resolve) => {
          deadlineMs = ctx.deadlineMs;
          // "ignore" models a handler that never looks at its signal.
          if (req.sandboxId === "sb-1") ctx.signal.addEventListener("abort", () => handlerAborted.resolve(ctx.signal.reason));
          if (req.sandboxId === "raw") ctx.signal.addEventListener("abort", () => rawAborted.resolve(ctx.signal.reason));
          if (req.sandboxId === "ignore") setTimeout(() => resolve({}), 1500).unref();
        }),
    });
    const before = Date.now();
    await rejectsWith(clientOf(t, path).service(Controller).wait({ sandboxId: "sb-1" }, { timeoutMs: 300 }), Code.DeadlineExceeded);
    assert.ok(deadlineMs !== undefined && deadlineMs >= before + 250 && deadlineMs <= Date.now() + 50, `deadline ${deadlineMs! - before} ms after the call`);
    // The client resets the stream at its deadline; the handler's signal fires either way.
    const reason = await handlerAborted.promise;
    assert.ok(reason instanceof RuntimeError && (reason.code === Code.DeadlineExceeded || reason.code === Code.Canceled), String(reason));

    // A caller that does not reset (grpc-go leaves it to the server when the server is faster):
    // the server's own timer fires and the reason is DeadlineExceeded.
    const waitRaw = (id: string, timeout: string) =>
      rawCall(path, `/${Controller.typeName}/Wait`, lengthPrefixed(toBinary(ControllerWaitRequestSchema, create(ControllerWaitRequestSchema, { sandboxId: id }))), {
        "grpc-timeout": timeout,
      });
    assert.equal((await waitRaw("raw", "150m")).grpcStatus, Code.DeadlineExceeded);
    const rawReason = await rawAborted.promise;
    assert.ok(rawReason instanceof RuntimeError);
    assert.equal(rawReason.code, Code.DeadlineExceeded);

    // The server itself answers DEADLINE_EXCEEDED on time even if the handler ignores its signal
    // (this raw client enforces no deadline of its own).
    const t0 = Date.now();
    const raw = await waitRaw("ignore", "200m");
    assert.equal(raw.grpcStatus, Code.DeadlineExceeded);
    assert.ok(Date.now() - t0 < 1000, `answered after ${Date.now() - t0} ms`);
    assert.equal(server.activeCalls, 0);
  });

  it("answers a malformed request body with a status and keeps serving", async (t) => {
    const { path } = await listeningServer(t, Controller, { status: async (req) => ({ sandboxId: req.sandboxId }) });
    // A varint that never ends: not a ControllerStatusRequest.
    const garbage = await rawCall(path, STATUS, lengthPrefixed(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])));
    assert.equal(garbage.httpStatus, 200);
    assert.equal(garbage.grpcStatus, Code.Internal);
    // A length prefix promising more than the stream carries.
    const truncated = await rawCall(path, STATUS, Buffer.from([0, 0, 0, 0, 100, 1, 2, 3]));
    assert.ok(truncated.grpcStatus !== undefined && truncated.grpcStatus !== Code.OK, `status ${truncated.grpcStatus}`);
    // Still alive, and the neutral client decodes a good answer.
    const ok = await rawCall(path, STATUS, lengthPrefixed(toBinary(ControllerStatusRequestSchema, create(ControllerStatusRequestSchema, { sandboxId: "sb-1" }))));
    assert.equal(ok.grpcStatus, Code.OK);
    assert.equal(fromBinary(ControllerStatusResponseSchema, ok.body.subarray(5)).sandboxId, "sb-1");
    assert.equal((await clientOf(t, path).service(Controller).status({ sandboxId: "sb-2" })).sandboxId, "sb-2");
  });

  it("replaces a stale socket, refuses a live one, a non-socket file and a too-long path", async (t) => {
    const dir = tempDir(t);
    const path = join(dir, "stale.sock");
    // A process that dies while listening leaves its socket file behind.
    const r = spawnSync(process.execPath, ["-e", "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))", path]);
    assert.equal(r.signal, "SIGKILL");
    assert.ok(lstatSync(path).isSocket());

    const server = new GrpcServer();
    t.after(() => server.destroy());
    server.register(Controller, { status: async () => ({ state: "SANDBOX_READY" }) });
    await server.listen(path);
    assert.equal(lstatSync(path).mode & 0o777, 0o600);
    assert.equal((await clientOf(t, path).service(Controller).status({})).state, "SANDBOX_READY");

    const second = new GrpcServer();
    t.after(() => second.destroy());
    await rejectsWith(second.listen(path), Code.AlreadyExists);

    const file = join(dir, "file");
    writeFileSync(file, "not a socket");
    await rejectsWith(second.listen(file), Code.AlreadyExists, /not a socket/);
    assert.ok(existsSync(file));

    await rejectsWith(second.listen(join(dir, "x".repeat(120))), Code.InvalidArgument, /limit is 107/);
    assert.throws(() => new GrpcClient("relative.sock"), (e: unknown) => e instanceof RuntimeError && e.code === Code.InvalidArgument);

    await server.close();
    assert.ok(!existsSync(path), "socket file removed on close");
  });

  it("close() drains calls in flight; destroy() answers them Unavailable and aborts their handlers", async (t) => {
    const release = deferred();
    const handlerAborted = deferred<unknown>();
    const { server, path } = await listeningServer(t, Controller, {
      wait: async (req, ctx) => {
        if (req.sandboxId === "drain") {
          await release.promise;
          return { exitStatus: 1 };
        }
        return new Promise((_resolve, reject) =>
          ctx.signal.addEventListener("abort", () => {
            handlerAborted.resolve(ctx.signal.reason);
            reject(ctx.signal.reason);
          }),
        );
      },
    });
    const ctrl = clientOf(t, path).service(Controller);
    const draining = ctrl.wait({ sandboxId: "drain" });
    while (server.activeCalls < 1) await new Promise((r) => setImmediate(r));
    let closed = false;
    const closing = server.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closed, false, "close() waits for the call in flight");
    await rejectsWith(ctrl.status({}), Code.Unavailable); // not accepting any more
    release.resolve();
    assert.equal((await draining).exitStatus, 1);
    await closing;

    const dir = tempDir(t);
    const other = new GrpcServer();
    other.register(Controller, { wait: (req, ctx) => new Promise((_res, rej) => ctx.signal.addEventListener("abort", () => (handlerAborted.resolve(ctx.signal.reason), rej(ctx.signal.reason)))) });
    await other.listen(join(dir, "d.sock"));
    const held = clientOf(t, join(dir, "d.sock"))
      .service(Controller)
      .wait({ sandboxId: "held" })
      .then(
        () => assert.fail("a destroyed server answered"),
        (e: unknown) => e,
      );
    while (other.activeCalls < 1) await new Promise((r) => setImmediate(r));
    const gracefulClose = other.close(); // held open by the Wait…
    await new Promise((r) => setTimeout(r, 20));
    await other.destroy(); // …until destroy() cuts it
    await gracefulClose;
    const reason = await handlerAborted.promise;
    assert.ok(reason instanceof RuntimeError && reason.code === Code.Unavailable);
    // UNAVAILABLE, not CANCELLED: containerd retries a Wait only on UNAVAILABLE.
    const err = await held;
    assert.ok(err instanceof RuntimeError && err.code === Code.Unavailable, `got ${String(err)}`);
    assert.match(err.message, /shutting down/);
    await other.destroy(); // idempotent
    await other.close(); // and close() after destroy() returns at once
  });

  it("fails a call to a socket nobody listens on with Unavailable", async (t) => {
    const client = clientOf(t, join(tempDir(t), "absent.sock"));
    await rejectsWith(client.service(Controller).status({}), Code.Unavailable);
  });
});
