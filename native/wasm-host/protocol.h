/* The wire between kuasar-wasm-run (one per container, launched by the pod's holder) and
 * kuasar-wasm-host (one per pod): SOCK_SEQPACKET messages, the first byte says what it is.
 *
 *   run -> host  'L' KW_* entries, NUL-separated, with fds 0, 1, 2 (SCM_RIGHTS): load the module
 *   host -> run  'R' loaded | 'E' "<status> <message>": it cannot run (126 cannot load, 127 not found)
 *   run -> host  'G' start it (after the start FIFO's byte)
 *   run -> host  'K' "<signal>" signal it
 *   host -> run  'X' "<wait status>" it ended
 *
 * The run side closing its socket kills the instance (SIGKILL); the host's side closing (the host
 * died, taking its instances with it) ends the runner by SIGKILL too, once it was started.
 *
 * The launch (kuasar-wasm-run's environment): KW_HOST_DIR (where the socket is), KW_HOST_<i>
 * (the host's argv; the runner adds --holder=<its parent>, whose exit ends the host), KW_MODULE, KW_ROOT, KW_ARG_<i>, KW_ENV_<i>, KW_DIR_<i> ("guest:host"),
 * KW_PAGES and KW_MEMORY_LIMIT (the cap in pages and bytes; absent or 0: none), KW_OOM (the
 * OOM marker), KW_START_FIFO, KW_PIDFILE (where the host writes the instance's pid at Start).
 * KW_WARM set: the runner only brings the host up (at the pod's start) and exits 0.
 *
 * A runner starts the host with --holder=<pid> and --ready-fd=3, a pipe on which the host writes
 * one byte once it listens (end of file: it died before). */
#ifndef KUASAR_WASM_HOST_PROTOCOL_H
#define KUASAR_WASM_HOST_PROTOCOL_H

#define KW_SOCKET_NAME "wasm-host.sock"
#define KW_MSG_MAX (256 * 1024)

enum {
	KW_RUNTIME_FAILURE = 125,
	KW_CANNOT_LOAD = 126,
	KW_NOT_FOUND = 127,
	KW_TRAP = 134,
	KW_MEMORY_LIMIT = 137,
};

#endif
