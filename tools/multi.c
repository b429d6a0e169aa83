/*
 * One command over many libvirt domains: a child process per domain, each
 * running the command as `-t libvirt:NAME@URI` would, all at once.
 *
 * A fork per domain keeps every domain's run what it is alone — its own
 * target, guardians, libvirt connection and failure — and spreads the work
 * over the host's cores. The parent only tags and forwards output:
 *   JSON  every record begins with "vm":NAME (the child's writer adds it,
 *         so it is escaped like any field); a domain that fails adds
 *         {"vm":NAME,"error":MESSAGE,"status":N}.
 *   text  every line is prefixed with the domain's name, in a column;
 *         messages on stderr read "vmsight: NAME: ...".
 * Output of a streaming command (watch, trace) is forwarded line by line as
 * it comes; any other command's is held per domain and written whole when
 * that domain is done, so tables stay together.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl/libvirt.h"
#include "multi.h"

struct dom_run {
	char name[256];
	char target[600];
	pid_t pid;
	int fd[2];    /* stdout, stderr of the child; -1 once closed */
	char *buf[2]; /* bytes not yet forwarded */
	size_t len[2], cap[2];
	char last_err[1024]; /* the child's last message */
	int status;
};

int multi_target(const char *target)
{
	char names[4096], uri[512];
	if (!target || strncmp(target, LIBVIRT_PREFIX, strlen(LIBVIRT_PREFIX)) != 0 ||
	    libvirt_parse(target + strlen(LIBVIRT_PREFIX), names, sizeof(names), uri, sizeof(uri)))
		return 0;
	return strcmp(names, "*") == 0 || strchr(names, ',') != NULL;
}

static int add_run(struct dom_run **runs, size_t *n, const char *name, const char *uri)
{
	struct dom_run *r = realloc(*runs, (*n + 1) * sizeof(**runs));
	if (!r)
		return -1;
	*runs = r;
	r = &r[(*n)++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->target, sizeof(r->target), "libvirt:%s@%s", name, uri);
	r->fd[0] = r->fd[1] = -1;
	return 0;
}

static int collect(const char *target, struct dom_run **runs, size_t *n)
{
	char names[4096], uri[512], err[1024];
	libvirt_parse(target + strlen(LIBVIRT_PREFIX), names, sizeof(names), uri, sizeof(uri));
	if (strcmp(names, "*") == 0) {
		struct libvirt_domain *d;
		size_t nd;
		int rc = libvirt_list(uri, LIBVIRT_LIST_ACTIVE, &d, &nd, err, sizeof(err));
		if (rc)
			return fail("%s", err);
		for (size_t i = 0; i < nd; i++)
			if (add_run(runs, n, d[i].name, uri)) {
				free(d);
				return fail("out of memory");
			}
		free(d);
		if (*n == 0)
			return fail("no running libvirt domains at %s (virsh -c %s list --all)", uri, uri);
		return 0;
	}
	for (char *save, *tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (*tok && add_run(runs, n, tok, uri))
			return fail("out of memory");
	if (*n == 0)
		die_usage("no domain named in '%s'", target);
	return 0;
}

static void child(const struct globals *g, struct dom_run *r, int out[2], int errp[2], cmd_fn fn, int argc, char **argv)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM); /* the runner gone: stop as on ^C, undoing what we did */
	dup2(out[1], 1);
	dup2(errp[1], 2);
	close(out[0]), close(out[1]), close(errp[0]), close(errp[1]);
	struct globals mine = *g;
	mine.target = r->target;
	out_record_prefix("vm", r->name);
	int rc = fn(&mine, argc, argv);
	fflush(stdout);
	fflush(stderr);
	_exit(rc);
}

/* Write the complete lines of R's stream S (all of it when FINAL). */
static void forward(const struct globals *g, struct dom_run *r, int s, int width, int final)
{
	char *p = r->buf[s], *end = p + r->len[s];
	FILE *f = s == 0 ? stdout : stderr;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl && !final)
			break;
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (s == 1) {
			const char *msg = n >= 9 && memcmp(p, "vmsight: ", 9) == 0 ? p + 9 : p;
			size_t mn = n - (size_t)(msg - p);
			fprintf(f, "vmsight: %s: %.*s\n", r->name, (int)mn, msg);
			snprintf(r->last_err, sizeof(r->last_err), "%.*s", (int)mn, msg);
		} else if (g->json) {
			fprintf(f, "%.*s\n", (int)n, p);
		} else {
			fprintf(f, "%-*s  %.*s\n", width, r->name, (int)n, p);
		}
		p += n + (nl ? 1 : 0);
	}
	r->len[s] = (size_t)(end - p);
	memmove(r->buf[s], p, r->len[s]);
	fflush(f);
}

static int read_into(struct dom_run *r, int s)
{
	if (r->cap[s] - r->len[s] < 65536) {
		size_t cap = r->cap[s] ? r->cap[s] * 2 : 131072;
		char *b = realloc(r->buf[s], cap);
		if (!b)
			return -1;
		r->buf[s] = b;
		r->cap[s] = cap;
	}
	ssize_t n = read(r->fd[s], r->buf[s] + r->len[s], r->cap[s] - r->len[s]);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0)
		return 0;
	r->len[s] += (size_t)n;
	return 1;
}

int multi_run(const struct globals *g, const char *cmd, cmd_fn fn, int argc, char **argv)
{
	struct dom_run *runs = NULL;
	size_t n = 0;
	int rc = collect(g->target, &runs, &n), width = 2;
	if (rc) {
		free(runs);
		return rc;
	}
	/* messages only on errors and to make streaming output whole lines */
	int streaming = strcmp(cmd, "watch") == 0 || strcmp(cmd, "trace") == 0;
	fflush(stdout);
	fflush(stderr);
	for (size_t i = 0; i < n; i++) {
		int out[2], errp[2];
		if ((int)strlen(runs[i].name) > width)
			width = (int)strlen(runs[i].name);
		if (pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC))
			return fail("pipe: %s", strerror(errno));
		runs[i].pid = fork();
		if (runs[i].pid == 0)
			child(g, &runs[i], out, errp, fn, argc, argv);
		close(out[1]), close(errp[1]);
		runs[i].fd[0] = out[0];
		runs[i].fd[1] = errp[0];
		if (runs[i].pid < 0) {
			close(out[0]), close(errp[0]);
			runs[i].fd[0] = runs[i].fd[1] = -1;
			snprintf(runs[i].last_err, sizeof(runs[i].last_err), "fork: %s", strerror(errno));
			runs[i].status = 1;
		}
	}
	/* SIGINT/SIGTERM reach the children through the terminal or their
	 * death signal; the runner waits for them to finish cleanly. */
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	struct pollfd *pf = calloc(2 * n, sizeof(*pf));
	if (!pf)
		return fail("out of memory");
	for (;;) {
		size_t np = 0;
		for (size_t i = 0; i < n; i++)
			for (int s = 0; s < 2; s++)
				if (runs[i].fd[s] >= 0)
					pf[np++] = (struct pollfd){ .fd = runs[i].fd[s], .events = POLLIN };
		if (np == 0)
			break;
		if (poll(pf, np, -1) < 0 && errno != EINTR)
			break;
		for (size_t k = 0; k < np; k++) {
			if (!pf[k].revents)
				continue;
			for (size_t i = 0; i < n; i++)
				for (int s = 0; s < 2; s++) {
					struct dom_run *r = &runs[i];
					if (r->fd[s] != pf[k].fd)
						continue;
					int more = read_into(r, s);
					if (more <= 0) {
						close(r->fd[s]);
						r->fd[s] = -1;
					}
					if (s == 1 || streaming)
						forward(g, r, s, width, more <= 0);
				}
		}
	}
	free(pf);
	int failed = 0, usage = 0;
	for (size_t i = 0; i < n; i++) {
		struct dom_run *r = &runs[i];
		int st = 0;
		if (r->pid > 0 && waitpid(r->pid, &st, 0) == r->pid)
			r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		forward(g, r, 0, width, 1);
		forward(g, r, 1, width, 1);
		if (r->status) {
			failed++;
			usage |= r->status == 2;
			if (!r->last_err[0])
				snprintf(r->last_err, sizeof(r->last_err), "exit status %d", r->status);
			if (g->json) {
				out_begin();
				out_str("vm", NULL, r->name);
				out_str("error", NULL, r->last_err);
				out_int("status", NULL, r->status);
				out_end();
			}
		}
		free(r->buf[0]);
		free(r->buf[1]);
	}
	fflush(stdout);
	free(runs);
	return usage && failed == (int)n ? 2 : failed ? 1 : 0;
}
