#include "pool.h"

#include <string.h>

uint64_t pool_hash(const char *s, Py_ssize_t n)
{
    /* multiply-xorshift over 8-byte words: fast for the short strings of span attributes */
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    uint64_t tail = 0;
    if (i < n)
        memcpy(&tail, s + i, (size_t)(n - i));
    h = (h ^ tail) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h | 1; /* 0 marks an empty slot */
}

static PoolSlot *new_slots(size_t n)
{
    PoolSlot *slots = PyMem_Malloc(n * sizeof(PoolSlot));
    if (!slots) {
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        slots[i].code = -1;
    return slots;
}

#define LEN_BITS 24
#define LEN_MAX ((1u << LEN_BITS) - 1)

static inline uint64_t where_of(size_t off, size_t len)
{
    return (uint64_t)off << LEN_BITS | (len < LEN_MAX ? len : LEN_MAX);
}

static int grow_table(Pool *pool)
{
    size_t n = (pool->mask + 1) * 2;
    PoolSlot *slots = new_slots(n);
    if (!slots)
        return -1;
    for (size_t i = 0; i <= pool->mask; i++) {
        PoolSlot slot = pool->slots[i];
        if (slot.code < 0)
            continue;
        uint64_t h = pool->hash[slot.code];
        size_t j = (size_t)h & (n - 1);
        while (slots[j].code >= 0)
            j = (j + 1) & (n - 1);
        slots[j] = slot;
    }
    PyMem_Free(pool->slots);
    pool->slots = slots;
    pool->mask = n - 1;
    return 0;
}

static int reserve(Pool *pool, Py_ssize_t n)
{
    if (pool->arena_used + (size_t)n > pool->arena_cap) {
        size_t cap = pool->arena_cap * 2;
        while (cap < pool->arena_used + (size_t)n)
            cap *= 2;
        char *arena = PyMem_Realloc(pool->arena, cap);
        if (!arena) {
            PyErr_NoMemory();
            return -1;
        }
        pool->arena = arena;
        pool->arena_cap = cap;
    }
    if (pool->count == pool->code_cap) {
        Py_ssize_t cap = pool->code_cap * 2;
        uint32_t *len = PyMem_Realloc(pool->len, (size_t)cap * sizeof(uint32_t));
        if (len)
            pool->len = len;
        uint64_t *hash = PyMem_Realloc(pool->hash, (size_t)cap * sizeof(uint64_t));
        if (hash)
            pool->hash = hash;
        if (!len || !hash) {
            PyErr_NoMemory();
            return -1;
        }
        pool->code_cap = cap;
    }
    if ((size_t)(pool->count + 1) * 2 > pool->mask + 1)
        return grow_table(pool);
    return 0;
}

static inline int same(const Pool *pool, const PoolSlot *slot, const char *s, Py_ssize_t n)
{
    size_t len = slot->where & LEN_MAX;
    if (len == LEN_MAX)
        len = pool->len[slot->code];
    return len == (size_t)n && bytes_equal(pool->arena + (slot->where >> LEN_BITS), s, (size_t)n);
}

int32_t pool_intern(Pool *pool, const char *s, Py_ssize_t n)
{
    return pool_intern_hashed(pool, s, n, pool_hash(s, n));
}

int32_t pool_intern_hashed(Pool *pool, const char *s, Py_ssize_t n, uint64_t h)
{
    if (pool->last.code >= 0 && same(pool, &pool->last, s, n))
        return pool->last.code;
    uint32_t tag = (uint32_t)(h >> 32);
    size_t i = (size_t)h & pool->mask;
    for (; pool->slots[i].code >= 0; i = (i + 1) & pool->mask) {
        if (pool->slots[i].tag == tag && same(pool, &pool->slots[i], s, n)) {
            pool->last = pool->slots[i];
            return pool->last.code;
        }
    }
    if (pool->count >= INT32_MAX || n > (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many distinct values in one dump");
        return -1;
    }
    if (reserve(pool, n) < 0)
        return -1;
    PyObject *text = PyUnicode_DecodeUTF8(s, n, "replace");
    if (!text)
        return -1;
    int failed = PyList_Append(pool->values, text);
    Py_DECREF(text);
    if (failed)
        return -1;
    i = (size_t)h & pool->mask;
    while (pool->slots[i].code >= 0)
        i = (i + 1) & pool->mask;
    int32_t code = (int32_t)pool->count++;
    PoolSlot slot = {.tag = tag, .code = code, .where = where_of(pool->arena_used, (size_t)n)};
    pool->slots[i] = slot;
    memcpy(pool->arena + pool->arena_used, s, (size_t)n);
    pool->len[code] = (uint32_t)n;
    pool->hash[code] = h;
    pool->arena_used += (size_t)n;
    pool->last = slot;
    return code;
}

/* --- the Python type ------------------------------------------------------------------------------- */

static int Pool_init(Pool *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "", kwlist))
        return -1;
    self->mask = 1023;
    self->last.code = -1;
    self->slots = new_slots(self->mask + 1);
    self->arena_cap = 1 << 16;
    self->arena = PyMem_Malloc(self->arena_cap);
    self->code_cap = 512;
    self->len = PyMem_Malloc((size_t)self->code_cap * sizeof(uint32_t));
    self->hash = PyMem_Malloc((size_t)self->code_cap * sizeof(uint64_t));
    self->values = PyList_New(0);
    if (!self->slots || !self->hash || !self->arena || !self->len || !self->values) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void Pool_dealloc(Pool *self)
{
    PyMem_Free(self->slots);
    PyMem_Free(self->hash);
    PyMem_Free(self->arena);
    PyMem_Free(self->len);
    Py_XDECREF(self->values);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Pool_intern(Pool *self, PyObject *arg)
{
    Py_buffer view;
    if (PyUnicode_Check(arg)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(arg, &n);
        if (!s)
            return NULL;
        int32_t code = pool_intern(self, s, n);
        return code < 0 ? NULL : PyLong_FromLong(code);
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int32_t code = pool_intern(self, view.buf, view.len);
    PyBuffer_Release(&view);
    return code < 0 ? NULL : PyLong_FromLong(code);
}

static Py_ssize_t Pool_len(Pool *self) { return self->count; }

static PyObject *Pool_get_values(Pool *self, void *closure)
{
    Py_INCREF(self->values);
    return self->values;
}

static PyMethodDef Pool_methods[] = {
    {"intern", (PyCFunction)Pool_intern, METH_O, "intern(value: str | bytes) -> int: the value's code."},
    {NULL},
};

static PyGetSetDef Pool_getset[] = {
    {"values", (getter)Pool_get_values, NULL, "the distinct values (list of str), index = code", NULL},
    {NULL},
};

static PySequenceMethods Pool_as_sequence = {.sq_length = (lenfunc)Pool_len};

PyTypeObject PoolType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracereplay.ingest._native.Pool",
    .tp_doc = "Distinct strings of one column of a dump, each with a stable int32 code.",
    .tp_basicsize = sizeof(Pool),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Pool_init,
    .tp_dealloc = (destructor)Pool_dealloc,
    .tp_methods = Pool_methods,
    .tp_getset = Pool_getset,
    .tp_as_sequence = &Pool_as_sequence,
};
