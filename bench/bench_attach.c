/*
 * The fixed cost of one CLI command: whole `vmsight` processes, as a user
 * runs them (stdout to /dev/null), timed from spawn to exit, median of N.
 *
 *   bench_attach TARGET VMSIGHT [BASELINE_VMSIGHT] [ROUNDS]
 *
 * Beside them, what any such process pays on this machine: spawning
 * /bin/true, and QMP itself — connecting (greeting and capabilities) and one
 * command's round trip (query-status) on a connection already open. With a
 * second binary the commands run interleaved with it (same load, same
 * cache), for a before/after in one run. The profile cache is the
 * environment's (XDG_CACHE_HOME); every command runs once before timing, so
 * the profile is cached and the binaries are in the page cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "ctl/qmp.h"

#define MAX_ROUNDS 101

extern char **environ;

/* Wall time of one run of ARGV, stdout and stderr to /dev/null; <0 if it failed. */
static double run_ms(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	double t0 = bench_now_ms();
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return -1;
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	double t = bench_now_ms() - t0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? t : -1;
}

struct stat2 {
	double best, median;
};

static struct stat2 summarise(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return (struct stat2){ v[0], n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2 };
}

/* QMP: connect+negotiate, and one round trip on an open connection. */
static int qmp_floor(const char *sock, int rounds, struct stat2 *conn, struct stat2 *rtt)
{
	double c[MAX_ROUNDS], r[MAX_ROUNDS];
	char err[512];
	for (int i = 0; i < rounds; i++) {
		struct vms_qmp *q;
		double t0 = bench_now_ms();
		if (qmp_connect(sock, 10000, &q, err, sizeof(err))) {
			fprintf(stderr, "bench_attach: %s\n", err);
			return -1;
		}
		c[i] = bench_now_ms() - t0;
		struct json_doc doc;
		t0 = bench_now_ms();
		int ret = qmp_cmd(q, "query-status", NULL, &doc);
		r[i] = bench_now_ms() - t0;
		if (ret >= 0)
			json_free(&doc);
		qmp_close(q);
		if (ret < 0)
			return -1;
	}
	*conn = summarise(c, rounds);
	*rtt = summarise(r, rounds);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_attach TARGET VMSIGHT [BASELINE_VMSIGHT] [ROUNDS]\n");
		return 2;
	}
	char *target = argv[1];
	char *bins[2] = { argv[2], argc > 3 && argv[3][0] && !strchr("0123456789", argv[3][0]) ? argv[3] : NULL };
	int rounds = atoi(argc > (bins[1] ? 4 : 3) ? argv[bins[1] ? 4 : 3] : "11");
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 11;
	int nb = bins[1] ? 2 : 1;

	static const char *cmds[][3] = { { "--version", NULL, NULL }, { "info", NULL, NULL },  { "kernel", NULL, NULL },
		                         { "ps", NULL, NULL },        { "lsmod", NULL, NULL }, { "ps", "-T", NULL } };
	enum { NCMD = sizeof(cmds) / sizeof(cmds[0]) };
	double v[2][NCMD][MAX_ROUNDS];
	char *argvs[2][NCMD][6];
	for (int b = 0; b < nb; b++)
		for (int c = 0; c < NCMD; c++) {
			char **a = argvs[b][c];
			int k = 0;
			a[k++] = bins[b];
			if (strcmp(cmds[c][0], "--version") != 0) {
				a[k++] = "-t";
				a[k++] = target;
			}
			a[k++] = (char *)cmds[c][0];
			if (cmds[c][1])
				a[k++] = (char *)cmds[c][1];
			a[k] = NULL;
			if (run_ms(a) < 0) { /* warm: the profile cached, the binary in the page cache */
				fprintf(stderr, "bench_attach: %s %s failed\n", bins[b], cmds[c][0]);
				return 1;
			}
		}
	char *truth[] = { "/bin/true", NULL };
	double tr[MAX_ROUNDS];
	for (int i = 0; i < rounds; i++) {
		tr[i] = run_ms(truth);
		for (int c = 0; c < NCMD; c++)
			for (int b = 0; b < nb; b++)
				v[b][c][i] = run_ms(argvs[b][c]);
	}
	struct stat2 t = summarise(tr, rounds), conn = { 0, 0 }, rtt = { 0, 0 };
	int have_qmp = strncmp(target, "qmp:", 4) == 0 && qmp_floor(target + 4, rounds, &conn, &rtt) == 0;

	printf("whole processes, median of %d (best), ms; stdout to /dev/null\n", rounds);
	printf("  %-34s %8.2f (%.2f)\n", "limit: spawn /bin/true", t.median, t.best);
	if (have_qmp) {
		printf("  %-34s %8.2f (%.2f)\n", "limit: QMP connect + capabilities", conn.median, conn.best);
		printf("  %-34s %8.2f (%.2f)\n", "limit: one QMP round trip", rtt.median, rtt.best);
	}
	printf("  %-34s %17s%s\n", "command", bins[1] ? "this build" : "", bins[1] ? "          baseline" : "");
	for (int c = 0; c < NCMD; c++) {
		char name[64];
		snprintf(name, sizeof(name), "vmsight %s%s%s", cmds[c][0], cmds[c][1] ? " " : "",
		         cmds[c][1] ? cmds[c][1] : "");
		printf("  %-34s", name);
		for (int b = 0; b < nb; b++) {
			int bad = 0;
			for (int i = 0; i < rounds; i++)
				bad |= v[b][c][i] < 0;
			struct stat2 s = summarise(v[b][c], rounds);
			if (bad)
				printf(" %17s", "failed");
			else
				printf(" %8.2f (%6.2f)", s.median, s.best);
		}
		printf("\n");
	}
	return 0;
}
