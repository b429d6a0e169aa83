/*
 * The CLI's one output writer: every command prints its records through
 * it, and it alone decides how a value looks as text or as JSON and how
 * it is escaped (the rules are in src/util/escape.h).
 *
 * A record is begun, its fields are added with typed calls, and it is
 * ended. Each field call names the field twice: KEY is its JSON name, and
 * FMT is how the text row shows it, a printf format with exactly one
 * conversion of the call's type (%s for strings, %lld/%llu/%llx for
 * numbers, %f for doubles) plus any literal text around it. A NULL KEY
 * makes a text-only field, a NULL FMT a JSON-only one. So one call serves
 * both outputs, and a new field is one line.
 *
 *	out_begin();
 *	out_int("pid", "%7lld ", t->pid);
 *	out_guest("comm", "%-16s ", t->comm);
 *	out_end();
 *
 * In text mode out_end ends the line (unless the row's last piece did: a
 * row may span lines); in JSON mode it closes the object, one per line. Guest text is always escaped: in text mode no
 * control byte reaches the terminal.
 */
#ifndef VMSIGHT_TOOLS_OUT_H
#define VMSIGHT_TOOLS_OUT_H

#include <stddef.h>

void out_init(int json);
int out_is_json(void);

/* A field every JSON record begins with from now on (KEY: VALUE, a string
 * of vmsight's; NULL KEY: none) — the domain a record is about when one
 * command runs over several (tools/multi.c). Text rows are left as they
 * are: the runner tags their lines. */
void out_record_prefix(const char *key, const char *value);

void out_begin(void);
void out_end(void);

/* A nested object or array (JSON only; text shows the fields inside as
 * their FMT says). Array elements take KEY "" (the key is not written). */
void out_obj(const char *key);
void out_obj_end(void);
void out_arr(const char *key);
void out_arr_end(void);

/* vmsight's own text: JSON-escaped, shown as is in text. */
void out_str(const char *key, const char *fmt, const char *s);
/* Text from the guest (or any untrusted source): escaped in both forms. */
void out_guest(const char *key, const char *fmt, const char *s);
/* LEN bytes of it; flags from escape.h (ESC_NUL_AS_SPACE). */
void out_guest_n(const char *key, const char *fmt, const char *p, size_t len, unsigned flags);
void out_int(const char *key, const char *fmt, long long v);
void out_uint(const char *key, const char *fmt, unsigned long long v);
/* An address or register: JSON "0x..." string, text as FMT (%llx). */
void out_hex(const char *key, const char *fmt, unsigned long long v);
/* JSON with DECIMALS digits after the point; text as FMT (%f). */
void out_double(const char *key, const char *fmt, int decimals, double v);
/* JSON only: true/false, null. */
void out_bool(const char *key, int v);
void out_null(const char *key);

/* Text mode only: literal text in the row (a header, a separator). */
void out_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
