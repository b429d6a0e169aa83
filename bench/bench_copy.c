/*
 * bench_copy FILE — the machine's limit for copying guest RAM: map FILE (a
 * guest RAM file) read-only and memcpy all of it, in 4 MiB chunks, into one
 * reused buffer. Prints bytes, milliseconds and GB/s of the best of three.
 * bench/bench_snapshot puts vmsight's snapshot times beside this.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define CHUNK (4u << 20)

static volatile uint8_t sink;

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: bench_copy FILE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
		perror(argv[1]);
		return 1;
	}
	size_t len = (size_t)st.st_size;
	const uint8_t *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	uint8_t *buf = malloc(CHUNK);
	if (m == MAP_FAILED || !buf) {
		perror("mmap");
		return 1;
	}
	memset(buf, 1, CHUNK);
	double best = 1e30;
	for (int rep = 0; rep < 3; rep++) {
		double t0 = bench_now_ms();
		for (size_t off = 0; off < len; off += CHUNK) {
			size_t n = len - off < CHUNK ? len - off : CHUNK;
			memcpy(buf, m + off, n);
			sink ^= buf[n - 1];
		}
		double dt = bench_now_ms() - t0;
		if (dt < best)
			best = dt;
	}
	printf("{\"bytes\":%zu,\"ms\":%.3f,\"gbps\":%.2f}\n", len, best, (double)len / (best * 1e6));
	return 0;
}
