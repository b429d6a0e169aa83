/*
 * workload.c - the lab guest's test processes, one static binary.
 *
 * vmsight's tests need guest processes whose names, threads, open files and
 * mappings are known in advance, so the guest's ground truth can be checked
 * against what the introspection library finds in raw memory. One binary is
 * installed under several names (hard links in the initramfs) and picks its
 * behaviour from the basename of argv[0], so each role shows up as a
 * distinctly named process (comm, cmdline and exe all differ):
 *
 *   vms-sleeper [--interval N] [ARGS...]  single thread, sleeps forever
 *   vms-threads [--threads N]             main + N threads "vms-worker-K"
 *   vms-files                             holds a fixed set of files open
 *   vms-pagegen [--pages N]               rewrites N pages forever (snapshot tests)
 *
 * When the environment variable VMS_READY_FIFO names a FIFO, the program
 * writes "PID NAME\n" to it once its state is fully set up, so the guest's
 * init can dump ground truth without guessing how long setup takes.
 * Everything else is deliberately boring: no output unless something fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Known values the tests can check against (documented in lab/README.md). */
#define DATA_FILE "/data/vms-files.dat"
#define DATA_FILE_SIZE 8192
#define DATA_FILE_POS 1234
#define TMP_FILE "/tmp/vms-files.tmp"
#define TMP_FILE_POS 42
#define DELETED_FILE "/tmp/vms-files.deleted"
#define MAPPED_FILE "/data/mapped.bin"

static const char *prog = "workload";

static void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(1);
}

/* Tell init we are ready; silently skipped when run by hand. */
static void notify_ready(void)
{
	const char *fifo = getenv("VMS_READY_FIFO");
	if (!fifo || !*fifo)
		return;
	int fd = open(fifo, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("open ready fifo");
	dprintf(fd, "%d %s\n", (int)getpid(), prog);
	close(fd);
}

static void sleep_forever(unsigned interval)
{
	for (;;)
		sleep(interval);
}

static int sleeper(int argc, char **argv)
{
	unsigned interval = 60;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc)
			interval = (unsigned)strtoul(argv[++i], NULL, 10);
	}
	if (interval == 0)
		interval = 1;
	notify_ready();
	sleep_forever(interval);
	return 0;
}

/* Threads name themselves, then meet at the barrier, so that by the time
 * the main thread reports ready every thread has its final comm. */
static pthread_barrier_t named;

static void *worker(void *arg)
{
	char name[16];
	snprintf(name, sizeof(name), "vms-worker-%d", (int)(long)arg);
	if (prctl(PR_SET_NAME, name, 0, 0, 0) != 0)
		die("prctl(PR_SET_NAME)");
	pthread_barrier_wait(&named);
	sleep_forever(3600);
	return NULL;
}

static int threads(int argc, char **argv)
{
	int n = 4;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			n = atoi(argv[++i]);
	}
	if (n < 1 || n > 64)
		n = 4;
	if (pthread_barrier_init(&named, NULL, (unsigned)n + 1) != 0)
		die("pthread_barrier_init");
	for (int i = 1; i <= n; i++) {
		pthread_t t;
		int err = pthread_create(&t, NULL, worker, (void *)(long)i);
		if (err) {
			errno = err;
			die("pthread_create");
		}
		pthread_detach(t);
	}
	pthread_barrier_wait(&named);
	notify_ready();
	sleep_forever(3600);
	return 0;
}

static int create_file(const char *path, const char *fill, size_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(path);
	size_t len = strlen(fill);
	for (size_t done = 0; done < size;) {
		size_t chunk = size - done < len ? size - done : len;
		ssize_t w = write(fd, fill, chunk);
		if (w <= 0)
			die(path);
		done += (size_t)w;
	}
	return fd;
}

/*
 * Opens, in this order so the fd numbers are predictable (0-2 come from
 * init): 3 ext4 file (rw, pos 1234), 4 tmpfs file (rw, pos 42), 5 a tmpfs
 * file that is then unlinked, 6/7 a pipe, 8/9 a unix socketpair,
 * 10 /dev/null (write only). /data/mapped.bin is mmapped shared read-only
 * and its fd closed again, so it appears in maps but not in the fd table.
 */
static int files(void)
{
	int data = create_file(DATA_FILE, "vmsight-data-file\n", DATA_FILE_SIZE);
	if (fsync(data) != 0)
		die("fsync " DATA_FILE);
	if (lseek(data, DATA_FILE_POS, SEEK_SET) != DATA_FILE_POS)
		die("lseek " DATA_FILE);

	int tmp = create_file(TMP_FILE, "vmsight-tmp-file\n", 100);
	if (lseek(tmp, TMP_FILE_POS, SEEK_SET) != TMP_FILE_POS)
		die("lseek " TMP_FILE);

	create_file(DELETED_FILE, "vmsight-deleted-file\n", 100);
	if (unlink(DELETED_FILE) != 0)
		die("unlink " DELETED_FILE);

	int p[2], s[2];
	if (pipe(p) != 0)
		die("pipe");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0)
		die("socketpair");
	if (open("/dev/null", O_WRONLY) < 0)
		die("/dev/null");

	int m = open(MAPPED_FILE, O_RDONLY);
	if (m < 0)
		die(MAPPED_FILE);
	struct stat st;
	if (fstat(m, &st) != 0 || st.st_size <= 0)
		die("fstat " MAPPED_FILE);
	volatile const char *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, m, 0);
	if (map == MAP_FAILED)
		die("mmap " MAPPED_FILE);
	close(m);
	/* Touch every page so the mapping is backed by page-cache pages. */
	unsigned sum = 0;
	for (off_t off = 0; off < st.st_size; off += 4096)
		sum += (unsigned char)map[off];
	(void)sum;

	notify_ready();
	sleep_forever(3600);
	return 0;
}

/*
 * vms-pagegen: a known invariant over guest memory, for snapshot tests.
 * N data pages and one counter page. Generation g is written page by page
 * (each page: magic, index, g, then words derived from g and the index),
 * and only then is the counter page set to g. At every instant the pages,
 * in index order, are a prefix at generation c+1 and the rest at c, where
 * c is the counter: a consistent snapshot shows exactly that, while a copy
 * taken over time (pages scattered in physical memory) can show anything.
 */
#define PAGEGEN_MAGIC "VMSIGHT-PAGEGEN!"
#define PAGEGEN_COUNTER_MAGIC "VMSIGHT-PGCOUNT!"

static int pagegen(int argc, char **argv)
{
	long npages = 256;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--pages") == 0)
			npages = atol(argv[++i]);
	if (npages < 1 || npages > 65536)
		npages = 256;
	size_t pg = 4096;
	volatile uint64_t *counter = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint8_t *pages = mmap(NULL, pg * (size_t)npages, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (counter == MAP_FAILED || pages == MAP_FAILED) {
		perror("vms-pagegen: mmap");
		return 1;
	}
	memcpy((void *)counter, PAGEGEN_COUNTER_MAGIC, 16);
	counter[2] = (uint64_t)npages;
	notify_ready();
	for (uint64_t g = 1;; g++) {
		for (long i = 0; i < npages; i++) {
			volatile uint64_t *w = (volatile uint64_t *)(pages + (size_t)i * pg);
			memcpy((void *)w, PAGEGEN_MAGIC, 16);
			w[2] = (uint64_t)i;
			w[3] = g;
			for (size_t k = 4; k < pg / 8; k++)
				w[k] = g * 0x9e3779b97f4a7c15ull ^ ((uint64_t)i << 32 | k);
		}
		__atomic_store_n(&counter[3], g, __ATOMIC_RELEASE);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *slash = strrchr(argv[0], '/');
	prog = slash ? slash + 1 : argv[0];

	if (strcmp(prog, "vms-sleeper") == 0)
		return sleeper(argc, argv);
	if (strcmp(prog, "vms-threads") == 0)
		return threads(argc, argv);
	if (strcmp(prog, "vms-files") == 0)
		return files();
	if (strcmp(prog, "vms-pagegen") == 0)
		return pagegen(argc, argv);
	fprintf(stderr, "%s: unknown role; run as vms-sleeper, vms-threads, vms-files or vms-pagegen\n", prog);
	return 2;
}
