/* JSON lexing for the OTLP/JSON scanner (scan_json.c): checked strings, numbers and literals, the members
 * of objects and elements of arrays, and any value skipped or decoded.
 *
 * Checks are orjson's (RFC 8259 strictly): UTF-8 is validated, escapes and surrogate pairs must be whole,
 * numbers follow the grammar and must be finite as doubles, no trailing commas, nesting stops at 1024. The
 * cursor never passes `end`; the first error is kept (status, place, message) and every function returns 0
 * (or -1 where 0 means "none left") from then on up the call chain. In JSON lines '\n' is no white space, so
 * a document cannot run into the next line.
 */
#ifndef TRACEREPLAY_JSON_LEX_H
#define TRACEREPLAY_JSON_LEX_H

#include <string.h>

#include "scanners.h"
#include "sink.h"

/* statuses beyond scanners.h's (mirrored in ingest/readers/native.py) */
enum { JSON_NOT_OTLP = 3, JSON_FULL = 4, JSON_PYERR = 5 };

#define JSON_MAX_DEPTH 1024 /* orjson's limit on nested arrays and objects */
#define JSON_KEY_BUF 64     /* longest escaped member name worth decoding (no field name is longer) */

/* scratch memory for decoded strings; a block never moves, so a string stays valid until the reset */
typedef struct ScratchBlock {
    struct ScratchBlock *prev;
    size_t cap, used;
    char data[];
} ScratchBlock;

typedef struct {
    ScratchBlock *cur; /* never moved once handed out: older blocks are kept until the reset */
} Scratch;

typedef struct {
    const uint8_t *buf, *p, *end;
    const uint8_t *ws; /* white space: JSON_WS_LINE in JSON lines, where '\n' ends the document */
    int lines;
    int depth;
    /* the first error */
    int status;
    const uint8_t *at;
    const char *msg;
    Scratch scratch;
    char key[JSON_KEY_BUF]; /* an escaped member name, decoded */
} JsonReader;

/* a string's bytes between its quotes; escaped: not decoded yet (json_text decodes it) */
typedef struct {
    const uint8_t *s;
    Py_ssize_t n;
    int escaped;
} Str;

enum { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_CONTAINER };

/* any value as Python would see it */
typedef struct {
    int json;     /* J_... */
    int truthy;   /* Python's bool() of the decoded value */
    SinkValue v;  /* strings (decoded), int64 integers, other numbers as double, booleans; NONE otherwise */
} Scalar;

extern const uint8_t JSON_WS_DOCUMENT[256], JSON_WS_LINE[256];
extern const uint8_t JSON_BLANK[256]; /* what bytes.strip() removes: a line of only these is blank */

#define NAME_IS(k, lit) ((k).n == (Py_ssize_t)sizeof(lit) - 1 && memcmp((k).s, lit, sizeof(lit) - 1) == 0)

/* errors: 0 with the first error kept (SCAN_TRUNCATED where the input or line ends) */
int json_fail(JsonReader *P, int status, const uint8_t *at, const char *msg);
int json_fail_token(JsonReader *P, const char *msg);
int json_fail_python(JsonReader *P);

static inline void json_skip_ws(JsonReader *P)
{
    const uint8_t *p = P->p, *end = P->end, *ws = P->ws;
    while (p < end && ws[*p])
        p++;
    P->p = p;
}

static inline int json_peek(const JsonReader *P) { return P->p < P->end ? *P->p : -1; }

static inline int json_enter(JsonReader *P)
{
    if (++P->depth > JSON_MAX_DEPTH)
        return json_fail(P, SCAN_MALFORMED, P->p, "depth limit exceeded");
    P->p++;
    return 1;
}

/* The string at the cursor ('"'), checked; the cursor after it. */
int json_string(JsonReader *P, Str *out);
/* Decode a string's escapes (into scratch memory valid until the next json_scratch_reset). */
int json_text(JsonReader *P, Str *s);
/* The next member of an object whose '{' was read: 1 with its name (the cursor at its value), 0 after the
 * closing '}', -1 on an error. Escaped names are decoded when short enough to be a field name. */
int json_member(JsonReader *P, int *seen, Str *name);
/* The next element of an array whose '[' was read: 1 (the cursor at it), 0 after the closing ']', -1. */
int json_element(JsonReader *P, int *seen);
/* Any value, checked and passed over. */
int json_skip(JsonReader *P);
/* Any value: scalars decoded, arrays and objects passed over (only whether they are empty is kept). */
int json_scalar(JsonReader *P, Scalar *out);
/* Python's int(x) of a decoded value: 0 where Python would raise (or the result leaves int64). */
int json_int(const Scalar *x, int64_t *out);

void json_scratch_reset(Scratch *s);
void json_scratch_free(Scratch *s);

#endif
