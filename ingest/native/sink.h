/* Sink: where a scanner puts the event-table fields of each span, as columns of a batch.
 *
 * The scanners (scan_pb.c, scan_json.c) only know their wire format. For every span they write the fixed
 * fields (start, end, kind, root, error, name, service) into the sink's columns directly, and offer each
 * attribute; the sink keeps, per logical column (user, session, method, route, path, url, status, client,
 * agent), the value of the preferred key present (keys are numbered in lookup order: the lowest slot wins),
 * and at the end of the span interns it into that column's Pool. Empty strings count as absent.
 *
 * Columns are numpy arrays bound from Python (Sink.bind); string columns hold int32 pool codes, -1 missing;
 * `codes` is column-major: logical column j of row r is codes[j * capacity + r].
 */
#ifndef TRACEREPLAY_SINK_H
#define TRACEREPLAY_SINK_H

#include <string.h>

#include "pool.h"

#define SINK_MAX_LOGICAL 16
#define SINK_MAX_KEY_LEN 256

enum { VALUE_NONE = 0, VALUE_STRING, VALUE_INT, VALUE_DOUBLE, VALUE_BOOL };

typedef struct {
    int type;
    int slot;
    const char *s; /* VALUE_STRING: the bytes (valid until sink_span_end) */
    Py_ssize_t n;
    int64_t i;     /* VALUE_INT, VALUE_BOOL */
    double d;      /* VALUE_DOUBLE */
} SinkValue;

typedef struct {
    PyObject_HEAD
    /* what is wanted (set once) */
    int n_keys, n_logical;
    char **key;               /* key bytes per slot */
    Py_ssize_t *key_len;
    int *key_logical;         /* slot -> logical column */
    int fallback_of[SINK_MAX_LOGICAL]; /* logical -> the logical column it only stands in for, or -1 */
    int numeric[SINK_MAX_LOGICAL];     /* 1: goes to `status` as a number */
    int user_logical;         /* whose chosen slot goes to user_key */
    unsigned char keep_kind[8];
    Pool *pools[SINK_MAX_LOGICAL]; /* NULL for numeric columns */
    Pool *name_pool, *service_pool;
    /* slots by key length, for the lookup of every attribute key */
    int *by_len_start, *by_len_slots; /* CSR over lengths 0..SINK_MAX_KEY_LEN */
    /* bound output columns */
    Py_buffer views[10];
    int bound;
    Py_ssize_t capacity;
    int64_t *start, *end;
    int8_t *kind;
    uint8_t *root, *error;
    double *status;
    int32_t *name, *service, *user_key, *codes;
    /* the span being read */
    SinkValue best[SINK_MAX_LOGICAL];
} Sink;

extern PyTypeObject SinkType;

/* -1 when spans of `kind` are not kept */
static inline int sink_keeps_kind(const Sink *s, int64_t kind)
{
    return kind >= 0 && kind < 8 && s->keep_kind[kind];
}

/* The slot of an attribute key, -1 when the key is not wanted. */
static inline int sink_key_slot(const Sink *s, const char *key, Py_ssize_t n)
{
    if (n <= 0 || n > SINK_MAX_KEY_LEN)
        return -1;
    for (int k = s->by_len_start[n]; k < s->by_len_start[n + 1]; k++) {
        int slot = s->by_len_slots[k];
        if (s->key[slot][0] == key[0] && bytes_equal(s->key[slot], key, (size_t)n))
            return slot;
    }
    return -1;
}

static inline void sink_span_begin(Sink *s)
{
    for (int j = 0; j < s->n_logical; j++)
        s->best[j].type = VALUE_NONE;
}

static inline void sink_offer(Sink *s, const SinkValue *v)
{
    SinkValue *best = &s->best[s->key_logical[v->slot]];
    if (v->type == VALUE_STRING && v->n == 0)
        return;
    if (best->type == VALUE_NONE || v->slot < best->slot)
        *best = *v;
}

static inline void sink_offer_string(Sink *s, int slot, const char *text, Py_ssize_t n)
{
    SinkValue v = {.type = VALUE_STRING, .slot = slot, .s = text, .n = n};
    sink_offer(s, &v);
}

static inline void sink_offer_int(Sink *s, int slot, int64_t i)
{
    SinkValue v = {.type = VALUE_INT, .slot = slot, .i = i};
    sink_offer(s, &v);
}

static inline void sink_offer_bool(Sink *s, int slot, int b)
{
    SinkValue v = {.type = VALUE_BOOL, .slot = slot, .i = b != 0};
    sink_offer(s, &v);
}

static inline void sink_offer_double(Sink *s, int slot, double d)
{
    SinkValue v = {.type = VALUE_DOUBLE, .slot = slot, .d = d};
    sink_offer(s, &v);
}

/* Write the chosen attribute values of the span into `row`: 0, or -1 with a Python exception. */
int sink_span_end(Sink *s, Py_ssize_t row);

#endif
