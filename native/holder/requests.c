#include "requests.h"

#include "base64.h"
#include "fifo_start.h"
#include "members.h"
#include "guest_setup.h"
#include "holder.h"
#include "journal.h"
#include "log.h"
#include "mounts.h"
#include "reaper.h"
#include "records.h"
#include "restored.h"
#include "server.h"
#include "spawn.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

enum { MAX_FIELDS = 1 << 16 }; /* strings in one request */

static void do_closestdin(struct holder *h, struct client *c, char **f, int n)
{
	if (n != 2)
		FAIL(h, c, f[1], EINVAL, "closestdin: expected ID");
	struct rec *r = rec_by_id(h, f[1]);
	if (r == NULL)
		FAIL(h, c, f[1], ENOENT, "closestdin: no process %.64s", f[1]);
	if (r->sin.active) {
		r->sin.closing = true;
		instream_run(&r->sin);
	}
	close_fd(&r->con_stdin);
	pump_finish_input(h, &r->in);
	reply_ok(h, c, f[1]);
}

static void do_write(struct holder *h, struct client *c, char **f, int n)
{
	static unsigned char data[HOLDER_MAX_REQUEST_LENGTH / 4 * 3]; /* scratch, off the stack */
	if (n != 4)
		FAIL(h, c, f[1], EINVAL, "write: expected ID DATA");
	struct rec *r = rec_by_id(h, f[2]);
	if (r == NULL)
		FAIL(h, c, f[1], ENOENT, "write: no process %.64s", f[2]);
	struct instream *s = &r->sin;
	if (!s->active || s->closing)
		FAIL(h, c, f[1], EPIPE, "write: %.64s has no open streamed stdin", f[2]);
	size_t len;
	if (!b64_decode(f[3], strlen(f[3]), data, &len))
		FAIL(h, c, f[1], EINVAL, "write: DATA is not base64");
	instream_run(s); /* make room first if the process reads */
	if (!s->active)
		FAIL(h, c, f[1], EPIPE, "write: the stdin of %.64s has no reader", f[2]);
	if (s->q.len - s->q.off + len > HOLDER_STDIN_QUEUE_LENGTH)
		FAIL(h, c, f[1], EAGAIN, "write: stdin queue of %.64s is full", f[2]);
	if (!buf_put(&s->q, data, len, HOLDER_STDIN_QUEUE_LENGTH))
		FAIL(h, c, f[1], ENOMEM, "write: out of memory");
	instream_run(s);
	reply_ok(h, c, f[1]);
}

static void do_resize(struct holder *h, struct client *c, char **f, int n)
{
	long long cols, rows;
	if (n != 4 || !parse_num(f[2], 0, 65535, &cols) || !parse_num(f[3], 0, 65535, &rows))
		FAIL(h, c, f[1], EINVAL, "resize: expected ID COLS ROWS");
	struct rec *r = rec_by_id(h, f[1]);
	if (r == NULL)
		FAIL(h, c, f[1], ENOENT, "resize: no process %.64s", f[1]);
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
	if (r->master >= 0) {
		if (ioctl(r->master, TIOCSWINSZ, &ws) < 0)
			FAIL(h, c, f[1], errno, "resize: %s", strerror(errno));
	} else if (r->con_listen >= 0 || r->con_conn >= 0) {
		r->ws = ws; /* applied when the terminal arrives */
		r->ws_pending = true;
	} else {
		FAIL(h, c, f[1], ENOTTY, "resize: %.64s has no terminal", f[1]);
	}
	reply_ok(h, c, f[1]);
}

static void do_adopt(struct holder *h, struct client *c, char **f, int n)
{
	long long v;
	if (n != 3 || !parse_num(f[2], 1, INT_MAX, &v))
		FAIL(h, c, f[1], EINVAL, "adopt: expected ID PID");
	if (!valid_id(f[1]))
		FAIL(h, c, f[1], EINVAL, "adopt: invalid ID");
	pid_t pid = (pid_t)v;
	struct rec *r = rec_by_id(h, f[1]);
	struct rec *owner = rec_by_pid(h, pid);
	if (owner != NULL) {
		if (owner == r) {
			reply_ok(h, c, f[1]);
			return;
		}
		FAIL(h, c, f[1], EEXIST, "adopt: pid %d is %.64s", (int)pid, owner->id);
	}
	if (r != NULL && r->apid_live)
		FAIL(h, c, f[1], EEXIST, "adopt: %.64s already has pid %d", f[1], (int)r->apid);
	/* Already reaped as unknown (it exited before the adopt): journal it again under ID. */
	struct recent_exit e;
	if (recent_take(h, pid, &e)) {
		journal_append(h, pid, e.status, e.sec, e.nsec, f[1]);
		reply_ok(h, c, f[1]);
		send_exit_event(h, pid, e.status, e.sec, e.nsec, f[1]);
		return;
	}
	if (!is_descendant(h, pid))
		FAIL(h, c, f[1], ESRCH, "adopt: pid %d is not a descendant of the holder", (int)pid);
	if (r == NULL && (r = rec_new(h, f[1])) == NULL)
		FAIL(h, c, f[1], ENOMEM, "adopt: out of memory");
	r->apid = pid;
	r->apid_live = true;
	reply_ok(h, c, f[1]);
}

static void do_kill(struct holder *h, struct client *c, char **f, int n)
{
	long long pid, sig;
	if (n != 4 || !parse_num(f[2], 1, INT_MAX, &pid) || !parse_num(f[3], 0, 64, &sig))
		FAIL(h, c, f[1], EINVAL, "kill: expected PID SIG");
	if (!is_known(h, (pid_t)pid))
		FAIL(h, c, f[1], ESRCH, "kill: pid %lld is not a process of this pod", pid);
	if (kill((pid_t)pid, (int)sig) < 0)
		FAIL(h, c, f[1], errno, "kill %lld: %s", pid, strerror(errno));
	reply_ok(h, c, f[1]);
}

static void do_exits(struct holder *h, struct client *c, char **f, int n)
{
	long long from = 0;
	bool chunked = n == 3;
	if (n > 3 || (chunked && !parse_num(f[2], 0, LLONG_MAX, &from)))
		FAIL(h, c, f[1], EINVAL, "exits: expected [OFFSET]");
	char *data;
	size_t got;
	long long size;
	int err = journal_read(h, from, chunked, &data, &got, &size);
	if (err == EFBIG)
		FAIL(h, c, f[1], EFBIG, "exits: journal is %lld bytes; read it by OFFSET", size);
	if (err == ENOMEM)
		FAIL(h, c, f[1], ENOMEM, "exits: out of memory");
	if (err != 0)
		FAIL(h, c, f[1], err, "exits: %s", strerror(err));
	frame_begin(&h->tx);
	frame_str(&h->tx, HOLDER_REPLY_OK);
	frame_str(&h->tx, f[1]);
	frame_mem(&h->tx, data, got);
	if (chunked)
		frame_fmt(&h->tx, "%lld", from + (long long)got);
	free(data);
	if (frame_end(&h->tx))
		client_send(c, &h->tx);
	buf_free(&h->tx.b); /* a journal-sized buffer is not kept */
}

static void do_ping(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	frame_begin(&h->tx);
	frame_str(&h->tx, HOLDER_REPLY_OK);
	frame_str(&h->tx, f[1]);
	frame_fmt(&h->tx, "%d", (int)h->pid);
	frame_fmt(&h->tx, "%d", (int)h->podinit);
	if (frame_end(&h->tx))
		client_send(c, &h->tx);
}

static void do_shutdown(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	logmsg("shutdown requested");
	kill_everything(h);
	reply_ok(h, c, f[1]);
	holder_exit(h);
}

/* A FIFO for the daemon (a wasm container's start gate): one system call here, a process there. */
static void do_mkfifo(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	if (f[2][0] != '/')
		FAIL(h, c, f[1], EINVAL, "mkfifo: %.64s is not an absolute path", f[2]);
	if (mkfifo(f[2], 0600) < 0)
		FAIL(h, c, f[1], errno, "mkfifo %.256s: %s", f[2], strerror(errno));
	reply_ok(h, c, f[1]);
}

typedef void verb_fn(struct holder *h, struct client *c, char **f, int n);

static const struct {
	const char *name;
	verb_fn *fn;
	int fields; /* exact string count the verb takes, 0: the handler checks */
} verbs[] = {
	{ HOLDER_VERB_SPAWN, request_spawn, 0 },     { HOLDER_VERB_WRITE, do_write, 0 },
	{ HOLDER_VERB_CLOSE_STDIN, do_closestdin, 0 }, { HOLDER_VERB_RESIZE, do_resize, 0 },
	{ HOLDER_VERB_ADOPT, do_adopt, 0 },          { HOLDER_VERB_KILL, do_kill, 0 },
	{ HOLDER_VERB_EXITS, do_exits, 0 },          { HOLDER_VERB_PING, do_ping, 2 },
	{ HOLDER_VERB_SHUTDOWN, do_shutdown, 2 },    { HOLDER_VERB_RESTORED, request_restored, 0 },
	{ HOLDER_VERB_MKFIFO, do_mkfifo, 3 },        { HOLDER_VERB_MOUNT, request_mount, 8 },
	{ HOLDER_VERB_UMOUNT, request_umount, 3 },     { HOLDER_VERB_ACCESS, request_access, 3 },
	{ HOLDER_VERB_HOSTNAME, request_hostname, 3 }, { HOLDER_VERB_LINK_UP, request_linkup, 4 },
	{ HOLDER_VERB_ADDR_ADD, request_addradd, 4 },  { HOLDER_VERB_ROUTE_ADD, request_routeadd, 7 },
	{ HOLDER_VERB_SYSCTL, request_sysctl, 4 },    { HOLDER_VERB_FIFO_START, request_fifostart, 3 },
	{ HOLDER_VERB_MEMBER, request_member, 3 },
};

void handle_request(struct holder *h, struct client *c, char *msg, size_t len)
{
	if (len == 0 || msg[len - 1] != '\0')
		FAIL(h, c, "", EINVAL, "malformed message: payload must end with NUL");
	size_t count = 0;
	for (size_t i = 0; i < len; i++)
		count += msg[i] == '\0';
	if (count > MAX_FIELDS)
		FAIL(h, c, "", E2BIG, "malformed message: more than %d strings", MAX_FIELDS);
	char **f = malloc(count * sizeof(char *));
	if (f == NULL)
		FAIL(h, c, "", ENOMEM, "out of memory");
	int n = 0;
	for (size_t i = 0, start = 0; i < len; i++)
		if (msg[i] == '\0') {
			f[n++] = msg + start;
			start = i + 1;
		}
	if (n < 2) {
		reply_err(h, c, "", EINVAL, "malformed message: missing request id");
		free(f);
		return;
	}
	size_t v = 0;
	while (v < sizeof verbs / sizeof verbs[0] && strcmp(f[0], verbs[v].name) != 0)
		v++;
	if (v < sizeof verbs / sizeof verbs[0])
		c->spoke = true; /* a known verb: kuasard, not a stray or garbage client */
	if (v < sizeof verbs / sizeof verbs[0] && (verbs[v].fields == 0 || verbs[v].fields == n))
		verbs[v].fn(h, c, f, n);
	else
		reply_err(h, c, f[1], ENOSYS, "unknown request %.64s with %d fields", f[0], n);
	free(f);
}
