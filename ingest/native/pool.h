/* Pool: distinct byte strings <-> int32 codes, for a whole dump.
 *
 * Why by hand: the scanners meet every string value of every span; a Python dict would need a Python object
 * per value. The pool hashes the raw bytes, keeps one copy of each distinct value in an arena, and creates
 * the Python str (UTF-8, invalid bytes replaced) once per distinct value, appended to `values`. Codes are
 * stable for the life of the pool, so batches read from one file share one dictionary.
 */
#ifndef TRACEREPLAY_POOL_H
#define TRACEREPLAY_POOL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint32_t tag;          /* the hash's high half: most probes of other values stop here */
    int32_t code;          /* -1: an empty slot */
    uint64_t where;        /* arena offset << 24 | length (0xFFFFFF: see len[code]): one miss, not three */
} PoolSlot;

typedef struct {
    PyObject_HEAD
    PoolSlot *slots;       /* open addressing, linear probing; one 8-byte slot per probe */
    size_t mask;           /* slots - 1 (a power of two) */
    PoolSlot last;         /* the value interned last: runs of one value (a method, a route) skip the table */
    char *arena;           /* the bytes of every distinct value, back to back */
    size_t arena_used, arena_cap;
    uint32_t *len;         /* per code: length */
    uint64_t *hash;        /* per code: its full hash (to rehash when the table grows) */
    Py_ssize_t count, code_cap;
    PyObject *values;      /* list of str, one per code */
} Pool;

extern PyTypeObject PoolType;

/* memcmp(a, b, n) == 0 for the short strings of span attributes, inlined: a libc call per key and per
 * lookup was a tenth of the scan. Word loads through memcpy are unaligned-safe and stay within [0, n). */
static inline int bytes_equal(const char *a, const char *b, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return 0;
    }
    for (; i < n; i++) {
        if (a[i] != b[i])
            return 0;
    }
    return 1;
}

/* The code of bytes [s, s+n), adding them when new; -1 with a Python exception on failure. */
int32_t pool_intern(Pool *pool, const char *s, Py_ssize_t n);

/* The same in two steps, so that a caller interning several values can overlap their cache misses:
 * pool_hash, then pool_prefetch for each value, then pool_intern_hashed for each. */
uint64_t pool_hash(const char *s, Py_ssize_t n);
int32_t pool_intern_hashed(Pool *pool, const char *s, Py_ssize_t n, uint64_t h);

static inline void pool_prefetch(const Pool *pool, uint64_t h)
{
    __builtin_prefetch(&pool->slots[(size_t)h & pool->mask]);
}

#endif
