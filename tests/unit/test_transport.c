/*
 * The QMP transport seam (ctl/qmp.h) with a scripted transport, and the
 * libvirt target spec: what `-t libvirt:...` relies on without a libvirtd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ctl/libvirt.h"
#include "ctl/qemu.h"
#include "ctl/qmp.h"

struct script {
	char last_cmd[512];
	const char *reply; /* what exchange answers */
	int closed;
};

static int ex(void *ctx, const char *cmd, char **reply, char *err, size_t errlen)
{
	struct script *s = ctx;
	snprintf(s->last_cmd, sizeof(s->last_cmd), "%s", cmd);
	if (!s->reply) {
		snprintf(err, errlen, "domain is not running");
		return -ESRCH;
	}
	*reply = strdup(s->reply);
	return 0;
}

static void cl(void *ctx)
{
	((struct script *)ctx)->closed = 1;
}

static const struct qmp_transport ops = { .name = "script", .exchange = ex, .close = cl };

int main(void)
{
	struct script s = { 0 };
	struct vms_qmp *q;
	struct json_doc d;
	CHECK(qmp_open_transport(&ops, &s, "libvirt:vm1", 4242, 1000, &q) == 0);
	CHECK(qmp_pid(q) == 4242 && strcmp(qmp_socket_path(q), "libvirt:vm1") == 0);

	/* a command goes out whole, without the socket's newline; the reply's
	 * "return" is found as on a socket, the "id" libvirt adds ignored */
	s.reply = "{\"return\":{\"running\":true,\"status\":\"running\"},\"id\":\"libvirt-7\"}";
	int r = qmp_cmd(q, "query-status", NULL, &d);
	CHECK(r >= 0 && strcmp(s.last_cmd, "{\"execute\":\"query-status\"}") == 0);
	if (r >= 0) {
		CHECK(json_bool(&d, json_get(&d, r, "running")) == 1);
		json_free(&d);
	}
	CHECK(qemu_running(q) == 1);

	/* QMP errors come back in the reply */
	s.reply = "{\"id\":\"libvirt-8\",\"error\":{\"class\":\"GenericError\",\"desc\":\"nope\"}}";
	CHECK(qmp_cmd(q, "migrate", "{\"uri\":\"x\"}", &d) == -EREMOTEIO && strstr(qmp_err(q), "nope"));
	CHECK(strcmp(s.last_cmd, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"x\"}}") == 0);

	/* HMP goes as human-monitor-command, CRs removed; a reply spread over
	 * lines (JSON whitespace) is one document */
	char *out = NULL;
	s.reply = "{\"return\":\n \"line one\\r\\nline two\\r\\n\"}";
	CHECK(qmp_hmp(q, "info registers", &out) == 0 &&
	      strcmp(s.last_cmd,
	             "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":"
	             "\"info registers\"}}") == 0);
	CHECK(out && strcmp(out, "line one\nline two\n") == 0);
	free(out);

	/* the pipelined halves: each command is answered as it is sent, the
	 * replies are received in order */
	s.reply = "{\"return\":{\"status\":\"paused\",\"running\":false}}";
	CHECK(qmp_send(q, "query-status", NULL) == 0);
	s.reply = "{\"return\":{\"enabled\":false,\"present\":true}}";
	CHECK(qmp_send(q, "query-kvm", NULL) == 0);
	r = qmp_recv(q, "query-status", &d);
	CHECK(r >= 0 && json_bool(&d, json_get(&d, r, "running")) == 0);
	if (r >= 0)
		json_free(&d);
	r = qmp_recv(q, "query-kvm", &d);
	CHECK(r >= 0 && json_bool(&d, json_get(&d, r, "present")) == 1);
	if (r >= 0)
		json_free(&d);

	/* malformed replies and transport failures are errors, never crashes;
	 * after one, the connection refuses further commands, as a socket's */
	s.reply = "{\"return\":";
	CHECK(qmp_cmd(q, "query-status", NULL, &d) == -EPROTO);
	s.reply = "{\"return\":{}}";
	CHECK(qmp_cmd(q, "query-status", NULL, &d) == -EPIPE && strstr(qmp_err(q), "malformed"));
	qmp_close(q);
	CHECK(s.closed == 1);
	s.closed = 0;
	CHECK(qmp_open_transport(&ops, &s, "libvirt:vm1", 4242, 1000, &q) == 0);
	s.reply = NULL;
	CHECK(qmp_cmd(q, "query-status", NULL, &d) == -ESRCH && strstr(qmp_err(q), "not running"));

	/* no events come this way: polling waits and reports none */
	CHECK(qmp_poll_events(q, 1) == 0);
	qmp_close(q);
	CHECK(s.closed == 1);

	/* the target spec */
	char name[16], uri[64];
	CHECK(libvirt_parse("web1", name, sizeof(name), uri, sizeof(uri)) == 0 && strcmp(name, "web1") == 0 &&
	      strcmp(uri, "qemu:///system") == 0);
	CHECK(libvirt_parse("web1@qemu:///session", name, sizeof(name), uri, sizeof(uri)) == 0 &&
	      strcmp(uri, "qemu:///session") == 0);
	CHECK(libvirt_parse("web1@", name, sizeof(name), uri, sizeof(uri)) == 0 && strcmp(uri, "qemu:///system") == 0);
	CHECK(libvirt_parse("", name, sizeof(name), uri, sizeof(uri)) == -EINVAL);
	CHECK(libvirt_parse("@qemu:///system", name, sizeof(name), uri, sizeof(uri)) == -EINVAL);
	CHECK(libvirt_parse("a-name-longer-than-16", name, sizeof(name), uri, sizeof(uri)) == -ENAMETOOLONG);
	return check_report("transport");
}
