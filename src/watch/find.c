/*
 * Finding the agent's channels in a running QEMU through QMP.
 *
 * The devices are found by type, not by name, so a VM set up by hand or by
 * libvirt works as well as the lab's: every child of /machine/peripheral
 * (devices with an id) and /machine/peripheral-anon is listed, and
 *   ivshmem-plain  ->  its memdev (a QOM path)  ->  the backend's mem-path
 *   isa-debugcon   ->  its chardev label  ->  query-chardev's filename,
 *                      "unix:PATH,server=on" (maybe "disconnected:" first)
 * Where there are several ivshmem devices, one whose id starts with
 * "vmsight" wins.
 */
#include "find.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/json.h"
#include "ctl/qmp.h"

static int qom_list(struct vms_qmp *q, const char *path, struct json_doc *doc)
{
	char args[512];
	int n = snprintf(args, sizeof(args), "{\"path\":");
	n = json_quote(args, sizeof(args), (size_t)n, path);
	if (n < 0 || (size_t)n + 2 > sizeof(args))
		return -E2BIG;
	strcpy(args + n, "}");
	return qmp_cmd(q, "qom-list", args, doc);
}

/* filename of chardev LABEL: the unix socket path, or -ENOENT. */
static int chardev_socket(struct vms_qmp *q, const char *label, char *out, size_t outlen)
{
	struct json_doc doc;
	int ret = qmp_cmd(q, "query-chardev", NULL, &doc);
	if (ret < 0)
		return ret;
	int rc = -ENOENT;
	for (int i = 0, c; (c = json_at(&doc, ret, i)) >= 0; i++) {
		const char *l = json_str(&doc, json_get(&doc, c, "label"));
		const char *f = json_str(&doc, json_get(&doc, c, "filename"));
		if (!l || !f || strcmp(l, label) != 0)
			continue;
		if (strncmp(f, "disconnected:", 13) == 0)
			f += 13;
		if (strncmp(f, "unix:", 5) != 0)
			break;
		f += 5;
		size_t n = strcspn(f, ",");
		if (n == 0 || n >= outlen) {
			rc = -E2BIG;
			break;
		}
		memcpy(out, f, n);
		out[n] = 0;
		rc = 0;
		break;
	}
	json_free(&doc);
	return rc;
}

int watch_find(const char *qmp_path, unsigned timeout_ms, struct vms_watch_found *out, char *err, size_t errlen)
{
	static const char *const parents[] = { "/machine/peripheral", "/machine/peripheral-anon" };
	struct vms_qmp *q;
	memset(out, 0, sizeof(*out));
	int rc = qmp_connect(qmp_path, timeout_ms, &q, err, errlen);
	if (rc)
		return rc;
	out->qemu_pid = qmp_pid(q);
	int best_named = 0;
	for (size_t p = 0; p < 2; p++) {
		struct json_doc doc;
		int ret = qom_list(q, parents[p], &doc);
		if (ret < 0)
			continue;
		for (int i = 0, c; (c = json_at(&doc, ret, i)) >= 0; i++) {
			const char *name = json_str(&doc, json_get(&doc, c, "name"));
			const char *type = json_str(&doc, json_get(&doc, c, "type"));
			char dev[512], val[512];
			if (!name || !type || snprintf(dev, sizeof(dev), "%s/%s", parents[p], name) >= (int)sizeof(dev))
				continue;
			if (strcmp(type, "child<ivshmem-plain>") == 0) {
				int named = strncmp(name, "vmsight", 7) == 0;
				if (out->shm_path[0] && (best_named || !named))
					continue;
				if (qmp_qom_str(q, dev, "memdev", val, sizeof(val)) == 0 &&
				    qmp_qom_str(q, val, "mem-path", out->shm_path, sizeof(out->shm_path)) == 0) {
					snprintf(out->shm_device, sizeof(out->shm_device), "%s", dev);
					best_named = named;
				} else {
					out->shm_path[0] = 0;
					snprintf(out->shm_problem, sizeof(out->shm_problem),
					         "%s: its memory backend has no file (memory-backend-file needed): %s",
					         dev, qmp_err(q));
				}
			} else if (strcmp(type, "child<isa-debugcon>") == 0 && !out->socket_path[0]) {
				if (qmp_qom_str(q, dev, "chardev", val, sizeof(val)) == 0 &&
				    chardev_socket(q, val, out->socket_path, sizeof(out->socket_path)) == 0) {
					snprintf(out->socket_device, sizeof(out->socket_device), "%s", dev);
					uint64_t port;
					if (qmp_qom_u64(q, dev, "iobase", &port) == 0)
						out->port = (unsigned)port;
				}
			}
		}
		json_free(&doc);
	}
	qmp_close(q);
	return 0;
}
