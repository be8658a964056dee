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
 * Control protocol on DIR/holder.sock (unix stream, 0600) or the port: every message is
 *
 *   +----------------+------------------------------------------+
 *   | length (BE32)  | payload: NUL-terminated strings (length) |
 *   +----------------+------------------------------------------+
 *
 * The first string is the verb, the second the request id; replies echo the
 * id and come in request order (every request is answered before the next is
 * read). See protocol.h for the verbs. Single-threaded, one poll(2) loop.
 */
#define _GNU_SOURCE
#include "protocol.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* ---- limits ------------------------------------------------------------ */

enum {
	MAX_CLIENTS = 32,           /* the oldest is dropped to admit one more */
	PUMP_BUF = 32 * 1024,       /* per stdin/terminal direction */
	MAX_FIELDS = 1 << 16,       /* strings in one request */
	MAX_ID_LEN = 1024,
	RECENT_MAX = 64,            /* unknown exits remembered for a late adopt */
	CONSOLE_DRAIN_MS = 1000,    /* max delay of an exit event while its terminal output drains */
	SHUTDOWN_WAIT_MS = 10000,   /* max wait for killed children on shutdown */
	PUMP_ROUNDS = 16,           /* reads per pump per wake-up (fairness) */
};
#define CLIENT_OUT_MAX ((size_t)HOLDER_MAX_REPLY + (1u << 20))
#define SOCK_NAME "holder.sock" /* the control socket, inside DIR */

/* ---- small utilities --------------------------------------------------- */

static struct {
	pid_t pid;
	pid_t podinit;           /* host pid of the pod init, 0 when none or dead */
	int errfd;               /* where startup errors go (stderr, later a saved copy) */
	int readyfd;             /* fd 3 when it is a pipe/socket, else -1 */
	int sigfd;
	int lfd;
	int journal;
	int dirfd;
	int podinit_pipe;        /* write end; pod init polls the read end for our death */
	char dir[PATH_MAX];
	char sock_path[PATH_MAX + 16];   /* DIR/holder.sock, for messages */
	char sock_addr[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* what bind/connect use: see sock_addr_init */
	char pid_path[PATH_MAX + 16];
	bool sock_created;
	bool serve;              /* --serve-port: one byte-stream port instead of holder.sock */
	bool init;               /* serve mode as pid 1 (a guest VM's init): never exits, powers off */
} g = { .errfd = 2, .readyfd = -1, .sigfd = -1, .lfd = -1, .journal = -1, .dirfd = -1, .podinit_pipe = -1 };

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ kuasar-holder[%d]: ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec / 1000000, (int)g.pid);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (write(g.errfd, line, (size_t)n) < 0) {
		/* nowhere left to report */
	}
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Strict decimal: optional '-', digits, no overflow, within [min, max]. */
static bool parse_num(const char *s, long long min, long long max, long long *out)
{
	const char *p = s;
	bool neg = false;
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p == '\0' || strlen(p) > 18)
		return false;
	long long v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (*p - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* ---- base64 (standard alphabet, padded) -------------------------------- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Writes 4 * ceil(n / 3) characters (no NUL) to out; returns that count. */
static size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	return o;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict: length a multiple of 4, '=' only as the final padding. out holds 3 * n / 4 bytes. */
static bool b64_decode(const char *in, size_t n, unsigned char *out, size_t *outn)
{
	if (n % 4 != 0)
		return false;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		bool last = i + 4 == n;
		int pad = last ? (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=') : 0;
		uint32_t v = 0;
		for (int k = 0; k < 4 - pad; k++) {
			int d = b64_value((unsigned char)in[i + k]);
			if (d < 0)
				return false;
			v |= (uint32_t)d << (18 - 6 * k);
		}
		out[o++] = (unsigned char)(v >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(v >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)v;
	}
	*outn = o;
	return true;
}

/* ---- byte buffers ------------------------------------------------------ */

struct buf {
	char *p;
	size_t off, len, cap; /* live bytes are p[off, len) */
};

static bool buf_put(struct buf *b, const void *d, size_t n, size_t max)
{
	if (b->len - b->off + n > max)
		return false;
	if (b->len + n > b->cap && b->off > 0) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			return false;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return true;
}

static void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len) {
		b->off = b->len = 0;
		if (b->cap > 64 * 1024) { /* give big replies back */
			free(b->p);
			b->p = NULL;
			b->cap = 0;
		}
	}
}

static void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ---- outgoing message builder ----------------------------------------- */

static struct buf tx;
static bool tx_ok;

static void tx_begin(void)
{
	tx.off = tx.len = 0; /* keeps the capacity: output events come in a row */
	tx_ok = buf_put(&tx, "\0\0\0\0", 4, SIZE_MAX);
}

static void tx_mem(const char *s, size_t n)
{
	if (tx_ok)
		tx_ok = buf_put(&tx, s, n, HOLDER_MAX_REPLY + 4) && buf_put(&tx, "", 1, HOLDER_MAX_REPLY + 4);
}

static void tx_str(const char *s) { tx_mem(s, strlen(s)); }

static void tx_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tx_fmt(const char *fmt, ...)
{
	char s[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s, sizeof s, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n >= (int)sizeof s)
		n = (int)sizeof s - 1;
	tx_mem(s, (size_t)n);
}

static bool tx_end(void)
{
	if (!tx_ok) {
		logmsg("dropping an outgoing message: out of memory or too large");
		return false;
	}
	uint32_t n = (uint32_t)(tx.len - 4);
	tx.p[0] = (char)(n >> 24);
	tx.p[1] = (char)(n >> 16);
	tx.p[2] = (char)(n >> 8);
	tx.p[3] = (char)n;
	return true;
}

#define FAIL(...)                   \
	do {                        \
		reply_err(__VA_ARGS__); \
		return;                 \
	} while (0)

/* ---- clients ----------------------------------------------------------- */

struct client {
	int fd;
	bool dead;
	bool port;      /* the --serve-port byte stream: read/write, never freed */
	bool detached;  /* port only: the host is not connected */
	bool spoke;     /* sent a request with a known verb: kuasard, not a stray or garbage client */
	uint64_t seq;
	unsigned char hdr[4];
	unsigned hdr_got;
	char *msg;
	uint32_t msg_len, msg_got;
	struct buf out;
};

static struct client *clients[MAX_CLIENTS];
static int nclients;
static uint64_t client_seq;

/*
 * The host went away from the port: whatever belonged to that connection (a
 * partial request, unsent replies and events) is dropped; the journal keeps the
 * exits for the next one.
 */
static void port_detach(struct client *c)
{
	if (c->detached)
		return;
	logmsg("host disconnected from the port");
	c->detached = true;
	free(c->msg);
	c->msg = NULL;
	c->hdr_got = 0;
	c->msg_len = c->msg_got = 0;
	buf_free(&c->out);
}

/* A broken connection: a socket client is dropped, the port waits for the host. */
static void client_broken(struct client *c)
{
	if (c->port)
		port_detach(c);
	else
		c->dead = true;
}

static bool client_gone(const struct client *c)
{
	return c->dead || c->detached;
}

static void client_flush(struct client *c)
{
	while (!client_gone(c) && c->out.len > c->out.off) {
		const char *p = c->out.p + c->out.off;
		size_t len = c->out.len - c->out.off;
		ssize_t n = c->port ? write(c->fd, p, len) : send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_broken(c);
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
}

/* Queues the message in `tx` for one client. */
static void client_send(struct client *c)
{
	if (client_gone(c))
		return;
	if (!buf_put(&c->out, tx.p, tx.len, CLIENT_OUT_MAX)) {
		if (c->port) {
			/* Dropping the port's queue could cut a frame in half: drop this message only. */
			logmsg("the host does not read the port; dropping a %zu-byte message", tx.len);
			return;
		}
		logmsg("client %llu does not read its replies; dropping it", (unsigned long long)c->seq);
		c->dead = true;
		return;
	}
	client_flush(c);
}

static struct client *client_by_seq(uint64_t seq)
{
	for (int i = 0; i < nclients; i++)
		if (clients[i]->seq == seq)
			return clients[i];
	return NULL;
}

static void broadcast(void)
{
	for (int i = 0; i < nclients; i++)
		client_send(clients[i]);
}

static void client_free(struct client *c)
{
	close(c->fd);
	free(c->msg);
	buf_free(&c->out);
	free(c);
}

static void reply_err(struct client *c, const char *rid, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reply_err(struct client *c, const char *rid, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	tx_begin();
	tx_str("err");
	tx_str(rid);
	tx_fmt("%d", err);
	tx_str(msg);
	if (tx_end())
		client_send(c);
}

static void reply_ok(struct client *c, const char *rid)
{
	tx_begin();
	tx_str("ok");
	tx_str(rid);
	if (tx_end())
		client_send(c);
}

/* ---- stdio pumps -------------------------------------------------------- */

struct rec;

struct pump {
	bool active;
	bool eof;         /* nothing more will be read from src */
	bool own_src, own_dst;
	bool discard_on_error; /* keep draining src when dst fails (terminal output) */
	int src, dst;     /* dst < 0: discard */
	int stream;       /* 1 or 2: src goes to the owner as `out` events (no dst); 0: to dst */
	struct rec *rec;  /* owner of a stream pump */
	char *buf;
	size_t off, len;
};

static bool pump_init(struct pump *p, int src, bool own_src, int dst, bool own_dst)
{
	memset(p, 0, sizeof *p);
	p->buf = malloc(PUMP_BUF > HOLDER_STREAM_CHUNK ? PUMP_BUF : HOLDER_STREAM_CHUNK);
	if (p->buf == NULL)
		return false;
	p->active = true;
	p->src = src;
	p->dst = dst;
	p->own_src = own_src;
	p->own_dst = own_dst;
	return true;
}

static void pump_close(struct pump *p)
{
	if (!p->active)
		return;
	if (p->own_src)
		close_fd(&p->src);
	if (p->own_dst)
		close_fd(&p->dst);
	free(p->buf);
	memset(p, 0, sizeof *p);
	p->src = p->dst = -1;
}

static void stream_run(struct pump *p);

/* Moves data until src or dst would block; closes the pump when src is done and drained. */
static void pump_run(struct pump *p)
{
	if (p->stream) {
		stream_run(p);
		return;
	}
	for (int round = 0; p->active && round < PUMP_ROUNDS; round++) {
		while (p->len > 0) {
			if (p->dst < 0) {
				p->off = p->len = 0;
				break;
			}
			ssize_t n = write(p->dst, p->buf + p->off, p->len);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					return;
				if (p->discard_on_error) {
					if (p->own_dst)
						close(p->dst);
					p->dst = -1;
					continue;
				}
				pump_close(p);
				return;
			}
			p->off += (size_t)n;
			p->len -= (size_t)n;
		}
		p->off = 0;
		if (p->eof || p->src < 0) {
			pump_close(p);
			return;
		}
		ssize_t n = read(p->src, p->buf, PUMP_BUF);
		if (n > 0) {
			p->len = (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			return;
		} else {
			p->eof = true; /* EOF, or EIO from a terminal master whose slave is closed */
		}
	}
}

/* A streamed stdin: `write` data queued in memory, written to a pipe or a terminal master. */
struct instream {
	bool active;
	bool closing;     /* closestdin: close once the queue is written */
	bool own;         /* fd is our pipe end (a terminal master is not ours to close) */
	int fd;           /* -1 until the terminal arrives */
	struct buf q;
};

static void instream_close(struct instream *s)
{
	if (s->own)
		close_fd(&s->fd);
	buf_free(&s->q);
	memset(s, 0, sizeof *s);
	s->fd = -1;
}

static void instream_run(struct instream *s)
{
	while (s->active && s->fd >= 0 && s->q.len > s->q.off) {
		ssize_t n = write(s->fd, s->q.p + s->q.off, s->q.len - s->q.off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				instream_close(s); /* no reader left: what is queued can never be delivered */
			return;
		}
		buf_consume(&s->q, (size_t)n);
	}
	if (s->active && s->closing && s->q.len == s->q.off && (s->fd >= 0 || !s->own))
		instream_close(s);
}

/* ---- process records ---------------------------------------------------- */

struct pending_exit {
	pid_t pid;
	int status;
	long long sec;
	long nsec;
	long long deadline;
};

/* One spawn key (ID) and the pids reported under it: the spawned one and an adopted one. */
struct rec {
	struct rec *next;
	char *id;
	bool gone;          /* replaced by a new spawn under the same ID: freed at the next sweep */
	pid_t pid, apid;
	bool pid_live, apid_live;
	struct pump in;     /* stdin FIFO -> pipe (or terminal master) */
	struct pump out;    /* terminal master -> stdout, or stdout pipe/terminal -> `out ID 1` */
	struct pump errout; /* stderr pipe -> `out ID 2` */
	struct instream sin; /* streamed stdin */
	uint64_t owner;     /* client seq the spawn came from: where streamed output goes */
	bool term_stream;   /* the terminal's output is streamed (STDOUT ":stream") */
	bool console;
	int con_listen, con_conn, master;
	int con_stdin, con_stdout; /* held until the master arrives */
	char *con_path;
	bool ws_pending;
	struct winsize ws;
	struct pending_exit pend[2];
	int npend;
};

static struct rec *recs;

static struct {
	pid_t pid;
	int status;
	long long sec;
	long nsec;
} recent[RECENT_MAX];
static unsigned recent_next;

static struct rec *rec_by_id(const char *id)
{
	for (struct rec *r = recs; r; r = r->next)
		if (!r->gone && strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

static struct rec *rec_by_pid(pid_t pid)
{
	for (struct rec *r = recs; r; r = r->next)
		if ((r->pid_live && r->pid == pid) || (r->apid_live && r->apid == pid))
			return r;
	return NULL;
}

static struct rec *rec_new(const char *id)
{
	struct rec *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->id = strdup(id);
	if (r->id == NULL) {
		free(r);
		return NULL;
	}
	r->in.src = r->in.dst = r->out.src = r->out.dst = r->errout.src = r->errout.dst = r->sin.fd = -1;
	r->con_listen = r->con_conn = r->master = r->con_stdin = r->con_stdout = -1;
	r->next = recs;
	recs = r;
	return r;
}

static void console_listener_close(struct rec *r)
{
	if (r->con_listen >= 0) {
		close_fd(&r->con_listen);
		if (r->con_path)
			unlink(r->con_path);
	}
}

static void rec_release(struct rec *r)
{
	pump_close(&r->in);
	pump_close(&r->out);
	pump_close(&r->errout);
	instream_close(&r->sin);
	console_listener_close(r);
	close_fd(&r->con_conn);
	close_fd(&r->master);
	close_fd(&r->con_stdin);
	close_fd(&r->con_stdout);
}

static void rec_free(struct rec *r)
{
	rec_release(r);
	free(r->con_path);
	free(r->id);
	free(r);
}

/* ---- streamed output ---------------------------------------------------- */

enum stream_mode { STREAM_SEND, STREAM_HOLD, STREAM_DISCARD };

/* Where streamed output of r goes now: its owner, nowhere yet (back-pressure), or away. */
static enum stream_mode stream_target(const struct rec *r, struct client **out)
{
	struct client *c = client_by_seq(r->owner);
	*out = NULL;
	if (c == NULL || c->dead)
		return g.serve ? STREAM_HOLD : STREAM_DISCARD; /* the port comes back; a socket does not */
	if (c->detached || c->out.len - c->out.off > HOLDER_STREAM_TX_HIGH)
		return STREAM_HOLD;
	*out = c;
	return STREAM_SEND;
}

static void send_stream_event(struct client *c, const char *id, int fd, const char *data, size_t n)
{
	static char enc[(HOLDER_STREAM_CHUNK + 2) / 3 * 4];
	tx_begin();
	tx_str(data ? "out" : "eof");
	tx_str("0");
	tx_str(id);
	tx_fmt("%d", fd);
	if (data)
		tx_mem(enc, b64_encode((const unsigned char *)data, n, enc));
	if (tx_end())
		client_send(c);
}

static void stream_run(struct pump *p)
{
	for (int round = 0; p->active && round < PUMP_ROUNDS; round++) {
		struct client *c;
		if (stream_target(p->rec, &c) == STREAM_HOLD)
			return; /* unread output blocks the writer: nothing is lost */
		ssize_t n = read(p->src, p->buf, HOLDER_STREAM_CHUNK);
		if (n > 0) {
			if (c)
				send_stream_event(c, p->rec->id, p->stream, p->buf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EOF, or EIO from a terminal master whose slave is closed */
		if (c)
			send_stream_event(c, p->rec->id, p->stream, NULL, 0);
		pump_close(p);
		return;
	}
}

static bool stream_init(struct rec *r, struct pump *p, int src, bool own_src, int fd)
{
	if (!pump_init(p, src, own_src, -1, false))
		return false;
	p->stream = fd;
	p->rec = r;
	return true;
}

/* ---- exit journal and events ------------------------------------------- */

static int exit_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 255;
}

static void journal_append(pid_t pid, int status, long long sec, long nsec, const char *id)
{
	char line[MAX_ID_LEN + 96];
	int n = snprintf(line, sizeof line, "%d %d %lld %ld %s\n", (int)pid, status, sec, nsec, id);
	if (n < 0 || n >= (int)sizeof line)
		return;
	if (!write_all(g.journal, line, (size_t)n))
		logmsg("journal write: %s (exit of pid %d status %d lost from the journal)", strerror(errno), (int)pid, status);
	else if (fdatasync(g.journal) < 0)
		logmsg("journal fdatasync: %s", strerror(errno));
}

static void send_exit_event(pid_t pid, int status, long long sec, long nsec, const char *id)
{
	tx_begin();
	tx_str("exit");
	tx_str("0");
	tx_fmt("%d", (int)pid);
	tx_fmt("%d", status);
	tx_fmt("%lld", sec);
	tx_fmt("%ld", nsec);
	tx_str(id);
	if (tx_end())
		broadcast();
}

static void flush_pending(struct rec *r)
{
	for (int i = 0; i < r->npend; i++)
		send_exit_event(r->pend[i].pid, r->pend[i].status, r->pend[i].sec, r->pend[i].nsec, r->id);
	r->npend = 0;
}

static void console_try_accept(struct rec *r);
static void console_try_recv(struct rec *r);

static void handle_exit(pid_t pid, int wstatus)
{
	int status = exit_status(wstatus);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct rec *r = rec_by_pid(pid);
	const char *id = "-";
	if (r)
		id = r->id;
	else if (pid == g.podinit && pid > 0)
		id = HOLDER_PODINIT_ID;

	journal_append(pid, status, (long long)ts.tv_sec, ts.tv_nsec, id);

	if (r == NULL) {
		if (pid == g.podinit) {
			logmsg("pod init %d exited with status %d", (int)pid, status);
			g.podinit = 0;
		} else {
			recent[recent_next % RECENT_MAX].pid = pid;
			recent[recent_next % RECENT_MAX].status = status;
			recent[recent_next % RECENT_MAX].sec = (long long)ts.tv_sec;
			recent[recent_next % RECENT_MAX].nsec = ts.tv_nsec;
			recent_next++;
		}
		send_exit_event(pid, status, (long long)ts.tv_sec, ts.tv_nsec, id);
		return;
	}

	if (r->pid_live && r->pid == pid)
		r->pid_live = false;
	else
		r->apid_live = false;

	/* runc create connects to the console socket before it exits: take the master now. */
	if (r->con_listen >= 0)
		console_try_accept(r);
	if (r->con_conn >= 0)
		console_try_recv(r);
	if (r->con_listen >= 0 && !r->pid_live) {
		logmsg("%s: process exited without sending a terminal", r->id);
		console_listener_close(r);
	}

	/* Streamed output written before the exit goes out before the exit event (with its eof
	 * when the pipe is closed by now, i.e. nothing else holds it). */
	if (r->out.active && r->out.stream)
		pump_run(&r->out);
	if (r->errout.active)
		pump_run(&r->errout);

	/* Terminal output written before the exit goes out before the exit event. */
	if (r->master >= 0 && r->out.active) {
		pump_run(&r->out);
		if (r->out.active && r->out.len > 0 && r->npend < 2) {
			r->pend[r->npend++] = (struct pending_exit){ pid, status, (long long)ts.tv_sec, ts.tv_nsec,
								     now_ms() + CONSOLE_DRAIN_MS };
			return;
		}
	}
	send_exit_event(pid, status, (long long)ts.tv_sec, ts.tv_nsec, id);
}

static void reap_all(void)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0)
			return;
		handle_exit(p, st);
	}
}

/* ---- /proc helpers ------------------------------------------------------ */

static pid_t proc_ppid(pid_t pid)
{
	char path[64], b[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return -1;
	b[n] = '\0';
	char *p = strrchr(b, ')');
	char state;
	int ppid;
	if (p == NULL || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
		return -1;
	return (pid_t)ppid;
}

static bool is_descendant(pid_t pid)
{
	pid_t cur = pid;
	for (int depth = 0; depth < 64; depth++) {
		pid_t pp = proc_ppid(cur);
		if (pp == g.pid)
			return true;
		if (pp <= 1)
			return false;
		cur = pp;
	}
	return false;
}

static bool is_known(pid_t pid)
{
	return rec_by_pid(pid) != NULL || (g.podinit > 0 && pid == g.podinit) || is_descendant(pid);
}

static void kill_children_by_proc(void)
{
	DIR *d = opendir("/proc");
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		long long v;
		if (!parse_num(e->d_name, 2, INT_MAX, &v))
			continue;
		if (proc_ppid((pid_t)v) == g.pid)
			kill((pid_t)v, SIGKILL);
	}
	closedir(d);
}

/* SIGKILLs every known process and every child, reaping (and journaling) them, until none is left. */
static void kill_everything(void)
{
	long long deadline = now_ms() + SHUTDOWN_WAIT_MS;
	for (;;) {
		for (struct rec *r = recs; r; r = r->next) {
			if (r->pid_live)
				kill(r->pid, SIGKILL);
			if (r->apid_live)
				kill(r->apid, SIGKILL);
		}
		if (g.podinit > 0)
			kill(g.podinit, SIGKILL);
		kill_children_by_proc();
		reap_all();
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD)
			break;
		if (now_ms() > deadline) {
			logmsg("children still alive after %d ms; exiting anyway", SHUTDOWN_WAIT_MS);
			break;
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	for (struct rec *r = recs; r; r = r->next) {
		if (r->out.active)
			pump_run(&r->out);
		if (r->errout.active)
			pump_run(&r->errout);
		flush_pending(r);
	}
}

/* pid 1 of a guest VM may not exit (the kernel would panic): it powers the VM off. */
static void power_off(void) __attribute__((noreturn));
static void power_off(void)
{
	logmsg("powering off");
	sync();
	reboot(RB_POWER_OFF);
	logmsg("reboot(RB_POWER_OFF): %s", strerror(errno));
	for (;;)
		pause();
}

static void flush_clients_and_exit(void)
{
	long long deadline = now_ms() + 1000;
	for (;;) {
		struct pollfd pfd[MAX_CLIENTS];
		int n = 0;
		for (int i = 0; i < nclients; i++) {
			struct client *c = clients[i];
			if (!client_gone(c) && c->out.len > c->out.off)
				pfd[n++] = (struct pollfd){ .fd = c->fd, .events = POLLOUT };
		}
		long long left = deadline - now_ms();
		if (n == 0 || left <= 0)
			break;
		if (poll(pfd, (nfds_t)n, (int)left) <= 0)
			break;
		for (int i = 0; i < nclients; i++)
			client_flush(clients[i]);
	}
	if (g.sock_created)
		unlinkat(g.dirfd, SOCK_NAME, 0);
	if (g.pid_path[0] != '\0')
		unlink(g.pid_path);
	if (g.init)
		power_off();
	logmsg("exiting");
	_exit(0);
}

/* ---- terminals ---------------------------------------------------------- */

static void console_start(struct rec *r, int master)
{
	int fl = fcntl(master, F_GETFL);
	if (fl >= 0)
		fcntl(master, F_SETFL, fl | O_NONBLOCK);
	r->master = master;
	if (r->ws_pending) {
		ioctl(master, TIOCSWINSZ, &r->ws);
		r->ws_pending = false;
	}
	if (r->sin.active) {
		r->sin.fd = master;
		instream_run(&r->sin);
	}
	if (r->term_stream) {
		if (!stream_init(r, &r->out, master, false, 1)) {
			logmsg("%s: out of memory for the terminal pump", r->id);
			return;
		}
	} else {
		if (!pump_init(&r->out, master, false, r->con_stdout, true)) {
			logmsg("%s: out of memory for the terminal pump", r->id);
			close_fd(&r->con_stdout);
			return;
		}
		r->out.discard_on_error = true;
		r->con_stdout = -1;
	}
	if (r->con_stdin >= 0) {
		if (pump_init(&r->in, r->con_stdin, true, master, false))
			r->con_stdin = -1;
		else
			close_fd(&r->con_stdin);
	}
}

static void console_try_recv(struct rec *r)
{
	char data[512];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = { data, sizeof data };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b };
	ssize_t n = recvmsg(r->con_conn, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	int master = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); n >= 0 && c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)(void *)CMSG_DATA(c);
		for (size_t i = 0; i < cnt; i++) {
			if (master < 0)
				master = fds[i];
			else
				close(fds[i]);
		}
	}
	close_fd(&r->con_conn);
	if (master < 0) {
		logmsg("%s: console socket closed without a terminal", r->id);
		return;
	}
	console_start(r, master);
}

static void console_try_accept(struct rec *r)
{
	int c = accept4(r->con_listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return;
	console_listener_close(r);
	r->con_conn = c;
	console_try_recv(r);
}

/* ---- spawn -------------------------------------------------------------- */

struct exec_error {
	int err;
	char msg[256];
};

static void child_fail(int errw, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void child_fail(int errw, int err, const char *fmt, ...)
{
	struct exec_error e = { .err = err };
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(e.msg, sizeof e.msg, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof e.msg - 3) {
		snprintf(e.msg + n, sizeof e.msg - (size_t)n, ": %s", strerror(err));
	}
	if (write(errw, &e, sizeof e) < 0) {
		/* the parent reports a generic failure */
	}
	_exit(127);
}

static int open_output(const char *path)
{
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct spawn_req {
	const char *id, *cwd, *in, *out, *err, *console;
	char **argv, **envp;
};

static bool is_stream(const char *v)
{
	return strcmp(v, HOLDER_STREAM) == 0;
}

/* out_w: write ends of the streamed stdout/stderr pipes, -1 for a path. */
static void child_exec(const struct spawn_req *q, int errw, int stdin_rd, const int out_w[2]) __attribute__((noreturn));
static void child_exec(const struct spawn_req *q, int errw, int stdin_rd, const int out_w[2])
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		child_fail(errw, errno, "setsid");

	int fds[3];
	bool term = q->console != NULL;
	fds[0] = stdin_rd >= 0 ? stdin_rd : open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fds[0] < 0)
		child_fail(errw, errno, "open /dev/null");
	const char *outs[2] = { term ? "" : q->out, term ? "" : q->err };
	for (int i = 0; i < 2; i++) {
		if (!term && out_w[i] >= 0) {
			fds[i + 1] = out_w[i];
		} else if (outs[i][0] == '\0' || is_stream(outs[i])) {
			fds[i + 1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
			if (fds[i + 1] < 0)
				child_fail(errw, errno, "open /dev/null");
		} else {
			fds[i + 1] = open_output(outs[i]);
			if (fds[i + 1] < 0)
				child_fail(errw, errno, "open %s %s", i == 0 ? "stdout" : "stderr", outs[i]);
		}
	}
	/* The holder's 0-2 are always open, so every fd here is > 2: dup2 never clobbers one. */
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			child_fail(errw, errno, "dup2");
	if (q->cwd[0] != '\0' && chdir(q->cwd) < 0)
		child_fail(errw, errno, "chdir %s", q->cwd);
	execve(q->argv[0], q->argv, q->envp);
	child_fail(errw, errno, "exec %s", q->argv[0]);
}

static int console_listen(const char *path, int *out)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path)
		return ENAMETOOLONG;
	strcpy(a.sun_path, path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return EEXIST;
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	mode_t old = umask(077);
	int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
	umask(old);
	if (rc < 0 || listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		return e;
	}
	*out = fd;
	return 0;
}

static bool valid_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MAX_ID_LEN || strcmp(s, "-") == 0 || s[0] == ':')
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

static void do_spawn(struct client *c, char **f, int n)
{
	const char *rid = f[1];
	long long argc, envc;
	if (n < 10)
		FAIL(c, rid, EINVAL, "spawn: missing fields");
	if (!parse_num(f[7], 1, n, &argc) || 8 + argc >= n)
		FAIL(c, rid, EINVAL, "spawn: bad ARGC");
	if (!parse_num(f[8 + argc], 0, n, &envc) || 9 + argc + envc != n)
		FAIL(c, rid, EINVAL, "spawn: bad ENVC or field count");
	struct spawn_req q = { .id = f[1], .cwd = f[2], .in = f[3], .out = f[4], .err = f[5] };
	if (!valid_id(q.id))
		FAIL(c, rid, EINVAL, "spawn: invalid ID");
	const char *stdio[3] = { q.in, q.out, q.err };
	for (int i = 0; i < 3; i++)
		if (stdio[i][0] == ':' && !is_stream(stdio[i]))
			FAIL(c, rid, EINVAL, "spawn: unknown stdio %.64s", stdio[i]);
	bool stream_in = is_stream(q.in);
	if (f[8][0] != '/')
		FAIL(c, rid, EINVAL, "spawn: ARG0 must be an absolute path");

	/* FLAGS: comma list. */
	for (char *tok = f[6], *next; tok != NULL; tok = next) {
		next = strchr(tok, ',');
		if (next)
			*next++ = '\0';
		if (*tok == '\0')
			continue;
		if (strncmp(tok, "console=", 8) == 0 && tok[8] == '/')
			q.console = tok + 8;
		else
			FAIL(c, rid, EINVAL, "spawn: unknown flag %.64s", tok);
	}

	struct rec *old = rec_by_id(q.id);
	if (old && (old->pid_live || old->apid_live))
		FAIL(c, rid, EEXIST, "spawn: %s is running", q.id);

	/* argv and envp point into the request buffer; only the pointer arrays are allocated. */
	q.argv = calloc((size_t)argc + 1, sizeof(char *));
	q.envp = calloc((size_t)envc + 1, sizeof(char *));
	int stdin_fifo = -1, pipefd[2] = { -1, -1 }, errp[2] = { -1, -1 }, listen_fd = -1, term_out = -1;
	int outp[2][2] = { { -1, -1 }, { -1, -1 } }; /* streamed stdout, stderr: [read, write] */
	int out_w[2] = { -1, -1 };
	int e = 0;
	if (q.argv == NULL || q.envp == NULL) {
		reply_err(c, rid, ENOMEM, "spawn: out of memory");
		goto out;
	}
	for (long long i = 0; i < argc; i++)
		q.argv[i] = f[8 + i];
	for (long long i = 0; i < envc; i++)
		q.envp[i] = f[9 + argc + i];

	if (stream_in) {
		if (q.console == NULL && pipe2(pipefd, O_CLOEXEC) < 0) {
			e = errno;
			reply_err(c, rid, e, "pipe: %s", strerror(e));
			goto out;
		}
	} else if (q.in[0] != '\0') {
		stdin_fifo = open(q.in, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (stdin_fifo < 0) {
			e = errno;
			reply_err(c, rid, e, "open stdin %s: %s", q.in, strerror(e));
			goto out;
		}
		if (q.console == NULL && pipe2(pipefd, O_CLOEXEC) < 0) {
			e = errno;
			reply_err(c, rid, e, "pipe: %s", strerror(e));
			goto out;
		}
	}
	for (int i = 0; i < 2 && q.console == NULL; i++) {
		if (!is_stream(i == 0 ? q.out : q.err))
			continue;
		if (pipe2(outp[i], O_CLOEXEC) < 0) {
			e = errno;
			reply_err(c, rid, e, "pipe: %s", strerror(e));
			goto out;
		}
		out_w[i] = outp[i][1];
	}
	if (q.console != NULL) {
		if (q.out[0] != '\0' && !is_stream(q.out)) {
			term_out = open(q.out, O_WRONLY | O_NONBLOCK | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
			if (term_out < 0) {
				e = errno;
				reply_err(c, rid, e, "open stdout %s: %s", q.out, strerror(e));
				goto out;
			}
		}
		e = console_listen(q.console, &listen_fd);
		if (e != 0) {
			reply_err(c, rid, e, "console socket %s: %s", q.console, strerror(e));
			goto out;
		}
	}
	if (pipe2(errp, O_CLOEXEC) < 0) {
		e = errno;
		reply_err(c, rid, e, "pipe: %s", strerror(e));
		goto out;
	}

	pid_t pid = fork();
	if (pid < 0) {
		e = errno;
		reply_err(c, rid, e, "fork: %s", strerror(e));
		goto out;
	}
	if (pid == 0)
		child_exec(&q, errp[1], pipefd[0], out_w);

	close_fd(&errp[1]);
	close_fd(&pipefd[0]);
	close_fd(&outp[0][1]);
	close_fd(&outp[1][1]);
	struct exec_error xe;
	ssize_t got;
	do
		got = read(errp[0], &xe, sizeof xe);
	while (got < 0 && errno == EINTR);
	if (got != 0) {
		/* The child failed before exec: it never became the process; reap it here, unjournaled. */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
		}
		if (got != (ssize_t)sizeof xe) {
			xe.err = EIO;
			snprintf(xe.msg, sizeof xe.msg, "spawn: child failed before exec");
		}
		xe.msg[sizeof xe.msg - 1] = '\0';
		reply_err(c, rid, xe.err, "%s", xe.msg);
		goto out;
	}

	if (old)
		old->gone = true;
	struct rec *r = rec_new(q.id);
	if (r == NULL) {
		/* Cannot track it: kill it rather than leave an unaccounted process. */
		kill(pid, SIGKILL);
		reply_err(c, rid, ENOMEM, "spawn: out of memory");
		goto out;
	}
	r->pid = pid;
	r->pid_live = true;
	r->owner = c->seq;
	if (stream_in) {
		r->sin.active = true;
		r->sin.own = q.console == NULL;
		if (r->sin.own) {
			int fl = fcntl(pipefd[1], F_GETFL);
			fcntl(pipefd[1], F_SETFL, fl | O_NONBLOCK);
			r->sin.fd = pipefd[1];
			pipefd[1] = -1;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (outp[i][0] < 0)
			continue;
		int fl = fcntl(outp[i][0], F_GETFL);
		fcntl(outp[i][0], F_SETFL, fl | O_NONBLOCK);
		if (stream_init(r, i == 0 ? &r->out : &r->errout, outp[i][0], true, i + 1))
			outp[i][0] = -1;
		else
			logmsg("%s: out of memory for the output stream", r->id);
	}
	if (q.console != NULL) {
		r->console = true;
		r->term_stream = is_stream(q.out);
		r->con_listen = listen_fd;
		r->con_path = strdup(q.console);
		r->con_stdin = stdin_fifo;
		r->con_stdout = term_out;
		listen_fd = stdin_fifo = term_out = -1;
	} else if (stdin_fifo >= 0) {
		int fl = fcntl(pipefd[1], F_GETFL);
		fcntl(pipefd[1], F_SETFL, fl | O_NONBLOCK);
		if (pump_init(&r->in, stdin_fifo, true, pipefd[1], true))
			stdin_fifo = pipefd[1] = -1;
		else
			logmsg("%s: out of memory for the stdin pump", r->id);
	}
	tx_begin();
	tx_str("ok");
	tx_str(rid);
	tx_fmt("%d", (int)pid);
	if (tx_end())
		client_send(c);

out:
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(q.console);
	}
	close_fd(&stdin_fifo);
	close_fd(&term_out);
	close_fd(&pipefd[0]);
	close_fd(&pipefd[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	for (int i = 0; i < 2; i++) {
		close_fd(&outp[i][0]);
		close_fd(&outp[i][1]);
	}
	free(q.argv);
	free(q.envp);
}

/* ---- other verbs -------------------------------------------------------- */

static void do_closestdin(struct client *c, char **f, int n)
{
	if (n != 2)
		FAIL(c, f[1], EINVAL, "closestdin: expected ID");
	struct rec *r = rec_by_id(f[1]);
	if (r == NULL)
		FAIL(c, f[1], ENOENT, "closestdin: no process %.64s", f[1]);
	if (r->sin.active) {
		r->sin.closing = true;
		instream_run(&r->sin);
	}
	close_fd(&r->con_stdin);
	struct pump *p = &r->in;
	if (p->active && !p->eof) {
		/* Forward what the writer already put in the FIFO, then EOF. */
		if (p->len == 0 && p->src >= 0) {
			ssize_t got = read(p->src, p->buf, PUMP_BUF);
			if (got > 0) {
				p->off = 0;
				p->len = (size_t)got;
			}
		}
		p->eof = true;
		if (p->own_src)
			close_fd(&p->src);
		pump_run(p);
	}
	reply_ok(c, f[1]);
}

static void do_write(struct client *c, char **f, int n)
{
	static unsigned char data[HOLDER_MAX_REQUEST / 4 * 3];
	if (n != 4)
		FAIL(c, f[1], EINVAL, "write: expected ID DATA");
	struct rec *r = rec_by_id(f[2]);
	if (r == NULL)
		FAIL(c, f[1], ENOENT, "write: no process %.64s", f[2]);
	struct instream *s = &r->sin;
	if (!s->active || s->closing)
		FAIL(c, f[1], EPIPE, "write: %.64s has no open streamed stdin", f[2]);
	size_t len;
	if (!b64_decode(f[3], strlen(f[3]), data, &len))
		FAIL(c, f[1], EINVAL, "write: DATA is not base64");
	instream_run(s); /* make room first if the process reads */
	if (!s->active)
		FAIL(c, f[1], EPIPE, "write: the stdin of %.64s has no reader", f[2]);
	if (s->q.len - s->q.off + len > HOLDER_STDIN_MAX)
		FAIL(c, f[1], EAGAIN, "write: stdin queue of %.64s is full", f[2]);
	if (!buf_put(&s->q, data, len, HOLDER_STDIN_MAX))
		FAIL(c, f[1], ENOMEM, "write: out of memory");
	instream_run(s);
	reply_ok(c, f[1]);
}

static void do_resize(struct client *c, char **f, int n)
{
	long long cols, rows;
	if (n != 4 || !parse_num(f[2], 0, 65535, &cols) || !parse_num(f[3], 0, 65535, &rows))
		FAIL(c, f[1], EINVAL, "resize: expected ID COLS ROWS");
	struct rec *r = rec_by_id(f[1]);
	if (r == NULL)
		FAIL(c, f[1], ENOENT, "resize: no process %.64s", f[1]);
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
	if (r->master >= 0) {
		if (ioctl(r->master, TIOCSWINSZ, &ws) < 0)
			FAIL(c, f[1], errno, "resize: %s", strerror(errno));
	} else if (r->con_listen >= 0 || r->con_conn >= 0) {
		r->ws = ws; /* applied when the terminal arrives */
		r->ws_pending = true;
	} else {
		FAIL(c, f[1], ENOTTY, "resize: %.64s has no terminal", f[1]);
	}
	reply_ok(c, f[1]);
}

static void do_adopt(struct client *c, char **f, int n)
{
	long long v;
	if (n != 3 || !parse_num(f[2], 1, INT_MAX, &v))
		FAIL(c, f[1], EINVAL, "adopt: expected ID PID");
	if (!valid_id(f[1]))
		FAIL(c, f[1], EINVAL, "adopt: invalid ID");
	pid_t pid = (pid_t)v;
	struct rec *r = rec_by_id(f[1]);
	struct rec *owner = rec_by_pid(pid);
	if (owner != NULL) {
		if (owner == r)
			{ reply_ok(c, f[1]); return; }
		FAIL(c, f[1], EEXIST, "adopt: pid %d is %.64s", (int)pid, owner->id);
	}
	if (r != NULL && r->apid_live)
		FAIL(c, f[1], EEXIST, "adopt: %.64s already has pid %d", f[1], (int)r->apid);
	/* Already reaped as unknown (it exited before the adopt): journal it again under ID. */
	for (unsigned i = 0; i < RECENT_MAX; i++) {
		unsigned k = (recent_next - 1 - i) % RECENT_MAX;
		if (recent[k].pid != pid)
			continue;
		recent[k].pid = 0;
		journal_append(pid, recent[k].status, recent[k].sec, recent[k].nsec, f[1]);
		reply_ok(c, f[1]);
		send_exit_event(pid, recent[k].status, recent[k].sec, recent[k].nsec, f[1]);
		return;
	}
	if (!is_descendant(pid))
		FAIL(c, f[1], ESRCH, "adopt: pid %d is not a descendant of the holder", (int)pid);
	if (r == NULL && (r = rec_new(f[1])) == NULL)
		FAIL(c, f[1], ENOMEM, "adopt: out of memory");
	r->apid = pid;
	r->apid_live = true;
	reply_ok(c, f[1]);
}

static void do_kill(struct client *c, char **f, int n)
{
	long long pid, sig;
	if (n != 4 || !parse_num(f[2], 1, INT_MAX, &pid) || !parse_num(f[3], 0, 64, &sig))
		FAIL(c, f[1], EINVAL, "kill: expected PID SIG");
	if (!is_known((pid_t)pid))
		FAIL(c, f[1], ESRCH, "kill: pid %lld is not a process of this pod", pid);
	if (kill((pid_t)pid, (int)sig) < 0)
		FAIL(c, f[1], errno, "kill %lld: %s", pid, strerror(errno));
	reply_ok(c, f[1]);
}

static void do_exits(struct client *c, char **f, int n)
{
	long long from = 0;
	bool chunked = n == 3;
	if (n > 3 || (chunked && !parse_num(f[2], 0, LLONG_MAX, &from)))
		FAIL(c, f[1], EINVAL, "exits: expected [OFFSET]");
	struct stat st;
	if (fstat(g.journal, &st) < 0)
		FAIL(c, f[1], errno, "exits: %s", strerror(errno));
	long long size = st.st_size > from ? st.st_size - from : 0;
	if (!chunked && size > HOLDER_MAX_EXITS)
		FAIL(c, f[1], EFBIG, "exits: journal is %lld bytes; read it by OFFSET", size);
	if (chunked && size > HOLDER_EXITS_CHUNK)
		size = HOLDER_EXITS_CHUNK;
	char *data = malloc((size_t)size + 1);
	if (data == NULL)
		FAIL(c, f[1], ENOMEM, "exits: out of memory");
	size_t got = 0;
	while (got < (size_t)size) {
		ssize_t r = pread(g.journal, data + got, (size_t)size - got, from + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	/* Whole lines only (a chunk never splits one; a torn tail is never sent). */
	while (got > 0 && data[got - 1] != '\n')
		got--;
	for (size_t i = 0; i < got; i++)
		if (data[i] == '\0')
			data[i] = ' ';
	tx_begin();
	tx_str("ok");
	tx_str(f[1]);
	tx_mem(data, got);
	if (chunked)
		tx_fmt("%lld", from + (long long)got);
	free(data);
	if (tx_end())
		client_send(c);
	buf_free(&tx);
}

static void do_ping(struct client *c, char **f, int n)
{
	(void)n;
	tx_begin();
	tx_str("ok");
	tx_str(f[1]);
	tx_fmt("%d", (int)g.pid);
	tx_fmt("%d", (int)g.podinit);
	if (tx_end())
		client_send(c);
}

static void do_shutdown(struct client *c, char **f, int n)
{
	(void)n;
	logmsg("shutdown requested");
	kill_everything();
	reply_ok(c, f[1]);
	flush_clients_and_exit();
}

static void handle_request(struct client *c, char *msg, size_t len)
{
	if (len == 0 || msg[len - 1] != '\0')
		FAIL(c, "", EINVAL, "malformed message: payload must end with NUL");
	size_t count = 0;
	for (size_t i = 0; i < len; i++)
		count += msg[i] == '\0';
	if (count > MAX_FIELDS)
		FAIL(c, "", E2BIG, "malformed message: more than %d strings", MAX_FIELDS);
	char **f = malloc(count * sizeof(char *));
	if (f == NULL)
		FAIL(c, "", ENOMEM, "out of memory");
	int n = 0;
	for (size_t i = 0, start = 0; i < len; i++)
		if (msg[i] == '\0') {
			f[n++] = msg + start;
			start = i + 1;
		}
	static const char *const verbs[] = {"spawn", "write", "closestdin", "resize", "adopt", "kill", "exits", "ping", "shutdown"};
	for (size_t i = 0; n >= 2 && i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(f[0], verbs[i]) == 0)
			c->spoke = true;
	if (n < 2) {
		reply_err(c, "", EINVAL, "malformed message: missing request id");
	} else if (strcmp(f[0], "spawn") == 0) {
		do_spawn(c, f, n);
	} else if (strcmp(f[0], "write") == 0) {
		do_write(c, f, n);
	} else if (strcmp(f[0], "closestdin") == 0) {
		do_closestdin(c, f, n);
	} else if (strcmp(f[0], "resize") == 0) {
		do_resize(c, f, n);
	} else if (strcmp(f[0], "adopt") == 0) {
		do_adopt(c, f, n);
	} else if (strcmp(f[0], "kill") == 0) {
		do_kill(c, f, n);
	} else if (strcmp(f[0], "exits") == 0) {
		do_exits(c, f, n);
	} else if (strcmp(f[0], "ping") == 0 && n == 2) {
		do_ping(c, f, n);
	} else if (strcmp(f[0], "shutdown") == 0 && n == 2) {
		do_shutdown(c, f, n);
	} else {
		reply_err(c, f[1], ENOSYS, "unknown request %.64s with %d fields", f[0], n);
	}
	free(f);
}

static void client_feed(struct client *c, const char *d, size_t n)
{
	while (n > 0 && !client_gone(c)) {
		if (c->hdr_got < 4) {
			size_t take = 4 - c->hdr_got < n ? 4 - c->hdr_got : n;
			memcpy(c->hdr + c->hdr_got, d, take);
			c->hdr_got += (unsigned)take;
			d += take;
			n -= take;
			if (c->hdr_got < 4)
				return;
			uint32_t len = (uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 | (uint32_t)c->hdr[2] << 8 | c->hdr[3];
			if (len > HOLDER_MAX_REQUEST) {
				logmsg("client %llu sent a %u-byte message (max %u); dropping it", (unsigned long long)c->seq,
				       len, (unsigned)HOLDER_MAX_REQUEST);
				client_broken(c);
				return;
			}
			c->msg_len = len;
			c->msg_got = 0;
			if (len > 0 && (c->msg = malloc(len)) == NULL) {
				client_broken(c);
				return;
			}
		}
		size_t take = c->msg_len - c->msg_got < n ? c->msg_len - c->msg_got : n;
		if (take > 0) {
			memcpy(c->msg + c->msg_got, d, take);
			c->msg_got += (uint32_t)take;
			d += take;
			n -= take;
		}
		if (c->msg_got == c->msg_len) {
			char *m = c->msg;
			c->msg = NULL;
			c->hdr_got = 0;
			handle_request(c, m, c->msg_len);
			free(m);
		}
	}
}

static void client_read(struct client *c)
{
	static char rx[64 * 1024];
	for (int round = 0; round < 4 && !client_gone(c); round++) {
		ssize_t n = c->port ? read(c->fd, rx, sizeof rx) : recv(c->fd, rx, sizeof rx, MSG_DONTWAIT);
		if (n == 0) {
			client_broken(c); /* a port reads 0 (or EIO for a pty) while the host is away */
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				client_broken(c);
			return;
		}
		client_feed(c, rx, (size_t)n);
	}
}

static void accept_clients(void)
{
	for (;;) {
		int fd = accept4(g.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		if (nclients == MAX_CLIENTS) {
			/* Drop the oldest client that never made a proper request, so strays and
			 * garbage never push kuasard's connection out; only if every client
			 * spoke does the oldest go. */
			int oldest = -1;
			for (int pass = 0; pass < 2 && oldest < 0; pass++)
				for (int i = 0; i < nclients; i++)
					if ((pass == 1 || !clients[i]->spoke) && (oldest < 0 || clients[i]->seq < clients[oldest]->seq))
						oldest = i;
			logmsg("too many clients; dropping the oldest%s (%llu)", clients[oldest]->spoke ? "" : " silent one",
			       (unsigned long long)clients[oldest]->seq);
			client_free(clients[oldest]);
			clients[oldest] = clients[--nclients];
		}
		struct client *c = calloc(1, sizeof *c);
		if (c == NULL) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->seq = ++client_seq;
		clients[nclients++] = c;
	}
}

/* ---- signals ------------------------------------------------------------ */

static void handle_signals(void)
{
	struct signalfd_siginfo si;
	bool term = false;
	while (read(g.sigfd, &si, sizeof si) == (ssize_t)sizeof si)
		if (si.ssi_signo == SIGTERM)
			term = true;
	reap_all();
	if (term) {
		logmsg("SIGTERM: killing the pod's processes");
		kill_everything();
		flush_clients_and_exit();
	}
}

/* ---- main loop ---------------------------------------------------------- */

enum slot_kind {
	S_SIG, S_LISTEN, S_CLIENT, S_IN_SRC, S_IN_DST, S_MASTER, S_OUT_DST, S_CON_LISTEN, S_CON_CONN,
	S_OUT_SRC, S_ERR_SRC, S_SIN,
};

struct slot {
	enum slot_kind kind;
	void *ptr;
};

static struct pollfd *pfds;
static struct slot *slots;
static size_t nslots, slots_cap;

static void slot_add(int fd, short events, enum slot_kind kind, void *ptr)
{
	if (nslots == slots_cap) {
		size_t cap = slots_cap ? slots_cap * 2 : 64;
		struct pollfd *p = realloc(pfds, cap * sizeof *p);
		if (p == NULL)
			return;
		pfds = p;
		struct slot *s = realloc(slots, cap * sizeof *s);
		if (s == NULL)
			return;
		slots = s;
		slots_cap = cap;
	}
	pfds[nslots] = (struct pollfd){ .fd = fd, .events = events };
	slots[nslots++] = (struct slot){ kind, ptr };
}

/* A pump to poll for input: a stream pump only while its output can be sent or discarded. */
static bool pump_wants_input(const struct pump *p)
{
	struct client *c;
	return p->active && !p->eof && p->len == 0 && (!p->stream || stream_target(p->rec, &c) != STREAM_HOLD);
}

static struct client *port_client; /* serve mode */

static int build_slots(void)
{
	nslots = 0;
	slot_add(g.sigfd, POLLIN, S_SIG, NULL);
	slot_add(g.lfd, POLLIN, S_LISTEN, NULL);
	for (int i = 0; i < nclients; i++) {
		struct client *c = clients[i];
		if (!client_gone(c)) /* a detached port polls POLLHUP: re-checked by timer instead */
			slot_add(c->fd, (short)(POLLIN | (c->out.len > c->out.off ? POLLOUT : 0)), S_CLIENT, c);
	}
	long long next = -1;
	for (struct rec *r = recs; r; r = r->next) {
		if (r->gone)
			continue;
		if (r->in.active) {
			if (!r->in.eof && r->in.len == 0 && r->in.src >= 0)
				slot_add(r->in.src, POLLIN, S_IN_SRC, r);
			if (!r->console && r->in.dst >= 0) /* polled even when idle: POLLERR = no reader left */
				slot_add(r->in.dst, r->in.len > 0 ? POLLOUT : 0, S_IN_DST, r);
		}
		if (r->master >= 0) {
			short ev = 0;
			if (pump_wants_input(&r->out))
				ev |= POLLIN;
			if (r->in.active && r->in.dst == r->master && r->in.len > 0)
				ev |= POLLOUT;
			if (r->sin.active && r->sin.fd == r->master && r->sin.q.len > r->sin.q.off)
				ev |= POLLOUT;
			if (ev)
				slot_add(r->master, ev, S_MASTER, r);
		} else if (r->out.stream && pump_wants_input(&r->out)) {
			slot_add(r->out.src, POLLIN, S_OUT_SRC, r);
		}
		if (pump_wants_input(&r->errout))
			slot_add(r->errout.src, POLLIN, S_ERR_SRC, r);
		if (r->sin.active && r->sin.own) /* polled even when idle: POLLERR = no reader left */
			slot_add(r->sin.fd, r->sin.q.len > r->sin.q.off ? POLLOUT : 0, S_SIN, r);
		if (r->out.active && r->out.len > 0 && r->out.dst >= 0)
			slot_add(r->out.dst, POLLOUT, S_OUT_DST, r);
		if (r->con_listen >= 0)
			slot_add(r->con_listen, POLLIN, S_CON_LISTEN, r);
		if (r->con_conn >= 0)
			slot_add(r->con_conn, POLLIN, S_CON_CONN, r);
		for (int i = 0; i < r->npend; i++)
			if (next < 0 || r->pend[i].deadline < next)
				next = r->pend[i].deadline;
	}
	if (port_client != NULL && port_client->detached) {
		long long recheck = now_ms() + HOLDER_PORT_RECHECK_MS;
		if (next < 0 || recheck < next)
			next = recheck;
	}
	if (next < 0)
		return -1;
	long long left = next - now_ms();
	return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* virtio-serial: POLLHUP while the host side is not connected; it clears when the host connects. */
static void port_recheck(void)
{
	struct client *c = port_client;
	if (c == NULL || !c->detached)
		return;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	if (poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
		return;
	c->detached = false;
	logmsg("host connected to the port");
}

static void sweep(void)
{
	for (int i = 0; i < nclients;) {
		if (clients[i]->dead && !clients[i]->port) {
			client_free(clients[i]);
			clients[i] = clients[--nclients];
		} else {
			i++;
		}
	}
	long long now = now_ms();
	for (struct rec **pp = &recs; *pp;) {
		struct rec *r = *pp;
		if (r->npend > 0 && (!r->out.active || r->out.len == 0 || now >= r->pend[0].deadline))
			flush_pending(r);
		/* A terminal whose output side ended (slave closed) is finished in both directions. */
		if (r->master >= 0 && !r->out.active) {
			pump_close(&r->in);
			if (r->sin.fd == r->master)
				instream_close(&r->sin);
			close_fd(&r->master);
		}
		/* A streamed terminal stdin whose terminal never came. */
		if (r->sin.active && r->sin.fd < 0 && r->con_listen < 0 && r->con_conn < 0 && r->master < 0)
			instream_close(&r->sin);
		bool idle = !r->pid_live && !r->apid_live && r->npend == 0 && r->con_listen < 0 && r->con_conn < 0 &&
			    !r->in.active && !r->out.active && !r->errout.active && !r->sin.active;
		if (r->gone || idle) {
			if (r->gone)
				flush_pending(r);
			*pp = r->next;
			rec_free(r);
		} else {
			pp = &r->next;
		}
	}
}

static void loop(void)
{
	for (;;) {
		int timeout = build_slots();
		int rc = poll(pfds, (nfds_t)nslots, timeout);
		if (rc < 0) {
			if (errno != EINTR)
				logmsg("poll: %s", strerror(errno));
			continue;
		}
		bool accept_ready = false;
		for (size_t i = 0; i < nslots; i++) {
			short re = pfds[i].revents;
			if (re == 0)
				continue;
			int fd = pfds[i].fd;
			struct rec *r = slots[i].ptr;
			switch (slots[i].kind) {
			case S_SIG:
				handle_signals();
				break;
			case S_LISTEN:
				accept_ready = true;
				break;
			case S_CLIENT: {
				struct client *c = slots[i].ptr;
				if (client_gone(c))
					break;
				if (re & (POLLIN | POLLHUP | POLLERR))
					client_read(c);
				if (re & POLLOUT)
					client_flush(c);
				break;
			}
			case S_IN_SRC:
				if (!r->gone && r->in.active && r->in.src == fd)
					pump_run(&r->in);
				break;
			case S_IN_DST:
				if (r->gone || !r->in.active || r->in.dst != fd)
					break;
				if ((re & (POLLERR | POLLHUP)) && r->in.len == 0)
					pump_close(&r->in); /* the process (and everyone) closed its stdin */
				else
					pump_run(&r->in);
				break;
			case S_MASTER:
				if (r->gone || r->master != fd)
					break;
				if (r->out.active && (re & (POLLIN | POLLHUP | POLLERR)))
					pump_run(&r->out);
				if (r->in.active && r->in.dst == fd && (re & (POLLOUT | POLLERR)))
					pump_run(&r->in);
				if (r->sin.active && r->sin.fd == fd && (re & (POLLOUT | POLLERR)))
					instream_run(&r->sin);
				break;
			case S_OUT_SRC:
				if (!r->gone && r->out.active && r->out.src == fd)
					pump_run(&r->out);
				break;
			case S_ERR_SRC:
				if (!r->gone && r->errout.active && r->errout.src == fd)
					pump_run(&r->errout);
				break;
			case S_SIN:
				if (r->gone || !r->sin.active || r->sin.fd != fd)
					break;
				if (re & (POLLERR | POLLHUP))
					instream_close(&r->sin); /* the process (and everyone) closed its stdin */
				else
					instream_run(&r->sin);
				break;
			case S_OUT_DST:
				if (!r->gone && r->out.active && r->out.dst == fd)
					pump_run(&r->out);
				break;
			case S_CON_LISTEN:
				if (!r->gone && r->con_listen == fd)
					console_try_accept(r);
				break;
			case S_CON_CONN:
				if (!r->gone && r->con_conn == fd)
					console_try_recv(r);
				break;
			}
		}
		sweep();
		port_recheck();
		if (accept_ready)
			accept_clients();
	}
}

/* ---- startup ------------------------------------------------------------ */

static void die(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int err, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (err != 0 && n >= 0 && (size_t)n < sizeof msg - 3)
		snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(err));
	char line[1024];
	n = snprintf(line, sizeof line, "kuasar-holder: %s\n", msg);
	if (n > 0 && write(g.errfd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1)) < 0) {
		/* ignore */
	}
	if (g.readyfd >= 0) {
		n = snprintf(line, sizeof line, "error %d %s\n", err, msg);
		if (n > 0 && write(g.readyfd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1)) < 0) {
			/* ignore */
		}
	}
	if (g.sock_created)
		unlinkat(g.dirfd, SOCK_NAME, 0);
	if (g.init)
		power_off();
	_exit(1); /* the pod init (if any) dies with us: PR_SET_PDEATHSIG */
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	die(0, "usage: kuasar-holder --dir DIR [--netns PATH] [--new-ipc] [--new-uts] [--hostname NAME] [--sysctl KEY=VALUE]... [--cgroup DIR]... [--new-pid] [--log FILE]\n"
	       "       kuasar-holder --dir DIR --serve-port PATH|fd:N [--log FILE]");
}

/*
 * Sets one of the pod's sysctls (KEY=VALUE, KEY with '.' or '/' separators) by
 * writing /proc/sys: the kernel resolves net and IPC entries against the
 * writer's namespaces, so this runs after the holder entered the pod's. The
 * daemon validated the key; a name with an empty, '.' or '..' component is
 * still refused here, so nothing outside /proc/sys is ever written.
 */
static void apply_sysctl(const char *arg, bool own_net, bool own_ipc)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg)
		die(EINVAL, "--sysctl %s: want KEY=VALUE", arg);
	size_t keylen = (size_t)(eq - arg);
	bool slashes = memchr(arg, '/', keylen) != NULL;
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "/proc/sys/%.*s", (int)keylen, arg);
	if (n < 0 || (size_t)n >= sizeof path)
		die(ENAMETOOLONG, "--sysctl %.*s", (int)keylen, arg);
	char *p = path + strlen("/proc/sys/");
	if (!slashes)
		for (char *c = p; *c != '\0'; c++)
			if (*c == '.')
				*c = '/';
	for (char *c = p; *c != '\0';) {
		size_t len = strcspn(c, "/");
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			die(EINVAL, "sysctl %.*s: not a sysctl name", (int)keylen, arg);
		c += len;
		if (*c == '/')
			c++;
	}
	/* Never the host's: net.* needs the pod's netns, anything else its own IPC namespace. */
	if (strncmp(p, "net/", 4) == 0 ? !own_net : !own_ipc)
		die(EINVAL, "sysctl %.*s: the pod does not have its own namespace for it", (int)keylen, arg);
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		die(EINVAL, "sysctl %.*s: no such sysctl in this kernel", (int)keylen, arg);
	if (fd < 0)
		die(errno, "sysctl %.*s: open %s", (int)keylen, arg, path);
	const char *value = eq + 1;
	if (!write_all(fd, value, strlen(value)))
		die(errno, "sysctl %.*s=%s", (int)keylen, arg, value);
	close(fd);
}

/* pid 1 of the pod's pid namespace: reaps whatever is orphaned inside, dies with the holder. */
static void podinit_main(int death_rd) __attribute__((noreturn));
static void podinit_main(int death_rd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct pollfd p = { .fd = death_rd, .events = POLLIN };
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)))
		_exit(0); /* the holder died before PR_SET_PDEATHSIG took effect */
	prctl(PR_SET_NAME, "pod-init");
	int null = open("/dev/null", O_RDWR);
	for (int i = 0; i < 3 && null >= 0; i++)
		dup2(null, i);
	for (int fd = 3; fd < 1024; fd++)
		if (fd != death_rd)
			close(fd);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		if (s != SIGCHLD)
			sigaction(s, &sa, NULL);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	if (chdir("/") < 0) {
		/* stay where we are */
	}
	for (;;) {
		siginfo_t si;
		sigwaitinfo(&chld, &si);
		while (waitpid(-1, NULL, WNOHANG) > 0) {
		}
	}
}

/* unshare(CLONE_NEWPID) affects only our future children; the first one is pid 1 there. */
static pid_t start_podinit(void)
{
	int self_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (self_ns < 0)
		die(errno, "open /proc/self/ns/pid");
	int death[2];
	if (pipe2(death, O_CLOEXEC) < 0)
		die(errno, "pipe");
	if (unshare(CLONE_NEWPID) < 0)
		die(errno, "unshare(CLONE_NEWPID)");
	pid_t pid = fork();
	if (pid < 0)
		die(errno, "fork pod init");
	if (pid == 0) {
		close(death[1]);
		podinit_main(death[0]);
	}
	/* Back to our own pid namespace for every later child (runc must see host pids). */
	if (setns(self_ns, CLONE_NEWPID) < 0)
		die(errno, "setns back to the holder's pid namespace");
	close(self_ns);
	close(death[0]);
	g.podinit_pipe = death[1];
	return pid;
}

/*
 * sun_path holds 107 bytes but DIR may be any length: when DIR/holder.sock does not fit,
 * bind through our open descriptor of DIR (/proc/self/fd/N/holder.sock, a magic link the
 * kernel resolves to DIR itself). The socket is still DIR/holder.sock; clients that cannot
 * name it reach it the same way through their own descriptor of DIR.
 */
static void sock_addr_init(void)
{
	int n = strlen(g.sock_path) < sizeof g.sock_addr
			? snprintf(g.sock_addr, sizeof g.sock_addr, "%s", g.sock_path)
			: snprintf(g.sock_addr, sizeof g.sock_addr, "/proc/self/fd/%d/" SOCK_NAME, g.dirfd);
	if (n < 0 || (size_t)n >= sizeof g.sock_addr)
		die(ENAMETOOLONG, "%s: no unix socket address fits", g.sock_path);
}

static void create_socket(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	sock_addr_init();
	strcpy(a.sun_path, g.sock_addr);
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&a, sizeof a) == 0)
			die(EADDRINUSE, "%s: another holder is serving this directory", g.sock_path);
		close(probe);
	}
	unlinkat(g.dirfd, SOCK_NAME, 0);
	g.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g.lfd < 0)
		die(errno, "socket");
	mode_t old = umask(077);
	int rc = bind(g.lfd, (struct sockaddr *)&a, sizeof a);
	umask(old);
	if (rc < 0)
		die(errno, "bind %s", g.sock_path);
	g.sock_created = true;
	if (fchmodat(g.dirfd, SOCK_NAME, 0600, 0) < 0)
		die(errno, "chmod %s", g.sock_path);
	if (listen(g.lfd, 64) < 0)
		die(errno, "listen %s", g.sock_path);
}

static void write_pid_file(void)
{
	char tmp[PATH_MAX + 32], body[64];
	snprintf(tmp, sizeof tmp, "%s/holder.pid.tmp", g.dir);
	int n = snprintf(body, sizeof body, "%d %d\n", (int)g.pid, (int)g.podinit);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(errno, "open %s", tmp);
	if (!write_all(fd, body, (size_t)n) || fsync(fd) < 0)
		die(errno, "write %s", tmp);
	close(fd);
	if (rename(tmp, g.pid_path) < 0)
		die(errno, "rename %s", tmp);
	if (fsync(g.dirfd) < 0)
		die(errno, "fsync %s", g.dir);
}

/* Closes every fd from 3 up except keep[0] and keep[1] (-1: none). */
static void close_inherited(int a, int b)
{
	int keep[2] = { a < b ? a : b, a < b ? b : a };
	unsigned from = 3;
	for (int i = 0; i <= 2; i++) {
		unsigned to = i < 2 ? (unsigned)keep[i] : ~0U; /* close [from, to) */
		if (i < 2 && (keep[i] < 0 || (unsigned)keep[i] < from))
			continue;
		if (to > from && close_range(from, to - 1, 0) < 0)
			for (unsigned fd = from; fd < to && fd < 1024; fd++)
				close((int)fd);
		if (i < 2)
			from = to + 1;
	}
}

/* The serve port: a path (a virtio-serial port) or an inherited fd ("fd:N", for tests). */
static int open_port(const char *spec, int inherited)
{
	int fd = inherited;
	if (fd < 0) {
		fd = open(spec, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			die(errno, "open --serve-port %s", spec);
	} else {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			die(errno, "--serve-port %s", spec);
	}
	struct termios t;
	if (tcgetattr(fd, &t) == 0) { /* a serial console or a pty: bytes, not lines */
		cfmakeraw(&t);
		if (tcsetattr(fd, TCSANOW, &t) < 0)
			die(errno, "raw mode on --serve-port %s", spec);
	}
	struct client *c = calloc(1, sizeof *c);
	if (c == NULL)
		die(ENOMEM, "out of memory");
	c->fd = fd;
	c->seq = ++client_seq;
	c->port = true;
	c->detached = true; /* until port_recheck sees the host */
	clients[nclients++] = c;
	port_client = c;
	return fd;
}

/*
 * Moves the holder into the pod's cgroup DIR (one per mounted hierarchy) before
 * it forks anything, so its pod init and every process it launches start there.
 */
static void join_cgroup(const char *dir)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	if (n < 0 || (size_t)n >= sizeof path)
		die(ENAMETOOLONG, "--cgroup %s", dir);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die(errno, "--cgroup: open %s", path);
	/* "0" is the writer itself. */
	if (write(fd, "0", 1) != 1)
		die(errno, "--cgroup: join %s", dir);
	close(fd);
}

int main(int argc, char **argv)
{
	g.pid = getpid();
	const char *dir = NULL, *netns = NULL, *hostname = NULL, *logfile = NULL, *serve_port = NULL;
	bool new_ipc = false, new_uts = false, new_pid = false;
	const char **sysctls = calloc((size_t)argc, sizeof(char *));
	int nsysctls = 0;
	const char **cgroups = calloc((size_t)argc, sizeof(char *));
	int ncgroups = 0;
	if (sysctls == NULL || cgroups == NULL)
		die(ENOMEM, "calloc");
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },     { "netns", required_argument, NULL, 'n' },
		{ "new-ipc", no_argument, NULL, 'i' },       { "new-uts", no_argument, NULL, 'u' },
		{ "hostname", required_argument, NULL, 'h' }, { "new-pid", no_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'l' },     { "serve-port", required_argument, NULL, 's' },
		{ "sysctl", required_argument, NULL, 'y' },  { "cgroup", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (o) {
		case 'd': dir = optarg; break;
		case 'n': netns = optarg; break;
		case 'i': new_ipc = true; break;
		case 'u': new_uts = true; break;
		case 'h': hostname = optarg; break;
		case 'p': new_pid = true; break;
		case 'l': logfile = optarg; break;
		case 's': serve_port = optarg; break;
		case 'y': sysctls[nsysctls++] = optarg; break;
		case 'c': cgroups[ncgroups++] = optarg; break;
		default: usage();
		}
	}
	g.serve = serve_port != NULL;
	g.init = g.serve && g.pid == 1;
	long long port_fd = -1;
	if (g.serve && strncmp(serve_port, "fd:", 3) == 0 && !parse_num(serve_port + 3, 3, INT_MAX, &port_fd))
		usage();

	struct stat st;
	if (port_fd != 3 && fstat(3, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		g.readyfd = 3;
		fcntl(3, F_SETFD, FD_CLOEXEC);
	}
	/* Whatever else the starter leaked must not be held open for the pod's lifetime. */
	close_inherited(g.readyfd, (int)port_fd);
	if (port_fd >= 0 && fcntl((int)port_fd, F_GETFD) < 0)
		die(errno, "--serve-port %s", serve_port);

	if (dir == NULL || optind != argc)
		usage();
	if (hostname != NULL && !new_uts)
		die(EINVAL, "--hostname needs --new-uts (it would rename the host)");
	if (g.serve && (netns != NULL || new_ipc || new_uts || new_pid || nsysctls > 0 || ncgroups > 0))
		die(EINVAL, "--serve-port runs in the namespaces it is started in (no --netns, --new-*)");
	if (realpath(dir, g.dir) == NULL)
		die(errno, "--dir %s", dir);
	if (!g.serve) {
		snprintf(g.sock_path, sizeof g.sock_path, "%s/" SOCK_NAME, g.dir);
		snprintf(g.pid_path, sizeof g.pid_path, "%s/holder.pid", g.dir);
	}
	g.dirfd = open(g.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g.dirfd < 0)
		die(errno, "open %s", g.dir);

	/* Our own session: no controlling terminal, no job-control signals from the daemon's. */
	setsid();
	for (int i = 0; i < ncgroups; i++)
		join_cgroup(cgroups[i]);
	free(cgroups);

	if (netns != NULL) {
		int fd = open(netns, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die(errno, "open --netns %s", netns);
		if (setns(fd, CLONE_NEWNET) < 0)
			die(errno, "setns %s", netns);
		close(fd);
	}
	if ((new_ipc || new_uts) && unshare((new_ipc ? CLONE_NEWIPC : 0) | (new_uts ? CLONE_NEWUTS : 0)) < 0)
		die(errno, "unshare(%s%s)", new_ipc ? "CLONE_NEWIPC " : "", new_uts ? "CLONE_NEWUTS" : "");
	if (hostname != NULL && sethostname(hostname, strlen(hostname)) < 0)
		die(errno, "sethostname %s", hostname);
	for (int i = 0; i < nsysctls; i++)
		apply_sysctl(sysctls[i], netns != NULL, new_ipc);
	free(sysctls);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		die(errno, "PR_SET_CHILD_SUBREAPER");

	struct sigaction ign;
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, NULL);
	sigaction(SIGHUP, &ign, NULL);
	sigaction(SIGINT, &ign, NULL);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die(errno, "sigprocmask");
	g.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (g.sigfd < 0)
		die(errno, "signalfd");

	if (new_pid)
		g.podinit = start_podinit();

	char jpath[PATH_MAX + 16];
	snprintf(jpath, sizeof jpath, "%s/exits", g.dir);
	g.journal = open(jpath, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (g.journal < 0)
		die(errno, "open %s", jpath);
	if (g.serve)
		open_port(serve_port, (int)port_fd);
	else
		create_socket();

	/* stdio: /dev/null or the log; startup errors keep going to the original stderr. */
	g.errfd = fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (g.errfd < 0)
		g.errfd = 2;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int logfd = logfile ? open(logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : null;
	if (null < 0 || logfd < 0)
		die(errno, "open %s", logfile ? logfile : "/dev/null");
	if (dup2(null, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		die(errno, "dup2");
	close(null);
	if (logfd != null)
		close(logfd);

	if (!g.serve)
		write_pid_file();
	if (chdir("/") < 0)
		die(errno, "chdir /");

	int saved = g.errfd;
	g.errfd = 2;
	if (saved != 2)
		close(saved);
	if (g.serve)
		logmsg("ready: dir %s, serving %s%s", g.dir, serve_port, g.init ? " as pid 1" : "");
	else
		logmsg("ready: dir %s, pod init %d", g.dir, (int)g.podinit);
	if (g.readyfd >= 0) {
		char line[64];
		int n = snprintf(line, sizeof line, "ready %d %d\n", (int)g.pid, (int)g.podinit);
		if (!write_all(g.readyfd, line, (size_t)n))
			logmsg("ready fd: %s", strerror(errno));
		close_fd(&g.readyfd);
	}
	port_recheck();
	loop();
}
