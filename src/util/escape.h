/*
 * Escaping of text that came from the guest (or anywhere untrusted) for a
 * terminal and for JSON: the one place vmsight decides how a byte looks.
 *
 * Both forms are lossless: every input byte string has exactly one escaped
 * form and can be recovered from it.
 *
 * Text (esc_text): printable ASCII as is, backslash as "\\", newline, tab
 * and carriage return as "\n", "\t", "\r", every other control byte (below
 * 0x20, and 0x7f) as "\xNN". Valid UTF-8 passes, except what a terminal
 * takes as a command or what reorders the text on screen: C1 controls
 * (U+0080-U+009F) are shown as their bytes "\xc2\x9b", and the bidirectional
 * overrides and isolates and the line/paragraph separators (U+2028-U+202E,
 * U+2066-U+2069) as "\u202e". Bytes that are not valid UTF-8 are "\xNN".
 *
 * JSON (esc_json, the body of a string without its quotes): valid UTF-8 as
 * is, '"' and '\\' escaped, control bytes as "\n", "\t", "\r", "\b", "\f"
 * or "\u00NN", and each byte that is not part of valid UTF-8 as "\udcNN"
 * (a lone low surrogate: Python's surrogateescape, PEP 383), so the output
 * is always valid UTF-8 and the guest's exact bytes come back with
 * s.encode("utf-8", "surrogateescape").
 */
#ifndef VMS_UTIL_ESCAPE_H
#define VMS_UTIL_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

enum {
	ESC_NUL_AS_SPACE = 1, /* NUL bytes (a command line's separators) are shown as spaces */
	ESC_LOG_TEXT = 2,     /* text: tabs and backslashes as they are, as dmesg prints the kernel log */
};

/* Escape LEN bytes at S into DST (at most CAP bytes, always NUL-terminated
 * when CAP > 0, never cut inside one escape). Return the length the whole
 * escaped form has, as snprintf does: a result >= CAP means it was cut. */
size_t esc_text(char *dst, size_t cap, const char *s, size_t len, unsigned flags);
size_t esc_json(char *dst, size_t cap, const char *s, size_t len, unsigned flags);

/* Length of the valid UTF-8 sequence at P (LEFT bytes available), or 0 if
 * P does not start one (overlong forms, surrogates and code points above
 * U+10FFFF are not valid). */
size_t utf8_valid_len(const unsigned char *p, size_t left);

/* S (NUL-terminated) as a quoted JSON string on F. */
void esc_json_fput(FILE *f, const char *s);

#endif
