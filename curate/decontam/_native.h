/* What decontam's two C files share (_native.c: the scan and the index build; _native_verdict.c:
 * the reports' word spans and the per-pair verdict facts): types, constants, small helpers, and
 * the entry points _native.c's module table takes from _native_verdict.c. */
#ifndef CURATE_DECONTAM_NATIVE_H
#define CURATE_DECONTAM_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t u64;
typedef int64_t i64;
typedef int8_t i8;
typedef uint8_t u8;

#define BASE 0xFF51AFD7ED558CCDULL
#define SALT 0x9E3779B97F4A7C15ULL
#define GOLD 0x9E3779B97F4A7C15ULL
#define GOLD2 0xC2B2AE3D27D4EB4FULL
#define FNV_OFFSET 0xCBF29CE484222325ULL
#define FNV_PRIME 0x100000001B3ULL
#define MAX_EXACT 62

static inline void release(Py_buffer *views, int count) {
    for (int i = 0; i < count; i++) PyBuffer_Release(&views[i]);
}

static inline i64 min64(i64 a, i64 b) { return a < b ? a : b; }
static inline i64 max64(i64 a, i64 b) { return a > b ? a : b; }
static inline u64 nz(u64 h) { return h ? h : 1; }

static inline int word_byte(u8 b) {
    return (48 <= b && b <= 57) || (65 <= b && b <= 90) || (97 <= b && b <= 122) || b >= 128;
}

/* in _native_verdict.c */
PyObject *word_bounds(PyObject *self, PyObject *args);
PyObject *span_chars(PyObject *self, PyObject *args);
PyObject *word_digits(PyObject *self, PyObject *args);
PyObject *anchor_facts(PyObject *self, PyObject *args);
PyObject *pair_facts(PyObject *self, PyObject *args);

#endif
