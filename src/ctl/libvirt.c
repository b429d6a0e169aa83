/*
 * libvirt domains as QMP peers (see libvirt.h).
 *
 * libvirt owns the domain's one monitor socket; virDomainQemuMonitorCommand
 * hands it one QMP command at a time and returns QEMU's reply as is (with
 * the error object, if any), which is exactly the qmp_transport contract,
 * so every QMP code path of vmsight runs unchanged on top. HMP goes with
 * libvirt's HMP flag (libvirt wraps it in human-monitor-command itself).
 * What the passthrough cannot carry: QMP events (libvirt consumes them) and
 * file descriptors; libvirt also marks the domain "tainted: custom-monitor"
 * in its log the first time, as it does for virsh qemu-monitor-command.
 *
 * The QEMU process behind a domain is not virDomainGetID (that is libvirt's
 * own number): libvirt writes its pid to <run dir>/qemu/NAME.pid, which is
 * read and checked against /proc/PID/cmdline (-name guest=NAME) before the
 * memory sources get it.
 *
 * One connection to libvirtd per process and URI is kept open: opening one
 * costs a handshake, and a target asks QMP many short questions. A forked
 * child (a guardian, a per-domain worker) must not use its parent's
 * connection, so the cache remembers whose it is.
 */
#include "libvirt.h"

#include "qemu.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int libvirt_parse(const char *spec, char *name, size_t namelen, char *uri, size_t urilen)
{
	const char *at = strchr(spec, '@');
	size_t n = at ? (size_t)(at - spec) : strlen(spec);
	if (n == 0)
		return -EINVAL;
	if (n >= namelen)
		return -ENAMETOOLONG;
	memcpy(name, spec, n);
	name[n] = '\0';
	const char *u = at && at[1] ? at + 1 : LIBVIRT_DEFAULT_URI;
	if (strlen(u) >= urilen)
		return -ENAMETOOLONG;
	strcpy(uri, u);
	return 0;
}

#ifndef VMS_HAVE_LIBVIRT

static const char no_libvirt[] =
        "this vmsight was built without libvirt: install libvirt-dev (apt-get install libvirt-dev) "
        "and rebuild (meson setup --reconfigure -Dlibvirt=enabled build)";

int libvirt_available(void)
{
	return 0;
}

int libvirt_qmp_connect(const char *spec, unsigned timeout_ms, struct vms_qmp **out, char *err, size_t errlen)
{
	(void)spec, (void)timeout_ms, (void)out;
	snprintf(err, errlen, "%s", no_libvirt);
	return -ENOTSUP;
}

int libvirt_list(const char *uri, unsigned flags, struct libvirt_domain **out, size_t *count, char *err, size_t errlen)
{
	(void)uri, (void)flags, (void)out, (void)count;
	snprintf(err, errlen, "%s", no_libvirt);
	return -ENOTSUP;
}

#else

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* libvirt is loaded when a libvirt: target is first used, not linked: its
 * library pulls in some sixty others (GnuTLS, GLib, libxml2, ICU, ...)
 * whose start-up cost (about 25 ms) every vmsight command would pay.
 * Builds with AddressSanitizer link it (VMS_LIBVIRT_LINKED, meson.build):
 * ASan binds its interceptors of libtirpc's XDR functions, which libvirt's
 * RPC uses, at start-up, and a libtirpc loaded later would have them call
 * NULL. */
#define LV_API(X)                      \
	X(virConnectClose)             \
	X(virConnectIsAlive)           \
	X(virConnectListAllDomains)    \
	X(virConnectOpen)              \
	X(virConnectRef)               \
	X(virDomainFree)               \
	X(virDomainGetInfo)            \
	X(virDomainGetName)            \
	X(virDomainGetState)           \
	X(virDomainGetXMLDesc)         \
	X(virDomainIsActive)           \
	X(virDomainLookupByName)       \
	X(virDomainQemuMonitorCommand) \
	X(virDomainRef)                \
	X(virGetLastError)             \
	X(virGetLastErrorMessage)      \
	X(virSetErrorFunc)

static struct {
#define LV_FIELD(f) __typeof__(f) *f;
	LV_API(LV_FIELD)
#undef LV_FIELD
} api;

static int api_loaded;
static char api_err[256];

static void api_load(void)
{
#ifdef VMS_LIBVIRT_LINKED
#define LV_TAKE(f) api.f = f;
	LV_API(LV_TAKE)
#undef LV_TAKE
#else
	void *h = dlopen("libvirt-qemu.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(api_err, sizeof(api_err), "cannot load libvirt (%s): apt-get install libvirt0", dlerror());
		return;
	}
#define LV_FIND(f)                                                                                        \
	if (!(api.f = (__typeof__(f) *)dlsym(h, #f))) {                                                   \
		snprintf(api_err, sizeof(api_err), "libvirt-qemu.so.0 has no %s: too old a libvirt", #f); \
		dlclose(h);                                                                               \
		return;                                                                                   \
	}
	LV_API(LV_FIND)
#undef LV_FIND
#endif
	api_loaded = 1;
}

/* 0 once libvirt is loaded; else -ENOTSUP with why in ERR. */
static int api_ready(char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, api_load);
	if (api_loaded)
		return 0;
	snprintf(err, errlen, "%s", api_err);
	return -ENOTSUP;
}

int libvirt_available(void)
{
	return 1;
}

/* libvirt prints every error on stderr unless told otherwise: vmsight
 * reports them itself, once, with what to do. */
static void quiet(void *ctx, virErrorPtr e)
{
	(void)ctx, (void)e;
}

static const char *last_error(void)
{
	const char *m = api.virGetLastErrorMessage();
	return m ? m : "unknown libvirt error";
}

static struct {
	virConnectPtr conn;
	char uri[256];
	pid_t owner;
} cache;

/* A reference to the connection to URI (the process's cached one when it
 * is this process's and alive); release it with virConnectClose. */
static virConnectPtr conn_get(const char *uri, char *err, size_t errlen)
{
	if (api_ready(err, errlen))
		return NULL;
	if (cache.conn && cache.owner == getpid() && strcmp(cache.uri, uri) == 0 &&
	    api.virConnectIsAlive(cache.conn) == 1 && api.virConnectRef(cache.conn) == 0)
		return cache.conn;
	if (cache.conn && cache.owner == getpid())
		api.virConnectClose(cache.conn);
	cache.conn = NULL; /* a parent's connection is never closed (nor used) here */
	api.virSetErrorFunc(NULL, quiet);
	virConnectPtr c = api.virConnectOpen(uri);
	if (!c) {
		snprintf(err, errlen,
		         "cannot connect to libvirt at %s: %s (is libvirtd running, and are you root or in group "
		         "libvirt?)",
		         uri, last_error());
		return NULL;
	}
	if (strlen(uri) < sizeof(cache.uri) && api.virConnectRef(c) == 0) {
		cache.conn = c;
		cache.owner = getpid();
		strcpy(cache.uri, uri);
	}
	return c;
}

/* ---- the transport ---- */

struct lv_ctx {
	virConnectPtr conn;
	virDomainPtr dom;
	char name[256];
};

static int lv_fail(const struct lv_ctx *c, char *err, size_t errlen)
{
	virErrorPtr e = api.virGetLastError();
	int code = e ? e->code : 0;
	snprintf(err, errlen, "libvirt, domain %s: %s", c->name, last_error());
	if (code == VIR_ERR_OPERATION_INVALID) /* the domain stopped meanwhile */
		return -ESRCH;
	if (code == VIR_ERR_OPERATION_TIMEOUT)
		return -ETIMEDOUT;
	return -EIO;
}

static int lv_exchange(void *ctx, const char *cmd, char **reply, char *err, size_t errlen)
{
	struct lv_ctx *c = ctx;
	char *r = NULL;
	if (api.virDomainQemuMonitorCommand(c->dom, cmd, &r, 0) < 0 || !r)
		return lv_fail(c, err, errlen);
	*reply = r;
	return 0;
}

static void lv_close(void *ctx)
{
	struct lv_ctx *c = ctx;
	if (c->dom)
		api.virDomainFree(c->dom);
	if (c->conn)
		api.virConnectClose(c->conn);
	free(c);
}

static const struct qmp_transport lv_ops = {
	.name = "libvirt",
	.exchange = lv_exchange,
	.close = lv_close,
};

/* libvirt's run directory for URI's QEMU driver. */
static int run_dir(const char *uri, char *out, size_t len)
{
	if (strcmp(uri, "qemu:///system") == 0 || strncmp(uri, "qemu:///system?", 15) == 0)
		return snprintf(out, len, "/run/libvirt/qemu") >= (int)len ? -1 : 0;
	if (strncmp(uri, "qemu:///session", 15) == 0) {
		const char *x = getenv("XDG_RUNTIME_DIR");
		return x && snprintf(out, len, "%s/libvirt/qemu/run", x) < (int)len ? 0 : -1;
	}
	return -1; /* a remote host: its processes are not ours to read */
}

/* QEMU's pid from libvirt's pid file, if /proc says it runs domain NAME. */
static int qemu_pid(const char *uri, const char *name)
{
	char dir[512], path[1024], buf[4096];
	if (run_dir(uri, dir, sizeof(dir)) || snprintf(path, sizeof(path), "%s/%s.pid", dir, name) >= (int)sizeof(path))
		return 0;
	FILE *f = fopen(path, "re");
	long pid = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 0 || pid > 0x3fffffff)
		pid = 0;
	fclose(f);
	if (!pid)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	char want[300];
	snprintf(want, sizeof(want), "guest=%s", name);
	for (ssize_t i = 0; i < n; i++) /* arguments are NUL-separated: search them as one string */
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	const char *hit = strstr(buf, want);
	if (!hit)
		return 0;
	char end = hit[strlen(want)];
	return end == ',' || end == ' ' || end == '\0' ? (int)pid : 0;
}

int libvirt_qmp_connect(const char *spec, unsigned timeout_ms, struct vms_qmp **out, char *err, size_t errlen)
{
	char uri[256], where[108];
	struct lv_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = libvirt_parse(spec, c->name, sizeof(c->name), uri, sizeof(uri));
	if (rc) {
		snprintf(err, errlen, "bad libvirt target '%s' (expected libvirt:NAME or libvirt:NAME@URI)", spec);
		free(c);
		return rc;
	}
	if (!(c->conn = conn_get(uri, err, errlen))) {
		free(c);
		return -ECONNREFUSED;
	}
	c->dom = api.virDomainLookupByName(c->conn, c->name);
	if (!c->dom) {
		snprintf(err, errlen, "no libvirt domain '%s' at %s (virsh -c %s list --all)", c->name, uri, uri);
		rc = -ENOENT;
		goto fail;
	}
	int active = api.virDomainIsActive(c->dom);
	if (active != 1) {
		if (active == 0)
			snprintf(err, errlen, "libvirt domain '%s' is shut off (virsh -c %s start %s)", c->name, uri,
			         c->name);
		else
			snprintf(err, errlen, "libvirt domain '%s': %s", c->name, last_error());
		rc = active == 0 ? -ESRCH : -EIO;
		goto fail;
	}
	snprintf(where, sizeof(where), "libvirt:%s", spec);
	return qmp_open_transport(&lv_ops, c, where, qemu_pid(uri, c->name), timeout_ms, out);
fail:
	lv_close(c);
	return rc;
}

/* ---- listing ---- */

/* Whether the XML between FROM and TO (exclusive; NULL: to the end)
 * contains NEEDLE. */
static int xml_has(const char *from, const char *to, const char *needle)
{
	const char *p = from ? strstr(from, needle) : NULL;
	return p && (!to || p < to);
}

static void xml_facts(const char *xml, struct libvirt_domain *d)
{
	const char *mb = strstr(xml, "<memoryBacking>");
	const char *mb_end = mb ? strstr(mb, "</memoryBacking>") : NULL;
	if (mb && mb_end) {
		d->mem_memfd = xml_has(mb, mb_end, "type='memfd'");
		d->mem_file = xml_has(mb, mb_end, "type='file'");
		d->mem_shared = xml_has(mb, mb_end, "mode='shared'");
	}
	d->has_ivshmem = strstr(xml, "ivshmem-plain") != NULL;
	d->has_debugcon = strstr(xml, "isa-debugcon") != NULL;
	d->has_gdb_arg = strstr(xml, "<qemu:arg value='-gdb'/>") != NULL ||
	                 strstr(xml, "<qemu:arg value='-s'/>") != NULL;
}

static int gdb_port_of(virConnectPtr conn, virDomainPtr dom, const char *name)
{
	struct lv_ctx *c = calloc(1, sizeof(*c));
	struct vms_qmp *q;
	if (!c || api.virDomainRef(dom) || api.virConnectRef(conn)) {
		free(c);
		return -ENOMEM;
	}
	c->conn = conn;
	c->dom = dom;
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (qmp_open_transport(&lv_ops, c, name, 0, 10000, &q))
		return -ENOMEM;
	int port = qemu_gdb_port(q);
	qmp_close(q);
	return port;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct libvirt_domain *)a)->name, ((const struct libvirt_domain *)b)->name);
}

int libvirt_list(const char *uri, unsigned flags, struct libvirt_domain **out, size_t *count, char *err, size_t errlen)
{
	if (!uri)
		uri = LIBVIRT_DEFAULT_URI;
	virConnectPtr conn = conn_get(uri, err, errlen);
	if (!conn)
		return -ECONNREFUSED;
	virDomainPtr *doms = NULL;
	int n = api.virConnectListAllDomains(conn, &doms,
	                                     flags & LIBVIRT_LIST_ACTIVE ? VIR_CONNECT_LIST_DOMAINS_ACTIVE : 0);
	if (n < 0) {
		snprintf(err, errlen, "listing the domains at %s: %s", uri, last_error());
		api.virConnectClose(conn);
		return -EIO;
	}
	struct libvirt_domain *d = calloc(n ? (size_t)n : 1, sizeof(*d));
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		const char *name = api.virDomainGetName(doms[i]);
		if (d && name && strlen(name) < sizeof(d[k].name)) {
			struct libvirt_domain *e = &d[k++];
			int state = 0, reason = 0;
			strcpy(e->name, name);
			if (!(flags & LIBVIRT_LIST_DETAIL)) {
				e->active = (flags & LIBVIRT_LIST_ACTIVE) != 0; /* known only as asked for */
				api.virDomainFree(doms[i]);
				continue;
			}
			e->active = api.virDomainIsActive(doms[i]) == 1;
			if (api.virDomainGetState(doms[i], &state, &reason, 0) == 0)
				e->paused = state == VIR_DOMAIN_PAUSED;
			virDomainInfo info;
			if (api.virDomainGetInfo(doms[i], &info) == 0)
				e->mem_kib = info.memory;
			char *xml = api.virDomainGetXMLDesc(doms[i], 0);
			if (xml) {
				xml_facts(xml, e);
				free(xml);
			}
			e->pid = e->active ? qemu_pid(uri, name) : 0;
			if (e->active)
				e->gdb_port = gdb_port_of(conn, doms[i], name);
		}
		api.virDomainFree(doms[i]);
	}
	free(doms);
	api.virConnectClose(conn);
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	qsort(d, k, sizeof(*d), by_name);
	*out = d;
	*count = k;
	return 0;
}

#endif
