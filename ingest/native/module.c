/* tracereplay.ingest._native: compiled scanners that turn OTLP dumps into event-table columns.
 *
 * Why C: decoding a span through protobuf or json objects costs a Python object per field (~1 us each);
 * these scanners walk the bytes once and write only the fields the event table needs into numpy columns
 * (see sink.h), interning strings once per distinct value (pool.h). Python (ingest/readers/native.py)
 * frames the dump, allocates the columns and turns them into RawBatch objects.
 */
#include "pool.h"
#include "scanners.h"
#include "sink.h"

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tracereplay.ingest._native",
    .m_doc = "Compiled OTLP scanners: dumps -> event-table columns.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__native(void)
{
    if (PyType_Ready(&PoolType) < 0 || PyType_Ready(&SinkType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&native_module);
    if (!module)
        return NULL;
    if (PyModule_AddFunctions(module, scan_pb_methods) < 0 ||
        PyModule_AddFunctions(module, scan_json_methods) < 0 ||
        PyModule_AddFunctions(module, scan_log_methods) < 0 ||
        PyModule_AddObjectRef(module, "Pool", (PyObject *)&PoolType) < 0 ||
        PyModule_AddObjectRef(module, "Sink", (PyObject *)&SinkType) < 0 ||
        PyModule_AddIntConstant(module, "OK", SCAN_OK) < 0 ||
        PyModule_AddIntConstant(module, "TRUNCATED", SCAN_TRUNCATED) < 0 ||
        PyModule_AddIntConstant(module, "MALFORMED", SCAN_MALFORMED) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
