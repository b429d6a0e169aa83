/*
 * The escapers (src/util/escape.c) and the CLI's output writer
 * (tools/out.c): every byte value, invalid UTF-8, embedded NULs, very long
 * strings, cut buffers. Each escaped form is decoded back here by a small
 * independent decoder and must give the exact input (both forms are
 * lossless); text never holds a control byte, JSON is always valid UTF-8.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "util/escape.h"
#include "../../tools/out.h"

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static size_t put_utf8(unsigned char *o, unsigned cp)
{
	if (cp < 0x80)
		return o[0] = (unsigned char)cp, 1;
	if (cp < 0x800)
		return o[0] = (unsigned char)(0xc0 | cp >> 6), o[1] = (unsigned char)(0x80 | (cp & 63)), 2;
	o[0] = (unsigned char)(0xe0 | cp >> 12);
	o[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
	o[2] = (unsigned char)(0x80 | (cp & 63));
	return 3;
}

/* Text form back to bytes; -1 if it is not one escaped form. */
static long unescape_text(const char *s, unsigned char *out)
{
	size_t n = 0;
	for (const char *p = s; *p; p++) {
		if (*p != '\\') {
			out[n++] = (unsigned char)*p;
			continue;
		}
		p++;
		if (*p == '\\' || *p == 'n' || *p == 't' || *p == 'r') {
			out[n++] = *p == '\\' ? '\\' : *p == 'n' ? '\n' : *p == 't' ? '\t' : '\r';
		} else if (*p == 'x' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			out[n++] = (unsigned char)(hexval(p[1]) << 4 | hexval(p[2]));
			p += 2;
		} else if (*p == 'u') {
			unsigned cp = 0;
			for (int i = 1; i <= 4; i++)
				cp = cp << 4 | (unsigned)hexval(p[i]);
			n += put_utf8(out + n, cp);
			p += 4;
		} else {
			return -1;
		}
	}
	return (long)n;
}

/* JSON string body back to bytes, \udcNN as the byte NN (surrogateescape). */
static long unescape_json(const char *s, unsigned char *out)
{
	size_t n = 0;
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			return -1; /* unescaped quote */
		if (*p != '\\') {
			out[n++] = (unsigned char)*p;
			continue;
		}
		p++;
		const char *simple = strchr("\"\\nrtbf", *p);
		if (simple && *p) {
			static const char to[] = "\"\\\n\r\t\b\f";
			out[n++] = (unsigned char)to[simple - "\"\\nrtbf"];
		} else if (*p == 'u') {
			unsigned cp = 0;
			for (int i = 1; i <= 4; i++)
				cp = cp << 4 | (unsigned)hexval(p[i]);
			p += 4;
			if (cp >= 0xdc80 && cp <= 0xdcff)
				out[n++] = (unsigned char)(cp & 0xff);
			else if (cp < 0x80)
				out[n++] = (unsigned char)cp;
			else
				return -1;
		} else {
			return -1;
		}
	}
	return (long)n;
}

static int all_valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	for (size_t i = 0; i < len;) {
		size_t n = utf8_valid_len(p + i, len - i);
		if (!n)
			return 0;
		i += n;
	}
	return 1;
}

static int no_controls(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0))
			return 0;
	return 1;
}

static void round_trip(const unsigned char *in, size_t len)
{
	size_t cap = len * 12 + 1;
	char *t = malloc(cap), *j = malloc(cap);
	unsigned char *back = malloc(len * 4 + 1);
	size_t tn = esc_text(t, cap, (const char *)in, len, 0);
	size_t jn = esc_json(j, cap, (const char *)in, len, 0);
	CHECK(tn < cap && jn < cap && strlen(t) == tn && strlen(j) == jn);
	CHECK(no_controls(t));
	CHECK(all_valid_utf8(j));
	CHECK(unescape_text(t, back) == (long)len && memcmp(back, in, len) == 0);
	CHECK(unescape_json(j, back) == (long)len && memcmp(back, in, len) == 0);
	free(t);
	free(j);
	free(back);
}

static void test_every_byte(void)
{
	for (int c = 0; c < 256; c++) {
		unsigned char b[3] = { 'a', (unsigned char)c, 'z' };
		round_trip(b, 3);
	}
	char t[16], j[16];
	esc_text(t, sizeof(t), "\x1b", 1, 0);
	CHECK(strcmp(t, "\\x1b") == 0);
	esc_json(j, sizeof(j), "\x1b", 1, 0);
	CHECK(strcmp(j, "\\u001b") == 0);
	esc_json(j, sizeof(j), "\xff", 1, 0);
	CHECK(strcmp(j, "\\udcff") == 0);
	esc_text(t, sizeof(t), "a\\b\n", 4, 0);
	CHECK(strcmp(t, "a\\\\b\\n") == 0);
	esc_text(t, sizeof(t), "\xc3\xa9", 2, 0); /* é passes */
	CHECK(strcmp(t, "\xc3\xa9") == 0);
	esc_text(t, sizeof(t), "\xc2\x9b", 2, 0); /* C1 CSI */
	CHECK(strcmp(t, "\\xc2\\x9b") == 0);
	esc_text(t, sizeof(t), "\xe2\x80\xae", 3, 0); /* right-to-left override */
	CHECK(strcmp(t, "\\u202e") == 0);
	esc_text(t, sizeof(t), "a\tb\\", 4, ESC_LOG_TEXT);
	CHECK(strcmp(t, "a\tb\\") == 0);
}

static void test_invalid_utf8(void)
{
	static const char *cases[] = {
		"\xc0\xaf",         /* overlong '/' */
		"\xe0\x80\xaf",     /* overlong */
		"\xed\xa0\x80",     /* surrogate */
		"\xf4\x90\x80\x80", /* above U+10FFFF */
		"\xe2\x82",         /* cut */
		"\x80\x80",         /* lone continuations */
		"\xf0\x9f\x98",     /* cut emoji */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i]);
		CHECK(utf8_valid_len((const unsigned char *)cases[i], len) == 0);
		round_trip((const unsigned char *)cases[i], len);
	}
	CHECK(utf8_valid_len((const unsigned char *)"\xf0\x9f\x98\x80", 4) == 4);
}

static void test_nul_and_long(void)
{
	unsigned char nul[5] = { 'a', 0, 'b', 0, 'c' };
	round_trip(nul, 5);
	char t[16];
	esc_text(t, sizeof(t), (const char *)nul, 5, ESC_NUL_AS_SPACE);
	CHECK(strcmp(t, "a b c") == 0);
	size_t len = 1 << 20;
	unsigned char *big = malloc(len);
	uint32_t x = 12345;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		big[i] = (unsigned char)x;
	}
	round_trip(big, len);
	free(big);
}

static void test_cut_buffers(void)
{
	const char *s =
	        "ab\x1b"
	        "cd\xff";
	char full[64];
	size_t need = esc_json(full, sizeof(full), s, strlen(s), 0);
	for (size_t cap = 1; cap <= need + 1; cap++) {
		char b[64];
		memset(b, 'X', sizeof(b));
		size_t n = esc_json(b, cap, s, strlen(s), 0);
		CHECK(n == need);
		CHECK(strlen(b) < cap);
		CHECK(strncmp(b, full, strlen(b)) == 0);
		/* never cut inside an escape */
		size_t l = strlen(b);
		CHECK(l == 0 || strncmp(full + l, "\\", 1) == 0 || full[l] == '\0' || b[l - 1] != '\\');
	}
	CHECK(esc_text(NULL, 0, "abc", 3, 0) == 3);
}

/* ---- the writer ---- */

static char *capture_begin(int *saved, FILE **tmp)
{
	fflush(stdout);
	*tmp = tmpfile();
	*saved = dup(1);
	dup2(fileno(*tmp), 1);
	return NULL;
}

static char *capture_end(int saved, FILE *tmp)
{
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	long n = ftell(tmp);
	n = lseek(fileno(tmp), 0, SEEK_END);
	char *buf = calloc(1, (size_t)n + 1);
	pread(fileno(tmp), buf, (size_t)n, 0);
	fclose(tmp);
	return buf;
}

static void test_writer(void)
{
	int saved;
	FILE *tmp;
	const char comm[] = "\x1b]0;PWNED\x07\xff";

	out_init(0);
	capture_begin(&saved, &tmp);
	out_begin();
	out_int("pid", "%5lld ", 42);
	out_guest("comm", "%-16s|", comm);
	out_hex("addr", NULL, 0xffff);
	out_bool("kthread", 1);
	out_end();
	char *text = capture_end(saved, tmp);
	CHECK(strcmp(text, "   42 \\x1b]0;PWNED\\x07\\xff|\n") == 0);
	free(text);

	out_init(1);
	capture_begin(&saved, &tmp);
	out_begin();
	out_int("pid", "%5lld ", 42);
	out_guest("comm", "%-16s|", comm);
	out_str(NULL, "text only %s", "x");
	out_arr("args");
	out_uint("", NULL, 1);
	out_uint("", NULL, 2);
	out_arr_end();
	out_obj("o");
	out_null("n");
	out_obj_end();
	out_hex("addr", NULL, 0xffff);
	out_bool("kthread", 1);
	out_end();
	char *json = capture_end(saved, tmp);
	CHECK(strcmp(json,
	             "{\"pid\":42,\"comm\":\"\\u001b]0;PWNED\\u0007\\udcff\",\"args\":[1,2],\"o\":{\"n\":null},"
	             "\"addr\":\"0xffff\",\"kthread\":true}\n") == 0);
	free(json);
}

int main(void)
{
	test_every_byte();
	test_invalid_utf8();
	test_nul_and_long();
	test_cut_buffers();
	test_writer();
	return check_report("escape");
}
