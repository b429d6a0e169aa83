/*
 * bench_watch: what the host side of file monitoring can take, on this
 * machine, without a guest in the way.
 *
 * A producer thread plays the agent: it writes records with the agent's own
 * ring code (agent/ring.c) into a 16 MiB /dev/shm region like the lab's,
 * stamping each with CLOCK_MONOTONIC, and drops (and counts) when the ring
 * is full, as the agent does. The consumer is the public API
 * (vms_watch_open on the region's file, vms_watch_next), as `vmsight watch`
 * uses it. Figures:
 *   capacity   records/s with the producer flat out, and the drops;
 *              beside it the limit: a bare consumer that only checks a
 *              slot's sequence number and advances the tail
 *   paced      at 1 000, 10 000 and 100 000 records/s: latency (producer's
 *              stamp to vms_watch_next returning it) p50/p99/max, drops,
 *              and the consumer's CPU time over wall time
 *   idle       the consumer's CPU with no records for 2 s (after the first 100 ms)
 * The figures for a real guest (both channels, guest overhead) come from
 * bench/watch.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../agent/ring.h"
#include "vmsight/vmsight.h"

#define REGION_BYTES (16u << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct producer {
	struct agent_ring ring;
	uint64_t count; /* records to write */
	double rate;    /* per second; 0 = flat out */
	uint64_t sent, dropped;
	int wait_when_full; /* the limit's producer waits instead of dropping */
	volatile int go;
};

static size_t make_record(uint8_t *blob, uint64_t id)
{
	struct vms_wire_event e = {
		.kind = VMS_WIRE_EV_OPEN,
		.generation = 1,
		.pid = 4242,
		.tid = -1,
		.event_id = id,
	};
	char path[64];
	int n = snprintf(path, sizeof(path), "/data/bench/dir-%03u/file-%07u", (unsigned)(id % 1000), (unsigned)id);
	e.comm_len = 5;
	e.path_len = (uint16_t)n;
	e.ts_ns = now_ns();
	memcpy(blob, &e, sizeof(e));
	memcpy(blob + sizeof(e), "bench", 5);
	memcpy(blob + sizeof(e) + 5, path, (size_t)n);
	return sizeof(e) + 5 + (size_t)n;
}

static void *produce(void *arg)
{
	struct producer *p = arg;
	uint8_t blob[256];
	while (!p->go)
		;
	uint64_t t0 = now_ns();
	for (uint64_t i = 1; i <= p->count; i++) {
		if (p->rate > 0) {
			uint64_t due = t0 + (uint64_t)((double)(i - 1) * 1e9 / p->rate);
			while (now_ns() < due)
				;
		}
		size_t len = make_record(blob, i);
		while (p->wait_when_full && agent_ring_put(&p->ring, blob, len) != 0)
			;
		if (p->wait_when_full) {
			p->sent++;
		} else if (agent_ring_put(&p->ring, blob, len) == 0) {
			p->sent++;
		} else {
			agent_ring_add_dropped(&p->ring, 1);
			p->dropped++;
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct result {
	double secs, rate, cpu_pct;
	uint64_t got, dropped, lost;
	uint64_t p50, p99, max;
};

static int run(const char *path, uint8_t *region, uint64_t count, double rate, struct result *r)
{
	static struct producer p;
	memset(&p, 0, sizeof(p));
	memset(region, 0, REGION_BYTES);
	p.count = count;
	p.rate = rate;
	if (agent_ring_start(&p.ring, region, REGION_BYTES, 0, getpid(), 0))
		return -1;
	char err[512] = "";
	struct vms_watch_opts o = {
		.sz = sizeof(o), .shm_path = path, .channel = "shm", .errbuf = err, .errbuf_len = sizeof(err)
	};
	struct vms_watch *w;
	if (vms_watch_open(&o, &w)) {
		fprintf(stderr, "bench_watch: %s\n", err);
		return -1;
	}
	uint64_t *lat = calloc(count, sizeof(*lat));
	pthread_t th;
	pthread_create(&th, NULL, produce, &p);
	uint64_t c0 = thread_cpu_ns(), t0 = now_ns();
	p.go = 1;
	uint64_t n = 0, last = t0;
	for (;;) {
		struct vms_file_event e;
		int rc = vms_watch_next(w, &e, 200);
		if (rc < 0)
			break;
		if (rc == 0) {
			if (__atomic_load_n(&p.sent, __ATOMIC_RELAXED) +
			            __atomic_load_n(&p.dropped, __ATOMIC_RELAXED) >=
			    count)
				break;
			continue;
		}
		if (e.kind != VMS_FEV_OPEN)
			continue;
		lat[n++] = e.host_ns - e.ts_ns;
		last = e.host_ns;
		if (n + p.dropped >= count && p.sent + p.dropped >= count)
			break;
	}
	uint64_t c1 = thread_cpu_ns();
	pthread_join(th, NULL);
	struct vms_watch_stats st;
	vms_watch_stats(w, &st);
	vms_watch_close(w);
	r->secs = (double)(last - t0) / 1e9;
	r->got = n;
	r->rate = r->secs > 0 ? (double)n / r->secs : 0;
	r->cpu_pct = 100.0 * (double)(c1 - c0) / (double)(last - t0);
	r->dropped = st.agent_dropped;
	r->lost = st.lost;
	qsort(lat, n, sizeof(*lat), cmp_u64);
	r->p50 = n ? lat[n / 2] : 0;
	r->p99 = n ? lat[n * 99 / 100] : 0;
	r->max = n ? lat[n - 1] : 0;
	free(lat);
	return 0;
}

/* The limit: a consumer that only waits for each slot's sequence number and
 * hands the slot back, with no copy, no checks and no decoding. */
static void *bare_consume(void *arg)
{
	uint8_t *region = arg;
	struct vms_wire_header *h = (struct vms_wire_header *)region;
	uint32_t nslots = h->nslots;
	uint64_t *count = (uint64_t *)(region + REGION_BYTES - 64);
	for (uint64_t t = h->start_seq, n = 0; n < *count; n++) {
		struct vms_wire_slot *s = (struct vms_wire_slot *)(region + VMS_WIRE_HEADER_BYTES +
		                                                   (t % nslots) * VMS_WIRE_SLOT_BYTES);
		while (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != t + 1)
			;
		t++;
		__atomic_store_n(&h->tail, t, __ATOMIC_RELEASE);
	}
	return NULL;
}

static double bare_limit(uint8_t *region, uint64_t count)
{
	static struct producer p;
	memset(&p, 0, sizeof(p));
	memset(region, 0, REGION_BYTES);
	p.count = count;
	p.wait_when_full = 1;
	/* keep the last 64 bytes out of the ring: the consumer's count lives there */
	agent_ring_start(&p.ring, region, REGION_BYTES - 4096, 0, getpid(), 0);
	*(uint64_t *)(region + REGION_BYTES - 64) = count;
	pthread_t prod, cons;
	pthread_create(&cons, NULL, bare_consume, region);
	pthread_create(&prod, NULL, produce, &p);
	uint64_t t0 = now_ns();
	p.go = 1;
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
	double secs = (double)(now_ns() - t0) / 1e9;
	return (double)count / secs;
}

int main(int argc, char **argv)
{
	uint64_t count = argc > 1 ? strtoull(argv[1], NULL, 0) : 2000000;
	char path[128];
	snprintf(path, sizeof(path), "/dev/shm/vmsight-bench-watch-%d", getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, REGION_BYTES) != 0) {
		perror(path);
		return 1;
	}
	uint8_t *region = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (region == MAP_FAILED) {
		perror("mmap");
		unlink(path);
		return 1;
	}
	printf("host: %ld cores; records of %u bytes (one %u-byte slot each); 16 MiB region, %u slots\n",
	       sysconf(_SC_NPROCESSORS_ONLN), 64 + 5 + 33, VMS_WIRE_SLOT_BYTES,
	       (REGION_BYTES - VMS_WIRE_HEADER_BYTES) / VMS_WIRE_SLOT_BYTES);
	double limit = 0;
	for (int i = 0; i < 3; i++) {
		double l = bare_limit(region, count);
		if (l > limit)
			limit = l;
	}
	struct result r, best = { 0 };
	for (int i = 0; i < 3; i++)
		if (run(path, region, count, 0, &r) == 0 && r.rate > best.rate)
			best = r;
	printf("capacity: vms_watch %.0f records/s (%" PRIu64 " of %" PRIu64 " received, %" PRIu64
	       " dropped by the producer, %" PRIu64
	       " lost), consumer CPU %.0f %%; limit (bare slot hand-back) "
	       "%.0f records/s: %.0f %% of it\n",
	       best.rate, best.got, count, best.dropped, best.lost, best.cpu_pct, limit,
	       limit > 0 ? 100.0 * best.rate / limit : 0);
	static const double rates[] = { 1000, 10000, 100000 };
	for (size_t i = 0; i < 3; i++) {
		uint64_t n = (uint64_t)(rates[i] * (rates[i] >= 100000 ? 3 : 2));
		if (run(path, region, n, rates[i], &r) != 0)
			continue;
		printf("paced %6.0f/s: %" PRIu64 " received, %" PRIu64
		       " dropped, latency p50 %.1f us, p99 %.1f us, "
		       "max %.1f us; consumer CPU %.1f %%\n",
		       rates[i], r.got, r.dropped, r.p50 / 1e3, r.p99 / 1e3, r.max / 1e3, r.cpu_pct);
	}
	/* idle: a valid ring with nothing coming */
	{
		struct agent_ring a;
		memset(region, 0, REGION_BYTES);
		agent_ring_start(&a, region, REGION_BYTES, 0, getpid(), 0);
		struct vms_watch_opts o = { .sz = sizeof(o), .shm_path = path, .channel = "shm", .silent_ms = 60000 };
		struct vms_watch *w;
		if (vms_watch_open(&o, &w) == 0) {
			struct vms_file_event e;
			uint64_t c0 = thread_cpu_ns(), t0 = now_ns();
			while (now_ns() - t0 < 2000000000ull)
				vms_watch_next(w, &e, 100);
			printf("idle: consumer CPU %.2f %% of one core (a poll every 1 ms)\n",
			       100.0 * (double)(thread_cpu_ns() - c0) / (double)(now_ns() - t0));
			vms_watch_close(w);
		}
	}
	munmap(region, REGION_BYTES);
	unlink(path);
	return 0;
}
