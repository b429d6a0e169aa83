/*
 * Finding and decoding kallsyms in a kernel image (kallsyms.h).
 *
 * scripts/kallsyms writes, each table behind a .balign 8 label:
 *   kallsyms_num_syms      N (a long before 5.x kernels, an int since; the
 *                          low 4 bytes read the same)
 *   kallsyms_names         N entries: a length (one byte, or two when the
 *                          first has bit 7 set: 6.1+), then that many token
 *                          numbers; the first expanded character is the type
 *   kallsyms_markers       ceil(N / 256) offsets into names, one per 256 symbols
 *   kallsyms_seqs_of_names 6.2+: N three-byte indices in name order
 *   kallsyms_token_table   256 NUL-terminated tokens
 *   kallsyms_token_index   256 u16 offsets of the tokens in the table
 *   kallsyms_offsets       N s32 (base-relative, 4.6+) or kallsyms_addresses
 *   kallsyms_relative_base                 (N longs, absolute kernels)
 * Up to 6.3 the addresses come first (offsets, relative_base, num_syms,
 * names, markers, [seqs], token_table, token_index); since 6.4 they follow
 * token_index and seqs_of_names comes last.
 *
 * So the search does not lean on one order. It anchors on the token table,
 * whose tokens for '0'..'9' are those digits (every kernel has symbols with
 * digits, and a character that occurs keeps its own code), proves it with the
 * token index, walks back to the markers (over the seqs if they sit
 * between), finds num_syms and names in front of the markers by decoding
 * names block by block against the markers, and tries the address layouts
 * of both orders, keeping the one whose addresses ascend, as kallsyms'
 * always do. Every count, offset and length comes from the buffer and is
 * checked before use; work is bounded by the buffer's size.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kallsyms.h"

/* The host is little-endian like the guest (x86-64 both). */
static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static size_t align8(size_t x)
{
	return (x + 7) & ~(size_t)7;
}

/* ---- token table and index ------------------------------------------------- */

static const char digits[] = "0\0001\0002\0003\0004\0005\0006\0007\0008\0009";

/* The token index at IX describes a table whose token '0' is at P0 and
 * whose last token ends at END: fill the layout's token fields. */
static int check_token_index(const uint8_t *buf, size_t len, size_t ix, size_t p0, size_t end, struct ksym_layout *lay)
{
	if (ix > len || len - ix < 512)
		return 0;
	uint16_t idx[256];
	for (int i = 0; i < 256; i++)
		idx[i] = rd16(buf + ix + 2 * i);
	if (idx[0] != 0 || idx[48] > p0)
		return 0;
	size_t t = p0 - idx[48];
	for (int i = 0; i < 256; i++) {
		size_t from = t + idx[i];
		size_t nul = i < 255 ? t + idx[i + 1] - 1 : end - 1;
		if (i < 255 && idx[i + 1] <= idx[i])
			return 0;
		if (nul < from || nul >= end || buf[nul] != 0)
			return 0;
		for (size_t j = from; j < nul; j++)
			if (buf[j] < 0x21 || buf[j] > 0x7e)
				return 0;
	}
	lay->token_table = t;
	lay->token_table_len = end - t;
	lay->token_index = ix;
	return 1;
}

static int find_tokens(const uint8_t *buf, size_t len, size_t from, struct ksym_layout *lay)
{
	while (from < len) {
		const uint8_t *hit = memmem(buf + from, len - from, digits, sizeof(digits));
		if (!hit)
			return 0;
		size_t p0 = (size_t)(hit - buf);
		from = p0 + 1;
		/* Tokens 48..255 run from '0' to the end of the table. */
		size_t q = p0;
		int i;
		for (i = 48; i < 256 && q < len; i++) {
			size_t room = len - q < 256 ? len - q : 256;
			const uint8_t *nul = memchr(buf + q, 0, room);
			if (!nul)
				break;
			q = (size_t)(nul - buf) + 1;
		}
		if (i < 256)
			continue;
		static const unsigned aligns[] = { 2, 4, 8 };
		for (unsigned a = 0; a < 3; a++) {
			size_t ix = (q + aligns[a] - 1) & ~(size_t)(aligns[a] - 1);
			if (check_token_index(buf, len, ix, p0, q, lay))
				return 1;
		}
	}
	return 0;
}

/* ---- markers, names, num_syms ---------------------------------------------- */

static uint64_t marker(const uint8_t *buf, const struct ksym_layout *lay, size_t i)
{
	const uint8_t *p = buf + lay->markers + i * lay->marker_size;
	return lay->marker_size == 8 ? rd64(p) : rd32(p);
}

/* Markers ending at END (after SKIP zero bytes of padding), read backwards:
 * strictly falling values down to the 0 of the first block. */
static int markers_ending_at(const uint8_t *buf, size_t end, unsigned esize, size_t skip, struct ksym_layout *lay)
{
	if (end < skip + esize)
		return 0;
	size_t e = end - skip;
	for (size_t k = e; k < end; k++)
		if (buf[k])
			return 0;
	uint64_t prev = UINT64_MAX;
	size_t count = 0;
	while (e >= esize && count <= SYMTAB_MAX_SYMS / 256) {
		e -= esize;
		uint64_t v = esize == 8 ? rd64(buf + e) : rd32(buf + e);
		if (v >= prev)
			return 0;
		count++;
		if (v == 0) {
			lay->markers = e;
			lay->nmarkers = count;
			lay->marker_size = esize;
			return 1;
		}
		prev = v;
	}
	return 0;
}

/* Decode the lengths of N names from NAMES, checking each block of 256
 * starts where its marker says and that the table ends before LIMIT with
 * zero padding only. Returns the end of the names, or 0. */
static size_t walk_names(const uint8_t *buf, size_t limit, size_t names, uint64_t n, const struct ksym_layout *lay)
{
	size_t pos = names;
	for (uint64_t i = 0; i < n; i++) {
		if ((i & 255) == 0 && pos != names + marker(buf, lay, i >> 8))
			return 0;
		if (pos >= limit)
			return 0;
		size_t l = buf[pos++];
		if (l & 0x80) {
			if (pos >= limit)
				return 0;
			l = (l & 0x7f) | ((size_t)buf[pos++] << 7);
		}
		if (l == 0 || l > limit - pos)
			return 0;
		pos += l;
	}
	if (limit - pos > 7)
		return 0;
	for (size_t k = pos; k < limit; k++)
		if (buf[k])
			return 0;
	return pos;
}

/* The longest stretch the last block of names can take: 256 entries of a
 * two-byte length and at most KSYM_NAME_MAX tokens. */
#define LAST_BLOCK_MAX (256u * (2 + KSYM_NAME_MAX))

/* num_syms sits just before names; names end just before the markers. */
static int find_names(const uint8_t *buf, struct ksym_layout *lay)
{
	size_t s = lay->markers;
	uint64_t last = marker(buf, lay, lay->nmarkers - 1);
	if (last + 8 > s)
		return 0;
	size_t hi = (s - (size_t)last - 4) & ~(size_t)3;
	size_t lo = hi > LAST_BLOCK_MAX + 16 ? hi - LAST_BLOCK_MAX - 16 : 0;
	for (size_t p = hi + 4; p >= lo + 4;) {
		p -= 4;
		uint64_t n = rd32(buf + p);
		if (n == 0 || (n + 255) / 256 != lay->nmarkers)
			continue;
		size_t cands[3] = { p + 4, p + 8, align8(p + 4) };
		for (int c = 0; c < 3; c++) {
			if (c == 2 && (cands[2] == cands[0] || cands[2] == cands[1]))
				continue;
			size_t names = cands[c];
			if (names + last >= s)
				continue;
			size_t end = walk_names(buf, s, names, n, lay);
			if (end) {
				lay->num_syms = n;
				lay->num_syms_at = p;
				lay->names = names;
				lay->names_len = end - names;
				return 1;
			}
		}
	}
	return 0;
}

/* Markers ending at END, then names before them. AT_TABLE: END is the
 * token table (padding may separate them); else END is where the markers
 * stop and only a seqs_of_names, 3 bytes a symbol, lies between. */
static int markers_then_names(const uint8_t *buf, struct ksym_layout *lay, size_t end, int at_table)
{
	size_t gap = lay->token_table - end;
	for (unsigned esize = 4; esize <= 8; esize += 4)
		for (size_t skip = 0; skip < 8; skip += esize) {
			if ((!at_table && skip) || !markers_ending_at(buf, end, esize, skip, lay))
				continue;
			uint64_t m = lay->nmarkers;
			if (!at_table && (gap < 3 * 256 * (m - 1) || gap > 3 * 256 * m + 16))
				continue;
			if (!find_names(buf, lay))
				continue;
			if (!at_table && (gap < 3 * lay->num_syms || gap > 3 * lay->num_syms + 16))
				continue;
			lay->seqs = at_table ? KSYM_NONE : align8(end);
			return 1;
		}
	return 0;
}

static int find_markers_and_names(const uint8_t *buf, struct ksym_layout *lay)
{
	size_t t = lay->token_table;
	if (markers_then_names(buf, lay, t, 1))
		return 1;
	size_t lim = t > 3u * SYMTAB_MAX_SYMS + 16 ? t - (3u * SYMTAB_MAX_SYMS + 16) : 0;
	for (size_t end = t & ~(size_t)3; end >= lim + 4 && end >= 8;) {
		end -= 4;
		if (markers_then_names(buf, lay, end, 0))
			return 1;
	}
	return 0;
}

/* ---- addresses ----------------------------------------------------------- */

static uint64_t sym_addr(const uint8_t *buf, const struct ksym_layout *lay, uint64_t i, int *abs)
{
	*abs = 0;
	if (!lay->base_relative)
		return rd64(buf + lay->addrs + 8 * i);
	int32_t off = (int32_t)rd32(buf + lay->addrs + 4 * i);
	if (!lay->absolute_percpu)
		return lay->relative_base_value + (uint32_t)off;
	if (off >= 0) {
		*abs = 1;
		return (uint64_t)off;
	}
	return lay->relative_base_value - 1 - (uint64_t)(int64_t)off;
}

static int ascending(const uint8_t *buf, const struct ksym_layout *lay)
{
	uint64_t prev = 0;
	int abs;
	for (uint64_t i = 0; i < lay->num_syms; i++) {
		uint64_t a = sym_addr(buf, lay, i, &abs);
		if (a < prev)
			return 0;
		prev = a;
	}
	return 1;
}

static int try_relative(const uint8_t *buf, size_t len, struct ksym_layout *lay, size_t offs, size_t rb)
{
	uint64_t n = lay->num_syms;
	if (offs > len || (len - offs) / 4 < n || rb > len || len - rb < 8)
		return 0;
	lay->base_relative = 1;
	lay->addrs = offs;
	lay->relative_base = rb;
	lay->relative_base_value = rd64(buf + rb);
	if (lay->relative_base_value == 0)
		return 0;
	int negative = 0;
	for (uint64_t i = 0; i < n && !negative; i++)
		negative = (int32_t)rd32(buf + offs + 4 * i) < 0;
	lay->absolute_percpu = negative;
	if (ascending(buf, lay))
		return 1;
	lay->absolute_percpu = !negative;
	return ascending(buf, lay);
}

static int try_absolute(const uint8_t *buf, size_t len, struct ksym_layout *lay, size_t addrs)
{
	if (addrs > len || (len - addrs) / 8 < lay->num_syms)
		return 0;
	lay->base_relative = 0;
	lay->absolute_percpu = 0;
	lay->addrs = addrs;
	lay->relative_base = KSYM_NONE;
	lay->relative_base_value = 0;
	return rd64(buf + addrs + 8 * (lay->num_syms - 1)) != 0 && ascending(buf, lay);
}

/* seqs_of_names: N big-endian 3-byte symbol numbers, a permutation; a
 * cheap check is that every one is below N. */
static int seqs_at(const uint8_t *buf, size_t len, size_t at, uint64_t n)
{
	if (at == KSYM_NONE || at > len || (len - at) / 3 < n)
		return 0;
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *p = buf + at + 3 * i;
		if (((uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]) >= n)
			return 0;
	}
	return 1;
}

static int find_addresses(const uint8_t *buf, size_t len, struct ksym_layout *lay)
{
	uint64_t n = lay->num_syms;
	size_t p = lay->num_syms_at;
	size_t after = align8(lay->token_index + 512);
	/* Up to 6.3: offsets, relative_base, num_syms. */
	if (p >= 8 && (p & 7) == 0 && p - 8 >= align8(4 * n) &&
	    try_relative(buf, len, lay, p - 8 - align8(4 * n), p - 8)) {
		lay->order = "pre-6.4";
		return 1;
	}
	/* 6.4+: token_index, offsets, relative_base, seqs_of_names. */
	if (try_relative(buf, len, lay, after, align8(after + 4 * n))) {
		lay->order = "6.4+";
		size_t seqs = align8(lay->relative_base + 8);
		lay->seqs = seqs_at(buf, len, seqs, n) ? seqs : KSYM_NONE;
		return 1;
	}
	if (p >= 8 * n && try_absolute(buf, len, lay, p - 8 * n)) {
		lay->order = "pre-6.4";
		return 1;
	}
	if (try_absolute(buf, len, lay, after)) {
		lay->order = "6.4+";
		size_t seqs = align8(after + 8 * n);
		lay->seqs = seqs_at(buf, len, seqs, n) ? seqs : KSYM_NONE;
		return 1;
	}
	return 0;
}

int ksym_find(const uint8_t *buf, size_t len, struct ksym_layout *lay, char *err, size_t errlen)
{
	memset(lay, 0, sizeof(*lay));
	lay->seqs = KSYM_NONE;
	size_t from = 0;
	int tables = 0;
	while (find_tokens(buf, len, from, lay)) {
		tables++;
		from = lay->token_table + lay->token_table_len;
		if (!find_markers_and_names(buf, lay))
			continue;
		if (lay->seqs != KSYM_NONE && !seqs_at(buf, len, lay->seqs, lay->num_syms))
			continue;
		if (find_addresses(buf, len, lay))
			return 0;
	}
	if (!tables)
		return ksym_fail(err, errlen, -ENOENT, "no kallsyms token table in %zu bytes of kernel image", len);
	return ksym_fail(err, errlen, -EINVAL,
	                 "kallsyms: %d token table%s found, but no consistent markers, names and addresses with %s",
	                 tables, tables > 1 ? "s" : "", tables > 1 ? "any" : "it");
}

/* ---- decoding ------------------------------------------------------------ */

int ksym_decode(const uint8_t *buf, size_t len, const struct ksym_layout *lay, struct symtab *out, char *err,
                size_t errlen)
{
	/* The layout may come from elsewhere than ksym_find (tests, cache):
	 * check its bounds again. */
	uint64_t n = lay->num_syms;
	size_t asz = lay->base_relative ? 4 : 8;
	if (n == 0 || n > SYMTAB_MAX_SYMS || lay->names > len || lay->names_len > len - lay->names ||
	    lay->token_table > len || lay->token_table_len > len - lay->token_table || lay->token_index > len ||
	    len - lay->token_index < 512 || lay->addrs > len || (len - lay->addrs) / asz < n ||
	    (lay->base_relative && (lay->relative_base > len || len - lay->relative_base < 8)))
		return ksym_fail(err, errlen, -EINVAL, "kallsyms: tables outside the image");
	const uint8_t *tok[256];
	size_t toklen[256];
	for (int i = 0; i < 256; i++) {
		size_t at = rd16(buf + lay->token_index + 2 * i);
		if (at >= lay->token_table_len)
			return ksym_fail(err, errlen, -EINVAL, "kallsyms: token %d lies outside the token table", i);
		tok[i] = buf + lay->token_table + at;
		const uint8_t *nul = memchr(tok[i], 0, lay->token_table_len - at);
		if (!nul)
			return ksym_fail(err, errlen, -EINVAL, "kallsyms: token %d is not terminated", i);
		toklen[i] = (size_t)(nul - tok[i]);
	}
	const uint8_t *p = buf + lay->names, *end = p + lay->names_len;
	char name[KSYM_NAME_MAX + 1];
	for (uint64_t i = 0; i < n; i++) {
		if (p >= end)
			return ksym_fail(err, errlen, -EINVAL, "kallsyms: names end at symbol %llu of %llu",
			                 (unsigned long long)i, (unsigned long long)n);
		size_t l = *p++;
		if (l & 0x80) {
			if (p >= end)
				return ksym_fail(err, errlen, -EINVAL, "kallsyms: truncated name length");
			l = (l & 0x7f) | ((size_t)*p++ << 7);
		}
		if (l == 0 || l > (size_t)(end - p))
			return ksym_fail(err, errlen, -EINVAL, "kallsyms: name %llu runs past the names table",
			                 (unsigned long long)i);
		size_t nl = 0;
		for (size_t j = 0; j < l; j++) {
			uint8_t c = p[j];
			if (toklen[c] > KSYM_NAME_MAX - nl)
				return ksym_fail(err, errlen, -EINVAL, "kallsyms: name %llu expands past %d bytes",
				                 (unsigned long long)i, KSYM_NAME_MAX);
			memcpy(name + nl, tok[c], toklen[c]);
			nl += toklen[c];
		}
		p += l;
		if (nl == 0)
			return ksym_fail(err, errlen, -EINVAL, "kallsyms: symbol %llu has an empty name",
			                 (unsigned long long)i);
		int abs;
		uint64_t addr = sym_addr(buf, lay, i, &abs);
		int rc = symtab_add(out, addr, name[0], abs ? KSYM_ABS : 0, name + 1, nl - 1);
		if (rc)
			return ksym_fail(err, errlen, rc, "kallsyms: %s",
			                 rc == -ENOMEM ? "out of memory" : "too many symbols");
	}
	int rc = symtab_index(out);
	return rc ? ksym_fail(err, errlen, rc, "kallsyms: out of memory") : 0;
}
