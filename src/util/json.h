/*
 * A small strict JSON reader, shared by every room that reads JSON: QMP
 * replies (ctl/, and watch/ reading them), ISF symbol files
 * (linux/profile_in.c). It lives in util/ because it knows none of them.
 * A document is parsed in one go into an array of nodes (no pointers into
 * the input, strings decoded and NUL-terminated in a side buffer), so
 * freeing it is one call and a lookup is a walk over sibling indices. Depth,
 * size and node count are bounded: QMP is a peer we talk to and an ISF file
 * may come from anywhere, neither a party we trust.
 */
#ifndef VMS_UTIL_JSON_H
#define VMS_UTIL_JSON_H

#include <stddef.h>
#include <stdint.h>

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_node {
	enum json_type type;
	int next;  /* next sibling, -1 at the end */
	int child; /* first child of an array or object, -1 if empty */
	int key;   /* for members of an object: offset of the key in strs */
	int str;   /* for strings: offset in strs; for numbers: the text */
	size_t str_len;
};

struct json_doc {
	struct json_node *nodes;
	int count;
	char *strs;
};

/* Parse exactly one JSON value (surrounding white space allowed).
 * Returns 0, or -EINVAL (malformed) / -E2BIG (over the bounds) / -ENOMEM. */
int json_parse(const char *text, size_t len, struct json_doc *doc);
void json_free(struct json_doc *doc);

/* Node 0 is the root. -1 stands for "absent" everywhere. */
int json_get(const struct json_doc *d, int obj, const char *key);
int json_at(const struct json_doc *d, int arr, int index);
int json_len(const struct json_doc *d, int node);
const char *json_str(const struct json_doc *d, int node);        /* NULL unless a string */
int json_u64(const struct json_doc *d, int node, uint64_t *out); /* -EINVAL unless a non-negative integer */
int json_i64(const struct json_doc *d, int node, int64_t *out);
int json_bool(const struct json_doc *d, int node); /* 1, 0, or -1 if not a bool */

/* Append S to OUT as a JSON string literal (with quotes). Returns the new
 * length, or -E2BIG if OUT (of size CAP, currently LEN used) is too small. */
int json_quote(char *out, size_t cap, size_t len, const char *s);

#endif
