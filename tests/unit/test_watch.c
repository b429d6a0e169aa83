/*
 * Unit tests of the agent channels' host side against a fake agent: the
 * agent's own ring producer (agent/ring.c) writing into a malloc'd region,
 * and hand-made hostile regions and streams. Checks round trips of every
 * size (wrapping the ring), the full ring (drops), agent restarts with and
 * without a reader keeping up, and that damage is counted, never followed.
 * Then the stream's own duties: filters that drop events before enrichment,
 * the end of the watch when the process holding the region exits, and the
 * silence notice that says which channel the agent is on.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../agent/ring.h"
#include "check.h"
#include "vmsight/vmsight.h"
#include "watch/filter.h"
#include "watch/wire.h"

#define REGION_SLOTS 600u
#define REGION_BYTES (VMS_WIRE_HEADER_BYTES + REGION_SLOTS * VMS_WIRE_SLOT_BYTES)

static size_t make_blob(uint8_t *buf, uint16_t kind, uint64_t id, const char *comm, size_t path_len, size_t path2_len)
{
	struct vms_wire_event e = { .kind = kind, .pid = 100 + (int32_t)id, .tid = -1, .uid = 0, .event_id = id };
	e.comm_len = (uint16_t)strlen(comm);
	e.path_len = (uint16_t)path_len;
	e.path2_len = (uint16_t)path2_len;
	e.ts_ns = id * 1000;
	memcpy(buf, &e, sizeof(e));
	size_t off = sizeof(e);
	memcpy(buf + off, comm, e.comm_len);
	off += e.comm_len;
	for (size_t i = 0; i < path_len; i++)
		buf[off++] = (uint8_t)('a' + (id + i) % 26);
	for (size_t i = 0; i < path2_len; i++)
		buf[off++] = (uint8_t)('A' + (id + i) % 26);
	return off;
}

static int check_blob(const uint8_t *blob, size_t len, uint64_t id, size_t path_len, size_t path2_len)
{
	struct vms_wire_decoded d;
	if (wire_decode(blob, len, 1, &d))
		return 0;
	if (d.ev.event_id != id || d.ev.path_len != path_len || d.ev.path2_len != path2_len ||
	    d.ev.pid != 100 + (int32_t)id)
		return 0;
	for (size_t i = 0; i < path_len; i++)
		if (d.path[i] != (char)('a' + (id + i) % 26))
			return 0;
	for (size_t i = 0; i < path2_len; i++)
		if (d.path2[i] != (char)('A' + (id + i) % 26))
			return 0;
	return memcmp(d.comm, "tester", 6) == 0;
}

static void test_round_trip(void)
{
	uint8_t *region = calloc(1, REGION_BYTES);
	static uint8_t blob[VMS_WIRE_EVENT_MAX_BYTES];
	struct agent_ring a;
	static struct vms_ring r;
	const uint8_t *got;
	size_t len;
	CHECK(ring_init(&r, region, REGION_BYTES) == 0);
	CHECK(ring_next(&r, &got, &len) == 0); /* no agent yet: all zero */
	CHECK(agent_ring_start(&a, region, REGION_BYTES, 0, 42, 0) == 0);
	CHECK(a.nslots == REGION_SLOTS);
	/* Sizes from one slot to the largest event, many times round the ring. */
	static const size_t paths[] = { 0, 1, 100, 184 - 6, 184 - 5, 248, 1000, 4096 };
	int ok = 1, n = 0;
	for (uint64_t id = 1; id <= 400; id++) {
		size_t p1 = paths[id % 8], p2 = id % 5 == 0 ? paths[(id / 5) % 8] : 0;
		size_t bl = make_blob(blob, p2 ? VMS_WIRE_EV_RENAME : VMS_WIRE_EV_OPEN, id, "tester", p1, p2);
		CHECK(agent_ring_put(&a, blob, bl) == 0);
		if (ring_next(&r, &got, &len) != 1 || !check_blob(got, len, id, p1, p2)) {
			if (ok)
				fprintf(stderr, "round trip fails at event %llu (paths %zu, %zu)\n",
				        (unsigned long long)id, p1, p2);
			ok = 0;
		}
		n++;
	}
	CHECK(ok && n == 400);
	CHECK(ring_next(&r, &got, &len) == 0);
	CHECK(r.malformed == 0 && r.lost == 0);
	/* The largest possible event. */
	size_t bl = make_blob(blob, VMS_WIRE_EV_RENAME, 401, "tester", VMS_WIRE_PATH_MAX, VMS_WIRE_PATH_MAX);
	CHECK(agent_ring_put(&a, blob, bl) == 0);
	CHECK(ring_next(&r, &got, &len) == 1 && check_blob(got, len, 401, VMS_WIRE_PATH_MAX, VMS_WIRE_PATH_MAX));

	/* Full ring: the agent refuses (and counts) instead of overwriting. */
	uint64_t put = 0, refused = 0;
	for (uint64_t id = 1000; id < 2000; id++) {
		bl = make_blob(blob, VMS_WIRE_EV_MODIFY, id, "tester", 300, 0);
		if (agent_ring_put(&a, blob, bl) == 0)
			put++;
		else
			agent_ring_add_dropped(&a, 1), refused++;
	}
	CHECK(put == REGION_SLOTS / 2 && refused == 1000 - put);
	struct ring_counters c;
	ring_counters(&r, &c);
	CHECK(c.dropped == refused && c.agent_pid == 42 && c.generation == 1);
	uint64_t read = 0;
	int all_ok = 1;
	while (ring_next(&r, &got, &len) == 1)
		all_ok &= check_blob(got, len, 1000 + read++, 300, 0);
	CHECK(all_ok);
	CHECK(read == put);
	bl = make_blob(blob, VMS_WIRE_EV_MODIFY, 5000, "tester", 10, 0);
	CHECK(agent_ring_put(&a, blob, bl) == 0);
	CHECK(ring_next(&r, &got, &len) == 1 && check_blob(got, len, 5000, 10, 0));

	/* Restart with a smaller ring while the reader is drained: no loss,
	 * sequence numbers and counters go on. */
	uint64_t head = a.head;
	CHECK(agent_ring_start(&a, region, REGION_BYTES, 200, 43, 0) == 0);
	CHECK(a.head == head && a.generation == 2 && agent_ring_dropped(&a) == refused);
	bl = make_blob(blob, VMS_WIRE_EV_CREATE, 6000, "tester", 20, 0);
	CHECK(agent_ring_put(&a, blob, bl) == 0);
	CHECK(ring_next(&r, &got, &len) == 1 && check_blob(got, len, 6000, 20, 0));
	CHECK(r.generation == 2 && r.nslots == 200 && r.lost == 0);

	/* Restart while the reader is behind (no drain wait): the unread
	 * events are counted lost, reading goes on with the new run. */
	for (uint64_t id = 0; id < 5; id++) {
		bl = make_blob(blob, VMS_WIRE_EV_OPEN, 7000 + id, "tester", 20, 0);
		CHECK(agent_ring_put(&a, blob, bl) == 0);
	}
	CHECK(agent_ring_start(&a, region, REGION_BYTES, 300, 44, 0) == 0);
	bl = make_blob(blob, VMS_WIRE_EV_OPEN, 8000, "tester", 20, 0);
	CHECK(agent_ring_put(&a, blob, bl) == 0);
	CHECK(ring_next(&r, &got, &len) == 1 && check_blob(got, len, 8000, 20, 0));
	CHECK(r.lost == 5 && r.generation == 3);
	free(region);
}

static void test_hostile_ring(void)
{
	uint8_t *region = calloc(1, REGION_BYTES);
	static uint8_t blob[VMS_WIRE_EVENT_MAX_BYTES];
	struct agent_ring a;
	static struct vms_ring r;
	const uint8_t *got;
	size_t len;
	CHECK(ring_init(&r, region, 1000) == -EINVAL);
	CHECK(ring_init(&r, region, REGION_BYTES) == 0);
	struct vms_wire_header *h = (struct vms_wire_header *)region;
	/* A header promising more slots than the region holds is not followed. */
	CHECK(agent_ring_start(&a, region, REGION_BYTES, 0, 1, 0) == 0);
	h->magic = 0;
	h->nslots = REGION_SLOTS + 1;
	h->generation = 9;
	h->magic = VMS_WIRE_MAGIC;
	CHECK(ring_next(&r, &got, &len) == 0 && r.generation == 0);
	h->nslots = VMS_WIRE_MIN_SLOTS - 1;
	CHECK(ring_next(&r, &got, &len) == 0 && r.generation == 0);
	h->nslots = REGION_SLOTS;
	h->version = 7;
	CHECK(ring_next(&r, &got, &len) == 0 && r.generation == 0);
	h->version = VMS_WIRE_VERSION;
	CHECK(ring_next(&r, &got, &len) == 0 && r.generation == 9);

	struct vms_wire_slot *s = (struct vms_wire_slot *)(region + VMS_WIRE_HEADER_BYTES);
	uint64_t t = r.tail;
	/* Slot count out of range. */
	size_t bl = make_blob(blob, VMS_WIRE_EV_OPEN, 1, "tester", 10, 0);
	uint16_t bad = VMS_WIRE_MAX_SLOTS + 1;
	memcpy(blob + offsetof(struct vms_wire_event, nslots), &bad, 2);
	memcpy(s[t % REGION_SLOTS].data, blob, VMS_WIRE_SLOT_DATA);
	s[t % REGION_SLOTS].seq = t + 1;
	CHECK(ring_next(&r, &got, &len) == 0 && r.malformed == 1 && r.tail == t + 1);
	/* A continuation slot that is not there. */
	t = r.tail;
	bad = 3;
	memcpy(blob + offsetof(struct vms_wire_event, nslots), &bad, 2);
	memcpy(s[t % REGION_SLOTS].data, blob, VMS_WIRE_SLOT_DATA);
	s[t % REGION_SLOTS].seq = t + 1;
	CHECK(ring_next(&r, &got, &len) == 0 && r.malformed == 2 && r.tail == t + 3);
	/* A slot from the future: jump to the published head. */
	t = r.tail;
	s[t % REGION_SLOTS].seq = t + 50;
	h->head = t + 40;
	CHECK(ring_next(&r, &got, &len) == 0 && r.tail == t + 40 && r.lost == 40);
	/* A slot claiming to fit but whose lengths say otherwise. */
	t = r.tail;
	bl = make_blob(blob, VMS_WIRE_EV_OPEN, 2, "tester", 500, 0);
	bad = 1;
	memcpy(blob + offsetof(struct vms_wire_event, nslots), &bad, 2);
	memcpy(s[t % REGION_SLOTS].data, blob, VMS_WIRE_SLOT_DATA);
	s[t % REGION_SLOTS].seq = t + 1;
	CHECK(ring_next(&r, &got, &len) == 1);
	struct vms_wire_decoded d;
	CHECK(wire_decode(got, len, 1, &d) == -EBADMSG);
	(void)bl;
	free(region);
}

static void test_decode(void)
{
	static uint8_t blob[VMS_WIRE_EVENT_MAX_BYTES + 64];
	struct vms_wire_decoded d;
	size_t bl = make_blob(blob, VMS_WIRE_EV_RENAME, 3, "tester", 7, 9);
	CHECK(wire_decode(blob, bl, 0, &d) == 0);
	CHECK(d.ev.comm_len == 6 && memcmp(d.path, "defghij", 7) == 0 && memcmp(d.path2, "DEFGHIJKL", 9) == 0);
	CHECK(wire_decode(blob, bl - 1, 0, &d) == -EBADMSG);
	CHECK(wire_decode(blob, bl + 1, 0, &d) == -EBADMSG);
	CHECK(wire_decode(blob, 63, 0, &d) == -EBADMSG);
	/* second path only on renames */
	bl = make_blob(blob, VMS_WIRE_EV_OPEN, 3, "tester", 7, 9);
	CHECK(wire_decode(blob, bl, 0, &d) == -EBADMSG);
	/* unknown kinds, oversized fields, embedded NUL */
	static const uint16_t kinds[] = { 0, 9, 31, 34, 0xffff };
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		bl = make_blob(blob, kinds[i], 3, "tester", 7, 0);
		CHECK(wire_decode(blob, bl, 0, &d) == -EBADMSG);
	}
	bl = make_blob(blob, VMS_WIRE_EV_OPEN, 3, "0123456789abcdefg", 7, 0);
	CHECK(wire_decode(blob, bl, 0, &d) == -EBADMSG);
	bl = make_blob(blob, VMS_WIRE_EV_OPEN, 3, "tester", VMS_WIRE_PATH_MAX + 1, 0);
	CHECK(wire_decode(blob, bl, 0, &d) == -EBADMSG);
	bl = make_blob(blob, VMS_WIRE_EV_OPEN, 3, "tester", 7, 0);
	blob[bl - 3] = 0;
	CHECK(wire_decode(blob, bl, 0, &d) == -EBADMSG);
	/* ring blobs: nslots must be exactly what the length needs */
	bl = make_blob(blob, VMS_WIRE_EV_OPEN, 3, "tester", 300, 0);
	uint16_t n = 2;
	memcpy(blob + offsetof(struct vms_wire_event, nslots), &n, 2);
	CHECK(wire_decode(blob, 2 * VMS_WIRE_SLOT_DATA, 1, &d) == 0);
	n = 3;
	memcpy(blob + offsetof(struct vms_wire_event, nslots), &n, 2);
	CHECK(wire_decode(blob, 3 * VMS_WIRE_SLOT_DATA, 1, &d) == -EBADMSG);
	/* unknown flag bits are cleared */
	bl = make_blob(blob, VMS_WIRE_EV_OPEN, 3, "tester", 7, 0);
	uint16_t fl = 0xffff;
	memcpy(blob + offsetof(struct vms_wire_event, flags), &fl, 2);
	CHECK(wire_decode(blob, bl, 0, &d) == 0 && d.ev.flags == 0x3f);
}

static void feed(struct vms_framer *f, const uint8_t *p, size_t n)
{
	while (n) {
		size_t room;
		uint8_t *dst = framer_space(f, &room);
		size_t k = n < room ? n : room;
		memcpy(dst, p, k);
		framer_added(f, k);
		p += k;
		n -= k;
	}
}

static void test_framer(void)
{
	static struct vms_framer f;
	static uint8_t stream[40000], blob[VMS_WIRE_EVENT_MAX_BYTES];
	size_t off = 0;
	uint32_t magic = VMS_WIRE_FRAME_MAGIC;
	const char junk[] = "junk VMS\x01\x02";
	/* junk, frame 1, bad length frame, frame 2 (large), split magic junk, frame 3 */
	memcpy(stream + off, junk, sizeof(junk));
	off += sizeof(junk);
	size_t lens[3];
	for (int i = 0; i < 3; i++) {
		size_t bl = make_blob(blob, VMS_WIRE_EV_OPEN, (uint64_t)i, "tester", i == 1 ? 4000 : 10 + (size_t)i, 0);
		lens[i] = bl;
		uint32_t l32 = (uint32_t)bl;
		memcpy(stream + off, &magic, 4);
		memcpy(stream + off + 4, &l32, 4);
		memcpy(stream + off + 8, blob, bl);
		off += 8 + bl;
		if (i == 0) {
			uint32_t huge = 1u << 30;
			memcpy(stream + off, &magic, 4);
			memcpy(stream + off + 4, &huge, 4);
			off += 8;
		}
		if (i == 1) {
			memcpy(stream + off, "VMS", 3);
			off += 3;
		}
	}
	framer_init(&f);
	const uint8_t *got;
	size_t len;
	int seen = 0;
	/* fed in awkward pieces */
	for (size_t pos = 0; pos < off; pos += 7) {
		feed(&f, stream + pos, off - pos < 7 ? off - pos : 7);
		while (framer_next(&f, &got, &len) == 1) {
			struct vms_wire_decoded d;
			CHECK(seen < 3 && len == lens[seen] && wire_decode(got, len, 0, &d) == 0 &&
			      d.ev.event_id == (uint64_t)seen);
			seen++;
		}
	}
	CHECK(seen == 3);
	CHECK(f.malformed == 1 && f.skipped > 0);
	/* endless junk never fills the framer */
	memset(stream, 'x', sizeof(stream));
	feed(&f, stream, sizeof(stream));
	CHECK(framer_next(&f, &got, &len) == 0 && f.len < 4);
}

/* One record from the fake agent, with its counters as the agent fills them. */
static void put(struct agent_ring *a, uint16_t kind, uint64_t id, const char *path)
{
	static uint8_t blob[512];
	size_t bl = make_blob(blob, kind, id, "tester", strlen(path), 0);
	memcpy(blob + sizeof(struct vms_wire_event) + 6, path, strlen(path));
	struct vms_wire_event e;
	memcpy(&e, blob, sizeof(e));
	e.generation = a->generation;
	e.dropped = agent_ring_dropped(a);
	e.overflows = agent_ring_overflows(a);
	memcpy(blob, &e, sizeof(e));
	CHECK(agent_ring_put(a, blob, bl) == 0);
}

/* The public stream over a fake agent: notices where loss happens. */
static void test_stream(void)
{
	int fd = memfd_create("vmsight-test-ring", 0);
	CHECK(fd >= 0 && ftruncate(fd, REGION_BYTES) == 0);
	uint8_t *region = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct agent_ring a;
	CHECK(agent_ring_start(&a, region, REGION_BYTES, 0, 42, 0) == 0);
	char path[64], err[256] = "";
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct vms_watch_opts o = {
		.sz = sizeof(o), .shm_path = path, .silent_ms = 50, .errbuf = err, .errbuf_len = sizeof(err)
	};
	struct vms_watch *w;
	CHECK(vms_watch_open(&o, &w) == 0);
	if (!w) {
		fprintf(stderr, "vms_watch_open: %s\n", err);
		return;
	}
	CHECK(strcmp(vms_watch_channel(w), "shm") == 0);
	struct vms_file_event e;
	put(&a, VMS_WIRE_EV_HELLO, 1, "hello there");
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_AGENT_START && strcmp(e.path, "hello there") == 0);
	put(&a, VMS_WIRE_EV_OPEN, 2, "/a");
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_OPEN && strcmp(e.path, "/a") == 0 &&
	      strcmp(e.comm, "tester") == 0 && e.pid == 102 && e.ppid == -1 && !e.cmdline);
	/* three records dropped by the agent: a notice first, then the event */
	agent_ring_add_dropped(&a, 3);
	put(&a, VMS_WIRE_EV_MODIFY, 6, "/b");
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_LOST && e.lost == 3 && strstr(e.path, "full"));
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_WRITE && strcmp(e.path, "/b") == 0);
	/* a kernel queue overflow: lost before the agent, no count */
	agent_ring_add_overflows(&a, 1);
	put(&a, VMS_WIRE_EV_STATUS, 7, "");
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_LOST && e.lost == 0 && strstr(e.path, "overflow"));
	/* both at once: one notice, the gap counted, the event after it */
	agent_ring_add_overflows(&a, 1);
	agent_ring_add_dropped(&a, 2);
	put(&a, VMS_WIRE_EV_CREATE, 10, "/e");
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_LOST && e.lost == 2 && strstr(e.path, "full") &&
	      strstr(e.path, "overflow"));
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_CREATE && strcmp(e.path, "/e") == 0);
	/* nothing for longer than silent_ms */
	CHECK(vms_watch_next(w, &e, 500) == 1 && e.kind == VMS_FEV_AGENT_SILENT);
	CHECK(vms_watch_next(w, &e, 20) == 0);
	/* a restart over two unread events */
	put(&a, VMS_WIRE_EV_OPEN, 8, "/c");
	put(&a, VMS_WIRE_EV_OPEN, 9, "/d");
	CHECK(agent_ring_start(&a, region, REGION_BYTES, 0, 43, 0) == 0);
	put(&a, VMS_WIRE_EV_HELLO, 1, "again");
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_AGENT_START && e.generation == 2);
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_LOST && e.lost == 2);
	struct vms_watch_stats st;
	vms_watch_stats(w, &st);
	CHECK(st.received == 3 && st.lost == 7 && st.agent_dropped == 5 && st.agent_overflows == 2 &&
	      st.agent_starts == 2 && st.agent_pid == 100 + 1 && st.malformed == 0);
	vms_watch_close(w);
	munmap(region, REGION_BYTES);
	close(fd);
	/* names */
	for (int k = VMS_FEV_OPEN; k <= VMS_FEV_RENAME; k++)
		CHECK(vms_fev_kind_parse(vms_fev_kind_name(k)) == k);
	CHECK(vms_fev_kind_parse("nope") == -1 && vms_fev_kind_name(99) == NULL);
}

/* A region the fake agent writes to, named by a path anyone can open. */
struct region {
	int fd;
	uint8_t *base;
	char path[64];
};

static void region_new(struct region *r)
{
	r->fd = memfd_create("vmsight-test-ring", 0);
	CHECK(r->fd >= 0 && ftruncate(r->fd, REGION_BYTES) == 0);
	r->base = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	CHECK(r->base != MAP_FAILED);
	snprintf(r->path, sizeof(r->path), "/proc/self/fd/%d", r->fd);
}

static void region_free(struct region *r)
{
	munmap(r->base, REGION_BYTES);
	close(r->fd);
}

/* A file record of process PID on PATH (and PATH2 for a rename). */
static void put_file(struct agent_ring *a, uint16_t kind, uint64_t id, int32_t pid, const char *path, const char *path2)
{
	static uint8_t blob[512];
	size_t bl = make_blob(blob, kind, id, "tester", strlen(path), strlen(path2));
	uint8_t *s = blob + sizeof(struct vms_wire_event) + 6;
	memcpy(s, path, strlen(path));
	memcpy(s + strlen(path), path2, strlen(path2));
	struct vms_wire_event e;
	memcpy(&e, blob, sizeof(e));
	e.generation = a->generation;
	e.pid = pid;
	memcpy(blob, &e, sizeof(e));
	CHECK(agent_ring_put(a, blob, bl) == 0);
}

static int enriched;
static void count_enrich(void *ctx, struct vms_file_event *ev)
{
	(void)ctx;
	(void)ev;
	enriched++;
}

static void test_filter_rules(void)
{
	struct vms_watch_filter f;
	char err[256];
	CHECK(watch_filter_init(&f, -1, NULL, 0, err, sizeof(err)) == -EINVAL);
	CHECK(watch_filter_init(&f, 0, NULL, VMS_FEV_BIT(VMS_FEV_RENAME + 1), err, sizeof(err)) == -EINVAL &&
	      strstr(err, "notices"));
	struct vms_file_event ev = { .kind = VMS_FEV_OPEN, .pid = 7, .path = "/etc/passwd", .path2 = "" };
	/* no filters: everything */
	CHECK(watch_filter_init(&f, 0, NULL, 0, err, sizeof(err)) == 0);
	CHECK(watch_filter_pass(&f, &ev));
	watch_filter_free(&f);
	/* all three */
	CHECK(watch_filter_init(&f, 7, "/etc/*", VMS_FEV_BIT(VMS_FEV_OPEN) | VMS_FEV_BIT(VMS_FEV_RENAME), err,
	                        sizeof(err)) == 0);
	CHECK(watch_filter_pass(&f, &ev));
	ev.pid = 8;
	CHECK(!watch_filter_pass(&f, &ev));
	ev.pid = 7;
	ev.kind = VMS_FEV_WRITE;
	CHECK(!watch_filter_pass(&f, &ev));
	ev.kind = VMS_FEV_OPEN;
	ev.path = "/tmp/x";
	CHECK(!watch_filter_pass(&f, &ev));
	/* '*' crosses '/' (no FNM_PATHNAME) */
	ev.path = "/etc/ssh/sshd_config";
	CHECK(watch_filter_pass(&f, &ev));
	/* a rename passes on either name */
	ev.kind = VMS_FEV_RENAME;
	ev.path = "/tmp/new";
	ev.path2 = "/etc/hosts";
	CHECK(watch_filter_pass(&f, &ev));
	ev.path = "/etc/hosts";
	ev.path2 = "/tmp/old";
	CHECK(watch_filter_pass(&f, &ev));
	ev.path = "/tmp/a";
	CHECK(!watch_filter_pass(&f, &ev));
	watch_filter_free(&f);
}

/* Filters through the public stream: dropped before enrichment, counted,
 * notices untouched, loss still told. */
static void test_filtered_stream(void)
{
	struct region r;
	region_new(&r);
	struct agent_ring a;
	CHECK(agent_ring_start(&a, r.base, REGION_BYTES, 0, 42, 0) == 0);
	char glob[] = "/data/*", err[256] = "";
	struct vms_watch_opts o = { .sz = sizeof(o),
		                    .shm_path = r.path,
		                    .silent_ms = 10000,
		                    .errbuf = err,
		                    .errbuf_len = sizeof(err),
		                    .enrich = count_enrich,
		                    .pid = 300,
		                    .path_glob = glob,
		                    .kinds = VMS_FEV_BIT(VMS_FEV_CREATE) | VMS_FEV_BIT(VMS_FEV_RENAME) };
	struct vms_watch *w = NULL;
	CHECK(vms_watch_open(&o, &w) == 0);
	if (!w) {
		fprintf(stderr, "vms_watch_open: %s\n", err);
		return;
	}
	glob[1] = 'X'; /* the library kept its own copy */
	struct vms_file_event e;
	enriched = 0;
	put(&a, VMS_WIRE_EV_HELLO, 1, "hello");
	put_file(&a, VMS_WIRE_EV_CREATE, 2, 300, "/data/a", "");       /* passes */
	put_file(&a, VMS_WIRE_EV_CREATE, 3, 301, "/data/b", "");       /* other pid */
	put_file(&a, VMS_WIRE_EV_OPEN, 4, 300, "/data/a", "");         /* other kind */
	put_file(&a, VMS_WIRE_EV_CREATE, 5, 300, "/tmp/c", "");        /* other path */
	put_file(&a, VMS_WIRE_EV_RENAME, 6, 300, "/tmp/c", "/data/c"); /* passes: its target */
	/* a gap (records 7 and 8 never came) before a refused one: still told */
	put_file(&a, VMS_WIRE_EV_OPEN, 9, 301, "/x", "");
	put_file(&a, VMS_WIRE_EV_CREATE, 10, 300, "/data/d", ""); /* passes */
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_AGENT_START);
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_CREATE && strcmp(e.path, "/data/a") == 0);
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_RENAME && strcmp(e.path2, "/data/c") == 0);
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_LOST && e.lost == 2);
	CHECK(vms_watch_next(w, &e, 100) == 1 && e.kind == VMS_FEV_CREATE && strcmp(e.path, "/data/d") == 0);
	CHECK(vms_watch_next(w, &e, 50) == 0);
	CHECK(enriched == 3);
	struct vms_watch_stats st;
	vms_watch_stats(w, &st);
	CHECK(st.received == 7 && st.filtered == 4 && st.lost == 2);
	vms_watch_close(w);
	/* bad filters are refused at open, with a reason */
	o.kinds = VMS_FEV_BIT(0);
	CHECK(vms_watch_open(&o, &w) == -EINVAL && strstr(err, "kinds"));
	region_free(&r);
}

static uint64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Given only the region's file, the watch follows the process holding it
 * open (QEMU, here a child) and ends soon after it exits, once the ring is
 * drained. */
static void test_owner_exit(void)
{
	struct region r;
	region_new(&r);
	struct agent_ring a;
	CHECK(agent_ring_start(&a, r.base, REGION_BYTES, 0, 42, 0) == 0);
	pid_t child = fork();
	if (child == 0) {
		pause(); /* holds the region open, as QEMU does */
		_exit(0);
	}
	CHECK(child > 0);
	char err[256] = "";
	struct vms_watch_opts o = {
		.sz = sizeof(o), .shm_path = r.path, .silent_ms = 10000, .errbuf = err, .errbuf_len = sizeof(err)
	};
	struct vms_watch *w = NULL;
	CHECK(vms_watch_open(&o, &w) == 0);
	if (!w) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return;
	}
	char want[64];
	snprintf(want, sizeof(want), "QEMU pid %d", (int)child);
	CHECK(strstr(vms_watch_detail(w), want) != NULL);
	struct vms_file_event e;
	CHECK(vms_watch_next(w, &e, 300) == 0); /* alive and idle */
	put_file(&a, VMS_WIRE_EV_CREATE, 1, 5, "/last", "");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	uint64_t t0 = ms_now();
	CHECK(vms_watch_next(w, &e, 2000) == 1 && strcmp(e.path, "/last") == 0); /* what it wrote comes first */
	CHECK(vms_watch_next(w, &e, 2000) == -ESRCH);
	CHECK(ms_now() - t0 < 1000);
	CHECK(strstr(vms_watch_errmsg(w), "exited") != NULL);
	vms_watch_close(w);
	region_free(&r);
}

/* A listening unix socket standing in for QEMU's debugcon chardev. */
static int listen_unix(char *path, size_t len)
{
	snprintf(path, len, "/tmp/vmsight-test-%d-%ld.sock", (int)getpid(), (long)random());
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0);
	return fd;
}

/* The silence notice, when no agent was ever heard, says what the other
 * channel shows. */
static void test_other_channel(void)
{
	struct region r;
	region_new(&r);
	char sock_path[108], err[256] = "";
	int srv = listen_unix(sock_path, sizeof(sock_path));
	struct vms_file_event e;
	struct vms_watch *w = NULL;

	/* vcpu watched, the agent writes to the ring (its heartbeat moves) */
	struct agent_ring a;
	CHECK(agent_ring_start(&a, r.base, REGION_BYTES, 0, 42, 0) == 0);
	struct vms_watch_opts o = { .sz = sizeof(o),
		                    .channel = "vcpu",
		                    .shm_path = r.path,
		                    .socket_path = sock_path,
		                    .silent_ms = 200,
		                    .errbuf = err,
		                    .errbuf_len = sizeof(err) };
	CHECK(vms_watch_open(&o, &w) == 0);
	if (w) {
		agent_ring_heartbeat(&a, 123456789);
		CHECK(vms_watch_next(w, &e, 2000) == 1 && e.kind == VMS_FEV_AGENT_SILENT);
		CHECK(strstr(e.path, "no agent heard on the vcpu channel") &&
		      strstr(e.path, "(pid 42) is running on the shm channel"));
		vms_watch_close(w);
	}
	int conn = accept(srv, NULL, NULL);
	close(conn);

	/* shm watched (no agent there), the agent's STATUS comes to the debugcon socket */
	memset(r.base, 0, VMS_WIRE_HEADER_BYTES);
	o.channel = "shm";
	CHECK(vms_watch_open(&o, &w) == 0);
	conn = accept(srv, NULL, NULL);
	CHECK(conn >= 0);
	uint8_t frame[8 + 128];
	uint32_t magic = VMS_WIRE_FRAME_MAGIC;
	uint32_t blen = (uint32_t)make_blob(frame + 8, VMS_WIRE_EV_STATUS, 7, "tester", 0, 0);
	memcpy(frame, &magic, 4);
	memcpy(frame + 4, &blen, 4);
	CHECK(write(conn, frame, 8 + blen) == (ssize_t)(8 + blen));
	if (w) {
		CHECK(vms_watch_next(w, &e, 2000) == 1 && e.kind == VMS_FEV_AGENT_SILENT);
		CHECK(strstr(e.path, "no agent heard on the shm channel") &&
		      strstr(e.path, "(pid 107) is running on the vcpu channel"));
		char c;
		CHECK(read(conn, &c, 1) == 0); /* the probe hung up once it knew */
		vms_watch_close(w);
	}
	close(conn);

	/* nothing anywhere, for long enough to be sure */
	o.silent_ms = 1600;
	CHECK(vms_watch_open(&o, &w) == 0);
	conn = accept(srv, NULL, NULL);
	if (w) {
		CHECK(vms_watch_next(w, &e, 4000) == 1 && e.kind == VMS_FEV_AGENT_SILENT);
		CHECK(strstr(e.path, "nor on the vcpu channel") != NULL);
		vms_watch_close(w);
	}
	close(conn);

	/* nothing to compare with: say so plainly */
	o.socket_path = NULL;
	o.silent_ms = 100;
	CHECK(vms_watch_open(&o, &w) == 0);
	if (w) {
		CHECK(vms_watch_next(w, &e, 2000) == 1 && e.kind == VMS_FEV_AGENT_SILENT);
		CHECK(strstr(e.path, "on this channel?") != NULL);
		vms_watch_close(w);
	}
	close(srv);
	unlink(sock_path);
	region_free(&r);
}

int main(void)
{
	test_round_trip();
	test_hostile_ring();
	test_decode();
	test_framer();
	test_stream();
	test_filter_rules();
	test_filtered_stream();
	test_owner_exit();
	test_other_channel();
	return check_report("watch");
}
