/* The scanners' Python functions, added to the _native module by module.c. */
#ifndef TRACEREPLAY_SCANNERS_H
#define TRACEREPLAY_SCANNERS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* scanner error codes, returned to Python with the byte offset where they were found */
enum { SCAN_OK = 0, SCAN_TRUNCATED = 1, SCAN_MALFORMED = 2 };

extern PyMethodDef scan_pb_methods[];   /* scan_pb.c: OTLP protobuf */
extern PyMethodDef scan_json_methods[]; /* scan_json.c: OTLP/JSON */
extern PyMethodDef scan_log_methods[];  /* scan_log.c: access-log lines */

#endif
