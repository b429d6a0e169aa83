/*
 * QMP client: QEMU's JSON machine protocol over a unix socket, or through
 * libvirt's monitor passthrough.
 *
 * QEMU serves one QMP client per socket at a time, so vmsight connects only
 * while it needs to (discovery, pause/resume, registers) and never keeps the
 * socket from other tools longer than a command takes. (libvirt multiplexes
 * its own monitor connection: holding it locks no one out.)
 */
#ifndef VMS_CTL_QMP_H
#define VMS_CTL_QMP_H

#include <stddef.h>
#include <stdint.h>

#include "util/json.h"

struct vms_qmp;

/* A transport other than a socket (libvirt's monitor passthrough): EXCHANGE
 * sends one command (a JSON object, no newline) and returns its whole reply
 * document, malloc'd, or -errno with ERR set; CLOSE frees CTX. Replies are
 * queued as they come, so the pipelined halves below work alike (each
 * command is then its own round trip). Such a transport delivers no
 * asynchronous events. */
struct qmp_transport {
	const char *name;
	int (*exchange)(void *ctx, const char *cmd, char **reply, char *err, size_t errlen);
	void (*close)(void *ctx);
};

/* Wrap an open transport (takes CTX: closed by qmp_close, also on failure).
 * WHERE names it in messages; PID is QEMU's (0 if unknown). */
int qmp_open_transport(const struct qmp_transport *ops, void *ctx, const char *where, int pid, unsigned timeout_ms,
                       struct vms_qmp **out);

/* Connect, read the greeting and negotiate capabilities (sent with the
 * connection, so this costs one round trip). The peer's pid (via
 * SO_PEERCRED) is available afterwards. PATH libvirt:NAME[@URI] goes
 * through libvirt instead (libvirt.h). */
int qmp_connect(const char *path, unsigned timeout_ms, struct vms_qmp **out, char *err, size_t errlen);
/* For a guardian taking over once vmsight has died: QEMU serves one QMP
 * client and frees the slot only when it sees our connection close, so
 * this tries for up to 5 s. NULL if QEMU never takes it. */
struct vms_qmp *qmp_connect_after_us(const char *path);
void qmp_close(struct vms_qmp *q);
int qmp_pid(const struct vms_qmp *q);
const char *qmp_socket_path(const struct vms_qmp *q);
const char *qmp_err(const struct vms_qmp *q);
void qmp_set_timeout(struct vms_qmp *q, unsigned timeout_ms);

/* Asynchronous events (STOP, RESUME, MIGRATION, ...) met while waiting for
 * replies go to FN with QEMU's timestamp in microseconds. */
typedef void (*vms_qmp_event_fn)(void *ctx, const char *event, int64_t timestamp_us);
void qmp_set_event_handler(struct vms_qmp *q, vms_qmp_event_fn fn, void *ctx);

/* Wait up to TIMEOUT_MS for one event and dispatch it: 1 if one came, 0 if
 * none, or -errno. */
int qmp_poll_events(struct vms_qmp *q, unsigned timeout_ms);

/* Run NAME with ARGS_JSON (an object literal, or NULL). On success the reply
 * document is in *reply and the returned index is its "return" node; on a QMP
 * error, -EREMOTEIO with the error's text in qmp_err. */
int qmp_cmd(struct vms_qmp *q, const char *name, const char *args_json, struct json_doc *reply);

/* The two halves of qmp_cmd, for pipelining: several commands sent at once,
 * then their replies received in the same order (QEMU runs them in order), a
 * round trip for all of them. Every command sent must be received. */
int qmp_send(struct vms_qmp *q, const char *name, const char *args_json);
int qmp_recv(struct vms_qmp *q, const char *name, struct json_doc *reply);

/* Run an HMP command through human-monitor-command; the text output (CRs
 * removed) is malloc'd into *out. */
int qmp_hmp(struct vms_qmp *q, const char *command, char **out);
int qmp_hmp_send(struct vms_qmp *q, const char *command);
int qmp_hmp_recv(struct vms_qmp *q, char **out);

/* qom-get of a string or integer property. */
int qmp_qom_str(struct vms_qmp *q, const char *path, const char *prop, char *out, size_t outlen);
int qmp_qom_u64(struct vms_qmp *q, const char *path, const char *prop, uint64_t *out);
/* ... and their halves (qmp_send/qmp_recv). */
int qmp_qom_send(struct vms_qmp *q, const char *path, const char *prop);
int qmp_qom_str_recv(struct vms_qmp *q, const char *path, const char *prop, char *out, size_t outlen);
int qmp_qom_u64_recv(struct vms_qmp *q, const char *path, const char *prop, uint64_t *out);

#endif
