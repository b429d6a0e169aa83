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
	char last_hmp[128];
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

static int hmp(void *ctx, const char *cmd, char **out, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	struct script *s = ctx;
	snprintf(s->last_hmp, sizeof(s->last_hmp), "%s", cmd);
	*out = strdup("line one\r\nline two\r\n");
	return 0;
}

static void cl(void *ctx)
{
	((struct script *)ctx)->closed = 1;
}

static const struct qmp_transport ops = { .name = "script", .exchange = ex, .hmp = hmp, .close = cl };

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

	/* malformed replies and transport failures are errors, never crashes */
	s.reply = "{\"return\":";
	CHECK(qmp_cmd(q, "query-status", NULL, &d) == -EPROTO);
	s.reply = NULL;
	CHECK(qmp_cmd(q, "query-status", NULL, &d) == -ESRCH && strstr(qmp_err(q), "not running"));

	/* HMP goes through the transport's own HMP, CRs removed */
	char *out = NULL;
	CHECK(qmp_hmp(q, "info registers", &out) == 0 && strcmp(s.last_hmp, "info registers") == 0);
	CHECK(out && strcmp(out, "line one\nline two\n") == 0);
	free(out);

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
