/* OTLP protobuf scanner: TracesData / ExportTraceServiceRequest bytes -> sink columns.
 *
 * Walks the wire format (https://protobuf.dev/programming-guides/encoding/) of
 * opentelemetry/proto/trace/v1/trace.proto once: resource_spans(1) { resource(1) { attributes(1) },
 * scope_spans(2) { spans(2) { parent_span_id(4), name(5), kind(6), start(7), end(8), attributes(9),
 * status(15) { code(3) } } } }. Everything else is skipped by wire type. Every length is checked against
 * the end of its enclosing message, so corrupt input ends in an error code and an offset, never a read
 * out of bounds.
 */
#include <string.h>

#include "scanners.h"
#include "sink.h"

#define STATUS_CODE_ERROR 2

typedef struct {
    const uint8_t *buf;
    Py_ssize_t pos;
} Cursor;

/* A varint at c->pos (below end); 0 when it runs past end or is longer than 10 bytes. */
static inline int read_varint(Cursor *c, Py_ssize_t end, uint64_t *out)
{
    /* most varints (tags, short lengths, small enums) are one byte */
    if (c->pos < end && c->buf[c->pos] < 0x80) {
        *out = c->buf[c->pos++];
        return 1;
    }
    uint64_t value = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (c->pos >= end)
            return 0;
        uint8_t byte = c->buf[c->pos++];
        value |= (uint64_t)(byte & 0x7F) << shift;
        if (byte < 0x80) {
            *out = value;
            return 1;
        }
    }
    return 0;
}

/* The end of a length-delimited field starting at c->pos; -1 when it does not fit before end. */
static inline Py_ssize_t read_length(Cursor *c, Py_ssize_t end)
{
    uint64_t length;
    if (!read_varint(c, end, &length) || length > (uint64_t)(end - c->pos))
        return -1;
    return c->pos + (Py_ssize_t)length;
}

static inline int skip_field(Cursor *c, Py_ssize_t end, unsigned wire)
{
    uint64_t ignored;
    Py_ssize_t stop;
    switch (wire) {
    case 0:
        return read_varint(c, end, &ignored);
    case 1:
        if (end - c->pos < 8)
            return 0;
        c->pos += 8;
        return 1;
    case 2:
        stop = read_length(c, end);
        if (stop < 0)
            return 0;
        c->pos = stop;
        return 1;
    case 5:
        if (end - c->pos < 4)
            return 0;
        c->pos += 4;
        return 1;
    }
    return 0;
}

static inline uint64_t fixed64(const uint8_t *p)
{
    uint64_t value;
    memcpy(&value, p, 8); /* little-endian hosts (x86-64, aarch64) */
    return value;
}

typedef struct {
    Py_ssize_t key_off, key_len;
    SinkValue value;
} KeyValue;

/* A KeyValue message in [c->pos, end): its key and its scalar value (arrays, kvlists, bytes: none).
 * With a sink, the key is looked up as soon as it is read (it comes first on the wire) and an unwanted
 * key's value is not parsed at all: kv->value.slot is then -1. */
static int read_key_value(Cursor *c, Py_ssize_t end, KeyValue *kv, const Sink *s)
{
    kv->key_off = kv->key_len = 0;
    kv->value.type = VALUE_NONE;
    kv->value.slot = -1;
    while (c->pos < end) {
        uint64_t tag;
        if (!read_varint(c, end, &tag))
            return 0;
        if (tag == 0x0A) { /* key */
            Py_ssize_t stop = read_length(c, end);
            if (stop < 0)
                return 0;
            kv->key_off = c->pos;
            kv->key_len = stop - c->pos;
            c->pos = stop;
            if (s) {
                kv->value.slot = sink_key_slot(s, (const char *)c->buf + kv->key_off, kv->key_len);
                if (kv->value.slot < 0) {
                    kv->value.type = VALUE_NONE;
                    c->pos = end;
                    return 1;
                }
            }
        } else if (tag == 0x12) { /* value: AnyValue */
            Py_ssize_t value_end = read_length(c, end);
            if (value_end < 0)
                return 0;
            while (c->pos < value_end) {
                uint64_t vtag, number;
                if (!read_varint(c, value_end, &vtag))
                    return 0;
                if (vtag == 0x0A) { /* string_value */
                    Py_ssize_t stop = read_length(c, value_end);
                    if (stop < 0)
                        return 0;
                    kv->value.type = VALUE_STRING;
                    kv->value.s = (const char *)c->buf + c->pos;
                    kv->value.n = stop - c->pos;
                    c->pos = stop;
                } else if (vtag == 0x10 || vtag == 0x18) { /* bool_value, int_value */
                    if (!read_varint(c, value_end, &number))
                        return 0;
                    kv->value.type = vtag == 0x10 ? VALUE_BOOL : VALUE_INT;
                    kv->value.i = vtag == 0x10 ? (number != 0) : (int64_t)number;
                } else if (vtag == 0x21) { /* double_value */
                    if (value_end - c->pos < 8)
                        return 0;
                    uint64_t bits = fixed64(c->buf + c->pos);
                    kv->value.type = VALUE_DOUBLE;
                    memcpy(&kv->value.d, &bits, 8);
                    c->pos += 8;
                } else if (!skip_field(c, value_end, (unsigned)(vtag & 7))) {
                    return 0;
                }
            }
        } else if (!skip_field(c, end, (unsigned)(tag & 7))) {
            return 0;
        }
    }
    return 1;
}

/* The kind of the span in [pos, end): read first, since filtered-out spans need nothing else. Stops at
 * the first kind field (writers put it before the attributes); read_span checks for a later one. */
static int span_kind(const uint8_t *buf, Py_ssize_t pos, Py_ssize_t end, int64_t *kind)
{
    Cursor c = {buf, pos};
    *kind = 0;
    while (c.pos < end) {
        uint64_t tag, value;
        if (!read_varint(&c, end, &tag))
            return 0;
        if (tag == 0x30) {
            if (!read_varint(&c, end, &value))
                return 0;
            *kind = (int64_t)value;
            return 1;
        } else if (!skip_field(&c, end, (unsigned)(tag & 7))) {
            return 0;
        }
    }
    return 1;
}

/* One span into `row`: 1 done, 2 dropped after all (its kind), 0 malformed, -1 Python error. */
static int read_span(Sink *s, const uint8_t *buf, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t row,
                     int64_t kind, int32_t service)
{
    Cursor c = {buf, pos};
    int32_t name = -1;
    s->start[row] = 0;
    s->end[row] = 0;
    s->kind[row] = (int8_t)kind;
    s->root[row] = 1;
    s->error[row] = 0;
    s->service[row] = service;
    sink_span_begin(s);
    while (c.pos < end) {
        uint64_t tag;
        if (!read_varint(&c, end, &tag))
            return 0;
        Py_ssize_t stop;
        switch (tag) {
        case 0x39: /* start_time_unix_nano, fixed64 */
        case 0x41: /* end_time_unix_nano */
            if (end - c.pos < 8)
                return 0;
            (tag == 0x39 ? s->start : s->end)[row] = (int64_t)fixed64(buf + c.pos);
            c.pos += 8;
            break;
        case 0x2A: /* name */
            stop = read_length(&c, end);
            if (stop < 0)
                return 0;
            if (stop > c.pos) { /* an empty name is no name */
                name = pool_intern(s->name_pool, (const char *)buf + c.pos, stop - c.pos);
                if (name < 0)
                    return -1;
            }
            c.pos = stop;
            break;
        case 0x22: /* parent_span_id */
            stop = read_length(&c, end);
            if (stop < 0)
                return 0;
            if (stop > c.pos)
                s->root[row] = 0;
            c.pos = stop;
            break;
        case 0x4A: { /* attributes */
            stop = read_length(&c, end);
            if (stop < 0)
                return 0;
            KeyValue kv;
            if (!read_key_value(&c, stop, &kv, s))
                return 0;
            if (kv.value.type != VALUE_NONE && kv.value.slot >= 0)
                sink_offer(s, &kv.value);
            c.pos = stop;
            break;
        }
        case 0x30: { /* kind: a repeated field's last value wins */
            uint64_t value;
            if (!read_varint(&c, end, &value))
                return 0;
            kind = (int64_t)value;
            break;
        }
        case 0x7A: /* status */
            stop = read_length(&c, end);
            if (stop < 0)
                return 0;
            while (c.pos < stop) {
                uint64_t stag, code;
                if (!read_varint(&c, stop, &stag))
                    return 0;
                if (stag == 0x18) {
                    if (!read_varint(&c, stop, &code))
                        return 0;
                    s->error[row] = code == STATUS_CODE_ERROR;
                } else if (!skip_field(&c, stop, (unsigned)(stag & 7))) {
                    return 0;
                }
            }
            break;
        default:
            if (!skip_field(&c, end, (unsigned)(tag & 7)))
                return 0;
        }
    }
    if (kind != s->kind[row]) { /* a second kind field after the one span_kind read */
        if (!sink_keeps_kind(s, kind))
            return 2;
        s->kind[row] = (int8_t)kind;
    }
    s->name[row] = name;
    return sink_span_end(s, row) < 0 ? -1 : 1;
}

/* service.name of a Resource message in [c->pos, end): its pool code, or -1 when absent. */
static int read_resource(Sink *s, Cursor *c, Py_ssize_t end, int32_t *service)
{
    static const char SERVICE_NAME[] = "service.name";
    while (c->pos < end) {
        uint64_t tag;
        if (!read_varint(c, end, &tag))
            return 0;
        if (tag != 0x0A) {
            if (!skip_field(c, end, (unsigned)(tag & 7)))
                return 0;
            continue;
        }
        Py_ssize_t stop = read_length(c, end);
        if (stop < 0)
            return 0;
        KeyValue kv;
        if (!read_key_value(c, stop, &kv, NULL))
            return 0;
        if (kv.value.type == VALUE_STRING && kv.key_len == 12 && kv.value.n > 0 &&
            memcmp(c->buf + kv.key_off, SERVICE_NAME, 12) == 0) {
            *service = pool_intern(s->service_pool, kv.value.s, kv.value.n);
            if (*service < 0)
                return -1;
        }
        c->pos = stop;
    }
    return 1;
}

typedef struct {
    Py_ssize_t read, kept, consumed;
    int error;
    Py_ssize_t at;
} ScanResult;

enum { FRAMING_NONE = 0, FRAMING_4_BYTE = 1, FRAMING_VARINT = 2 };
#define MAX_MESSAGE ((uint64_t)1 << 31) /* protobuf's own limit on one message */

#define FAIL(code, where)          \
    do {                           \
        r->error = (code);         \
        r->at = (where);           \
        return 0;                  \
    } while (0)

/* One ResourceSpans message in [c.pos, rs_end). With sink == NULL only count its spans. */
static int scan_resource_spans(const uint8_t *buf, Py_ssize_t pos, Py_ssize_t rs_end, Sink *s,
                               Py_ssize_t row0, ScanResult *r)
{
    Cursor c = {buf, pos};
    uint64_t tag;
    int32_t service = -1;
    /* the resource may follow the scope spans on the wire: find it first */
    if (s) {
        Cursor look = {buf, c.pos};
        while (look.pos < rs_end) {
            Py_ssize_t field_at = look.pos;
            if (!read_varint(&look, rs_end, &tag))
                FAIL(SCAN_MALFORMED, field_at);
            if (tag == 0x0A) {
                Py_ssize_t res_end = read_length(&look, rs_end);
                if (res_end < 0)
                    FAIL(SCAN_MALFORMED, field_at);
                int ok = read_resource(s, &look, res_end, &service);
                if (ok < 0)
                    return -1;
                if (!ok)
                    FAIL(SCAN_MALFORMED, field_at);
            } else if (!skip_field(&look, rs_end, (unsigned)(tag & 7))) {
                FAIL(SCAN_MALFORMED, field_at);
            }
        }
    }
    while (c.pos < rs_end) {
        Py_ssize_t at = c.pos;
        if (!read_varint(&c, rs_end, &tag))
            FAIL(SCAN_MALFORMED, at);
        if (tag != 0x12) { /* resource (read above), schema_url */
            if (!skip_field(&c, rs_end, (unsigned)(tag & 7)))
                FAIL(SCAN_MALFORMED, at);
            continue;
        }
        Py_ssize_t ss_end = read_length(&c, rs_end);
        if (ss_end < 0)
            FAIL(SCAN_MALFORMED, at);
        while (c.pos < ss_end) {
            at = c.pos;
            if (!read_varint(&c, ss_end, &tag))
                FAIL(SCAN_MALFORMED, at);
            if (tag != 0x12) { /* scope, schema_url */
                if (!skip_field(&c, ss_end, (unsigned)(tag & 7)))
                    FAIL(SCAN_MALFORMED, at);
                continue;
            }
            Py_ssize_t span_end = read_length(&c, ss_end);
            if (span_end < 0)
                FAIL(SCAN_MALFORMED, at);
            r->read++;
            if (s) {
                int64_t kind;
                if (!span_kind(buf, c.pos, span_end, &kind))
                    FAIL(SCAN_MALFORMED, at);
                if (sink_keeps_kind(s, kind)) {
                    Py_ssize_t row = row0 + r->kept;
                    if (row >= s->capacity) {
                        PyErr_SetString(PyExc_ValueError, "more spans than the bound columns hold");
                        return -1;
                    }
                    int ok = read_span(s, buf, c.pos, span_end, row, kind, service);
                    if (ok < 0)
                        return -1;
                    if (!ok)
                        FAIL(SCAN_MALFORMED, at);
                    r->kept += ok == 1;
                }
            }
            c.pos = span_end;
        }
    }
    return 1;
}

/* A TracesData message in [pos, end): resource_spans (field 1) repeated. */
static int scan_traces_data(const uint8_t *buf, Py_ssize_t pos, Py_ssize_t end, Sink *s, Py_ssize_t row0,
                            ScanResult *r)
{
    Cursor c = {buf, pos};
    while (c.pos < end) {
        Py_ssize_t at = c.pos;
        uint64_t tag;
        if (!read_varint(&c, end, &tag) || tag != 0x0A)
            FAIL(SCAN_MALFORMED, at);
        Py_ssize_t rs_end = read_length(&c, end);
        if (rs_end < 0)
            FAIL(SCAN_MALFORMED, at);
        int ok = scan_resource_spans(buf, c.pos, rs_end, s, row0, r);
        if (ok <= 0)
            return ok;
        c.pos = rs_end;
    }
    return 1;
}

/* Every complete message in buf[0:n]; r->consumed tells where the incomplete tail (if any) starts.
 * FRAMING_NONE: one TracesData, cut after any whole resource_spans field; the others: length-prefixed
 * TracesData messages (the Collector's 4-byte big-endian prefix, or a varint). */
static int scan(const uint8_t *buf, Py_ssize_t n, int framing, Sink *s, Py_ssize_t row0, ScanResult *r)
{
    Cursor c = {buf, 0};
    r->read = r->kept = r->consumed = 0;
    r->error = SCAN_OK;
    r->at = 0;
    while (c.pos < n) {
        Py_ssize_t at = c.pos;
        uint64_t length = 0, tag = 0;
        if (framing == FRAMING_4_BYTE) {
            if (n - c.pos < 4)
                break;
            length = (uint64_t)buf[c.pos] << 24 | (uint64_t)buf[c.pos + 1] << 16 |
                     (uint64_t)buf[c.pos + 2] << 8 | buf[c.pos + 3];
            c.pos += 4;
        } else {
            if (framing == FRAMING_NONE) {
                if (!read_varint(&c, n, &tag))
                    goto incomplete_or_bad;
                if (tag != 0x0A)
                    FAIL(SCAN_MALFORMED, at);
            }
            if (!read_varint(&c, n, &length))
                goto incomplete_or_bad;
        }
        if (length >= MAX_MESSAGE)
            FAIL(SCAN_MALFORMED, at);
        if (length > (uint64_t)(n - c.pos))
            break; /* the message goes on past this block */
        Py_ssize_t end = c.pos + (Py_ssize_t)length;
        int ok = framing == FRAMING_NONE ? scan_resource_spans(buf, c.pos, end, s, row0, r)
                                         : scan_traces_data(buf, c.pos, end, s, row0, r);
        if (ok <= 0)
            return ok;
        c.pos = end;
        r->consumed = end;
        continue;
    incomplete_or_bad:
        if (n - at >= 20) /* a varint never needs more than 10 bytes: this one is broken */
            FAIL(SCAN_MALFORMED, at);
        break;
    }
    return 1;
}
#undef FAIL

static PyObject *scan_call(PyObject *args, int count_only)
{
    Py_buffer view;
    Sink *sink = NULL;
    Py_ssize_t row0 = 0;
    int framing;
    if (count_only) {
        if (!PyArg_ParseTuple(args, "y*i", &view, &framing))
            return NULL;
    } else if (!PyArg_ParseTuple(args, "y*iO!n", &view, &framing, &SinkType, &sink, &row0)) {
        return NULL;
    }
    if (sink && !sink->bound) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "the sink has no columns bound");
        return NULL;
    }
    ScanResult r;
    int ok = scan(view.buf, view.len, framing, sink, row0, &r);
    PyBuffer_Release(&view);
    if (ok < 0)
        return NULL;
    return Py_BuildValue("nnnin", r.read, r.kept, r.consumed, r.error, r.at);
}

static PyObject *count_pb(PyObject *self, PyObject *args) { return scan_call(args, 1); }
static PyObject *scan_pb(PyObject *self, PyObject *args) { return scan_call(args, 0); }

PyMethodDef scan_pb_methods[] = {
    {"count_pb", count_pb, METH_VARARGS,
     "count_pb(buf, framing) -> (spans, 0, consumed, error, offset): spans in the block's whole messages."},
    {"scan_pb", scan_pb, METH_VARARGS,
     "scan_pb(buf, framing, sink, row0) -> (read, kept, consumed, error, offset): kept spans into rows "
     "row0...; framing 0 = one TracesData, 1 = 4-byte big-endian lengths, 2 = varint lengths."},
    {NULL},
};
