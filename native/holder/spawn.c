#include "spawn.h"

#include "console.h"
#include "holder.h"
#include "log.h"
#include "records.h"
#include "server.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

bool valid_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MAX_ID_LEN || strcmp(s, HOLDER_UNKNOWN_ID) == 0 || s[0] == ':')
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

void request_spawn(struct holder *h, struct client *c, char **f, int n)
{
	const char *rid = f[1];
	long long argc, envc;
	if (n < 10)
		FAIL(h, c, rid, EINVAL, "spawn: missing fields");
	if (!parse_num(f[7], 1, n, &argc) || 8 + argc >= n)
		FAIL(h, c, rid, EINVAL, "spawn: bad ARGC");
	if (!parse_num(f[8 + argc], 0, n, &envc) || 9 + argc + envc != n)
		FAIL(h, c, rid, EINVAL, "spawn: bad ENVC or field count");
	struct spawn_req q = { .id = f[1], .cwd = f[2], .in = f[3], .out = f[4], .err = f[5] };
	if (!valid_id(q.id))
		FAIL(h, c, rid, EINVAL, "spawn: invalid ID");
	const char *stdio[3] = { q.in, q.out, q.err };
	for (int i = 0; i < 3; i++)
		if (stdio[i][0] == ':' && !is_stream(stdio[i]))
			FAIL(h, c, rid, EINVAL, "spawn: unknown stdio %.64s", stdio[i]);
	bool stream_in = is_stream(q.in);
	if (f[8][0] != '/')
		FAIL(h, c, rid, EINVAL, "spawn: ARG0 must be an absolute path");

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
			FAIL(h, c, rid, EINVAL, "spawn: unknown flag %.64s", tok);
	}

	struct rec *old = rec_by_id(h, q.id);
	if (old && (old->pid_live || old->apid_live))
		FAIL(h, c, rid, EEXIST, "spawn: %s is running", q.id);

	/* argv and envp point into the request buffer; only the pointer arrays are allocated. */
	q.argv = calloc((size_t)argc + 1, sizeof(char *));
	q.envp = calloc((size_t)envc + 1, sizeof(char *));
	int stdin_fifo = -1, pipefd[2] = { -1, -1 }, errp[2] = { -1, -1 }, listen_fd = -1, term_out = -1;
	int outp[2][2] = { { -1, -1 }, { -1, -1 } }; /* streamed stdout, stderr: [read, write] */
	int out_w[2] = { -1, -1 };
	int e = 0;
	if (q.argv == NULL || q.envp == NULL) {
		reply_err(h, c, rid, ENOMEM, "spawn: out of memory");
		goto out;
	}
	for (long long i = 0; i < argc; i++)
		q.argv[i] = f[8 + i];
	for (long long i = 0; i < envc; i++)
		q.envp[i] = f[9 + argc + i];

	if (stream_in) {
		if (q.console == NULL && pipe2(pipefd, O_CLOEXEC) < 0) {
			e = errno;
			reply_err(h, c, rid, e, "pipe: %s", strerror(e));
			goto out;
		}
	} else if (q.in[0] != '\0') {
		stdin_fifo = open(q.in, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (stdin_fifo < 0) {
			e = errno;
			reply_err(h, c, rid, e, "open stdin %s: %s", q.in, strerror(e));
			goto out;
		}
		if (q.console == NULL && pipe2(pipefd, O_CLOEXEC) < 0) {
			e = errno;
			reply_err(h, c, rid, e, "pipe: %s", strerror(e));
			goto out;
		}
	}
	for (int i = 0; i < 2 && q.console == NULL; i++) {
		if (!is_stream(i == 0 ? q.out : q.err))
			continue;
		if (pipe2(outp[i], O_CLOEXEC) < 0) {
			e = errno;
			reply_err(h, c, rid, e, "pipe: %s", strerror(e));
			goto out;
		}
		out_w[i] = outp[i][1];
	}
	if (q.console != NULL) {
		if (q.out[0] != '\0' && !is_stream(q.out)) {
			term_out = open(q.out, O_WRONLY | O_NONBLOCK | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
			if (term_out < 0) {
				e = errno;
				reply_err(h, c, rid, e, "open stdout %s: %s", q.out, strerror(e));
				goto out;
			}
		}
		e = console_listen(q.console, &listen_fd);
		if (e != 0) {
			reply_err(h, c, rid, e, "console socket %s: %s", q.console, strerror(e));
			goto out;
		}
	}
	if (pipe2(errp, O_CLOEXEC) < 0) {
		e = errno;
		reply_err(h, c, rid, e, "pipe: %s", strerror(e));
		goto out;
	}

	pid_t pid = fork();
	if (pid < 0) {
		e = errno;
		reply_err(h, c, rid, e, "fork: %s", strerror(e));
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
		reply_err(h, c, rid, xe.err, "%s", xe.msg);
		goto out;
	}

	if (old)
		old->gone = true;
	struct rec *r = rec_new(h, q.id);
	if (r == NULL) {
		/* Cannot track it: kill it rather than leave an unaccounted process. */
		kill(pid, SIGKILL);
		reply_err(h, c, rid, ENOMEM, "spawn: out of memory");
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
	frame_begin(&h->tx);
	frame_str(&h->tx, HOLDER_REPLY_OK);
	frame_str(&h->tx, rid);
	frame_fmt(&h->tx, "%d", (int)pid);
	if (frame_end(&h->tx))
		client_send(c, &h->tx);

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
