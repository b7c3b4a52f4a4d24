/* JSON lexing for the OTLP/JSON scanner: see json_lex.h. */
#include "json_lex.h"

#include <math.h>
#include <stdlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* --- scratch memory for decoded strings --------------------------------------------------------------- */

static char *json_scratch_alloc(Scratch *s, size_t n)
{
    if (!s->cur || s->cur->cap - s->cur->used < n) {
        size_t cap = s->cur ? s->cur->cap * 2 : 1 << 16;
        while (cap < n)
            cap *= 2;
        ScratchBlock *b = PyMem_Malloc(sizeof(ScratchBlock) + cap);
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

void json_scratch_reset(Scratch *s)
{
    while (s->cur && s->cur->prev) { /* keep the newest (largest) block */
        ScratchBlock *older = s->cur->prev;
        s->cur->prev = older->prev;
        PyMem_Free(older);
    }
    if (s->cur)
        s->cur->used = 0;
}

void json_scratch_free(Scratch *s)
{
    json_scratch_reset(s);
    PyMem_Free(s->cur);
    s->cur = NULL;
}

const uint8_t JSON_WS_DOCUMENT[256] = {[' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1};
const uint8_t JSON_WS_LINE[256] = {[' '] = 1, ['\t'] = 1, ['\r'] = 1};
/* what bytes.strip() removes: a line of only these is blank */
const uint8_t JSON_BLANK[256] = {[' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\v'] = 1, ['\f'] = 1};

int json_fail(JsonReader *P, int status, const uint8_t *at, const char *msg)
{
    if (P->status == SCAN_OK) {
        P->status = status;
        P->at = at;
        P->msg = msg;
    }
    return 0;
}

/* A syntax error where a token was expected: the end of the input (or line) makes it a truncation. */
int json_fail_token(JsonReader *P, const char *msg)
{
    if (P->p >= P->end || *P->p == '\n')
        return json_fail(P, SCAN_TRUNCATED, P->p, "unexpected end of data");
    return json_fail(P, SCAN_MALFORMED, P->p, msg);
}

int json_fail_python(JsonReader *P) { return json_fail(P, JSON_PYERR, P->p, "Python error"); }

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
static int check_escape(JsonReader *P, const uint8_t *p)
{
    const uint8_t *end = P->end;
    if (end - p < 2)
        return json_fail(P, SCAN_TRUNCATED, p, "unexpected end of data");
    switch (p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return 2;
    case 'u':
        break;
    default:
        return json_fail(P, SCAN_MALFORMED, p, "invalid escape in string");
    }
    if (end - p < 6)
        return json_fail(P, SCAN_TRUNCATED, p, "unexpected end of data");
    int unit = hex4(p + 2);
    if (unit < 0)
        return json_fail(P, SCAN_MALFORMED, p, "invalid \\u escape in string");
    if (unit >= 0xDC00 && unit <= 0xDFFF)
        return json_fail(P, SCAN_MALFORMED, p, "invalid high surrogate in string");
    if (unit < 0xD800 || unit > 0xDBFF)
        return 6;
    if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
        return json_fail(P, SCAN_MALFORMED, p, "no low surrogate in string");
    int low = hex4(p + 8);
    if (low < 0xDC00 || low > 0xDFFF)
        return json_fail(P, SCAN_MALFORMED, p, "invalid low surrogate in string");
    return 12;
}

/* The string at P->p ('"'): its raw bytes (between the quotes), checked; the cursor after it. */
int json_string(JsonReader *P, Str *out)
{
    const uint8_t *start = P->p + 1, *p = start, *end = P->end;
    int escaped = 0;
    for (;;) {
#ifdef __SSE2__
        const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(' ');
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            /* signed compare: bytes >= 0x80 count as below ' ' too, so they get the UTF-8 check */
            __m128i stop = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
            __m128i special = _mm_or_si128(stop, _mm_cmplt_epi8(v, space));
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
            return json_fail(P, SCAN_TRUNCATED, p, "unexpected end of data in a string");
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
                return json_fail(P, SCAN_TRUNCATED, p, "unexpected end of data in a string");
            return json_fail(P, SCAN_MALFORMED, p, "unexpected control character in string");
        } else if (*p >= 0x80) {
            int n = utf8_sequence(p, end);
            if (!n)
                return json_fail(P, SCAN_MALFORMED, p, "str is not valid UTF-8");
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
int json_text(JsonReader *P, Str *s)
{
    if (!s->escaped)
        return 1;
    uint8_t *d = (uint8_t *)json_scratch_alloc(&P->scratch, (size_t)s->n + 1);
    if (!d) {
        PyErr_NoMemory();
        return json_fail_python(P);
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
static inline int is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1C && c <= 0x1F);
}

/* The text [s, s+n) as a double; 0 with the error set when Python cannot parse it. */
static int text_to_double(JsonReader *P, const uint8_t *s, Py_ssize_t n, double *out)
{
    char small[64];
    char *text = n < (Py_ssize_t)sizeof small ? small : PyMem_Malloc((size_t)n + 1);
    if (!text) {
        PyErr_NoMemory();
        return json_fail_python(P);
    }
    memcpy(text, s, (size_t)n);
    text[n] = 0;
    char *stop = NULL;
    *out = PyOS_string_to_double(text, &stop, NULL); /* locale-independent; overflow gives +-inf */
    int ok = !PyErr_Occurred() && stop == text + n;
    PyErr_Clear();
    if (text != small)
        PyMem_Free(text);
    return ok ? 1 : json_fail(P, SCAN_MALFORMED, s, "invalid number");
}

static int scan_number(JsonReader *P, Number *out)
{
    const uint8_t *p = P->p, *end = P->end, *start = p;
    int negative = 0, nonzero = 0;
    if (*p == '-') {
        negative = 1;
        p++;
    }
    if (p >= end || !is_digit(*p)) {
        P->p = p;
        return json_fail_token(P, "invalid number");
    }
    const uint8_t *digits = p;
    uint64_t value = 0;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return json_fail(P, SCAN_MALFORMED, start, "number with leading zero is not allowed");
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
            return json_fail_token(P, "invalid number");
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
            return json_fail_token(P, "invalid number");
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
            return json_fail(P, SCAN_MALFORMED, start, "number is infinity when parsed as double");
    }
    return 1;
}

static int scan_literal(JsonReader *P, const char *word, Py_ssize_t n)
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
        return json_fail(P, SCAN_TRUNCATED, P->p + same, "unexpected end of data");
    P->p += same;
    return json_fail_token(P, "invalid literal");
}

/* --- structure ----------------------------------------------------------------------------------------- */

/* The next member of an object whose '{' was read: 1 with its name (the cursor at its value), 0 after the
 * closing '}', -1 on an error. Escaped names are decoded (into P->key) when short enough to be a field. */
int json_member(JsonReader *P, int *seen, Str *name)
{
    json_skip_ws(P);
    if (P->p >= P->end)
        return json_fail_token(P, ""), -1;
    if (*P->p == '}') {
        P->p++;
        return 0;
    }
    if (*seen > 0) {
        if (*P->p != ',')
            return json_fail_token(P, "expected ',' or '}' after an object member"), -1;
        P->p++;
        json_skip_ws(P);
        if (json_peek(P) == '}')
            return json_fail(P, SCAN_MALFORMED, P->p, "trailing comma is not allowed"), -1;
    }
    if (json_peek(P) != '"')
        return json_fail_token(P, "expected a string for an object key"), -1;
    if (!json_string(P, name))
        return -1;
    if (name->escaped) {
        Str raw = *name;
        if (raw.n < JSON_KEY_BUF) { /* decoding never lengthens */
            name->n = unescape(&raw, (uint8_t *)P->key);
            name->s = (const uint8_t *)P->key;
        } else {
            name->n = 0; /* too long to be a field name: matches none */
        }
    }
    json_skip_ws(P);
    if (json_peek(P) != ':')
        return json_fail_token(P, "expected ':' after an object key"), -1;
    P->p++;
    json_skip_ws(P);
    *seen = 1; /* whether a comma comes first */
    return 1;
}

/* The next element of an array whose '[' was read: 1 (the cursor at it), 0 after the closing ']', -1. */
int json_element(JsonReader *P, int *seen)
{
    json_skip_ws(P);
    if (P->p >= P->end)
        return json_fail_token(P, ""), -1;
    if (*P->p == ']') {
        P->p++;
        return 0;
    }
    if (*seen > 0) {
        if (*P->p != ',')
            return json_fail_token(P, "expected ',' or ']' after an array element"), -1;
        P->p++;
        json_skip_ws(P);
        if (json_peek(P) == ']')
            return json_fail(P, SCAN_MALFORMED, P->p, "trailing comma is not allowed"), -1;
    }
    *seen = 1; /* whether a comma comes first */
    return 1;
}

static int skip_object(JsonReader *P)
{
    if (!json_enter(P))
        return 0;
    int count = 0, more;
    Str name;
    while ((more = json_member(P, &count, &name)) > 0)
        if (!json_skip(P))
            return 0;
    P->depth--;
    return more == 0;
}

static int skip_array(JsonReader *P)
{
    if (!json_enter(P))
        return 0;
    int count = 0, more;
    while ((more = json_element(P, &count)) > 0)
        if (!json_skip(P))
            return 0;
    P->depth--;
    return more == 0;
}

/* Any JSON value, checked and passed over. */
int json_skip(JsonReader *P)
{
    Str s;
    Number n;
    switch (json_peek(P)) {
    case '"':
        return json_string(P, &s);
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
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return scan_number(P, &n);
    }
    return json_fail_token(P, "unexpected character, expected a JSON value");
}

/* --- values as Python would see them ------------------------------------------------------------------- */

/* Any value: scalars decoded, arrays and objects passed over (only whether they are empty is kept). */
int json_scalar(JsonReader *P, Scalar *out)
{
    out->v.type = VALUE_NONE;
    int c = json_peek(P);
    if (c == '"') {
        Str s;
        if (!json_string(P, &s) || !json_text(P, &s))
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
        if (!json_skip(P))
            return 0;
        out->json = J_CONTAINER;
        const uint8_t *q = open + 1;
        while (JSON_WS_DOCUMENT[*q])
            q++;
        out->truthy = *q != '}' && *q != ']';
        return 1;
    }
    return json_fail_token(P, "unexpected character, expected a JSON value");
}

/* Python's int(x) of a decoded value: strings of digits (sign, surrounding space, '_' between digits),
 * numbers (truncated), booleans. 0 where Python would raise (or the result leaves int64). */
int json_int(const Scalar *x, int64_t *out)
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
    uint64_t value = 0; /* up to 19 significant digits: below 1e19, which fits uint64 */
    int digits = 0, significant = 0;
    for (; p < end; p++) {
        if (*p == '_' && digits && p + 1 < end && is_digit(p[1]))
            continue;
        if (!is_digit(*p))
            return 0;
        digits++;
        if (significant || *p != '0') {
            if (++significant > 19)
                return 0;
            value = value * 10 + (uint64_t)(*p - '0');
        }
    }
    if (!digits || value > (uint64_t)INT64_MAX + (uint64_t)negative)
        return 0;
    *out = negative ? (int64_t)(0 - value) : (int64_t)value;
    return 1;
}

