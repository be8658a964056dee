import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code } from "../errors/code.js";
import { isErrorCode, RuntimeError } from "../errors/runtime-error.js";
import { Events } from "../gen/containerd/services/events/ttrpc/v1/events_pb.js";
import type { Logger } from "../log/logger.js";
import type { EventPublisher, TaskEvent } from "../task/task-event.js";
import { TtrpcClient } from "../ttrpc/client.js";
import { metadataFrom, NAMESPACE_KEY } from "../ttrpc/metadata.js";
import { serviceClient, type ServiceClient } from "../ttrpc/service.js";
import { type Clock, realClock } from "../time/clock.js";
import { taskEnvelope } from "./task-envelope.js";

/** Options of {@link EventForwarder}. */
export interface EventForwarderOptions {
  /** containerd's ttrpc socket (`TTRPC_ADDRESS`; mirrors `--containerd-ttrpc-address`). Default `/run/containerd/containerd.sock.ttrpc`. */
  address: string;
  /** Deadline of one Forward call, in ms. Default 5000, as containerd's runc shim. */
  callTimeoutMs: number;
  /** Attempts per event before it is dropped (and logged). Default 5. */
  maxAttempts: number;
  /** Back-off unit in ms: attempt n waits n × this. Default 1000. */
  backoffMs: number;
  /** Events held at most; the oldest is dropped (and logged) beyond it. Default 2048. */
  queueLimit: number;
}

export const defaultEventForwarderOptions: EventForwarderOptions = {
  address: "/run/containerd/containerd.sock.ttrpc",
  callTimeoutMs: 5000,
  maxAttempts: 5,
  backoffMs: 1000,
  queueLimit: 2048,
};

interface Queued {
  namespace: string;
  event: TaskEvent;
  attempts: number;
}

/**
 * Publishes task events to containerd (`containerd.services.events.ttrpc.v1.Events/Forward`).
 * One queue, sent strictly in order so a container's exec exits precede its init
 * exit; one long-lived connection, re-dialled when it drops; failed sends are
 * retried with linear back-off and dropped after `maxAttempts` (an event never
 * blocks the runtime).
 */
export class EventForwarder implements EventPublisher {
  private readonly options: EventForwarderOptions;
  private readonly queue: Queued[] = [];
  private client: TtrpcClient | undefined;
  private events: ServiceClient<typeof Events> | undefined;
  private pumping: Promise<void> | undefined;
  private closed = false;
  private readonly stop = new AbortController();

  constructor(
    options: Partial<EventForwarderOptions>,
    private readonly log: Logger,
    /** Time of the retry back-off: the real clock, a manual one in tests. */
    private readonly clock: Clock = realClock,
  ) {
    this.options = { ...defaultEventForwarderOptions, ...options };
  }

  publish(namespace: string, event: TaskEvent): void {
    if (this.closed) {
      this.log.warn({ event: event.kind, container_id: event.containerId }, "event dropped: forwarder closed");
      return;
    }
    if (this.queue.length >= this.options.queueLimit) {
      const old = this.queue.shift()!;
      this.log.error({ event: old.event.kind, container_id: old.event.containerId }, "event dropped: queue full");
    }
    this.queue.push({ namespace, event, attempts: 0 });
    // Sent from the next turn of the event loop: the answer of the call that made the event
    // (a Create, a Start) goes out first, not behind the event's encoding and write.
    this.pumping ??= new Promise<void>((r) => setImmediate(r)).then(() => this.pump()).finally(() => (this.pumping = undefined));
  }

  /** Events not yet delivered. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Waits until the queue drains (or every event is dropped), at most
   * `graceMs`, then drops what is left and closes the connection.
   */
  async close(graceMs = 2000): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.pumping, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    if (this.queue.length > 0) this.log.warn({ dropped: this.queue.length }, "events not delivered before close");
    this.destroy();
  }

  /** Stops at once, dropping what is queued. */
  destroy(): void {
    this.closed = true;
    this.stop.abort();
    this.queue.length = 0;
    this.client?.destroy();
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0 && !this.stop.signal.aborted) {
      const item = this.queue[0]!;
      try {
        await this.send(item);
        this.queue.shift();
      } catch (err) {
        item.attempts++;
        const e = RuntimeError.from(err);
        const fields = { err: e, event: item.event.kind, container_id: item.event.containerId, attempts: item.attempts };
        if (item.attempts >= this.options.maxAttempts || isErrorCode(e, Code.InvalidArgument)) {
          this.log.error(fields, "event dropped: containerd did not accept it");
          this.queue.shift();
          continue;
        }
        this.log.warn(fields, "event forward failed; retrying");
        await this.clock.sleep(this.options.backoffMs * item.attempts, this.stop.signal).catch(() => {}); // stopped: the loop ends
      }
    }
  }

  private async send(item: Queued): Promise<void> {
    const { topic, event } = taskEnvelope(item.event);
    const request = { envelope: { timestamp: timestampNow(), namespace: item.namespace, topic, event } };
    const options = { timeoutMs: this.options.callTimeoutMs, metadata: metadataFrom([[NAMESPACE_KEY, item.namespace]]) };
    try {
      await (await this.connect()).forward(request, options);
    } catch (err) {
      // A dropped connection is retried once at once on a fresh dial, as containerd's shims do.
      if (!isErrorCode(err, Code.Unavailable) || !this.client?.closed) throw err;
      await (await this.connect()).forward(request, options);
    }
  }

  /** The Events client on the live connection, dialling a new one when it dropped. */
  private async connect(): Promise<ServiceClient<typeof Events>> {
    if (!this.client || this.client.closed || !this.events) {
      this.client = await TtrpcClient.connect(this.options.address, { timeoutMs: this.options.callTimeoutMs, signal: this.stop.signal });
      this.events = serviceClient(this.client, Events);
    }
    return this.events;
  }
}
