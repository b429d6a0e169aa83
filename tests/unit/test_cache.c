/*
 * Unit tests of what stands between the guest (or another local user) and
 * the files vmsight writes: the profile cache's file names (built from a
 * release string read from guest memory), its directory and file checks
 * (owner, mode, symlinks, FIFOs), its O_EXCL temporary files; and the BTF
 * member-path parser that takes `vmsight btf TYPE MEMBER...` arguments.
 * The checks on another user's files need root (to chown); they are
 * skipped otherwise. The lab test tests/test_security.py does the same
 * against real guests and a real second user.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "check.h"
#include "linux/kernel.h"
#include "util/cachedir.h"

#define OTHER_UID 65534 /* nobody */

static char root_dir[256];

static int name_is_safe(const char *n)
{
	if (!*n || n[0] == '.')
		return 0;
	for (const char *p = n; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-%", *p))
			return 0;
	return 1;
}

static void test_names(void)
{
	char n[256];
	CHECK(profile_cache_name("6.1.0-56-cloud-amd64", "0123abcd", n, sizeof(n)) == 0);
	CHECK(strcmp(n, "6.1.0-56-cloud-amd64-0123abcd.vmsprof") == 0);
	CHECK(profile_cache_name("5.10.0+", "", n, sizeof(n)) == 0 && strcmp(n, "5.10.0+-nobuildid.vmsprof") == 0);
	CHECK(profile_cache_name("", "", n, sizeof(n)) == 0 && strcmp(n, "unknown-nobuildid.vmsprof") == 0);

	/* The reported attack: no '/' survives, and the name cannot climb. */
	CHECK(profile_cache_name("../../../../tmp/pwn/evil", "ab", n, sizeof(n)) == 0);
	CHECK(name_is_safe(n) && !strchr(n, '/'));
	CHECK(strcmp(n, "%2e.%2f..%2f..%2f..%2ftmp%2fpwn%2fevil-ab.vmsprof") == 0);
	CHECK(profile_cache_name("..", "..", n, sizeof(n)) == 0 && name_is_safe(n) &&
	      strcmp(n, "%2e.-...vmsprof") == 0);
	/* Every other byte is escaped: space, %, control, high bytes. */
	CHECK(profile_cache_name("a b%c\n\xff", "x/y", n, sizeof(n)) == 0);
	CHECK(strcmp(n, "a%20b%25c%0a%ff-x%2fy.vmsprof") == 0);
	/* A hostile build id field is treated the same way. */
	CHECK(profile_cache_name("r", "../../etc/passwd", n, sizeof(n)) == 0 && name_is_safe(n) && !strchr(n, '/'));

	/* Long releases are cut (at a whole escape), well under NAME_MAX. */
	char lng[200];
	memset(lng, '/', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	CHECK(profile_cache_name(lng, "0123456789012345678901234567890123456789", n, sizeof(n)) == 0);
	CHECK(name_is_safe(n) && strlen(n) < 200 && strstr(n, "%2f-0123") != NULL);
	memset(lng, 'a', sizeof(lng) - 1);
	CHECK(profile_cache_name(lng, "", n, sizeof(n)) == 0 && strlen(n) < 200);
	/* Too small a buffer is an error, not a cut name. */
	CHECK(profile_cache_name("6.1.0", "abcdef", n, 8) == -ENAMETOOLONG);
	CHECK(profile_cache_name("6.1.0", "abcdef", n, 0) == -ENAMETOOLONG);

	/* Every byte value, one at a time: always a safe name. */
	for (int c = 1; c < 256; c++) {
		char r[2] = { (char)c, 0 };
		CHECK(profile_cache_name(r, r, n, sizeof(n)) == 0 && name_is_safe(n));
	}
}

static void path(char *out, size_t len, const char *sub)
{
	snprintf(out, len, "%s/%s", root_dir, sub);
}

static struct vms_kernel *kernel(void)
{
	struct vms_kernel *k = calloc(1, sizeof(*k));
	symtab_init(&k->syms);
	return k;
}

static void test_directory(void)
{
	char d[400], f[500];
	struct vms_kernel *k = kernel();
	path(d, sizeof(d), "a/b/vmsight");
	CHECK(profile_cache_opendir(k, d, 0) == -ENOENT);
	int fd = profile_cache_opendir(k, d, 1);
	CHECK(fd >= 0);
	struct stat st;
	CHECK(stat(d, &st) == 0 && (st.st_mode & 0777) == 0700 && st.st_uid == geteuid());
	if (fd >= 0)
		close(fd);
	CHECK(k->cache_refused == 0);

	/* Writable by others: refused, once and for all for this kernel. */
	chmod(d, 0777);
	CHECK(profile_cache_opendir(k, d, 1) == -EPERM && k->cache_refused);
	chmod(d, 0700);
	CHECK(profile_cache_opendir(k, d, 1) == -EPERM);
	free(k);
	k = kernel();
	chmod(d, 0770);
	CHECK(profile_cache_opendir(k, d, 0) == -EPERM);
	free(k);
	k = kernel();
	chmod(d, 0755); /* readable by others is fine: profiles hold no secrets */
	fd = profile_cache_opendir(k, d, 0);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	free(k);

	/* Someone else's directory, even 0700. */
	if (geteuid() == 0) {
		k = kernel();
		path(f, sizeof(f), "theirs");
		CHECK(mkdir(f, 0700) == 0 && chown(f, OTHER_UID, OTHER_UID) == 0);
		CHECK(profile_cache_opendir(k, f, 1) == -EPERM && k->cache_refused);
		free(k);
	}
	/* A file where the directory should be. */
	k = kernel();
	path(f, sizeof(f), "plain");
	close(open(f, O_CREAT | O_WRONLY, 0600));
	CHECK(profile_cache_opendir(k, f, 0) == -ENOTDIR);
	free(k);
}

static void put(int dfd, const char *name, const char *text, mode_t mode)
{
	int fd = openat(dfd, name, O_CREAT | O_WRONLY | O_TRUNC, mode);
	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	fchmodat(dfd, name, mode, 0);
}

static void test_files(void)
{
	char d[400], target[500];
	struct vms_kernel *k = kernel();
	path(d, sizeof(d), "files");
	int dfd = profile_cache_opendir(k, d, 1);
	CHECK(dfd >= 0);
	struct stat st;
	put(dfd, "ok.vmsprof", "ok", 0600);
	int fd = cachedir_file_open(dfd, "ok.vmsprof", &st);
	CHECK(fd >= 0 && st.st_size == 2);
	close(fd);
	put(dfd, "wide.vmsprof", "x", 0666);
	CHECK(cachedir_file_open(dfd, "wide.vmsprof", &st) == -EPERM);
	put(dfd, "group.vmsprof", "x", 0620);
	CHECK(cachedir_file_open(dfd, "group.vmsprof", &st) == -EPERM);
	CHECK(mkfifoat(dfd, "fifo.vmsprof", 0600) == 0);
	CHECK(cachedir_file_open(dfd, "fifo.vmsprof", &st) == -EPERM); /* and did not block */
	CHECK(mkdirat(dfd, "dir.vmsprof", 0700) == 0);
	CHECK(cachedir_file_open(dfd, "dir.vmsprof", &st) == -EPERM);
	CHECK(symlinkat("ok.vmsprof", dfd, "link.vmsprof") == 0);
	CHECK(cachedir_file_open(dfd, "link.vmsprof", &st) == -ELOOP);
	if (geteuid() == 0) {
		put(dfd, "theirs.vmsprof", "x", 0600);
		CHECK(fchownat(dfd, "theirs.vmsprof", OTHER_UID, OTHER_UID, 0) == 0);
		CHECK(cachedir_file_open(dfd, "theirs.vmsprof", &st) == -EPERM);
	}

	/* Writing over a symlink replaces the link, never its target. */
	path(target, sizeof(target), "victim");
	int vfd = open(target, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(vfd >= 0 && write(vfd, "precious", 8) == 8);
	close(vfd);
	CHECK(symlinkat(target, dfd, "new.vmsprof") == 0);
	CHECK(cachedir_write(dfd, "new.vmsprof", "head", 4, "body", 4) == 0);
	char buf[16] = { 0 };
	vfd = open(target, O_RDONLY);
	CHECK(vfd >= 0 && read(vfd, buf, sizeof(buf)) == 8 && memcmp(buf, "precious", 8) == 0);
	close(vfd);
	fd = cachedir_file_open(dfd, "new.vmsprof", &st);
	CHECK(fd >= 0 && st.st_size == 8 && (st.st_mode & 0777) == 0600);
	CHECK(fd >= 0 && pread(fd, buf, 8, 0) == 8 && memcmp(buf, "headbody", 8) == 0);
	close(fd);
	/* The old fixed temporary name, planted as a symlink: not used. */
	char planted[64];
	snprintf(planted, sizeof(planted), "new.vmsprof.%d.tmp", (int)getpid());
	CHECK(symlinkat(target, dfd, planted) == 0);
	CHECK(cachedir_write(dfd, "new.vmsprof", "again", 5, NULL, 0) == 0);
	vfd = open(target, O_RDONLY);
	CHECK(vfd >= 0 && read(vfd, buf, sizeof(buf)) == 8 && memcmp(buf, "precious", 8) == 0);
	close(vfd);
	CHECK(unlinkat(dfd, planted, 0) == 0);
	/* No temporary file is left behind. */
	DIR *dd = fdopendir(dup(dfd));
	struct dirent *e;
	int tmps = 0;
	while (dd && (e = readdir(dd)))
		tmps += strstr(e->d_name, ".tmp") != NULL;
	if (dd)
		closedir(dd);
	CHECK(tmps == 0);
	close(dfd);
	free(k);
}

static void test_siblings(void)
{
	char d[400];
	struct vms_kernel *k = kernel();
	uint8_t a[64], b[64];
	CHECK(profile_sibling_read(k, ".views", a, sizeof(a)) == -ENOENT); /* no profile */
	path(d, sizeof(d), "sib");
	int dfd = profile_cache_opendir(k, d, 1);
	close(dfd);
	snprintf(k->cache_file, sizeof(k->cache_file), "%s/r-b.vmsprof", d);
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 7);
	CHECK(profile_sibling_write(k, ".views", a, sizeof(a)) == 0);
	CHECK(profile_sibling_read(k, ".views", b, sizeof(b)) == 0 && memcmp(a, b, sizeof(a)) == 0);
	CHECK(profile_sibling_read(k, ".views", b, sizeof(b) - 1) == -EINVAL); /* not the size expected */
	/* Once the directory is opened to others, nothing in it is read. */
	chmod(d, 0777);
	CHECK(profile_sibling_read(k, ".views", b, sizeof(b)) == -EPERM);
	CHECK(profile_sibling_write(k, ".views", a, sizeof(a)) == -EPERM);
	chmod(d, 0700);
	free(k);
}

/* A whole save with a guest-chosen release: the file lands in the cache
 * directory, under an escaped name. */
static void test_save(void)
{
	char d[400], evil[500];
	struct vms_kernel *k = kernel();
	CHECK(symtab_add(&k->syms, 0xffffffff81000000ull, 'T', 0, "_text", 5) == 0);
	CHECK(symtab_index(&k->syms) == 0);
	k->symbols_from = "kallsyms";
	k->types_from = "none";
	path(d, sizeof(d), "save/vmsight");
	path(evil, sizeof(evil), "pwn");
	snprintf(k->release, sizeof(k->release), "../../pwn/evil");
	snprintf(k->banner, sizeof(k->banner), "Linux version %s ", k->release);
	k->text_va = k->banner_va = 0xffffffff81000000ull;
	CHECK(profile_cache_save(k, d) == 0);
	struct stat st;
	CHECK(stat(evil, &st) == -1 && errno == ENOENT);
	size_t dl = strlen(d);
	CHECK(strncmp(k->cache_file, d, dl) == 0 && k->cache_file[dl] == '/');
	CHECK(strcmp(k->cache_file + dl + 1, "%2e.%2f..%2fpwn%2fevil-nobuildid.vmsprof") == 0);
	CHECK(stat(k->cache_file, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
	symtab_free(&k->syms);
	free(k);
}

/* ---- the BTF member-path parser ------------------------------------------------ */

static struct btf *path_btf(void)
{
	struct btf *b = btf__new_empty();
	int u32 = btf__add_int(b, "u32", 4, 0); /* 1 */
	btf__add_struct(b, "", 4);              /* 2: anonymous, found by "" before */
	btf__add_field(b, "anon_x", u32, 0, 0);
	int lhp = btf__add_ptr(b, 4);                 /* 3: to list_head, next */
	int lh = btf__add_struct(b, "list_head", 16); /* 4 */
	CHECK(lhp == 3 && lh == 4);
	btf__add_field(b, "next", lhp, 0, 0);
	btf__add_field(b, "prev", lhp, 64, 0);
	int links = btf__add_array(b, u32, lh, 4);   /* list_head[4] */
	int flex = btf__add_array(b, u32, u32, 0);   /* u32[] */
	int big = btf__add_array(b, u32, u32, 1000); /* u32[1000] */
	CHECK(btf__add_struct(b, "task", 4 + 4 + 16 + 64 + 4000 + 4) > 0);
	btf__add_field(b, "pid", u32, 0, 0);
	btf__add_field(b, "flags", u32, 32, 0);
	btf__add_field(b, "tasks", lh, 64, 0);
	btf__add_field(b, "pid_links", links, 192, 0);
	btf__add_field(b, "many", big, 704, 0);
	CHECK(btf__add_field(b, "tail", flex, (4 + 4 + 16 + 64 + 4000) * 8, 0) == 0);
	return b;
}

static int field(const struct btf *b, const char *type, const char *p, uint64_t *off, char *err, size_t errlen)
{
	uint64_t size;
	uint32_t bo, bs;
	err[0] = '\0';
	return kbtf_field(b, type, p, off, &size, &bo, &bs, err, errlen);
}

static void test_btf_paths(void)
{
	struct btf *b = path_btf();
	char err[300];
	uint64_t off = 0, size = 0;
	CHECK(b != NULL);

	/* What works. */
	CHECK(field(b, "task", "tasks.next", &off, err, sizeof(err)) == 0 && off == 8);
	CHECK(field(b, "task", "pid_links[3].prev", &off, err, sizeof(err)) == 0 && off == 24 + 3 * 16 + 8);
	CHECK(field(b, "task", "many[999]", &off, err, sizeof(err)) == 0 && off == 88 + 999 * 4);
	CHECK(kbtf_struct_size(b, "list_head", &size, err, sizeof(err)) == 0 && size == 16);

	/* An empty type name is not the first anonymous struct. */
	CHECK(kbtf_struct_size(b, "", &size, err, sizeof(err)) == -EINVAL && strstr(err, "empty type name"));
	CHECK(field(b, "", "anon_x", &off, err, sizeof(err)) == -EINVAL && strstr(err, "empty type name"));
	CHECK(field(b, "task", "", &off, err, sizeof(err)) == -EINVAL && strstr(err, "empty member path"));

	/* A member of a pointer: said so, not "no member". */
	CHECK(field(b, "list_head", "next.next", &off, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "'next' is a pointer") && strstr(err, "'.next' cannot follow"));
	CHECK(field(b, "task", "pid.x", &off, err, sizeof(err)) == -EINVAL && strstr(err, "'pid' is an integer"));
	CHECK(field(b, "task", "pid_links.next", &off, err, sizeof(err)) == -EINVAL && strstr(err, "is an array"));
	CHECK(field(b, "task", "tasks.nope", &off, err, sizeof(err)) == -ENOENT &&
	      strstr(err, "'tasks' has no member 'nope'"));
	CHECK(field(b, "task", "nope", &off, err, sizeof(err)) == -ENOENT && strstr(err, "task has no member 'nope'"));

	/* Indexes: negative, out of range, malformed, on a non-array, flexible. */
	CHECK(field(b, "task", "pid_links[-1]", &off, err, sizeof(err)) == -ERANGE && strstr(err, "negative"));
	CHECK(!strstr(err, "18446744073709551615"));
	CHECK(field(b, "task", "pid_links[4]", &off, err, sizeof(err)) == -ERANGE);
	CHECK(strstr(err, "index 4 is out of range") && strstr(err, "4 elements"));
	CHECK(field(b, "task", "pid_links[18446744073709551615]", &off, err, sizeof(err)) == -ERANGE);
	CHECK(field(b, "task", "pid_links[99999999999999999999999]", &off, err, sizeof(err)) == -ERANGE);
	CHECK(field(b, "task", "many[1000]", &off, err, sizeof(err)) == -ERANGE);
	const char *bad[] = { "pid_links[]",   "pid_links[ 1]", "pid_links[+1]", "pid_links[0x1]", "pid_links[1",
		              "pid_links[1]x", "tasks.",        "tasks..next",   ".tasks",         "[0]" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(field(b, "task", bad[i], &off, err, sizeof(err)) == -EINVAL && err[0]);
	CHECK(field(b, "task", "pid[0]", &off, err, sizeof(err)) == -EINVAL && strstr(err, "not an array"));
	CHECK(field(b, "task", "tail[0]", &off, err, sizeof(err)) == -ERANGE && strstr(err, "unknown length"));
	CHECK(field(b, "task", "tail", &off, err, sizeof(err)) == 0); /* the member itself is fine */
	btf__free(b);
}

int main(void)
{
	snprintf(root_dir, sizeof(root_dir), "/tmp/vms-test-cache-XXXXXX");
	if (!mkdtemp(root_dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_names();
	test_directory();
	test_files();
	test_siblings();
	test_save();
	test_btf_paths();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root_dir);
	return check_report("cache");
}
