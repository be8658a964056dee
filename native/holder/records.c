#include "records.h"

#include "console.h"
#include "holder.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct rec *rec_by_id(struct holder *h, const char *id)
{
	for (struct rec *r = h->recs; r; r = r->next)
		if (!r->gone && strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

struct rec *rec_by_pid(struct holder *h, pid_t pid)
{
	for (struct rec *r = h->recs; r; r = r->next)
		if ((r->pid_live && r->pid == pid) || (r->apid_live && r->apid == pid))
			return r;
	return NULL;
}

struct rec *rec_new(struct holder *h, const char *id)
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
	r->next = h->recs;
	h->recs = r;
	return r;
}

void rec_free(struct rec *r)
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
	free(r->con_path);
	free(r->id);
	free(r);
}
