/*
 * What the benchmark programs share: the clock they time with, the order
 * they sort samples in, and the generator of their random addresses.
 */
#ifndef VMS_BENCH_H
#define VMS_BENCH_H

#include <stdint.h>
#include <time.h>

static inline double bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline double bench_now_ms(void)
{
	return bench_now_ns() / 1e6;
}

/* qsort order for doubles (medians, percentiles). */
static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* xorshift64: cheap enough not to show in the figures it drives. */
static inline uint64_t bench_xorshift(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

#endif
