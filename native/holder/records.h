/* What the holder knows of each process it launched (`spawn`) or took over (`adopt`). */
#ifndef KUASAR_HOLDER_RECORDS_H
#define KUASAR_HOLDER_RECORDS_H

#include "stdio_relay.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>

struct holder;

/* An exit whose event waits for the terminal output written before it (at most CONSOLE_DRAIN_MS). */
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

/* The live record of ID (not one replaced by a newer spawn), or NULL. */
struct rec *rec_by_id(struct holder *h, const char *id);
/* The record with pid as a live spawned or adopted pid, or NULL. */
struct rec *rec_by_pid(struct holder *h, pid_t pid);
/* A new empty record for ID, first in the list (NULL: out of memory). */
struct rec *rec_new(struct holder *h, const char *id);
/* Closes every fd of r and frees it. */
void rec_free(struct rec *r);

#endif
