#include "sink.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* --- the end of a span: chosen values -> columns ------------------------------------------------------ */

static int32_t intern_text(Pool *pool, const SinkValue *v)
{
    char digits[32];
    switch (v->type) {
    case VALUE_INT: {
        int n = snprintf(digits, sizeof digits, "%lld", (long long)v->i);
        return pool_intern(pool, digits, n);
    }
    case VALUE_BOOL:
        return v->i ? pool_intern(pool, "true", 4) : pool_intern(pool, "false", 5);
    case VALUE_DOUBLE: {
        /* repr(float): the text Python readers produce for the same value */
        char *text = PyOS_double_to_string(v->d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (!text)
            return -1;
        int32_t code = pool_intern(pool, text, (Py_ssize_t)strlen(text));
        PyMem_Free(text);
        return code;
    }
    }
    PyErr_SetString(PyExc_SystemError, "intern_text: not a scalar value");
    return -1;
}

static double number_of(const SinkValue *v)
{
    switch (v->type) {
    case VALUE_INT:
    case VALUE_BOOL:
        return (double)v->i;
    case VALUE_DOUBLE:
        return v->d;
    case VALUE_STRING: {
        /* a status sent as text ("200"): rare, parsed strictly */
        char text[64];
        if (v->n <= 0 || v->n >= (Py_ssize_t)sizeof text)
            return NAN;
        memcpy(text, v->s, (size_t)v->n);
        text[v->n] = 0;
        char *stop = NULL;
        double d = strtod(text, &stop);
        while (stop && (*stop == ' ' || *stop == '\t'))
            stop++;
        return stop && *stop == 0 && stop != text ? d : NAN;
    }
    }
    return NAN;
}

/* Whether logical column j gets a text value for this span (fallbacks only where their primary is absent). */
static inline int wanted_text(const Sink *s, int j)
{
    int primary = s->fallback_of[j];
    return !s->numeric[j] && s->best[j].type != VALUE_NONE &&
           (primary < 0 || s->best[primary].type == VALUE_NONE);
}

int sink_span_end(Sink *s, Py_ssize_t row)
{
    /* hash every string first and prefetch its table slot: the lookups' cache misses then overlap */
    uint64_t hashes[SINK_MAX_LOGICAL];
    for (int j = 0; j < s->n_logical; j++) {
        if (wanted_text(s, j) && s->best[j].type == VALUE_STRING) {
            hashes[j] = pool_hash(s->best[j].s, s->best[j].n);
            pool_prefetch(s->pools[j], hashes[j]);
        }
    }
    for (int j = 0; j < s->n_logical; j++) {
        const SinkValue *v = &s->best[j];
        if (s->numeric[j]) {
            s->status[row] = v->type == VALUE_NONE ? NAN : number_of(v);
            continue;
        }
        int32_t code = -1;
        if (wanted_text(s, j)) {
            code = v->type == VALUE_STRING ? pool_intern_hashed(s->pools[j], v->s, v->n, hashes[j])
                                           : intern_text(s->pools[j], v);
            if (code < 0)
                return -1;
        }
        s->codes[(Py_ssize_t)j * s->capacity + row] = code;
        if (j == s->user_logical)
            s->user_key[row] = code >= 0 ? v->slot : -1;
    }
    return 0;
}

/* --- the Python type ---------------------------------------------------------------------------------- */

static void release_views(Sink *self)
{
    if (self->bound) {
        for (int i = 0; i < 10; i++)
            PyBuffer_Release(&self->views[i]);
        self->bound = 0;
    }
}

static void free_keys(Sink *self)
{
    if (self->key) {
        for (int k = 0; k < self->n_keys; k++)
            PyMem_Free(self->key[k]);
    }
    PyMem_Free(self->key);
    PyMem_Free(self->key_len);
    PyMem_Free(self->key_logical);
    PyMem_Free(self->by_len_start);
    PyMem_Free(self->by_len_slots);
    self->key = NULL;
    self->key_len = NULL;
    self->key_logical = NULL;
    self->by_len_start = self->by_len_slots = NULL;
}

static int Sink_init(Sink *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"keys", "key_logical", "fallback_of", "numeric", "user_logical", "keep_kind",
                             "pools", "name_pool", "service_pool", NULL};
    PyObject *keys, *pools;
    Py_buffer key_logical, fallback_of, numeric, keep_kind;
    int user_logical;
    Pool *name_pool, *service_pool;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!y*y*y*iy*O!O!O!", kwlist, &PyTuple_Type, &keys,
                                     &key_logical, &fallback_of, &numeric, &user_logical, &keep_kind,
                                     &PyTuple_Type, &pools, &PoolType, &name_pool, &PoolType, &service_pool))
        return -1;
    int ok = 0;
    Py_ssize_t n_keys = PyTuple_GET_SIZE(keys), n_logical = PyTuple_GET_SIZE(pools);
    if (key_logical.len != n_keys || fallback_of.len != n_logical || numeric.len != n_logical ||
        n_logical > SINK_MAX_LOGICAL || keep_kind.len > 8) {
        PyErr_SetString(PyExc_ValueError, "inconsistent sink specification");
        goto done;
    }
    free_keys(self);
    self->n_keys = (int)n_keys;
    self->n_logical = (int)n_logical;
    self->key = PyMem_Calloc((size_t)n_keys + 1, sizeof(char *));
    self->key_len = PyMem_Calloc((size_t)n_keys + 1, sizeof(Py_ssize_t));
    self->key_logical = PyMem_Calloc((size_t)n_keys + 1, sizeof(int));
    self->by_len_start = PyMem_Calloc(SINK_MAX_KEY_LEN + 2, sizeof(int));
    self->by_len_slots = PyMem_Calloc((size_t)n_keys + 1, sizeof(int));
    if (!self->key || !self->key_len || !self->key_logical || !self->by_len_start || !self->by_len_slots) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < n_keys; k++) {
        PyObject *item = PyTuple_GET_ITEM(keys, k);
        char *bytes;
        Py_ssize_t n;
        if (PyBytes_AsStringAndSize(item, &bytes, &n) < 0)
            goto done;
        int logical = ((unsigned char *)key_logical.buf)[k];
        if (n <= 0 || n > SINK_MAX_KEY_LEN || logical >= n_logical) {
            PyErr_SetString(PyExc_ValueError, "attribute keys must be 1-256 bytes with a known column");
            goto done;
        }
        self->key[k] = PyMem_Malloc((size_t)n);
        if (!self->key[k]) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(self->key[k], bytes, (size_t)n);
        self->key_len[k] = n;
        self->key_logical[k] = logical;
        self->by_len_start[n + 1]++;
    }
    for (int len = 1; len <= SINK_MAX_KEY_LEN + 1; len++)
        self->by_len_start[len] += self->by_len_start[len - 1];
    {
        int fill[SINK_MAX_KEY_LEN + 1] = {0};
        for (int k = 0; k < n_keys; k++) { /* in slot order, so equal-length keys keep lookup order */
            Py_ssize_t n = self->key_len[k];
            self->by_len_slots[self->by_len_start[n] + fill[n]++] = k;
        }
    }
    self->user_logical = user_logical;
    memset(self->keep_kind, 0, sizeof self->keep_kind);
    memcpy(self->keep_kind, keep_kind.buf, (size_t)keep_kind.len);
    for (Py_ssize_t j = 0; j < n_logical; j++) {
        signed char primary = ((signed char *)fallback_of.buf)[j];
        self->fallback_of[j] = primary;
        self->numeric[j] = ((unsigned char *)numeric.buf)[j] != 0;
        PyObject *pool = PyTuple_GET_ITEM(pools, j);
        Py_CLEAR(self->pools[j]);
        if (!self->numeric[j]) {
            if (!PyObject_TypeCheck(pool, &PoolType)) {
                PyErr_SetString(PyExc_TypeError, "each text column needs a Pool");
                goto done;
            }
            Py_INCREF(pool);
            self->pools[j] = (Pool *)pool;
        }
    }
    Py_INCREF(name_pool);
    Py_XSETREF(self->name_pool, name_pool);
    Py_INCREF(service_pool);
    Py_XSETREF(self->service_pool, service_pool);
    ok = 1;
done:
    PyBuffer_Release(&key_logical);
    PyBuffer_Release(&fallback_of);
    PyBuffer_Release(&numeric);
    PyBuffer_Release(&keep_kind);
    return ok ? 0 : -1;
}

static PyObject *Sink_bind(Sink *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"start", "end", "kind", "root", "error", "status", "name", "service", "user_key",
                             "codes", NULL};
    static const Py_ssize_t item_size[10] = {8, 8, 1, 1, 1, 8, 4, 4, 4, 4};
    PyObject *arrays[10];
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOOOOOOO", kwlist, &arrays[0], &arrays[1], &arrays[2],
                                     &arrays[3], &arrays[4], &arrays[5], &arrays[6], &arrays[7], &arrays[8],
                                     &arrays[9]))
        return NULL;
    release_views(self);
    Py_buffer views[10];
    int got = 0;
    for (; got < 10; got++) {
        if (PyObject_GetBuffer(arrays[got], &views[got], PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
            goto fail;
    }
    Py_ssize_t capacity = views[0].len / 8;
    for (int i = 0; i < 9; i++) {
        if (views[i].len != capacity * item_size[i]) {
            PyErr_Format(PyExc_ValueError, "column %s has the wrong size", kwlist[i]);
            goto fail;
        }
    }
    if (views[9].len != capacity * 4 * (Py_ssize_t)self->n_logical) {
        PyErr_SetString(PyExc_ValueError, "codes must hold capacity x logical columns of int32");
        goto fail;
    }
    for (int i = 0; i < 10; i++)
        self->views[i] = views[i];
    self->bound = 1;
    self->capacity = capacity;
    self->start = views[0].buf;
    self->end = views[1].buf;
    self->kind = views[2].buf;
    self->root = views[3].buf;
    self->error = views[4].buf;
    self->status = views[5].buf;
    self->name = views[6].buf;
    self->service = views[7].buf;
    self->user_key = views[8].buf;
    self->codes = views[9].buf;
    Py_RETURN_NONE;
fail:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    return NULL;
}

static void Sink_dealloc(Sink *self)
{
    release_views(self);
    free_keys(self);
    for (int j = 0; j < SINK_MAX_LOGICAL; j++)
        Py_CLEAR(self->pools[j]);
    Py_CLEAR(self->name_pool);
    Py_CLEAR(self->service_pool);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Sink_get_capacity(Sink *self, void *closure) { return PyLong_FromSsize_t(self->capacity); }

static PyMethodDef Sink_methods[] = {
    {"bind", (PyCFunction)(void (*)(void))Sink_bind, METH_VARARGS | METH_KEYWORDS,
     "bind(start, end, kind, root, error, status, name, service, user_key, codes): the output columns."},
    {NULL},
};

static PyGetSetDef Sink_getset[] = {
    {"capacity", (getter)Sink_get_capacity, NULL, "rows the bound columns hold", NULL},
    {NULL},
};

PyTypeObject SinkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracereplay.ingest._native.Sink",
    .tp_doc = "The columns a scanner writes spans into, and which attribute keys feed which column.",
    .tp_basicsize = sizeof(Sink),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Sink_init,
    .tp_dealloc = (destructor)Sink_dealloc,
    .tp_methods = Sink_methods,
    .tp_getset = Sink_getset,
};
