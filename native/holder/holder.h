/*
 * kuasar-holder: the pod holder (docs/adr/0002-crash-domains.md).
 *
 * One per pod. It holds the pod's namespaces, is PR_SET_CHILD_SUBREAPER and the
 * parent of every process of the pod (it launches them on request), journals
 * every exit durably to DIR/exits before announcing it, and pumps stdin and
 * terminals. It never dies with the daemon that started it: it exits on a
 * `shutdown` request or SIGTERM only.
 *
 * In a guest VM it is also the agent (`--serve-port`): pid 1 after the init
 * script, no namespaces of its own, its one client the host on a virtio-serial
 * port; stdio the host cannot reach as FIFOs is streamed over the protocol.
 * As pid 1 it never exits: `shutdown` (or SIGTERM) ends in a power-off.
 *
 * Single-threaded, one poll(2) loop. Its files, by concern:
 *
 *   main.c      arguments and the startup sequence
 *   pod.c       the pod's namespaces, cgroups, sysctls and pod init
 *   spawn.c     launching a process (`spawn`)
 *   records.c   what the holder knows of each process it launched or adopted
 *   reaper.c    reaping, exit events, killing everything on shutdown
 *   members.c   processes made elsewhere that joined the pod (a wasm host from the node's zygote)
 *   journal.c   the durable exit journal DIR/exits
 *   stdio.c     stdin/terminal pumps and streamed output
 *   console.c   terminals received over a console socket
 *   server.c    clients: framing, replies, events, the control socket
 *   requests.c  the verbs other than spawn
 *   serve.c     serve mode: the port, host disconnects, pid 1's power-off
 *   restored.c  a guest restored from a VM template taking on its own identity
 *   guest_setup.c a guest's hostname, NIC and sysctls for its pod (netlink.c: rtnetlink)
 *   loop.c      the poll loop and signals
 *   frame.c, buf.c, base64.c, util.c, log.c: small building blocks
 *
 * Every piece of state lives in one `struct holder` (below) passed where it is
 * needed; only the logger keeps its own (where log lines go).
 */
#ifndef KUASAR_HOLDER_H
#define KUASAR_HOLDER_H

#include "frame.h"
#include "protocol.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

enum {
	MAX_CLIENTS = 32,  /* the oldest is dropped to admit one more */
	MAX_MEMBERS = 8,   /* processes that joined the pod from outside (members.c) */
	RECENT_MAX = 64,   /* unknown exits remembered for a late adopt */
	MAX_ID_LEN = 1024,
};
#define SOCK_NAME "holder.sock" /* the control socket, inside DIR */

struct client;
struct rec;

/* An exit reaped before anyone claimed the pid: kept for a late `adopt`. */
struct recent_exit {
	pid_t pid;
	int status;
	long long sec;
	long nsec;
};

struct holder {
	pid_t pid;
	pid_t podinit;           /* host pid of the pod init, 0 when none or dead */
	int readyfd;             /* fd 3 when it is a pipe/socket, else -1 */
	int sigfd;
	int lfd;                 /* the listening control socket (socket mode) */
	int journal;
	int dirfd;
	int podinit_pipe;        /* write end; pod init polls the read end for our death */
	int handoff;             /* write end; the process that started us waits on it (pod.c move_into) */
	/* Paths on the heap, each its own length: PATH_MAX arrays here were four written pages per pod. */
	char *dir;               /* realpath of --dir */
	char *sock_path;         /* DIR/holder.sock, for messages (NULL in serve mode) */
	char sock_addr[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* what bind/connect use: see server_listen */
	char *pid_path;          /* DIR/holder.pid (NULL in serve mode) */
	char *shm;               /* the pod's shm tmpfs this holder mounted (NULL for none): unmounted at exit */
	bool sock_created;
	bool serve;              /* --serve-port: one byte-stream port instead of holder.sock */
	bool init;               /* serve mode as pid 1 (a guest VM's init): never exits, powers off */

	/* Connected clients (server.c); in serve mode the port is one of them. */
	struct client *clients[MAX_CLIENTS];
	int nclients;
	uint64_t client_seq;
	struct client *port;

	/* Processes made elsewhere that joined the pod (members.c), each with its pidfd; pid 0: free. */
	pid_t members[MAX_MEMBERS];
	int member_fds[MAX_MEMBERS];

	/* Processes launched or adopted (records.c), and unclaimed exits (reaper.c). */
	struct rec *recs;
	struct recent_exit recent[RECENT_MAX];
	unsigned recent_next;

	/* The outgoing message being built (one at a time). */
	struct frame tx;
};

#define HOLDER_INIT                                                                                            \
	{ .readyfd = -1, .sigfd = -1, .lfd = -1, .journal = -1, .dirfd = -1, .podinit_pipe = -1, .handoff = -1 }

#endif
