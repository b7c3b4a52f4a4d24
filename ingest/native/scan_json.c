/* OTLP/JSON scanner: ExportTraceServiceRequest / TracesData JSON documents -> sink columns.
 *
 * One pass over the bytes, no value built per span: a recursive-descent reader that knows the OTLP/JSON
 * shape (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding) down to the fields the event
 * table needs, and passes over everything else through the JSON lexer (json_lex.h), which checks it all as
 * orjson does. It reads every input as the Python reader (ingest/readers/otlp_json.py, orjson and a loop)
 * does: the same rows, or the same kind of error on the same line; see tests/ingest/test_scan_json.py.
 *
 * Field names may be lowerCamelCase or snake_case, and like protobuf's JSON parsers the reader takes the
 * first non-null of the spellings in a fixed preference (resourceSpans over resource_spans; scopeSpans over
 * scope_spans over instrumentationLibrarySpans; the {"result": …} wrapper over both). Since JSON members come
 * in any order, a later preferred member rolls the rows back to where the object began and is read instead.
 *
 * Errors stop the scan with a status and the byte offset: SCAN_TRUNCATED / SCAN_MALFORMED for invalid JSON,
 * JSON_NOT_OTLP for valid JSON of the wrong shape (only after the document was checked to be valid JSON, as
 * orjson decodes a line before the Python reader looks at it). Shape problems that the Python reader only
 * meets in spans it keeps (a bad start time, an attribute value int() rejects) are likewise errors only in
 * kept spans.
 *
 * Batches: rows go to sink rows row0 + kept. A document whose spans do not all fit is not committed: the scan
 * stops before it with JSON_FULL and the rows it needs, and Python resumes there with room made.
 */
#include "json_lex.h"

#define STATUS_CODE_ERROR 2

typedef struct {
    Py_ssize_t read, kept;
} Mark;

typedef struct {
    JsonReader in;
    /* the output */
    Sink *sink;
    Py_ssize_t row0;
    Py_ssize_t read, kept; /* spans looked at / kept since the call began, the current document included */
    Py_ssize_t peak;       /* most rows the current document has held (rollbacks lower `kept`) */
    int overflow;          /* a kept span of the current document did not fit */
} Parser;

static int fail_shape(Parser *P, const uint8_t *at, const char *msg)
{
    return json_fail(&P->in, JSON_NOT_OTLP, at, msg);
}

/* Enter the object at the cursor: 1 entered; 0 on invalid JSON, or on valid JSON that is not an object
 * (a shape error `what`, reported once the value was checked to be valid JSON). */
static int enter_object(Parser *P, const char *what)
{
    const uint8_t *at = P->in.p;
    if (json_peek(&P->in) != '{') {
        if (!json_skip(&P->in))
            return 0;
        return fail_shape(P, at, what);
    }
    return json_enter(&P->in);
}

/* A problem the Python reader meets only in spans it keeps: remembered, an error if the span is kept. */
typedef struct {
    const uint8_t *at;
    const char *why;
} Later;

static inline void later(Later *bad, const uint8_t *at, const char *why)
{
    if (!bad->at) {
        bad->at = at;
        bad->why = why;
    }
}

/* The scalar of an AnyValue ({"stringValue": "x"}, {"intValue": "200"} …), as the Python reader takes it:
 * stringValue when not null, else the first non-null of the other scalar members in document order (int()
 * of intValue, truthiness of boolValue); arrays, kvlists, bytes and non-objects give none. */
static int read_any_value(Parser *P, SinkValue *out, Later *bad)
{
    out->type = VALUE_NONE;
    if (json_peek(&P->in) != '{')
        return json_skip(&P->in);
    if (!json_enter(&P->in))
        return 0;
    int count = 0, more, have_string = 0, have_other = 0;
    SinkValue string_value = {0}, other = {0};
    Str name;
    while ((more = json_member(&P->in, &count, &name)) > 0) {
        /* 0 stringValue, 1 string_value / doubleValue / double_value, 2 intValue / int_value, 3 bool */
        int which = -1;
        switch (name.n) {
        case 8: which = NAME_IS(name, "intValue") ? 2 : -1; break;
        case 9: which = NAME_IS(name, "int_value") ? 2 : NAME_IS(name, "boolValue") ? 3 : -1; break;
        case 10: which = NAME_IS(name, "bool_value") ? 3 : -1; break;
        case 11: which = NAME_IS(name, "stringValue") ? 0 : NAME_IS(name, "doubleValue") ? 1 : -1; break;
        case 12: which = NAME_IS(name, "string_value") || NAME_IS(name, "double_value") ? 1 : -1; break;
        }
        if (which < 0) {
            if (!json_skip(&P->in))
                return 0;
            continue;
        }
        const uint8_t *at = P->in.p;
        Scalar x;
        if (!json_scalar(&P->in, &x))
            return 0;
        if (x.json == J_NULL || x.json == J_CONTAINER || (which > 0 && have_other))
            continue; /* arrays and objects count as absent, like null */
        SinkValue *v = which == 0 ? &string_value : &other;
        *(which == 0 ? &have_string : &have_other) = 1;
        if (which == 3) { /* the text, as the Python reader has it: no number for a status */
            v->type = VALUE_STRING;
            v->s = x.truthy ? "true" : "false";
            v->n = x.truthy ? 4 : 5;
        } else if (which == 2) {
            v->type = VALUE_NONE;
            if (json_int(&x, &v->i))
                v->type = VALUE_INT;
            else
                later(bad, at, "intValue is not an int64 integer");
        } else {
            *v = x.v; /* a container (Python would take its repr) gives none */
        }
    }
    if (more < 0)
        return 0;
    P->in.depth--;
    *out = have_string ? string_value : other;
    return 1;
}

/* Open a list member: 1 at its first element ('[' read), 0 when it is absent or empty (read), -1 on an error.
 * `or_empty`: Python reads it as `value or ()` (any falsy value is none); else it iterates the value itself
 * (only an empty string or object is none). Another value is `*bad` (Python iterates it and fails), or an
 * error when bad is NULL. */
static int open_list(Parser *P, int or_empty, Later *bad, const char *why)
{
    if (json_peek(&P->in) == '[')
        return json_enter(&P->in) ? 1 : -1;
    const uint8_t *at = P->in.p;
    Scalar x;
    if (!json_scalar(&P->in, &x))
        return -1;
    int empty = or_empty ? !x.truthy : !x.truthy && (x.json == J_STRING || x.json == J_CONTAINER);
    if (!empty) {
        if (!bad)
            return fail_shape(P, at, why), -1;
        later(bad, at, why);
    }
    return 0;
}

/* --- OTLP ---------------------------------------------------------------------------------------------- */

static void rollback(Parser *P, Mark m)
{
    P->read = m.read;
    P->kept = m.kept;
}

static int64_t kind_of(const Scalar *x)
{
    static const char *NAMES[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
                                  "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
    if (x->v.type == VALUE_INT || x->v.type == VALUE_BOOL) /* a float (2.0) is no kind: 0, as in Python */
        return x->v.i;
    if (x->v.type == VALUE_STRING) {
        for (int k = 0; k < 6; k++)
            if ((size_t)x->v.n == strlen(NAMES[k]) && memcmp(x->v.s, NAMES[k], (size_t)x->v.n) == 0)
                return k;
    }
    return 0;
}

/* status: error when its code is 2 or "STATUS_CODE_ERROR" */
static int read_status(Parser *P, int *error, Later *bad)
{
    *error = 0;
    if (json_peek(&P->in) != '{') {
        const uint8_t *at = P->in.p;
        Scalar x;
        if (!json_scalar(&P->in, &x))
            return 0;
        if (x.truthy)
            later(bad, at, "status is not an object");
        return 1;
    }
    if (!json_enter(&P->in))
        return 0;
    int count = 0, more;
    Str name;
    while ((more = json_member(&P->in, &count, &name)) > 0) {
        if (!NAME_IS(name, "code")) {
            if (!json_skip(&P->in))
                return 0;
            continue;
        }
        Scalar x;
        if (!json_scalar(&P->in, &x))
            return 0;
        *error = (x.v.type == VALUE_INT && x.v.i == STATUS_CODE_ERROR) ||
                 (x.v.type == VALUE_DOUBLE && x.v.d == STATUS_CODE_ERROR) ||
                 (x.v.type == VALUE_STRING && x.v.n == 17 && memcmp(x.v.s, "STATUS_CODE_ERROR", 17) == 0);
    }
    P->in.depth--;
    return more == 0;
}

/* One attribute {"key": …, "value": {…}} of a span: offered to the sink when its key is wanted. */
/* The compact layout of the Collector and most encoders, {"key":"…","value":{"stringValue":"…"}} (or
 * "intValue"), read without the general member loop: 1 read, 0 an error, -1 another layout (nothing is
 * kept of the attempt: the general reader starts over). */
static int read_attribute_compact(Parser *P, Later *bad)
{
    static const char KEY[] = "{\"key\":\"", VALUE[] = ",\"value\":", STRING[] = "{\"stringValue\":\"",
                      INT[] = "{\"intValue\":\"";
    const uint8_t *start = P->in.p;
    if (P->in.end - start < 8 || memcmp(start, KEY, 8) != 0)
        return -1;
    P->in.p = start + 7;
    Str key;
    if (!json_string(&P->in, &key))
        return 0;
    if (P->in.end - P->in.p < 9 || memcmp(P->in.p, VALUE, 9) != 0)
        goto other;
    P->in.p += 9;
    if (!json_text(&P->in, &key))
        return 0;
    int slot = sink_key_slot(P->sink, (const char *)key.s, key.n), bad_int = 0;
    SinkValue value = {.type = VALUE_NONE};
    const uint8_t *value_at = P->in.p;
    if (slot < 0) {
        P->in.depth++; /* the attribute's object */
        int ok = json_skip(&P->in);
        P->in.depth--;
        if (!ok)
            return 0;
    } else if (P->in.end - P->in.p >= 16 && memcmp(P->in.p, STRING, 16) == 0) {
        P->in.p += 15;
        Str text;
        if (!json_string(&P->in, &text) || !json_text(&P->in, &text))
            return 0;
        value.type = VALUE_STRING;
        value.s = (const char *)text.s;
        value.n = text.n;
        if (json_peek(&P->in) != '}')
            goto other;
        P->in.p++;
    } else if (P->in.end - P->in.p >= 13 && memcmp(P->in.p, INT, 13) == 0) {
        P->in.p += 12;
        value_at = P->in.p;
        Scalar x;
        if (!json_scalar(&P->in, &x))
            return 0;
        if (json_int(&x, &value.i))
            value.type = VALUE_INT;
        else
            bad_int = 1;
        if (json_peek(&P->in) != '}')
            goto other;
        P->in.p++;
    } else {
        goto other;
    }
    if (json_peek(&P->in) != '}')
        goto other;
    P->in.p++;
    if (bad_int)
        later(bad, value_at, "intValue is not an int64 integer");
    if (value.type != VALUE_NONE) {
        value.slot = slot;
        sink_offer(P->sink, &value);
    }
    return 1;
other:
    P->in.p = start;
    return -1;
}

static int read_attribute(Parser *P, Later *bad)
{
    Sink *s = P->sink;
    int compact = read_attribute_compact(P, bad);
    if (compact >= 0)
        return compact;
    if (json_peek(&P->in) != '{') {
        const uint8_t *at = P->in.p;
        later(bad, at, "attribute is not an object");
        return json_skip(&P->in);
    }
    if (!json_enter(&P->in))
        return 0;
    int count = 0, more, slot = -1, have_key = 0;
    SinkValue value = {.type = VALUE_NONE};
    Later value_bad = {0};
    Str name;
    while ((more = json_member(&P->in, &count, &name)) > 0) {
        if (NAME_IS(name, "key")) {
            const uint8_t *at = P->in.p;
            Scalar x;
            if (!json_scalar(&P->in, &x))
                return 0;
            have_key = 1;
            slot = x.v.type == VALUE_STRING ? sink_key_slot(s, x.v.s, x.v.n) : -1;
            if (x.json == J_CONTAINER)
                later(bad, at, "attribute key is not a string");
        } else if (NAME_IS(name, "value")) {
            if (have_key && slot < 0) { /* an attribute nobody asked for: only checked */
                if (!json_skip(&P->in))
                    return 0;
                continue;
            }
            value_bad.at = NULL;
            if (!read_any_value(P, &value, &value_bad))
                return 0;
        } else if (!json_skip(&P->in)) {
            return 0;
        }
    }
    if (more < 0)
        return 0;
    P->in.depth--;
    if (slot >= 0) {
        if (value_bad.at)
            later(bad, value_bad.at, value_bad.why);
        if (value.type != VALUE_NONE) {
            value.slot = slot;
            sink_offer(s, &value);
        }
    }
    return 1;
}

/* A time member (int64 nanoseconds as a string or a number): present unless null; int() as Python does. */
typedef struct {
    int present, ok;
    int64_t value;
    const uint8_t *at;
} Time;

static int read_time(Parser *P, Time *t)
{
    const uint8_t *at = P->in.p;
    Scalar x;
    if (!json_scalar(&P->in, &x))
        return 0;
    t->present = x.json != J_NULL;
    t->at = at;
    t->ok = t->present && json_int(&x, &t->value);
    return 1;
}

/* camelCase wins when not null, as in the Python reader; absent is 0 */
static int pick_time(Parser *P, const Time *camel, const Time *snake, const char *why, int64_t *out)
{
    const Time *t = camel->present ? camel : snake;
    *out = 0;
    if (!t->present)
        return 1;
    if (!t->ok)
        return fail_shape(P, t->at, why);
    *out = t->value;
    return 1;
}

/* One span: a row when its kind is kept. */
static int read_span(Parser *P)
{
    Sink *s = P->sink;
    if (!enter_object(P, "span is not an object"))
        return 0;
    json_scratch_reset(&P->in.scratch);
    sink_span_begin(s);
    Time times[4] = {0}; /* startTimeUnixNano, start_time_unix_nano, endTimeUnixNano, end_time_unix_nano */
    int64_t kind = 0;
    int kind_known = 0, parent[2] = {0, 0}, error = 0;
    Str name = {0};
    Later bad = {0};
    int count = 0, more;
    Str member;
    while ((more = json_member(&P->in, &count, &member)) > 0) {
        Scalar x;
        int ok = 1, time = -1, parent_field = -1;
        switch (member.n) {
        case 4:
            if (NAME_IS(member, "name")) {
                if (!json_scalar(&P->in, &x))
                    return 0;
                name.n = 0;
                if (x.v.type == VALUE_STRING) {
                    name.s = (const uint8_t *)x.v.s;
                    name.n = x.v.n;
                }
                continue;
            }
            if (NAME_IS(member, "kind")) {
                if (!json_scalar(&P->in, &x))
                    return 0;
                kind = kind_of(&x);
                kind_known = 1;
                continue;
            }
            break;
        case 6:
            if (NAME_IS(member, "status")) {
                if (!read_status(P, &error, &bad))
                    return 0;
                continue;
            }
            break;
        case 10:
            if (NAME_IS(member, "attributes")) {
                if (kind_known && !sink_keeps_kind(s, kind)) { /* a dropped span: attributes only checked */
                    if (!json_skip(&P->in))
                        return 0;
                    continue;
                }
                sink_span_begin(s); /* a repeated member replaces the earlier one */
                int opened = open_list(P, 1, &bad, "attributes is not a list");
                if (opened < 0)
                    return 0;
                int items = 0, more_items = 0;
                while (opened && (more_items = json_element(&P->in, &items)) > 0)
                    if (!read_attribute(P, &bad))
                        return 0;
                if (more_items < 0)
                    return 0;
                P->in.depth -= opened;
                continue;
            }
            break;
        case 12: parent_field = NAME_IS(member, "parentSpanId") ? 0 : -1; break;
        case 14: parent_field = NAME_IS(member, "parent_span_id") ? 1 : -1; break;
        case 15: time = NAME_IS(member, "endTimeUnixNano") ? 2 : -1; break;
        case 17: time = NAME_IS(member, "startTimeUnixNano") ? 0 : -1; break;
        case 18: time = NAME_IS(member, "end_time_unix_nano") ? 3 : -1; break;
        case 20: time = NAME_IS(member, "start_time_unix_nano") ? 1 : -1; break;
        }
        if (time >= 0)
            ok = read_time(P, &times[time]);
        else if (parent_field >= 0) {
            ok = json_scalar(&P->in, &x);
            parent[parent_field] = ok && x.truthy;
        } else
            ok = json_skip(&P->in);
        if (!ok)
            return 0;
    }
    if (more < 0)
        return 0;
    P->in.depth--;
    P->read++;
    if (!sink_keeps_kind(s, kind))
        return 1;
    int64_t start, end;
    if (bad.at)
        return fail_shape(P, bad.at, bad.why);
    if (!pick_time(P, &times[0], &times[1], "startTimeUnixNano is not an int64 integer", &start) ||
        !pick_time(P, &times[2], &times[3], "endTimeUnixNano is not an int64 integer", &end))
        return 0;
    Py_ssize_t row = P->row0 + P->kept++;
    if (P->kept > P->peak)
        P->peak = P->kept;
    if (row >= s->capacity)
        P->overflow = 1;
    if (P->overflow)
        return 1; /* the document is scanned again into room Python makes */
    s->start[row] = start;
    s->end[row] = end;
    s->kind[row] = (int8_t)kind;
    s->root[row] = !(parent[0] || parent[1]);
    s->error[row] = (uint8_t)error;
    s->service[row] = -1; /* set at the end of the resource's spans */
    s->name[row] = -1;
    if (name.n > 0) {
        int32_t code = pool_intern(s->name_pool, (const char *)name.s, name.n);
        if (code < 0)
            return json_fail_python(&P->in);
        s->name[row] = code;
    }
    return sink_span_end(s, row) < 0 ? json_fail_python(&P->in) : 1;
}

/* A list of spans, of scopes, of resource spans: each element through `read`. */
static int read_list(Parser *P, int or_empty, const char *why, int (*read)(Parser *))
{
    int opened = open_list(P, or_empty, NULL, why);
    if (opened <= 0)
        return opened == 0;
    int count = 0, more;
    while ((more = json_element(&P->in, &count)) > 0)
        if (!read(P))
            return 0;
    P->in.depth--;
    return more == 0;
}

static int read_scope_spans(Parser *P)
{
    if (!enter_object(P, "scopeSpans element is not an object"))
        return 0;
    Mark mark = {P->read, P->kept};
    int count = 0, more;
    Str name;
    while ((more = json_member(&P->in, &count, &name)) > 0) {
        if (!NAME_IS(name, "spans")) {
            if (!json_skip(&P->in))
                return 0;
            continue;
        }
        rollback(P, mark); /* a repeated member replaces the earlier one */
        if (!read_list(P, 1, "spans is not a list", read_span))
            return 0;
    }
    P->in.depth--;
    return more == 0;
}

/* One attribute of a resource: when it is service.name, *service becomes its pool code (-1: not text). */
static int read_resource_attribute(Parser *P, int32_t *service)
{
    if (!enter_object(P, "resource attribute is not an object"))
        return 0;
    int count = 0, more, is_service = 0;
    SinkValue value = {.type = VALUE_NONE};
    Later bad = {0};
    Str name;
    while ((more = json_member(&P->in, &count, &name)) > 0) {
        int ok;
        if (NAME_IS(name, "key")) {
            Scalar x;
            ok = json_scalar(&P->in, &x);
            is_service = x.v.type == VALUE_STRING && x.v.n == 12 && memcmp(x.v.s, "service.name", 12) == 0;
        } else if (NAME_IS(name, "value")) {
            bad.at = NULL;
            ok = read_any_value(P, &value, &bad);
        } else {
            ok = json_skip(&P->in);
        }
        if (!ok)
            return 0;
    }
    if (more < 0)
        return 0;
    P->in.depth--;
    if (!is_service)
        return 1;
    if (bad.at) /* the Python reader takes int() of an intValue service name */
        return fail_shape(P, bad.at, bad.why);
    *service = -1; /* the last service.name wins, as in the Python reader; only text is a name */
    if (value.type == VALUE_STRING && value.n > 0) {
        *service = pool_intern(P->sink->service_pool, value.s, value.n);
        if (*service < 0)
            return json_fail_python(&P->in);
    }
    return 1;
}

/* service.name among a resource's attributes: its pool code (-1 when absent or not text) */
static int read_resource(Parser *P, int32_t *service)
{
    *service = -1;
    const uint8_t *at = P->in.p;
    if (json_peek(&P->in) != '{') {
        Scalar x;
        if (!json_scalar(&P->in, &x))
            return 0;
        return x.truthy ? fail_shape(P, at, "resource is not an object") : 1;
    }
    if (!json_enter(&P->in))
        return 0;
    int count = 0, more;
    Str name;
    while ((more = json_member(&P->in, &count, &name)) > 0) {
        if (!NAME_IS(name, "attributes")) {
            if (!json_skip(&P->in))
                return 0;
            continue;
        }
        *service = -1; /* a repeated member replaces the earlier one */
        int opened = open_list(P, 1, NULL, "resource attributes is not a list");
        if (opened < 0)
            return 0;
        int items = 0, more_items = 0;
        while (opened && (more_items = json_element(&P->in, &items)) > 0)
            if (!read_resource_attribute(P, service))
                return 0;
        if (more_items < 0)
            return 0;
        P->in.depth -= opened;
    }
    P->in.depth--;
    return more == 0;
}

static int read_resource_spans(Parser *P)
{
    if (!enter_object(P, "resourceSpans element is not an object"))
        return 0;
    Mark mark = {P->read, P->kept};
    int32_t service = -1;
    int chosen = 3; /* the preferred scope list so far: 0 scopeSpans, 1 scope_spans, 2 instrumentation… */
    int count = 0, more;
    Str name;
    while ((more = json_member(&P->in, &count, &name)) > 0) {
        int which = NAME_IS(name, "scopeSpans") ? 0 : NAME_IS(name, "scope_spans") ? 1
                  : NAME_IS(name, "instrumentationLibrarySpans") ? 2 : -1;
        int ok;
        if (NAME_IS(name, "resource")) {
            ok = read_resource(P, &service);
        } else if (which >= 0 && which <= chosen && json_peek(&P->in) != 'n') { /* null counts as absent */
            rollback(P, mark);
            chosen = which;
            ok = read_list(P, 1, "scopeSpans is not a list", read_scope_spans);
        } else {
            ok = json_skip(&P->in);
        }
        if (!ok)
            return 0;
    }
    if (more < 0)
        return 0;
    P->in.depth--;
    if (!P->overflow) /* the resource may come after its spans: their service is set now */
        for (Py_ssize_t row = P->row0 + mark.kept; row < P->row0 + P->kept; row++)
            P->sink->service[row] = service;
    return 1;
}

/* An ExportTraceServiceRequest / TracesData object, or the api_v3 {"result": {...}} around one. */
static int read_request(Parser *P, int outer)
{
    const uint8_t *at = P->in.p;
    if (!enter_object(P, "expected an object with resourceSpans"))
        return 0;
    Mark mark = {P->read, P->kept};
    int chosen = 2, unwrapped = 0; /* 0 resourceSpans, 1 resource_spans, 2 none yet */
    int count = 0, more;
    Str name;
    while ((more = json_member(&P->in, &count, &name)) > 0) {
        int which = NAME_IS(name, "resourceSpans") ? 0 : NAME_IS(name, "resource_spans") ? 1 : -1;
        int ok;
        if (outer && NAME_IS(name, "result") && json_peek(&P->in) == '{') {
            rollback(P, mark);
            unwrapped = 1;
            ok = read_request(P, 0);
        } else if (which >= 0 && which <= chosen && !unwrapped && json_peek(&P->in) != 'n') {
            rollback(P, mark);
            chosen = which;
            ok = read_list(P, 0, "resourceSpans is not a list", read_resource_spans);
        } else {
            ok = json_skip(&P->in);
        }
        if (!ok)
            return 0;
    }
    if (more < 0)
        return 0;
    P->in.depth--;
    if (!unwrapped && chosen == 2)
        return fail_shape(P, at, "no resourceSpans");
    return 1;
}

/* One document from the cursor and the white space after it. On a shape error the document is first
 * checked to be valid JSON (orjson decodes it before the Python reader looks at its shape). */
static int read_document(Parser *P)
{
    const uint8_t *start = P->in.p;
    P->in.depth = 0;
    P->overflow = 0;
    P->peak = P->kept;
    json_scratch_reset(&P->in.scratch);
    json_skip_ws(&P->in);
    int ok = read_request(P, 1);
    if (ok) {
        json_skip_ws(&P->in);
        if (P->in.p < P->in.end && !(P->in.lines && *P->in.p == '\n'))
            return json_fail(&P->in, SCAN_MALFORMED, P->in.p, "unexpected content after document");
        return 1;
    }
    if (P->in.status != JSON_NOT_OTLP)
        return 0;
    int status = P->in.status;
    const uint8_t *at = P->in.at;
    const char *msg = P->in.msg;
    P->in.status = SCAN_OK;
    P->in.p = start;
    P->in.depth = 0;
    json_skip_ws(&P->in);
    if (json_skip(&P->in)) {
        json_skip_ws(&P->in);
        if (P->in.p < P->in.end && !(P->in.lines && *P->in.p == '\n'))
            return json_fail(&P->in, SCAN_MALFORMED, P->in.p, "unexpected content after document");
        P->in.status = status;
        P->in.at = at;
        P->in.msg = msg;
    }
    return 0;
}

typedef struct {
    int status;
    Py_ssize_t at, lines, needed;
    const char *msg;
} Outcome;

/* JSON lines from `start`: each non-blank line one document. */
static void scan_lines(Parser *P, Py_ssize_t start, Outcome *out)
{
    const uint8_t *p = P->in.buf + start, *end = P->in.end;
    while (p < end) {
        const uint8_t *q = p;
        while (q < end && JSON_BLANK[*q])
            q++;
        if (q < end && *q == '\n') {
            p = q + 1;
            out->lines++;
            continue;
        }
        if (q == end)
            break;
        Mark mark = {P->read, P->kept};
        P->in.p = p;
        if (!read_document(P)) {
            rollback(P, mark);
            return;
        }
        if (P->overflow) {
            rollback(P, mark);
            out->status = JSON_FULL;
            out->at = p - P->in.buf;
            out->needed = P->peak - mark.kept;
            return;
        }
        p = P->in.p;
        if (p < end) { /* at its '\n' */
            p++;
            out->lines++;
        }
    }
    out->at = end - P->in.buf;
}

static void scan_whole(Parser *P, Py_ssize_t start, Outcome *out)
{
    Mark mark = {P->read, P->kept};
    P->in.p = P->in.buf + start;
    json_skip_ws(&P->in);
    if (P->in.p >= P->in.end) {
        json_fail(&P->in, SCAN_TRUNCATED, P->in.p, "unexpected end of data");
        return;
    }
    if (!read_document(P) || P->overflow)
        rollback(P, mark);
    if (P->in.status == SCAN_OK && P->overflow) {
        out->status = JSON_FULL;
        out->at = start;
        out->needed = P->peak - mark.kept;
        return;
    }
    out->at = P->in.p - P->in.buf;
}

static PyObject *scan_json(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Sink *sink;
    Py_ssize_t row0, start;
    int lines;
    if (!PyArg_ParseTuple(args, "y*O!nnp", &view, &SinkType, &sink, &row0, &start, &lines))
        return NULL;
    if (!sink->bound || row0 < 0 || row0 > sink->capacity || start < 0 || start > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "scan_json: no columns bound, or row0/start out of range");
        return NULL;
    }
    Parser P = {.in = {.buf = view.buf, .end = (const uint8_t *)view.buf + view.len, .lines = lines,
                       .ws = lines ? JSON_WS_LINE : JSON_WS_DOCUMENT},
                .sink = sink, .row0 = row0};
    Outcome out = {.status = SCAN_OK};
    if (lines)
        scan_lines(&P, start, &out);
    else
        scan_whole(&P, start, &out);
    json_scratch_free(&P.in.scratch);
    PyBuffer_Release(&view);
    if (P.in.status == JSON_PYERR)
        return NULL;
    if (P.in.status != SCAN_OK) { /* the rows of the document that failed are not committed */
        out.status = P.in.status;
        out.at = P.in.at - P.in.buf;
        out.msg = P.in.msg;
    }
    return Py_BuildValue("nninnnz", P.read, P.kept, out.status, out.at, out.lines, out.needed, out.msg);
}

PyMethodDef scan_json_methods[] = {
    {"scan_json", scan_json, METH_VARARGS,
     "scan_json(buf, sink, row0, start, lines) -> (spans read, spans kept, status, offset, newlines passed,\n"
     "rows needed, message): OTLP/JSON from buf[start:] (JSON lines, or one document) into rows row0…;\n"
     "status JSON_FULL: the document at offset needs `rows needed` rows of room (nothing of it kept)."},
    {NULL},
};
