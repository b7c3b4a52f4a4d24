/* OTLP/JSON scanner: ExportTraceServiceRequest / TracesData JSON documents -> sink columns.
 *
 * One pass over the bytes, no value built per span: a recursive-descent reader that knows the OTLP/JSON
 * shape (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding) down to the fields the event
 * table needs, and a validating skipper for everything else. It accepts what the Python reader
 * (ingest/readers/otlp_json.py, orjson) accepts and rejects what orjson rejects (RFC 8259 strictly: UTF-8
 * checked, lone surrogates, leading zeros, trailing commas, infinite numbers and nesting past 1024 are errors),
 * so the two readers agree on every input; see tests/ingest/test_scan_json.py.
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
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "scanners.h"
#include "sink.h"

/* statuses beyond scanners.h's (mirrored in ingest/readers/native.py) */
enum { JSON_NOT_OTLP = 3, JSON_FULL = 4, JSON_PYERR = 5 };

#define MAX_DEPTH 1024       /* orjson's limit on nested arrays and objects */
#define KEY_BUF 64           /* longest escaped member name worth decoding (no field name is longer) */
#define STATUS_CODE_ERROR 2

/* --- scratch memory for unescaped strings: valid until the end of the span ----------------------------- */

typedef struct Block {
    struct Block *prev;
    size_t cap, used;
    char data[];
} Block;

typedef struct {
    Block *cur; /* never moved once handed out: older blocks are kept until the reset */
} Scratch;

static char *scratch_alloc(Scratch *s, size_t n)
{
    if (!s->cur || s->cur->cap - s->cur->used < n) {
        size_t cap = s->cur ? s->cur->cap * 2 : 1 << 16;
        while (cap < n)
            cap *= 2;
        Block *b = PyMem_Malloc(sizeof(Block) + cap);
        if (!b)
            return NULL;
        b->prev = s->cur;
        b->cap = cap;
        b->used = 0;
        s->cur = b;
    }
    char *out = s->cur->data + s->cur->used;
    s->cur->used += n;
    return out;
}

static void scratch_reset(Scratch *s)
{
    while (s->cur && s->cur->prev) { /* keep the newest (largest) block */
        Block *older = s->cur->prev;
        s->cur->prev = older->prev;
        PyMem_Free(older);
    }
    if (s->cur)
        s->cur->used = 0;
}

static void scratch_free(Scratch *s)
{
    scratch_reset(s);
    PyMem_Free(s->cur);
    s->cur = NULL;
}

/* --- the parser ---------------------------------------------------------------------------------------- */

typedef struct {
    Py_ssize_t read, kept;
} Mark;

typedef struct {
    const uint8_t *buf, *p, *end;
    const uint8_t *ws; /* whitespace table: in JSON lines '\n' ends the document instead */
    int lines;
    int depth;
    /* the first error */
    int status;
    const uint8_t *at;
    const char *msg;
    /* the output */
    Sink *sink;
    Py_ssize_t row0;
    Py_ssize_t read, kept; /* spans looked at / kept since the call began, the current document included */
    Py_ssize_t peak;       /* most rows the current document has held (rollbacks lower `kept`) */
    int overflow;          /* a kept span of the current document did not fit */
    Scratch scratch;
    char key[KEY_BUF];     /* an escaped member name, decoded */
} Parser;

typedef struct {
    const uint8_t *s;
    Py_ssize_t n;
    int escaped;
} Str;

static const uint8_t WS_DOCUMENT[256] = {[' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1};
static const uint8_t WS_LINE[256] = {[' '] = 1, ['\t'] = 1, ['\r'] = 1};
/* what bytes.strip() removes: a line of only these is blank */
static const uint8_t BLANK[256] = {[' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\v'] = 1, ['\f'] = 1};

static int fail(Parser *P, int status, const uint8_t *at, const char *msg)
{
    if (P->status == SCAN_OK) {
        P->status = status;
        P->at = at;
        P->msg = msg;
    }
    return 0;
}

/* A syntax error where a token was expected: the end of the input (or line) makes it a truncation. */
static int fail_token(Parser *P, const char *msg)
{
    if (P->p >= P->end || *P->p == '\n')
        return fail(P, SCAN_TRUNCATED, P->p, "unexpected end of data");
    return fail(P, SCAN_MALFORMED, P->p, msg);
}

static int fail_shape(Parser *P, const uint8_t *at, const char *msg) { return fail(P, JSON_NOT_OTLP, at, msg); }

static int fail_python(Parser *P) { return fail(P, JSON_PYERR, P->p, "Python error"); }

static inline void skip_ws(Parser *P)
{
    const uint8_t *p = P->p, *end = P->end, *ws = P->ws;
    while (p < end && ws[*p])
        p++;
    P->p = p;
}

static inline int peek(const Parser *P) { return P->p < P->end ? *P->p : -1; }

static inline int enter(Parser *P)
{
    if (++P->depth > MAX_DEPTH)
        return fail(P, SCAN_MALFORMED, P->p, "depth limit exceeded");
    P->p++;
    return 1;
}

/* --- strings ------------------------------------------------------------------------------------------- */

/* bytes a string runs on without a closer look: not '"', '\\', a control character or non-ASCII */
static const uint8_t PLAIN[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0),                                 /* 0x00-0x1F: control characters */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2F: '"' */
    R16(1), R16(1),                                 /* 0x30-0x4F */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50-0x5F: '\\' */
    R16(1), R16(1),                                 /* 0x60-0x7F; 0x80-0xFF: 0 */
#undef R16
};

static inline int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The 4 hex digits at p (at least 4 bytes there): the code unit, or -1. */
static inline int hex4(const uint8_t *p)
{
    int a = hex_value(p[0]), b = hex_value(p[1]), c = hex_value(p[2]), d = hex_value(p[3]);
    return (a | b | c | d) < 0 ? -1 : a << 12 | b << 8 | c << 4 | d;
}

/* Length of the valid UTF-8 sequence at p (non-ASCII lead byte), 0 when invalid (surrogates included). */
static inline int utf8_sequence(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    Py_ssize_t room = end - p;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return room >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (room < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
            return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (room < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

/* An escape at p ('\\'): its length in the input, 0 when invalid (P's error set). */
static int check_escape(Parser *P, const uint8_t *p)
{
    const uint8_t *end = P->end;
    if (end - p < 2)
        return fail(P, SCAN_TRUNCATED, p, "unexpected end of data");
    switch (p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return 2;
    case 'u':
        break;
    default:
        return fail(P, SCAN_MALFORMED, p, "invalid escape in string");
    }
    if (end - p < 6)
        return fail(P, SCAN_TRUNCATED, p, "unexpected end of data");
    int unit = hex4(p + 2);
    if (unit < 0)
        return fail(P, SCAN_MALFORMED, p, "invalid \\u escape in string");
    if (unit >= 0xDC00 && unit <= 0xDFFF)
        return fail(P, SCAN_MALFORMED, p, "invalid high surrogate in string");
    if (unit < 0xD800 || unit > 0xDBFF)
        return 6;
    if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
        return fail(P, SCAN_MALFORMED, p, "no low surrogate in string");
    int low = hex4(p + 8);
    if (low < 0xDC00 || low > 0xDFFF)
        return fail(P, SCAN_MALFORMED, p, "invalid low surrogate in string");
    return 12;
}

/* The string at P->p ('"'): its raw bytes (between the quotes), checked; the cursor after it. */
static int scan_string(Parser *P, Str *out)
{
    const uint8_t *start = P->p + 1, *p = start, *end = P->end;
    int escaped = 0;
    for (;;) {
#ifdef __SSE2__
        const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(' ');
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            /* signed compare: bytes >= 0x80 count as below ' ' too, so they get the UTF-8 check */
            __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                           _mm_cmplt_epi8(v, space));
            int mask = _mm_movemask_epi8(special);
            if (mask) {
                p += __builtin_ctz((unsigned)mask);
                goto special;
            }
            p += 16;
        }
#endif
        while (p < end && PLAIN[*p])
            p++;
        if (p >= end)
            return fail(P, SCAN_TRUNCATED, p, "unexpected end of data in a string");
#ifdef __SSE2__
    special:
#endif
        if (*p == '"') {
            out->s = start;
            out->n = p - start;
            out->escaped = escaped;
            P->p = p + 1;
            return 1;
        }
        if (*p == '\\') {
            int n = check_escape(P, p);
            if (!n)
                return 0;
            p += n;
            escaped = 1;
        } else if (*p < 0x20) {
            if (*p == '\n' && P->lines)
                return fail(P, SCAN_TRUNCATED, p, "unexpected end of data in a string");
            return fail(P, SCAN_MALFORMED, p, "unexpected control character in string");
        } else if (*p >= 0x80) {
            int n = utf8_sequence(p, end);
            if (!n)
                return fail(P, SCAN_MALFORMED, p, "str is not valid UTF-8");
            p += n;
        } else {
            p++; /* unreachable: PLAIN covers the rest */
        }
    }
}

static inline uint8_t *put_utf8(uint8_t *d, uint32_t cp)
{
    if (cp < 0x80) {
        *d++ = (uint8_t)cp;
    } else if (cp < 0x800) {
        *d++ = (uint8_t)(0xC0 | cp >> 6);
        *d++ = (uint8_t)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *d++ = (uint8_t)(0xE0 | cp >> 12);
        *d++ = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        *d++ = (uint8_t)(0x80 | (cp & 0x3F));
    } else {
        *d++ = (uint8_t)(0xF0 | cp >> 18);
        *d++ = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        *d++ = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        *d++ = (uint8_t)(0x80 | (cp & 0x3F));
    }
    return d;
}

/* Decode the escapes of a checked string into d (room for s.n bytes: decoding never lengthens). */
static Py_ssize_t unescape(const Str *s, uint8_t *d)
{
    const uint8_t *p = s->s, *end = s->s + s->n;
    uint8_t *start = d;
    while (p < end) {
        if (*p != '\\') {
            *d++ = *p++;
            continue;
        }
        uint8_t c = p[1];
        p += 2;
        switch (c) {
        case 'b': *d++ = '\b'; break;
        case 'f': *d++ = '\f'; break;
        case 'n': *d++ = '\n'; break;
        case 'r': *d++ = '\r'; break;
        case 't': *d++ = '\t'; break;
        case 'u': {
            uint32_t cp = (uint32_t)hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)hex4(p + 2) - 0xDC00);
                p += 6;
            }
            d = put_utf8(d, cp);
            break;
        }
        default: *d++ = c; /* '"', '\\', '/' */
        }
    }
    return d - start;
}

/* The decoded text of a string: in place when it has no escapes, else in the scratch memory. */
static int string_text(Parser *P, Str *s)
{
    if (!s->escaped)
        return 1;
    uint8_t *d = (uint8_t *)scratch_alloc(&P->scratch, (size_t)s->n + 1);
    if (!d) {
        PyErr_NoMemory();
        return fail_python(P);
    }
    s->n = unescape(s, d);
    s->s = d;
    s->escaped = 0;
    return 1;
}

/* --- numbers and literals ------------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *s;
    Py_ssize_t n;
    int integer; /* no fraction or exponent, and fits int64: value in i */
    int64_t i;
    int zero;    /* every digit of the mantissa is 0 */
} Number;

static inline int is_digit(int c) { return c >= '0' && c <= '9'; }

/* ASCII white space as str.strip() sees it */
static inline int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1C && c <= 0x1F); }

/* The text [s, s+n) as a double; 0 with the error set when Python cannot parse it. */
static int text_to_double(Parser *P, const uint8_t *s, Py_ssize_t n, double *out)
{
    char small[64];
    char *text = n < (Py_ssize_t)sizeof small ? small : PyMem_Malloc((size_t)n + 1);
    if (!text) {
        PyErr_NoMemory();
        return fail_python(P);
    }
    memcpy(text, s, (size_t)n);
    text[n] = 0;
    char *stop = NULL;
    *out = PyOS_string_to_double(text, &stop, NULL); /* locale-independent; overflow gives +-inf */
    int ok = !PyErr_Occurred() && stop == text + n;
    PyErr_Clear();
    if (text != small)
        PyMem_Free(text);
    return ok ? 1 : fail(P, SCAN_MALFORMED, s, "invalid number");
}

static int scan_number(Parser *P, Number *out)
{
    const uint8_t *p = P->p, *end = P->end, *start = p;
    int negative = 0, nonzero = 0;
    if (*p == '-') {
        negative = 1;
        p++;
    }
    if (p >= end || !is_digit(*p)) {
        P->p = p;
        return fail_token(P, "invalid number");
    }
    const uint8_t *digits = p;
    uint64_t value = 0;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return fail(P, SCAN_MALFORMED, start, "number with leading zero is not allowed");
    } else {
        nonzero = 1;
        while (p < end && is_digit(*p)) {
            if (p - digits < 19)
                value = value * 10 + (uint64_t)(*p - '0');
            p++;
        }
    }
    Py_ssize_t int_digits = p - digits;
    int integer = 1;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) {
            P->p = p;
            return fail_token(P, "invalid number");
        }
        while (p < end && is_digit(*p))
            nonzero |= *p++ != '0';
        integer = 0;
    }
    long exponent = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int negative_exp = 0;
        if (p < end && (*p == '+' || *p == '-'))
            negative_exp = *p++ == '-';
        if (p >= end || !is_digit(*p)) {
            P->p = p;
            return fail_token(P, "invalid number");
        }
        while (p < end && is_digit(*p)) {
            if (exponent < 100000)
                exponent = exponent * 10 + (*p - '0');
            p++;
        }
        if (negative_exp)
            exponent = -exponent;
        integer = 0;
    }
    P->p = p;
    out->s = start;
    out->n = p - start;
    out->zero = !nonzero;
    /* int64 when it fits (19 digits may not: checked against the limit) */
    out->integer = integer && int_digits <= 19 &&
                   (int_digits < 19 || value <= (uint64_t)INT64_MAX + (uint64_t)negative);
    out->i = out->integer ? (negative ? (int64_t)(0 - value) : (int64_t)value) : 0;
    /* orjson rejects numbers that overflow a double: only possible with a huge exponent or digit count */
    if (nonzero && (int_digits + exponent > 300)) {
        double d;
        if (!text_to_double(P, start, out->n, &d))
            return 0;
        if (isinf(d))
            return fail(P, SCAN_MALFORMED, start, "number is infinity when parsed as double");
    }
    return 1;
}

static int scan_literal(Parser *P, const char *word, Py_ssize_t n)
{
    Py_ssize_t room = P->end - P->p;
    if (room >= n && memcmp(P->p, word, (size_t)n) == 0) {
        P->p += n;
        return 1;
    }
    Py_ssize_t same = 0;
    while (same < room && same < n && P->p[same] == (uint8_t)word[same])
        same++;
    if (same == room) /* a prefix of the literal up to the end */
        return fail(P, SCAN_TRUNCATED, P->p + same, "unexpected end of data");
    P->p += same;
    return fail_token(P, "invalid literal");
}

/* --- structure ----------------------------------------------------------------------------------------- */

/* The next member of an object whose '{' was read: 1 with its name (the cursor at its value), 0 after the
 * closing '}', -1 on an error. Escaped names are decoded (into P->key) when short enough to be a field. */
static int next_member(Parser *P, int *count, Str *name)
{
    skip_ws(P);
    if (P->p >= P->end)
        return fail_token(P, ""), -1;
    if (*P->p == '}') {
        P->p++;
        return 0;
    }
    if (*count > 0) {
        if (*P->p != ',')
            return fail_token(P, "expected ',' or '}' after an object member"), -1;
        P->p++;
        skip_ws(P);
        if (peek(P) == '}')
            return fail(P, SCAN_MALFORMED, P->p, "trailing comma is not allowed"), -1;
    }
    if (peek(P) != '"')
        return fail_token(P, "expected a string for an object key"), -1;
    if (!scan_string(P, name))
        return -1;
    if (name->escaped) {
        Str raw = *name;
        if (raw.n < KEY_BUF) { /* decoding never lengthens */
            name->n = unescape(&raw, (uint8_t *)P->key);
            name->s = (const uint8_t *)P->key;
        } else {
            name->n = 0; /* too long to be a field name: matches none */
        }
    }
    skip_ws(P);
    if (peek(P) != ':')
        return fail_token(P, "expected ':' after an object key"), -1;
    P->p++;
    skip_ws(P);
    (*count)++;
    return 1;
}

/* The next element of an array whose '[' was read: 1 (the cursor at it), 0 after the closing ']', -1. */
static int next_element(Parser *P, int *count)
{
    skip_ws(P);
    if (P->p >= P->end)
        return fail_token(P, ""), -1;
    if (*P->p == ']') {
        P->p++;
        return 0;
    }
    if (*count > 0) {
        if (*P->p != ',')
            return fail_token(P, "expected ',' or ']' after an array element"), -1;
        P->p++;
        skip_ws(P);
        if (peek(P) == ']')
            return fail(P, SCAN_MALFORMED, P->p, "trailing comma is not allowed"), -1;
    }
    (*count)++;
    return 1;
}

#define NAME_IS(k, lit) ((k).n == (Py_ssize_t)sizeof(lit) - 1 && memcmp((k).s, lit, sizeof(lit) - 1) == 0)

static int skip_value(Parser *P);

static int skip_object(Parser *P)
{
    if (!enter(P))
        return 0;
    int count = 0, more;
    Str name;
    while ((more = next_member(P, &count, &name)) > 0)
        if (!skip_value(P))
            return 0;
    P->depth--;
    return more == 0;
}

static int skip_array(Parser *P)
{
    if (!enter(P))
        return 0;
    int count = 0, more;
    while ((more = next_element(P, &count)) > 0)
        if (!skip_value(P))
            return 0;
    P->depth--;
    return more == 0;
}

/* Any JSON value, checked and passed over. */
static int skip_value(Parser *P)
{
    Str s;
    Number n;
    switch (peek(P)) {
    case '"':
        return scan_string(P, &s);
    case '{':
        return skip_object(P);
    case '[':
        return skip_array(P);
    case 't':
        return scan_literal(P, "true", 4);
    case 'f':
        return scan_literal(P, "false", 5);
    case 'n':
        return scan_literal(P, "null", 4);
    case '-': case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9':
        return scan_number(P, &n);
    }
    return fail_token(P, "unexpected character, expected a JSON value");
}

/* --- values as Python would see them ------------------------------------------------------------------- */

enum { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_CONTAINER };

typedef struct {
    int json;     /* J_... */
    int truthy;   /* Python's bool() of the decoded value */
    SinkValue v;  /* strings (decoded), int64 integers, other numbers as double, booleans; NONE otherwise */
} Scalar;

/* Any value: scalars decoded, arrays and objects passed over (only whether they are empty is kept). */
static int read_scalar(Parser *P, Scalar *out)
{
    out->v.type = VALUE_NONE;
    int c = peek(P);
    if (c == '"') {
        Str s;
        if (!scan_string(P, &s) || !string_text(P, &s))
            return 0;
        out->json = J_STRING;
        out->truthy = s.n > 0;
        out->v.type = VALUE_STRING;
        out->v.s = (const char *)s.s;
        out->v.n = s.n;
        return 1;
    }
    if (c == '-' || is_digit(c)) {
        Number n;
        if (!scan_number(P, &n))
            return 0;
        out->json = J_NUMBER;
        out->truthy = !n.zero;
        if (n.integer) {
            out->v.type = VALUE_INT;
            out->v.i = n.i;
            return 1;
        }
        out->v.type = VALUE_DOUBLE;
        return text_to_double(P, n.s, n.n, &out->v.d);
    }
    if (c == 't' || c == 'f') {
        if (!scan_literal(P, c == 't' ? "true" : "false", c == 't' ? 4 : 5))
            return 0;
        out->json = J_BOOL;
        out->truthy = c == 't';
        out->v.type = VALUE_BOOL;
        out->v.i = c == 't';
        return 1;
    }
    if (c == 'n') {
        out->json = J_NULL;
        out->truthy = 0;
        return scan_literal(P, "null", 4);
    }
    if (c == '{' || c == '[') {
        const uint8_t *open = P->p;
        if (!skip_value(P))
            return 0;
        out->json = J_CONTAINER;
        const uint8_t *q = open + 1;
        while (WS_DOCUMENT[*q])
            q++;
        out->truthy = *q != '}' && *q != ']';
        return 1;
    }
    return fail_token(P, "unexpected character, expected a JSON value");
}

/* Python's int(x) of a decoded value: strings of digits (sign, surrounding space, '_' between digits),
 * numbers (truncated), booleans. 0 where Python would raise (or the result leaves int64). */
static int python_int(const Scalar *x, int64_t *out)
{
    if (x->v.type == VALUE_INT || x->v.type == VALUE_BOOL) {
        *out = x->v.i;
        return 1;
    }
    if (x->v.type == VALUE_DOUBLE) {
        if (!(x->v.d > -9.2e18 && x->v.d < 9.2e18))
            return 0;
        *out = (int64_t)x->v.d;
        return 1;
    }
    if (x->v.type != VALUE_STRING)
        return 0;
    const char *p = x->v.s, *end = p + x->v.n;
    while (p < end && is_space(*p))
        p++;
    while (end > p && is_space(end[-1]))
        end--;
    int negative = 0;
    if (p < end && (*p == '+' || *p == '-'))
        negative = *p++ == '-';
    uint64_t value = 0, limit = (uint64_t)INT64_MAX + (uint64_t)negative;
    int digits = 0;
    for (; p < end; p++) {
        if (*p == '_' && digits && p + 1 < end && is_digit(p[1]))
            continue;
        if (!is_digit(*p))
            return 0;
        uint64_t d = (uint64_t)(*p - '0');
        if (value > (limit - d) / 10)
            return 0;
        value = value * 10 + d;
        digits++;
    }
    if (!digits)
        return 0;
    *out = negative ? (int64_t)(0 - value) : (int64_t)value;
    return 1;
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
    if (peek(P) != '{')
        return skip_value(P);
    if (!enter(P))
        return 0;
    int count = 0, more, have_string = 0, have_other = 0;
    SinkValue string_value = {0}, other = {0};
    Str name;
    while ((more = next_member(P, &count, &name)) > 0) {
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
            if (!skip_value(P))
                return 0;
            continue;
        }
        const uint8_t *at = P->p;
        Scalar x;
        if (!read_scalar(P, &x))
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
            if (python_int(&x, &v->i))
                v->type = VALUE_INT;
            else
                later(bad, at, "intValue is not an int64 integer");
        } else {
            *v = x.v; /* a container (Python would take its repr) gives none */
        }
    }
    if (more < 0)
        return 0;
    P->depth--;
    *out = have_string ? string_value : other;
    return 1;
}

/* Open a list member: 1 at its first element ('[' read), 0 when it is absent or empty (read), -1 on an error.
 * `or_empty`: Python reads it as `value or ()` (any falsy value is none); else it iterates the value itself
 * (only an empty string or object is none). Another value is `*bad` (Python iterates it and fails), or an
 * error when bad is NULL. */
static int open_list(Parser *P, int or_empty, Later *bad, const char *why)
{
    if (peek(P) == '[')
        return enter(P) ? 1 : -1;
    const uint8_t *at = P->p;
    Scalar x;
    if (!read_scalar(P, &x))
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
    if (peek(P) != '{') {
        const uint8_t *at = P->p;
        Scalar x;
        if (!read_scalar(P, &x))
            return 0;
        if (x.truthy)
            later(bad, at, "status is not an object");
        return 1;
    }
    if (!enter(P))
        return 0;
    int count = 0, more;
    Str name;
    while ((more = next_member(P, &count, &name)) > 0) {
        if (!NAME_IS(name, "code")) {
            if (!skip_value(P))
                return 0;
            continue;
        }
        Scalar x;
        if (!read_scalar(P, &x))
            return 0;
        *error = (x.v.type == VALUE_INT && x.v.i == STATUS_CODE_ERROR) ||
                 (x.v.type == VALUE_DOUBLE && x.v.d == STATUS_CODE_ERROR) ||
                 (x.v.type == VALUE_STRING && x.v.n == 17 && memcmp(x.v.s, "STATUS_CODE_ERROR", 17) == 0);
    }
    P->depth--;
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
    const uint8_t *start = P->p;
    if (P->end - start < 8 || memcmp(start, KEY, 8) != 0)
        return -1;
    P->p = start + 7;
    Str key;
    if (!scan_string(P, &key))
        return 0;
    if (P->end - P->p < 9 || memcmp(P->p, VALUE, 9) != 0)
        goto other;
    P->p += 9;
    if (!string_text(P, &key))
        return 0;
    int slot = sink_key_slot(P->sink, (const char *)key.s, key.n), bad_int = 0;
    SinkValue value = {.type = VALUE_NONE};
    const uint8_t *value_at = P->p;
    if (slot < 0) {
        P->depth++; /* the attribute's object */
        int ok = skip_value(P);
        P->depth--;
        if (!ok)
            return 0;
    } else if (P->end - P->p >= 16 && memcmp(P->p, STRING, 16) == 0) {
        P->p += 15;
        Str text;
        if (!scan_string(P, &text) || !string_text(P, &text))
            return 0;
        value.type = VALUE_STRING;
        value.s = (const char *)text.s;
        value.n = text.n;
        if (peek(P) != '}')
            goto other;
        P->p++;
    } else if (P->end - P->p >= 13 && memcmp(P->p, INT, 13) == 0) {
        P->p += 12;
        value_at = P->p;
        Scalar x;
        if (!read_scalar(P, &x))
            return 0;
        if (python_int(&x, &value.i))
            value.type = VALUE_INT;
        else
            bad_int = 1;
        if (peek(P) != '}')
            goto other;
        P->p++;
    } else {
        goto other;
    }
    if (peek(P) != '}')
        goto other;
    P->p++;
    if (bad_int)
        later(bad, value_at, "intValue is not an int64 integer");
    if (value.type != VALUE_NONE) {
        value.slot = slot;
        sink_offer(P->sink, &value);
    }
    return 1;
other:
    P->p = start;
    return -1;
}

static int read_attribute(Parser *P, Later *bad)
{
    Sink *s = P->sink;
    int compact = read_attribute_compact(P, bad);
    if (compact >= 0)
        return compact;
    if (peek(P) != '{') {
        const uint8_t *at = P->p;
        later(bad, at, "attribute is not an object");
        return skip_value(P);
    }
    if (!enter(P))
        return 0;
    int count = 0, more, slot = -1, have_key = 0;
    SinkValue value = {.type = VALUE_NONE};
    Later value_bad = {0};
    Str name;
    while ((more = next_member(P, &count, &name)) > 0) {
        if (NAME_IS(name, "key")) {
            const uint8_t *at = P->p;
            Scalar x;
            if (!read_scalar(P, &x))
                return 0;
            have_key = 1;
            slot = x.v.type == VALUE_STRING ? sink_key_slot(s, x.v.s, x.v.n) : -1;
            if (x.json == J_CONTAINER)
                later(bad, at, "attribute key is not a string");
        } else if (NAME_IS(name, "value")) {
            if (have_key && slot < 0) { /* an attribute nobody asked for: only checked */
                if (!skip_value(P))
                    return 0;
                continue;
            }
            value_bad.at = NULL;
            if (!read_any_value(P, &value, &value_bad))
                return 0;
        } else if (!skip_value(P)) {
            return 0;
        }
    }
    if (more < 0)
        return 0;
    P->depth--;
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
    const uint8_t *at = P->p;
    Scalar x;
    if (!read_scalar(P, &x))
        return 0;
    t->present = x.json != J_NULL;
    t->at = at;
    t->ok = t->present && python_int(&x, &t->value);
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
    const uint8_t *span_at = P->p;
    if (peek(P) != '{') {
        if (!skip_value(P))
            return 0;
        return fail_shape(P, span_at, "span is not an object");
    }
    if (!enter(P))
        return 0;
    scratch_reset(&P->scratch);
    sink_span_begin(s);
    Time times[4] = {0}; /* startTimeUnixNano, start_time_unix_nano, endTimeUnixNano, end_time_unix_nano */
    int64_t kind = 0;
    int kind_known = 0, parent[2] = {0, 0}, error = 0;
    Str name = {0};
    Later bad = {0};
    int count = 0, more;
    Str member;
    while ((more = next_member(P, &count, &member)) > 0) {
        Scalar x;
        int ok = 1, time = -1, parent_field = -1;
        switch (member.n) {
        case 4:
            if (NAME_IS(member, "name")) {
                if (!read_scalar(P, &x))
                    return 0;
                name.n = 0;
                if (x.v.type == VALUE_STRING) {
                    name.s = (const uint8_t *)x.v.s;
                    name.n = x.v.n;
                }
                continue;
            }
            if (NAME_IS(member, "kind")) {
                if (!read_scalar(P, &x))
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
                if (kind_known && !sink_keeps_kind(s, kind)) { /* a dropped span: its attributes only checked */
                    if (!skip_value(P))
                        return 0;
                    continue;
                }
                sink_span_begin(s); /* a repeated member replaces the earlier one */
                int opened = open_list(P, 1, &bad, "attributes is not a list");
                if (opened < 0)
                    return 0;
                int items = 0;
                while (opened && (more = next_element(P, &items)) > 0)
                    if (!read_attribute(P, &bad))
                        return 0;
                if (opened && more < 0)
                    return 0;
                P->depth -= opened;
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
            ok = read_scalar(P, &x);
            parent[parent_field] = x.truthy;
        } else
            ok = skip_value(P);
        if (!ok)
            return 0;
    }
    if (more < 0)
        return 0;
    P->depth--;
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
            return fail_python(P);
        s->name[row] = code;
    }
    return sink_span_end(s, row) < 0 ? fail_python(P) : 1;
}

/* A list of spans, of scopes, of resource spans: each element through `read`. */
static int read_list(Parser *P, int or_empty, const char *why, int (*read)(Parser *))
{
    int opened = open_list(P, or_empty, NULL, why);
    if (opened <= 0)
        return opened == 0;
    int count = 0, more;
    while ((more = next_element(P, &count)) > 0)
        if (!read(P))
            return 0;
    P->depth--;
    return more == 0;
}

static int read_scope_spans(Parser *P)
{
    const uint8_t *at = P->p;
    if (peek(P) != '{') {
        if (!skip_value(P))
            return 0;
        return fail_shape(P, at, "scopeSpans element is not an object");
    }
    if (!enter(P))
        return 0;
    Mark mark = {P->read, P->kept};
    int count = 0, more;
    Str name;
    while ((more = next_member(P, &count, &name)) > 0) {
        if (!NAME_IS(name, "spans")) {
            if (!skip_value(P))
                return 0;
            continue;
        }
        rollback(P, mark); /* a repeated member replaces the earlier one */
        if (!read_list(P, 1, "spans is not a list", read_span))
            return 0;
    }
    P->depth--;
    return more == 0;
}

/* service.name among a resource's attributes: its pool code (-1 when absent or not a string) */
static int read_resource(Parser *P, int32_t *service)
{
    Sink *s = P->sink;
    *service = -1;
    const uint8_t *at = P->p;
    if (peek(P) != '{') {
        Scalar x;
        if (!read_scalar(P, &x))
            return 0;
        return x.truthy ? fail_shape(P, at, "resource is not an object") : 1;
    }
    if (!enter(P))
        return 0;
    int count = 0, more;
    Str name;
    while ((more = next_member(P, &count, &name)) > 0) {
        if (!NAME_IS(name, "attributes")) {
            if (!skip_value(P))
                return 0;
            continue;
        }
        int opened = open_list(P, 1, NULL, "resource attributes is not a list");
        if (opened < 0)
            return 0;
        int items = 0, more_items = 0;
        while (opened && (more_items = next_element(P, &items)) > 0) {
            at = P->p;
            if (peek(P) != '{') {
                if (!skip_value(P))
                    return 0;
                return fail_shape(P, at, "resource attribute is not an object");
            }
            if (!enter(P))
                return 0;
            int members = 0, more_members, is_service = 0;
            SinkValue value = {.type = VALUE_NONE};
            Later bad = {0};
            Str member;
            while ((more_members = next_member(P, &members, &member)) > 0) {
                int ok;
                if (NAME_IS(member, "key")) {
                    Scalar x;
                    ok = read_scalar(P, &x);
                    is_service = x.v.type == VALUE_STRING && x.v.n == 12 && memcmp(x.v.s, "service.name", 12) == 0;
                } else if (NAME_IS(member, "value")) {
                    bad.at = NULL;
                    ok = read_any_value(P, &value, &bad);
                } else {
                    ok = skip_value(P);
                }
                if (!ok)
                    return 0;
            }
            if (more_members < 0)
                return 0;
            P->depth--;
            if (!is_service)
                continue;
            if (bad.at) /* the Python reader takes int() of an intValue service name */
                return fail_shape(P, bad.at, bad.why);
            *service = -1; /* the last service.name wins, as in the Python reader; only text is a name */
            if (value.type == VALUE_STRING && value.n > 0) {
                *service = pool_intern(s->service_pool, value.s, value.n);
                if (*service < 0)
                    return fail_python(P);
            }
        }
        if (opened && more_items < 0)
            return 0;
        P->depth -= opened;
    }
    P->depth--;
    return more == 0;
}

static int read_resource_spans(Parser *P)
{
    const uint8_t *at = P->p;
    if (peek(P) != '{') {
        if (!skip_value(P))
            return 0;
        return fail_shape(P, at, "resourceSpans element is not an object");
    }
    if (!enter(P))
        return 0;
    Mark mark = {P->read, P->kept};
    int32_t service = -1;
    int chosen = 3; /* the preferred scope list so far: 0 scopeSpans, 1 scope_spans, 2 instrumentation… */
    int count = 0, more;
    Str name;
    while ((more = next_member(P, &count, &name)) > 0) {
        int which = NAME_IS(name, "scopeSpans") ? 0 : NAME_IS(name, "scope_spans") ? 1
                  : NAME_IS(name, "instrumentationLibrarySpans") ? 2 : -1;
        int ok;
        if (NAME_IS(name, "resource")) {
            ok = read_resource(P, &service);
        } else if (which >= 0 && which <= chosen && peek(P) != 'n') { /* null counts as absent */
            rollback(P, mark);
            chosen = which;
            ok = read_list(P, 1, "scopeSpans is not a list", read_scope_spans);
        } else {
            ok = skip_value(P);
        }
        if (!ok)
            return 0;
    }
    if (more < 0)
        return 0;
    P->depth--;
    if (!P->overflow) /* the resource may come after its spans: their service is set now */
        for (Py_ssize_t row = P->row0 + mark.kept; row < P->row0 + P->kept; row++)
            P->sink->service[row] = service;
    return 1;
}

/* An ExportTraceServiceRequest / TracesData object, or the api_v3 {"result": {...}} around one. */
static int read_request(Parser *P, int outer)
{
    const uint8_t *at = P->p;
    if (peek(P) != '{') {
        if (!skip_value(P))
            return 0;
        return fail_shape(P, at, "expected an object with resourceSpans");
    }
    if (!enter(P))
        return 0;
    Mark mark = {P->read, P->kept};
    int chosen = 2, unwrapped = 0; /* 0 resourceSpans, 1 resource_spans, 2 none yet */
    int count = 0, more;
    Str name;
    while ((more = next_member(P, &count, &name)) > 0) {
        int which = NAME_IS(name, "resourceSpans") ? 0 : NAME_IS(name, "resource_spans") ? 1 : -1;
        int ok;
        if (outer && NAME_IS(name, "result") && peek(P) == '{') {
            rollback(P, mark);
            unwrapped = 1;
            ok = read_request(P, 0);
        } else if (which >= 0 && which <= chosen && !unwrapped && peek(P) != 'n') {
            rollback(P, mark);
            chosen = which;
            ok = read_list(P, 0, "resourceSpans is not a list", read_resource_spans);
        } else {
            ok = skip_value(P);
        }
        if (!ok)
            return 0;
    }
    if (more < 0)
        return 0;
    P->depth--;
    if (!unwrapped && chosen == 2)
        return fail_shape(P, at, "no resourceSpans");
    return 1;
}

/* One document from P->p and the white space after it; on a shape error the document is first checked to be
 * valid JSON (orjson decodes it before the Python reader looks at its shape). */
static int read_document(Parser *P)
{
    const uint8_t *start = P->p;
    P->depth = 0;
    P->overflow = 0;
    P->peak = P->kept;
    scratch_reset(&P->scratch);
    skip_ws(P);
    int ok = read_request(P, 1);
    if (ok) {
        skip_ws(P);
        if (P->p < P->end && !(P->lines && *P->p == '\n'))
            return fail(P, SCAN_MALFORMED, P->p, "unexpected content after document");
        return 1;
    }
    if (P->status != JSON_NOT_OTLP)
        return 0;
    int status = P->status;
    const uint8_t *at = P->at;
    const char *msg = P->msg;
    P->status = SCAN_OK;
    P->p = start;
    P->depth = 0;
    skip_ws(P);
    if (skip_value(P)) {
        skip_ws(P);
        if (P->p < P->end && !(P->lines && *P->p == '\n'))
            return fail(P, SCAN_MALFORMED, P->p, "unexpected content after document");
        P->status = status;
        P->at = at;
        P->msg = msg;
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
    const uint8_t *p = P->buf + start, *end = P->end;
    while (p < end) {
        const uint8_t *q = p;
        while (q < end && BLANK[*q])
            q++;
        if (q < end && *q == '\n') {
            p = q + 1;
            out->lines++;
            continue;
        }
        if (q == end)
            break;
        Mark mark = {P->read, P->kept};
        P->p = p;
        if (!read_document(P)) {
            rollback(P, mark);
            return;
        }
        if (P->overflow) {
            rollback(P, mark);
            out->status = JSON_FULL;
            out->at = p - P->buf;
            out->needed = P->peak - mark.kept;
            return;
        }
        p = P->p;
        if (p < end) { /* at its '\n' */
            p++;
            out->lines++;
        }
    }
    out->at = end - P->buf;
}

static void scan_whole(Parser *P, Py_ssize_t start, Outcome *out)
{
    Mark mark = {P->read, P->kept};
    P->p = P->buf + start;
    skip_ws(P);
    if (P->p >= P->end) {
        fail(P, SCAN_TRUNCATED, P->p, "unexpected end of data");
        return;
    }
    if (!read_document(P) || P->overflow)
        rollback(P, mark);
    if (P->status == SCAN_OK && P->overflow) {
        out->status = JSON_FULL;
        out->at = start;
        out->needed = P->peak - mark.kept;
        return;
    }
    out->at = P->p - P->buf;
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
    Parser P = {.buf = view.buf, .end = (const uint8_t *)view.buf + view.len, .lines = lines,
                .ws = lines ? WS_LINE : WS_DOCUMENT, .sink = sink, .row0 = row0};
    Outcome out = {.status = SCAN_OK};
    if (lines)
        scan_lines(&P, start, &out);
    else
        scan_whole(&P, start, &out);
    scratch_free(&P.scratch);
    PyBuffer_Release(&view);
    if (P.status == JSON_PYERR)
        return NULL;
    if (P.status != SCAN_OK) { /* the rows of the document that failed are not committed */
        out.status = P.status;
        out.at = P.at - P.buf;
        out.msg = P.msg;
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
