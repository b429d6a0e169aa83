/*
 * Escaping for terminals and JSON (the rules are in escape.h).
 *
 * Both escapers walk the input once, deciding per UTF-8 sequence or per
 * byte, and append pieces to a bounded buffer that counts what it could
 * not hold, so a caller can size a buffer with a first call (snprintf's
 * contract). A piece is written whole or not at all.
 */
#include <stdlib.h>
#include <string.h>

#include "util/escape.h"

struct sink {
	char *dst;
	size_t cap, len; /* len: the whole output's length, also past cap */
	size_t written;  /* bytes in dst */
	int cut;         /* a piece did not fit: nothing more is written */
};

static void put(struct sink *k, const char *p, size_t n)
{
	if (!k->cut && k->cap && k->len + n < k->cap) {
		memcpy(k->dst + k->len, p, n);
		k->written = k->len + n;
	} else {
		k->cut = 1;
	}
	k->len += n;
}

static void put_hex_byte(struct sink *k, const char *prefix, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char b[8];
	size_t n = strlen(prefix);
	memcpy(b, prefix, n);
	b[n++] = hex[c >> 4];
	b[n++] = hex[c & 15];
	put(k, b, n);
}

static size_t finish(struct sink *k)
{
	if (k->cap)
		k->dst[k->written] = '\0'; /* a cut output ends after its last whole piece */
	return k->len;
}

size_t utf8_valid_len(const unsigned char *p, size_t left)
{
	unsigned char c = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (left < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A valid sequence that steers a terminal or reorders text on screen. */
static int text_unsafe_seq(const unsigned char *p, size_t n)
{
	if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return 1; /* C1 control */
	if (n == 3 && p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xa8 && p[2] <= 0xae)
		return 1; /* U+2028-U+202E: separators, bidi embeddings and overrides */
	if (n == 3 && p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
		return 1; /* U+2066-U+2069: bidi isolates */
	return 0;
}

size_t esc_text(char *dst, size_t cap, const char *s, size_t len, unsigned flags)
{
	struct sink k = { .dst = dst, .cap = cap };
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n = utf8_valid_len(p + i, len - i);
		if (c >= 0x80 && n > 1) {
			if (text_unsafe_seq(p + i, n) && n == 2) {
				put_hex_byte(&k, "\\x", p[i]);
				put_hex_byte(&k, "\\x", p[i + 1]);
			} else if (text_unsafe_seq(p + i, n)) {
				unsigned cp = (unsigned)(p[i] & 0x0f) << 12 | (unsigned)(p[i + 1] & 0x3f) << 6 |
				              (p[i + 2] & 0x3f);
				char b[8];
				static const char hex[] = "0123456789abcdef";
				b[0] = '\\', b[1] = 'u';
				for (int d = 0; d < 4; d++)
					b[2 + d] = hex[(cp >> (12 - 4 * d)) & 15];
				put(&k, b, 6);
			} else {
				put(&k, (const char *)p + i, n);
			}
			i += n;
			continue;
		}
		if (c == 0 && (flags & ESC_NUL_AS_SPACE))
			put(&k, " ", 1);
		else if (c == '\\')
			put(&k, "\\\\", (flags & ESC_LOG_TEXT) ? 1 : 2);
		else if (c == '\n')
			put(&k, "\\n", 2);
		else if (c == '\t')
			put(&k, (flags & ESC_LOG_TEXT) ? "\t" : "\\t", (flags & ESC_LOG_TEXT) ? 1 : 2);
		else if (c == '\r')
			put(&k, "\\r", 2);
		else if (c < 0x20 || c >= 0x7f)
			put_hex_byte(&k, "\\x", c);
		else
			put(&k, (const char *)&c, 1);
		i++;
	}
	return finish(&k);
}

size_t esc_json(char *dst, size_t cap, const char *s, size_t len, unsigned flags)
{
	struct sink k = { .dst = dst, .cap = cap };
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n = utf8_valid_len(p + i, len - i);
		if (c >= 0x80) {
			if (n > 1) {
				put(&k, (const char *)p + i, n);
				i += n;
			} else {
				put_hex_byte(&k, "\\udc", c);
				i++;
			}
			continue;
		}
		if (c == 0 && (flags & ESC_NUL_AS_SPACE))
			put(&k, " ", 1);
		else if (c == '"')
			put(&k, "\\\"", 2);
		else if (c == '\\')
			put(&k, "\\\\", 2);
		else if (c == '\n')
			put(&k, "\\n", 2);
		else if (c == '\t')
			put(&k, "\\t", 2);
		else if (c == '\r')
			put(&k, "\\r", 2);
		else if (c == '\b')
			put(&k, "\\b", 2);
		else if (c == '\f')
			put(&k, "\\f", 2);
		else if (c < 0x20 || c == 0x7f)
			put_hex_byte(&k, "\\u00", c);
		else
			put(&k, (const char *)&c, 1);
		i++;
	}
	return finish(&k);
}

void esc_json_fput(FILE *f, const char *s)
{
	char small[256];
	size_t len = strlen(s);
	size_t need = esc_json(small, sizeof(small), s, len, 0);
	char *buf = need < sizeof(small) ? small : malloc(need + 1);
	fputc('"', f);
	if (buf && buf != small)
		esc_json(buf, need + 1, s, len, 0);
	if (buf)
		fputs(buf, f);
	else
		fputs("\\ufffd", f); /* out of memory: still valid JSON */
	fputc('"', f);
	if (buf != small)
		free(buf);
}
