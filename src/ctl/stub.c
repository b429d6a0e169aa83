/*
 * vmsight's own GDB stub in a QEMU that has none (see stub.h).
 *
 * The port is one the kernel just handed out on 127.0.0.1 and gave back;
 * QEMU binds it a moment later (a race with another binder only makes the
 * start fail, with QEMU's message). QEMU 7.2's `gdbserver none` closes the
 * listening chardev, so query-chardev shows no "gdb" afterwards, as before.
 */
#include "stub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qemu.h"
#include "util/json.h"

enum { STUB_UP = 'S' };

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int port = -1;
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	else
		port = -errno;
	close(fd);
	return port;
}

/* Whether a debugger is connected to the "gdb" chardev: 1, 0, or -errno. */
static int debugger_connected(struct vms_qmp *q)
{
	struct json_doc doc;
	int ret = qmp_cmd(q, "query-chardev", NULL, &doc);
	if (ret < 0)
		return ret;
	int connected = 0;
	for (int i = 0, c; (c = json_at(&doc, ret, i)) >= 0; i++) {
		const char *label = json_str(&doc, json_get(&doc, c, "label"));
		const char *fn = json_str(&doc, json_get(&doc, c, "filename"));
		if (label && fn && strcmp(label, "gdb") == 0 && strncmp(fn, "disconnected:", 13) != 0)
			connected = 1;
	}
	json_free(&doc);
	return connected;
}

static int stop_stub(struct vms_qmp *q, int wait_detach_ms)
{
	for (int waited = 0; waited < wait_detach_ms && debugger_connected(q) == 1; waited += 100)
		poll(NULL, 0, 100);
	char *out = NULL;
	int rc = qmp_hmp(q, "gdbserver none", &out);
	free(out);
	return rc;
}

/* In the guardian, once vmsight died with the stub up: let the GDB
 * guardian detach (breakpoints go with the debugger), then stop the stub. */
static void stub_undo(void *ctx, int note)
{
	const struct qemu_stub *s = ctx;
	struct vms_qmp *q = NULL;
	char err[256];
	if (note != STUB_UP)
		return;
	for (int i = 0; i < 50 && qmp_connect(s->qmp_path, 5000, &q, err, sizeof(err)); i++)
		usleep(100000);
	if (!q)
		return;
	stop_stub(q, 10000);
	qmp_close(q);
}

int stub_start(struct vms_qmp *q, struct qemu_stub *s, char *err, size_t errlen)
{
	char cmd[64], *out = NULL;
	s->guard = (struct guard)GUARD_INIT;
	s->port = 0;
	snprintf(s->qmp_path, sizeof(s->qmp_path), "%s", qmp_socket_path(q));
	int port = free_port();
	if (port < 0) {
		snprintf(err, errlen, "no free loopback port for a GDB stub: %s", strerror(-port));
		return port;
	}
	/* armed first: killed between the start and the note, nothing is left
	 * to undo but a stub whose port we never learnt — so note right after */
	int rc = guard_arm(&s->guard, NULL, 0, stub_undo, s, err, errlen);
	if (rc)
		return rc;
	snprintf(cmd, sizeof(cmd), "gdbserver tcp:127.0.0.1:%d", port);
	guard_note(&s->guard, STUB_UP);
	rc = qmp_hmp(q, cmd, &out);
	if (rc) {
		snprintf(err, errlen, "starting a GDB stub (%s): %s", cmd, qmp_err(q));
		guard_disarm(&s->guard);
		return rc;
	}
	int got = qemu_gdb_port(q);
	if (got != port) {
		snprintf(err, errlen, "QEMU did not start a GDB stub on port %d: %.200s", port, out ? out : "");
		free(out);
		stop_stub(q, 0);
		guard_disarm(&s->guard);
		return -EIO;
	}
	free(out);
	s->port = port;
	return 0;
}

int stub_stop(struct qemu_stub *s, char *err, size_t errlen)
{
	if (!s->port)
		return 0;
	struct vms_qmp *q = NULL;
	int rc = qmp_connect(s->qmp_path, s->timeout_ms ? s->timeout_ms : 10000, &q, err, errlen);
	if (rc == 0) {
		rc = stop_stub(q, 2000);
		if (rc)
			snprintf(err, errlen, "stopping vmsight's GDB stub (gdbserver none): %s", qmp_err(q));
		qmp_close(q);
	}
	if (rc == 0) {
		guard_disarm(&s->guard);
		s->port = 0;
	}
	return rc;
}
