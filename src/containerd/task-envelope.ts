import { create } from "@bufbuild/protobuf";
import { timestampFromDate, type Any } from "@bufbuild/protobuf/wkt";
import {
  TaskCreateSchema,
  TaskDeleteSchema,
  TaskExecAddedSchema,
  TaskExecStartedSchema,
  TaskExitSchema,
  TaskOOMSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  TaskStartSchema,
} from "../gen/containerd/events/task_pb.js";
import { packAny } from "../protobuf/typeurl.js";
import type { TaskEvent } from "../task/task-event.js";

/** The topic and packed payload containerd expects for a task event (protocols.md §5). */
export function taskEnvelope(ev: TaskEvent): { topic: string; event: Any } {
  switch (ev.kind) {
    case "create":
      return {
        topic: "/tasks/create",
        event: packAny(
          TaskCreateSchema,
          create(TaskCreateSchema, {
            containerId: ev.containerId,
            bundle: ev.bundle,
            rootfs: ev.rootfs.map((m) => ({ ...m, options: [...m.options] })),
            io: ev.io,
            checkpoint: ev.checkpoint,
            pid: ev.pid,
          }),
        ),
      };
    case "start":
      return { topic: "/tasks/start", event: packAny(TaskStartSchema, create(TaskStartSchema, ev)) };
    case "exit":
      return {
        topic: "/tasks/exit",
        event: packAny(
          TaskExitSchema,
          create(TaskExitSchema, { containerId: ev.containerId, id: ev.id, pid: ev.pid, exitStatus: ev.exitStatus, exitedAt: timestampFromDate(ev.exitedAt) }),
        ),
      };
    case "delete":
      return {
        topic: "/tasks/delete",
        event: packAny(
          TaskDeleteSchema,
          create(TaskDeleteSchema, { containerId: ev.containerId, pid: ev.pid, exitStatus: ev.exitStatus, exitedAt: timestampFromDate(ev.exitedAt) }),
        ),
      };
    case "oom":
      return { topic: "/tasks/oom", event: packAny(TaskOOMSchema, create(TaskOOMSchema, ev)) };
    case "exec-added":
      return { topic: "/tasks/exec-added", event: packAny(TaskExecAddedSchema, create(TaskExecAddedSchema, ev)) };
    case "exec-started":
      return { topic: "/tasks/exec-started", event: packAny(TaskExecStartedSchema, create(TaskExecStartedSchema, ev)) };
    case "paused":
      return { topic: "/tasks/paused", event: packAny(TaskPausedSchema, create(TaskPausedSchema, ev)) };
    case "resumed":
      return { topic: "/tasks/resumed", event: packAny(TaskResumedSchema, create(TaskResumedSchema, ev)) };
  }
}
