/*
 * vms-fileops: a scripted file workload for the file monitoring tests.
 *
 *   vms-fileops OP ARGS... [OP ARGS...]...
 *     create PATH          open(O_CREAT|O_TRUNC|O_WRONLY), close
 *     write PATH TEXT      open(O_WRONLY|O_APPEND), write TEXT, close
 *     read PATH            open(O_RDONLY), read it all, close
 *     rename OLD NEW       rename(2)
 *     delete PATH          unlink(2)
 *     mkdir PATH           mkdir(2)
 *     rmdir PATH           rmdir(2)
 *     burst DIR N          N times: create DIR/bN, write to it (4 events each)
 *     sleep MS
 *     pace MS              sleep MS after every later operation (so the
 *                          agent reads each before the next: see MERGED)
 *     exec PATH OP...      execv PATH (a copy of this program) with the rest
 *
 * One process does everything in order, so the test knows the pid, the
 * process name (argv[0]'s base name, which the kernel takes at exec) and
 * the order of its events. It prints "pid PID" first and ends with a
 * 300 ms pause, so the agent can still read its name from /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, const char *path)
{
	fprintf(stderr, "vms-fileops: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void write_file(const char *path, const char *text, int flags)
{
	int fd = open(path, flags, 0644);
	if (fd < 0)
		die("open", path);
	if (text && write(fd, text, strlen(text)) < 0)
		die("write", path);
	close(fd);
}

int main(int argc, char **argv)
{
	int i = 1;
	long pace_ms = 0;
	if (!getenv("VMS_FILEOPS_QUIET")) {
		printf("pid %d\n", getpid());
		fflush(stdout);
	}
	while (i < argc) {
		const char *op = argv[i];
		const char *a = i + 1 < argc ? argv[i + 1] : NULL;
		const char *b = i + 2 < argc ? argv[i + 2] : NULL;
		if (strcmp(op, "create") == 0 && a) {
			write_file(a, NULL, O_WRONLY | O_CREAT | O_TRUNC);
			i += 2;
		} else if (strcmp(op, "write") == 0 && b) {
			write_file(a, b, O_WRONLY | O_APPEND);
			i += 3;
		} else if (strcmp(op, "read") == 0 && a) {
			char buf[4096];
			int fd = open(a, O_RDONLY);
			if (fd < 0)
				die("open", a);
			while (read(fd, buf, sizeof(buf)) > 0)
				;
			close(fd);
			i += 2;
		} else if (strcmp(op, "rename") == 0 && b) {
			if (rename(a, b) != 0)
				die("rename", a);
			i += 3;
		} else if (strcmp(op, "delete") == 0 && a) {
			if (unlink(a) != 0)
				die("unlink", a);
			i += 2;
		} else if (strcmp(op, "mkdir") == 0 && a) {
			if (mkdir(a, 0755) != 0)
				die("mkdir", a);
			i += 2;
		} else if (strcmp(op, "rmdir") == 0 && a) {
			if (rmdir(a) != 0)
				die("rmdir", a);
			i += 2;
		} else if (strcmp(op, "burst") == 0 && b) {
			long n = atol(b);
			char path[4096];
			for (long k = 0; k < n; k++) {
				snprintf(path, sizeof(path), "%s/b%ld", a, k);
				write_file(path, "burst\n", O_WRONLY | O_CREAT | O_TRUNC);
			}
			i += 3;
		} else if (strcmp(op, "sleep") == 0 && a) {
			msleep(atol(a));
			i += 2;
		} else if (strcmp(op, "pace") == 0 && a) {
			pace_ms = atol(a);
			i += 2;
			continue;
		} else if (strcmp(op, "exec") == 0 && a) {
			argv[i + 1] = (char *)a;
			setenv("VMS_FILEOPS_QUIET", "1", 1);
			execv(a, argv + i + 1);
			die("exec", a);
		} else {
			fprintf(stderr, "vms-fileops: bad operation at '%s'\n", op);
			return 2;
		}
		if (pace_ms)
			msleep(pace_ms);
	}
	msleep(300);
	return 0;
}
