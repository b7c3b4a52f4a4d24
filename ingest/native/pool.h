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

typedef struct {
    PyObject_HEAD
    uint64_t *hashes;      /* open addressing: hash of the value in each slot, 0 = empty */
    int32_t *slot_code;    /* the code stored in each slot */
    size_t mask;           /* slots - 1 (a power of two) */
    char *arena;           /* the bytes of every distinct value, back to back */
    size_t arena_used, arena_cap;
    size_t *off;           /* per code: offset of its bytes in the arena */
    uint32_t *len;         /* per code: length */
    Py_ssize_t count, code_cap;
    PyObject *values;      /* list of str, one per code */
} Pool;

extern PyTypeObject PoolType;

/* The code of bytes [s, s+n), adding them when new; -1 with a Python exception on failure. */
int32_t pool_intern(Pool *pool, const char *s, Py_ssize_t n);

#endif
