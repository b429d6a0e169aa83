/*
 * The output writer (see out.h). It keeps the JSON nesting (whether a
 * comma is due at each level) and a scratch buffer that escaped text is
 * built in; the CLI is single-threaded, so that state is static.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"
#include "util/escape.h"

#define OUT_DEPTH 8

static struct {
	int json;
	int depth;              /* open objects and arrays */
	int first[OUT_DEPTH];   /* nothing written at this level yet */
	char closer[OUT_DEPTH]; /* '}' or ']' */
	int line_open;          /* text: the row's last piece did not end the line */
	char *buf;              /* escaped text */
	size_t cap;
	const char *prefix_key, *prefix_value; /* out_record_prefix */
} o;

void out_init(int json)
{
	o.json = json;
}

int out_is_json(void)
{
	return o.json;
}

/* Escape with ESCAPE into the scratch buffer; "" if memory runs out (a
 * value is then lost, never shown raw). */
static const char *escaped(size_t (*escape)(char *, size_t, const char *, size_t, unsigned), const char *p, size_t len,
                           unsigned flags)
{
	size_t need = escape(o.buf, o.cap, p, len, flags);
	if (need >= o.cap) {
		char *b = realloc(o.buf, need + 1);
		if (!b)
			return "";
		o.buf = b;
		o.cap = need + 1;
		escape(o.buf, o.cap, p, len, flags);
	}
	return o.buf ? o.buf : "";
}

/* JSON: the comma and key before a value at the current level. */
static void key(const char *k)
{
	if (o.depth > 0 && !o.first[o.depth - 1])
		putchar(',');
	if (o.depth > 0)
		o.first[o.depth - 1] = 0;
	if (k && k[0]) {
		putchar('"');
		fputs(escaped(esc_json, k, strlen(k), 0), stdout);
		fputs("\":", stdout);
	}
}

static void open_level(const char *k, char c)
{
	if (o.depth == OUT_DEPTH)
		abort(); /* a command nests deeper than any record of ours */
	key(k);
	putchar(c);
	o.first[o.depth] = 1;
	o.closer[o.depth] = c == '{' ? '}' : ']';
	o.depth++;
}

static void close_level(void)
{
	if (o.depth > 0)
		putchar(o.closer[--o.depth]);
}

/* Whether the field is written in this mode. */
static int json_field(const char *k)
{
	return o.json && k;
}

static int text_field(const char *fmt)
{
	if (o.json || !fmt)
		return 0;
	size_t n = strlen(fmt);
	o.line_open = !(n && fmt[n - 1] == '\n');
	return 1;
}

void out_record_prefix(const char *k, const char *value)
{
	o.prefix_key = k;
	o.prefix_value = value;
}

void out_begin(void)
{
	o.depth = 0;
	if (o.json)
		open_level(NULL, '{');
	if (o.prefix_key)
		out_str(o.prefix_key, NULL, o.prefix_value);
}

void out_end(void)
{
	while (o.json && o.depth > 0)
		close_level();
	if (o.json || o.line_open)
		putchar('\n');
	o.line_open = 0;
}

void out_obj(const char *k)
{
	if (o.json)
		open_level(k, '{');
}

void out_obj_end(void)
{
	if (o.json)
		close_level();
}

void out_arr(const char *k)
{
	if (o.json)
		open_level(k, '[');
}

void out_arr_end(void)
{
	if (o.json)
		close_level();
}

static void json_string(const char *p, size_t len, unsigned flags)
{
	putchar('"');
	fputs(escaped(esc_json, p, len, flags), stdout);
	putchar('"');
}

void out_str(const char *k, const char *fmt, const char *s)
{
	if (json_field(k)) {
		key(k);
		json_string(s, strlen(s), 0);
	} else if (text_field(fmt)) {
		printf(fmt, s);
	}
}

void out_guest_n(const char *k, const char *fmt, const char *p, size_t len, unsigned flags)
{
	if (json_field(k)) {
		key(k);
		json_string(p, len, flags);
	} else if (text_field(fmt)) {
		printf(fmt, escaped(esc_text, p, len, flags));
	}
}

void out_guest(const char *k, const char *fmt, const char *s)
{
	out_guest_n(k, fmt, s, strlen(s), 0);
}

void out_int(const char *k, const char *fmt, long long v)
{
	if (json_field(k)) {
		key(k);
		printf("%lld", v);
	} else if (text_field(fmt)) {
		printf(fmt, v);
	}
}

void out_uint(const char *k, const char *fmt, unsigned long long v)
{
	if (json_field(k)) {
		key(k);
		printf("%llu", v);
	} else if (text_field(fmt)) {
		printf(fmt, v);
	}
}

void out_hex(const char *k, const char *fmt, unsigned long long v)
{
	if (json_field(k)) {
		key(k);
		printf("\"0x%llx\"", v);
	} else if (text_field(fmt)) {
		printf(fmt, v);
	}
}

void out_double(const char *k, const char *fmt, int decimals, double v)
{
	if (json_field(k)) {
		key(k);
		printf("%.*f", decimals, v);
	} else if (text_field(fmt)) {
		printf(fmt, v);
	}
}

void out_bool(const char *k, int v)
{
	if (json_field(k)) {
		key(k);
		fputs(v ? "true" : "false", stdout);
	}
}

void out_null(const char *k)
{
	if (json_field(k)) {
		key(k);
		fputs("null", stdout);
	}
}

void out_text(const char *fmt, ...)
{
	if (!text_field(fmt))
		return;
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}
