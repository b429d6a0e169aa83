/*
 * QMP client. Messages are single-line JSON documents; replies are matched to
 * commands by order, and asynchronous events in between are skipped. Every
 * wait is bounded by the timeout, so a wedged or foreign peer on the socket
 * gives an error, not a hang.
 */
#include "qmp.h"

#include "libvirt.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QMP_MAX_LINE (64u << 20)

struct vms_qmp {
	int fd;
	int pid;
	unsigned timeout_ms;
	char *buf;
	size_t len, cap;
	char path[108];
	char err[512];
	int broken; /* the stream is out of step (a failed read or write): every later command fails */
	vms_qmp_event_fn on_event;
	void *event_ctx;
	const struct qmp_transport *ops; /* NULL: the socket fd */
	void *ops_ctx;
};

static int qfail(struct vms_qmp *q, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int qfail(struct vms_qmp *q, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->err, sizeof(q->err), fmt, ap);
	va_end(ap);
	return -err;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads one line (without the newline) into q->buf; returns its length. */
static int read_line(struct vms_qmp *q, size_t *line_len)
{
	long long deadline = now_ms() + q->timeout_ms;
	for (;;) {
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
		if (nl) {
			*line_len = (size_t)(nl - q->buf);
			return 0;
		}
		if (q->len == q->cap) {
			if (q->cap >= QMP_MAX_LINE)
				return qfail(q, E2BIG, "QMP reply larger than %u bytes", QMP_MAX_LINE);
			size_t ncap = q->cap ? q->cap * 2 : 65536;
			char *nb = realloc(q->buf, ncap);
			if (!nb)
				return qfail(q, ENOMEM, "out of memory");
			q->buf = nb;
			q->cap = ncap;
		}
		long long left = deadline - now_ms();
		if (left <= 0)
			return qfail(q, ETIMEDOUT,
			             "no reply from QMP at %s within %u ms (is another client connected?)", q->path,
			             q->timeout_ms);
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		int pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			return qfail(q, EINTR, "interrupted");
		if (pr <= 0)
			continue;
		ssize_t n = read(q->fd, q->buf + q->len, q->cap - q->len);
		if (n == 0)
			return qfail(q, ECONNRESET, "QMP peer at %s closed the connection", q->path);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return qfail(q, errno, "reading QMP socket %s: %s", q->path, strerror(errno));
		}
		q->len += (size_t)n;
	}
}

static void consume_line(struct vms_qmp *q, size_t line_len)
{
	size_t rest = q->len - line_len - 1;
	memmove(q->buf, q->buf + line_len + 1, rest);
	q->len = rest;
}

/* Hands an event to the handler; 1 if DOC was an event. */
static int dispatch_event(struct vms_qmp *q, const struct json_doc *doc)
{
	const char *ev = json_str(doc, json_get(doc, 0, "event"));
	if (!ev)
		return 0;
	if (q->on_event) {
		int ts = json_get(doc, 0, "timestamp");
		int64_t sec = 0, usec = 0;
		json_i64(doc, json_get(doc, ts, "seconds"), &sec);
		json_i64(doc, json_get(doc, ts, "microseconds"), &usec);
		q->on_event(q->event_ctx, ev, sec * 1000000 + usec);
	}
	return 1;
}

/* Reads the next message that is not an event. */
static int read_message(struct vms_qmp *q, struct json_doc *doc)
{
	for (;;) {
		size_t n = 0;
		int rc = read_line(q, &n);
		if (rc) {
			q->broken = 1;
			return rc;
		}
		rc = json_parse(q->buf, n, doc);
		consume_line(q, n);
		if (rc) {
			q->broken = 1;
			return qfail(q, EPROTO, "%s does not speak QMP (malformed JSON from peer)", q->path);
		}
		if (dispatch_event(q, doc)) {
			json_free(doc);
			continue;
		}
		return 0;
	}
}

/* A transport answers each command at once: the reply is queued as a line
 * of the receive buffer, so qmp_recv reads it as it reads a socket's. */
static int transport_exchange(struct vms_qmp *q, const char *msg, size_t len)
{
	char *text = NULL, *cmd = strndup(msg, len);
	if (!cmd)
		return qfail(q, ENOMEM, "out of memory");
	int rc = q->ops->exchange(q->ops_ctx, cmd, &text, q->err, sizeof(q->err));
	free(cmd);
	if (rc)
		return rc;
	size_t n = strlen(text);
	if (q->len + n + 1 > QMP_MAX_LINE) {
		free(text);
		return qfail(q, E2BIG, "QMP reply larger than %u bytes", QMP_MAX_LINE);
	}
	if (q->len + n + 1 > q->cap) {
		char *nb = realloc(q->buf, q->len + n + 1);
		if (!nb) {
			free(text);
			return qfail(q, ENOMEM, "out of memory");
		}
		q->buf = nb;
		q->cap = q->len + n + 1;
	}
	for (size_t i = 0; i < n; i++) /* a raw newline is only ever JSON whitespace */
		q->buf[q->len + i] = text[i] == '\n' ? ' ' : text[i];
	q->buf[q->len + n] = '\n';
	q->len += n + 1;
	free(text);
	return 0;
}

static int write_all(struct vms_qmp *q, const char *s, size_t n)
{
	if (q->ops) {
		int rc = transport_exchange(q, s, n && s[n - 1] == '\n' ? n - 1 : n);
		if (rc)
			q->broken = 1;
		return rc;
	}
	while (n) {
		ssize_t w = send(q->fd, s, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			q->broken = 1;
			return qfail(q, errno, "writing QMP socket %s: %s", q->path, strerror(errno));
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int qmp_send(struct vms_qmp *q, const char *name, const char *args_json)
{
	if (q->broken)
		return -EPIPE; /* q->err says why */
	size_t cap = strlen(name) + (args_json ? strlen(args_json) : 0) + 64;
	char *msg = malloc(cap);
	if (!msg)
		return qfail(q, ENOMEM, "out of memory");
	int n = snprintf(msg, cap, "{\"execute\":\"%s\"%s%s}\n", name, args_json ? ",\"arguments\":" : "",
	                 args_json ? args_json : "");
	int rc = write_all(q, msg, (size_t)n);
	free(msg);
	return rc;
}

int qmp_recv(struct vms_qmp *q, const char *name, struct json_doc *reply)
{
	if (q->broken)
		return -EPIPE;
	int rc = read_message(q, reply);
	if (rc)
		return rc;
	int ret = json_get(reply, 0, "return");
	if (ret >= 0)
		return ret;
	int e = json_get(reply, 0, "error");
	const char *desc = json_str(reply, json_get(reply, e, "desc"));
	qfail(q, EREMOTEIO, "QMP %s: %s", name, desc ? desc : "malformed reply");
	json_free(reply);
	return -EREMOTEIO;
}

int qmp_cmd(struct vms_qmp *q, const char *name, const char *args_json, struct json_doc *reply)
{
	int rc = qmp_send(q, name, args_json);
	return rc ? rc : qmp_recv(q, name, reply);
}

int qmp_open_transport(const struct qmp_transport *ops, void *ctx, const char *where, int pid, unsigned timeout_ms,
                       struct vms_qmp **out)
{
	struct vms_qmp *q = calloc(1, sizeof(*q));
	if (!q) {
		ops->close(ctx);
		return -ENOMEM;
	}
	q->fd = -1;
	q->pid = pid;
	q->timeout_ms = timeout_ms ? timeout_ms : 10000;
	q->ops = ops;
	q->ops_ctx = ctx;
	snprintf(q->path, sizeof(q->path), "%s", where);
	*out = q;
	return 0;
}

int qmp_connect(const char *path, unsigned timeout_ms, struct vms_qmp **out, char *err, size_t errlen)
{
	if (strncmp(path, LIBVIRT_PREFIX, strlen(LIBVIRT_PREFIX)) == 0)
		return libvirt_qmp_connect(path + strlen(LIBVIRT_PREFIX), timeout_ms, out, err, errlen);
	struct vms_qmp *q = calloc(1, sizeof(*q));
	if (!q) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	q->fd = -1;
	q->timeout_ms = timeout_ms ? timeout_ms : 10000;
	int rc;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		rc = qfail(q, ENAMETOOLONG, "QMP socket path too long: %s", path);
		goto fail;
	}
	strcpy(sa.sun_path, path);
	strcpy(q->path, path);
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q->fd < 0) {
		rc = qfail(q, errno, "socket: %s", strerror(errno));
		goto fail;
	}
	if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = qfail(q, errno, "cannot connect to QMP socket %s: %s", path, strerror(errno));
		goto fail;
	}
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		q->pid = cred.pid;

	/* The capabilities go out with the connection, not a round trip after
	 * the greeting: QEMU reads them once it has greeted. */
	struct json_doc doc;
	if ((rc = qmp_send(q, "qmp_capabilities", NULL)) || (rc = read_message(q, &doc)))
		goto fail;
	int is_qmp = json_get(&doc, json_get(&doc, 0, "QMP"), "version") >= 0;
	json_free(&doc);
	if (!is_qmp) {
		rc = qfail(q, EPROTO, "%s is not a QMP socket (no QMP greeting)", path);
		goto fail;
	}
	rc = qmp_recv(q, "qmp_capabilities", &doc);
	if (rc < 0)
		goto fail;
	json_free(&doc);
	*out = q;
	return 0;
fail:
	snprintf(err, errlen, "%s", q->err);
	qmp_close(q);
	return rc;
}

struct vms_qmp *qmp_connect_after_us(const char *path)
{
	struct vms_qmp *q = NULL;
	char err[256];
	for (int i = 0; i < 50 && qmp_connect(path, 5000, &q, err, sizeof(err)); i++)
		usleep(100000);
	return q;
}

void qmp_close(struct vms_qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	if (q->ops)
		q->ops->close(q->ops_ctx);
	free(q->buf);
	free(q);
}

int qmp_pid(const struct vms_qmp *q)
{
	return q->pid;
}

void qmp_set_event_handler(struct vms_qmp *q, vms_qmp_event_fn fn, void *ctx)
{
	q->on_event = fn;
	q->event_ctx = ctx;
}

int qmp_poll_events(struct vms_qmp *q, unsigned timeout_ms)
{
	if (q->ops) { /* no events come this way: the wait is all */
		poll(NULL, 0, (int)timeout_ms);
		return 0;
	}
	struct pollfd p = { .fd = q->fd, .events = POLLIN };
	int pr = poll(&p, 1, (int)timeout_ms);
	if (pr <= 0)
		return 0;
	unsigned saved = q->timeout_ms;
	q->timeout_ms = timeout_ms ? timeout_ms : 1;
	size_t n = 0;
	int rc = read_line(q, &n);
	q->timeout_ms = saved;
	if (rc)
		return rc == -ETIMEDOUT ? 0 : rc;
	struct json_doc doc;
	rc = json_parse(q->buf, n, &doc);
	consume_line(q, n);
	if (rc)
		return qfail(q, EPROTO, "%s does not speak QMP (malformed JSON from peer)", q->path);
	dispatch_event(q, &doc);
	json_free(&doc);
	return 1;
}
const char *qmp_socket_path(const struct vms_qmp *q)
{
	return q->path;
}
const char *qmp_err(const struct vms_qmp *q)
{
	return q->err;
}
void qmp_set_timeout(struct vms_qmp *q, unsigned timeout_ms)
{
	q->timeout_ms = timeout_ms;
}

int qmp_hmp_send(struct vms_qmp *q, const char *command)
{
	char args[1024];
	int n = snprintf(args, sizeof(args), "{\"command-line\":");
	n = json_quote(args, sizeof(args), (size_t)n, command);
	if (n < 0 || (size_t)n + 2 > sizeof(args))
		return qfail(q, E2BIG, "HMP command too long");
	strcpy(args + n, "}");
	return qmp_send(q, "human-monitor-command", args);
}

int qmp_hmp_recv(struct vms_qmp *q, char **out)
{
	struct json_doc doc;
	int ret = qmp_recv(q, "human-monitor-command", &doc);
	if (ret < 0)
		return ret;
	const char *s = json_str(&doc, ret);
	if (!s) {
		json_free(&doc);
		return qfail(q, EPROTO, "HMP reply is not text");
	}
	char *o = malloc(strlen(s) + 1);
	if (!o) {
		json_free(&doc);
		return qfail(q, ENOMEM, "out of memory");
	}
	size_t j = 0;
	for (; *s; s++)
		if (*s != '\r')
			o[j++] = *s;
	o[j] = '\0';
	json_free(&doc);
	*out = o;
	return 0;
}

int qmp_hmp(struct vms_qmp *q, const char *command, char **out)
{
	int rc = qmp_hmp_send(q, command);
	return rc ? rc : qmp_hmp_recv(q, out);
}

int qmp_qom_send(struct vms_qmp *q, const char *path, const char *prop)
{
	char args[1024];
	int n = snprintf(args, sizeof(args), "{\"path\":");
	n = json_quote(args, sizeof(args), (size_t)n, path);
	if (n < 0)
		return qfail(q, E2BIG, "QOM path too long");
	n += snprintf(args + n, sizeof(args) - (size_t)n, ",\"property\":");
	n = json_quote(args, sizeof(args), (size_t)n, prop);
	if (n < 0 || (size_t)n + 2 > sizeof(args))
		return qfail(q, E2BIG, "QOM property too long");
	strcpy(args + n, "}");
	return qmp_send(q, "qom-get", args);
}

int qmp_qom_str_recv(struct vms_qmp *q, const char *path, const char *prop, char *out, size_t outlen)
{
	struct json_doc doc;
	int ret = qmp_recv(q, "qom-get", &doc);
	if (ret < 0)
		return ret;
	const char *s = json_str(&doc, ret);
	int rc = 0;
	if (!s)
		rc = qfail(q, EPROTO, "QOM %s.%s is not a string", path, prop);
	else if (strlen(s) >= outlen)
		rc = qfail(q, E2BIG, "QOM %s.%s too long", path, prop);
	else
		strcpy(out, s);
	json_free(&doc);
	return rc;
}

int qmp_qom_u64_recv(struct vms_qmp *q, const char *path, const char *prop, uint64_t *out)
{
	struct json_doc doc;
	int ret = qmp_recv(q, "qom-get", &doc);
	if (ret < 0)
		return ret;
	int rc = json_u64(&doc, ret, out);
	if (rc)
		qfail(q, EPROTO, "QOM %s.%s is not an unsigned integer", path, prop);
	json_free(&doc);
	return rc ? -EPROTO : 0;
}

int qmp_qom_str(struct vms_qmp *q, const char *path, const char *prop, char *out, size_t outlen)
{
	int rc = qmp_qom_send(q, path, prop);
	return rc ? rc : qmp_qom_str_recv(q, path, prop, out, outlen);
}

int qmp_qom_u64(struct vms_qmp *q, const char *path, const char *prop, uint64_t *out)
{
	int rc = qmp_qom_send(q, path, prop);
	return rc ? rc : qmp_qom_u64_recv(q, path, prop, out);
}
