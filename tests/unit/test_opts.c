/*
 * Unit tests of the option-struct rules (src/util/opts.h): what an older
 * caller's smaller struct, a newer caller's larger one and the edge sizes
 * turn into, byte for byte, and that a public entry point applies them.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "util/opts.h"
#include "vmsight/vmsight.h"

/* Three versions of one options struct, as callers built at three times
 * see it. Without padding: the padding at the end of an older struct would
 * cover (and zero) the first field added after it. */
struct opts_v1 {
	size_t sz;
	int64_t a;
};

struct opts_v2 {
	size_t sz;
	int64_t a;
	int64_t b;
	uint64_t c;
};

struct opts_v3 {
	size_t sz;
	int64_t a;
	int64_t b;
	uint64_t c;
	uint64_t d; /* unknown to a v2 library */
};

/* The library is built with v2; its defaults are b = 7, the rest zero. */
static int read_v2(const void *opts, size_t user_sz, struct opts_v2 *out)
{
	memset(out, 0, sizeof(*out));
	out->b = 7;
	return opts_copy(out, sizeof(*out), opts, user_sz);
}

static void test_defaults(void)
{
	struct opts_v2 o;
	struct opts_v2 in = { .sz = 0, .a = 5, .b = 6, .c = 9 };
	CHECK(read_v2(NULL, 0, &o) == 0 && o.a == 0 && o.b == 7 && o.c == 0);
	CHECK(read_v2(NULL, 1000, &o) == 0 && o.a == 0 && o.b == 7);
	/* sz 0: the struct is not read at all */
	CHECK(read_v2(&in, 0, &o) == 0 && o.a == 0 && o.b == 7 && o.c == 0);
	/* too small to hold sz itself */
	CHECK(read_v2(&in, sizeof(size_t) - 1, &o) == -EINVAL && o.a == 0 && o.b == 7);
	CHECK(read_v2(&in, 1, &o) == -EINVAL);
}

static void test_older_caller(void)
{
	struct opts_v1 in = { .sz = sizeof(in), .a = 3 };
	struct opts_v2 o;
	CHECK(read_v2(&in, in.sz, &o) == 0);
	CHECK(o.sz == sizeof(in) && o.a == 3);
	CHECK(o.b == 7 && o.c == 0); /* fields it does not know: defaults */
	/* only the sz field: all defaults */
	CHECK(read_v2(&in, sizeof(size_t), &o) == 0 && o.a == 0 && o.b == 7);
}

static void test_same_version(void)
{
	struct opts_v2 in = { .sz = sizeof(in), .a = -1, .b = 0, .c = UINT64_MAX };
	struct opts_v2 o;
	CHECK(read_v2(&in, in.sz, &o) == 0 && memcmp(&o, &in, sizeof(o)) == 0);
	CHECK(o.b == 0); /* an explicit zero overrides a default */
}

static void test_newer_caller(void)
{
	struct opts_v3 in;
	struct opts_v2 o;
	memset(&in, 0, sizeof(in));
	in.sz = sizeof(in);
	in.a = 11;
	in.c = 12;
	CHECK(read_v2(&in, in.sz, &o) == 0 && o.a == 11 && o.b == 0 && o.c == 12);
	/* a field we do not know, set: refused, whatever its byte */
	for (size_t i = 0; i < sizeof(in.d); i++) {
		in.d = 0;
		((unsigned char *)&in.d)[i] = 0x80;
		CHECK(read_v2(&in, in.sz, &o) == -EINVAL);
		CHECK(o.a == 11); /* the known part was still read */
	}
	/* a larger sz whose extra bytes are zero */
	unsigned char big[sizeof(struct opts_v2) + 64];
	memset(big, 0, sizeof(big));
	struct opts_v2 known = { .sz = sizeof(big), .a = 4 };
	memcpy(big, &known, sizeof(known));
	CHECK(read_v2(big, sizeof(big), &o) == 0 && o.a == 4);
	big[sizeof(big) - 1] = 1;
	CHECK(read_v2(big, sizeof(big), &o) == -EINVAL);
}

static void test_macro(void)
{
	struct opts_v2 o = { .b = 7 };
	const struct opts_v1 *none = NULL;
	CHECK(VMS_OPTS_COPY(&o, none) == 0 && o.b == 7);
	struct opts_v3 in = { .sz = sizeof(in), .a = 1, .d = 2 };
	const struct opts_v3 *opts = &in; /* as callers pass them */
	CHECK(VMS_OPTS_COPY(&o, opts) == -EINVAL);
	in.d = 0;
	CHECK(VMS_OPTS_COPY(&o, opts) == 0 && o.a == 1);
}

/* vms_open reads its options by these rules, before it looks at the target. */
static void test_public_entry(void)
{
	struct {
		struct vms_open_opts o;
		uint64_t future;
	} in;
	char err[512] = "";
	struct vms_target *t = NULL;
	memset(&in, 0, sizeof(in));
	in.o.sz = sizeof(in);
	in.o.errbuf = err;
	in.o.errbuf_len = sizeof(err);
	in.future = 1;
	CHECK(vms_open("dump:/nonexistent", &in.o, &t) == -EINVAL && t == NULL);
	CHECK(strstr(err, "vms_open_opts") != NULL);
	in.future = 0;
	err[0] = '\0';
	CHECK(vms_open(NULL, &in.o, &t) == -EINVAL && strstr(err, "no target given") != NULL);
}

int main(void)
{
	test_defaults();
	test_older_caller();
	test_same_version();
	test_newer_caller();
	test_macro();
	test_public_entry();
	return check_report("opts");
}
