/* OTLP/JSON scanner: not written yet (the Python reader in ingest/readers/otlp_json.py is used). */
#include "scanners.h"

PyMethodDef scan_json_methods[] = {
    {NULL},
};
