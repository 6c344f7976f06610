/* decontam's kernels in C, built with the package (an optional extension: without a C compiler
 * the install still works and the numba kernels run instead).
 *
 * Each function computes exactly what its numba twin in curate/decontam/kernels.py, align.py,
 * verdict.py or curate/text/words.py computes (the same integer arithmetic, wrapping mod 2^64),
 * so outputs are bit-identical whichever ran; tests/test_native_decontam.py compares them. A
 * `curate decontam` that finds this module imports no numba. The Python wrappers in
 * curate/decontam/native.py allocate every output; these functions fill buffers, with the GIL
 * released. */
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

static void release(Py_buffer *views, int count) {
    for (int i = 0; i < count; i++) PyBuffer_Release(&views[i]);
}

static inline i64 min64(i64 a, i64 b) { return a < b ? a : b; }
static inline i64 max64(i64 a, i64 b) { return a > b ? a : b; }
static inline u64 nz(u64 h) { return h ? h : 1; }

static inline int word_byte(u8 b) {
    return (48 <= b && b <= 57) || (65 <= b && b <= 90) || (97 <= b && b <= 122) || b >= 128;
}

/* kernels._shift: 64 - log2(size) for a power-of-two size. */
static u64 shift_of(i64 size) {
    u64 bits = 0;
    while (((i64)1 << bits) < size) bits++;
    return 64 - bits;
}

static u64 window_key(const u64 *words, i64 start, i64 length) {
    u64 h = 0;
    for (i64 j = 0; j < length; j++) h = h * BASE + words[start + j];
    return nz(h + (u64)length * SALT);
}

static inline int filter_has(const u64 *filt, u64 shift, u64 key) {
    u64 f = (key * GOLD2) >> shift;
    return (filt[f >> 6] >> (f & 63)) & 1;
}

/* One lookup table of a scan (kernels.build_table's slots, values and filter). */
typedef struct {
    const u64 *keys, *filt;
    const i64 *values;
    i64 size;
    u64 shift, fshift;
} Table;

/* kernels._probe: the value stored for key, or -1. */
static i64 probe(const Table *t, u64 key) {
    if (!filter_has(t->filt, t->fshift, key)) return -1;
    u64 mask = (u64)(t->size - 1), slot = (key * GOLD) >> t->shift;
    while (t->keys[slot] != 0) {
        if (t->keys[slot] == key) return t->values[slot];
        slot = (slot + 1) & mask;
    }
    return -1;
}

/* kernels.text_words_masked and its _glued. */
static u64 glued(const u8 *data, i64 end, u64 number, const u8 *low, const u8 *kind) {
    i64 i = end;
    while (kind[data[i - 1]] == 1) i--;
    u64 g = number;
    for (i64 j = i; j < end; j++) g = (g ^ (u64)low[data[j]]) * FNV_PRIME;
    return g;
}

static i64 text_words_masked(const u8 *data, i64 lo, i64 hi, u64 number, const u8 *low, const u8 *kind,
                             const u8 *states, u64 *out, u64 *masked, i64 k) {
    u64 h = FNV_OFFSET;
    int state = 0;
    for (i64 i = lo; i < hi; i++) {
        u8 b = data[i], c = kind[b];
        if (c) {
            h = (h ^ (u64)low[b]) * FNV_PRIME;
            state = states[state * 3 + c];
        } else if (state) {
            out[k] = h;
            masked[k] = state == 3 ? h : (state == 1 ? number : glued(data, i, number, low, kind));
            k++;
            h = FNV_OFFSET;
            state = 0;
        }
    }
    if (state) {
        out[k] = h;
        masked[k] = state == 3 ? h : (state == 1 ? number : glued(data, hi, number, low, kind));
        k++;
    }
    return k;
}

/* ---------------------------------------------------------------- the scan */

typedef struct {
    i64 n, cap;
    u64 power, salt;
    int exact, skip;
    Table grams, first, shorts;
    const u64 *vocab, *gaps;
    u64 vocab_shift, gaps_shift;
    u64 *ring_w;
    i64 *ring_p, *o_doc, *o_val, *o_pos;
    i8 *o_kind;
} Scan;

static inline i64 emit(Scan *s, i64 k, i64 d, i64 v, i64 pos, int kind) {
    if (k < s->cap) {
        s->o_doc[k] = d;
        s->o_val[k] = v;
        s->o_pos[k] = pos;
        s->o_kind[k] = (i8)kind;
    }
    return k + 1;
}

/* kernels._scan_skipping: windows over the vocabulary's words that closed over a skipped word. */
static i64 scan_skipping(Scan *s, i64 d, i64 a, i64 b, const u64 *masked, i64 k) {
    i64 n = s->n, count = 0, head = 0;
    u64 h = 0;
    for (i64 st = a; st < b; st++) {
        u64 w = masked[st];
        if (!filter_has(s->vocab, s->vocab_shift, nz(w))) continue;
        if (count < n) {
            h = h * BASE + w;
            s->ring_w[count] = w;
            s->ring_p[count] = st;
            count++;
            if (count < n) continue;
        } else {
            h = (h - s->ring_w[head] * s->power) * BASE + w;
            s->ring_w[head] = w;
            s->ring_p[head] = st;
            head = head + 1 < n ? head + 1 : 0;
        }
        i64 first = s->ring_p[head], span = st - first + 1;
        if (n < span && span <= 2 * n) {
            u64 key = nz(h + s->salt);
            if (!filter_has(s->gaps, s->gaps_shift, key)) continue;
            i64 v = probe(&s->grams, key);
            if (v >= 0) k = emit(s, k, d, v, first - a, 2);
        }
    }
    return k;
}

/* kernels._scan_text: text d's matches (words a..b of masked) from o_*[k] on; the new k. */
static i64 scan_text(Scan *s, i64 d, i64 a, i64 b, const u64 *masked, i64 k) {
    i64 n = s->n;
    if (b - a >= n) {
        u64 h = 0;
        for (i64 j = 0; j < n; j++) h = h * BASE + masked[a + j];
        for (i64 st = a;; st++) {
            i64 v = probe(&s->grams, nz(h + s->salt));
            if (v >= 0) k = emit(s, k, d, v, st - a, 0);
            if (st + n >= b) break;
            h = (h - masked[st] * s->power) * BASE + masked[st + n];
        }
        if (s->skip) k = scan_skipping(s, d, a, b, masked, k);
    }
    if (!s->exact) return k;
    for (i64 st = a; st < b; st++) {
        i64 m = probe(&s->first, nz(masked[st]));
        if (m <= 0) continue;
        i64 top = min64(MAX_EXACT, b - st);
        for (i64 length = 1; length <= top; length++) {
            if ((m >> length) & 1) {
                i64 v = probe(&s->shorts, window_key(masked, st, length));
                if (v >= 0) k = emit(s, k, d, v, st - a, 1);
            }
        }
    }
    return k;
}

/* The scan arguments shared by scan_words and scan_bytes, as buffers views[0..15): the 11 tables
 * (tk tv tf fk fv ff sk sv sf vf gf) then the 4 outputs (o_doc o_val o_pos o_kind). */
static int scan_setup(Scan *s, Py_buffer *v, Py_ssize_t n, u64 power, int exact, int skip) {
    s->n = n;
    s->power = power;
    s->salt = (u64)n * SALT;
    s->exact = exact;
    s->skip = skip;
    Table *tables[] = {&s->grams, &s->first, &s->shorts};
    for (int t = 0; t < 3; t++) {
        Table *x = tables[t];
        x->keys = v[3 * t].buf;
        x->values = v[3 * t + 1].buf;
        x->filt = v[3 * t + 2].buf;
        x->size = v[3 * t].len / 8;
        x->shift = shift_of(x->size);
        x->fshift = shift_of(v[3 * t + 2].len / 8 * 64);
    }
    s->vocab = v[9].buf;
    s->vocab_shift = shift_of(v[9].len / 8 * 64);
    s->gaps = v[10].buf;
    s->gaps_shift = shift_of(v[10].len / 8 * 64);
    s->o_doc = v[11].buf;
    s->o_val = v[12].buf;
    s->o_pos = v[13].buf;
    s->o_kind = v[14].buf;
    s->cap = v[11].len / 8;
    s->ring_w = malloc(sizeof(u64) * (n > 0 ? n : 1));
    s->ring_p = malloc(sizeof(i64) * (n > 0 ? n : 1));
    return s->ring_w && s->ring_p;
}

#define TABLE_FORMAT "y*y*y*y*y*y*y*y*y*y*y*w*w*w*w*"
#define TABLE_ARGS(v) &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], \
    &v[11], &v[12], &v[13], &v[14]

/* scan_words(doc, words, masked, n, power, exact, skip, <tables>, <outputs>) -> matches. */
static PyObject *scan_words(PyObject *self, PyObject *args) {
    Py_buffer v[18];
    Py_ssize_t n;
    unsigned long long power;
    int exact, skip;
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*y*nKpp" TABLE_FORMAT, &v[15], &v[16], &v[17], &n, &power, &exact, &skip,
                          TABLE_ARGS(v)))
        return NULL;
    Scan s;
    int ok = scan_setup(&s, v, n, power, exact, skip);
    const i64 *doc = v[15].buf;
    const u64 *masked = v[17].buf;
    i64 k = 0, texts = v[15].len / 8 - 1;
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        for (i64 d = 0; d < texts; d++) k = scan_text(&s, d, doc[d], doc[d + 1], masked, k);
        Py_END_ALLOW_THREADS
    }
    free(s.ring_w);
    free(s.ring_p);
    release(v, 18);
    if (!ok) return PyErr_NoMemory();
    return PyLong_FromLongLong(k);
}

/* scan_bytes(data, offsets, valid, number, low, kind, states, n, power, exact, skip, <tables>,
 * <outputs>, words, masked, doc) -> (matches, words kept): kernels.scan_bytes. */
static PyObject *scan_bytes(PyObject *self, PyObject *args) {
    Py_buffer v[24];
    Py_ssize_t n;
    unsigned long long number, power;
    int exact, skip;
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*y*Ky*y*y*nKpp" TABLE_FORMAT "w*w*w*", &v[15], &v[16], &v[17], &number,
                          &v[18], &v[19], &v[20], &n, &power, &exact, &skip, TABLE_ARGS(v), &v[21], &v[22], &v[23]))
        return NULL;
    const u8 *data = v[15].buf, *valid = v[17].buf, *low = v[18].buf, *kind = v[19].buf, *states = v[20].buf;
    const i64 *offsets = v[16].buf;
    u64 *words = v[21].buf, *masked = v[22].buf;
    i64 *doc = v[23].buf, texts = v[16].len / 8 - 1, room = min64(v[21].len, v[22].len) / 8, longest = 0;
    for (i64 d = 0; d < texts; d++) longest = max64(longest, offsets[d + 1] - offsets[d]);
    Scan s;
    int ok = scan_setup(&s, v, n, power, exact, skip), overflow = 0;
    u64 *text_w = malloc(sizeof(u64) * (longest / 2 + 1)), *text_m = malloc(sizeof(u64) * (longest / 2 + 1));
    ok = ok && text_w && text_m;
    i64 k = 0, kept = 0;
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        for (i64 d = 0; d < texts; d++) {
            i64 count = valid[d] ? text_words_masked(data, offsets[d], offsets[d + 1], number, low, kind, states,
                                                     text_w, text_m, 0) : 0;
            i64 before = k;
            k = scan_text(&s, d, 0, count, text_m, k);
            if (k > before) {
                if (kept + count > room) {
                    overflow = 1;
                    break;
                }
                memcpy(words + kept, text_w, sizeof(u64) * count);
                memcpy(masked + kept, text_m, sizeof(u64) * count);
                kept += count;
            }
            doc[d + 1] = kept;
        }
        Py_END_ALLOW_THREADS
    }
    free(s.ring_w);
    free(s.ring_p);
    free(text_w);
    free(text_m);
    release(v, 24);
    if (!ok) return PyErr_NoMemory();
    if (overflow) {
        PyErr_SetString(PyExc_ValueError, "scan_bytes: the words buffer is too small for the matched texts");
        return NULL;
    }
    return Py_BuildValue("LL", (long long)k, (long long)kept);
}

/* word_hashes_masked(data, offsets, valid, number, low, kind, states, doc, out, masked) -> words:
 * words._word_hashes_masked into buffers the caller sized as it does. */
static PyObject *word_hashes_masked(PyObject *self, PyObject *args) {
    Py_buffer v[9];
    unsigned long long number;
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*y*Ky*y*y*w*w*w*", &v[0], &v[1], &v[2], &number, &v[3], &v[4], &v[5], &v[6],
                          &v[7], &v[8]))
        return NULL;
    const u8 *data = v[0].buf, *valid = v[2].buf;
    const i64 *offsets = v[1].buf;
    i64 *doc = v[6].buf, k = 0, texts = v[1].len / 8 - 1;
    Py_BEGIN_ALLOW_THREADS
    for (i64 d = 0; d < texts; d++) {
        if (valid[d])
            k = text_words_masked(data, offsets[d], offsets[d + 1], number, v[3].buf, v[4].buf, v[5].buf, v[7].buf,
                                  v[8].buf, k);
        doc[d + 1] = k;
    }
    Py_END_ALLOW_THREADS
    release(v, 9);
    return PyLong_FromLongLong(k);
}

/* word_hashes(data, offsets, valid, doc, out) -> words: words._word_hashes (FNV-1a of each
 * lower-cased word) into buffers the caller sized as it does. */
static PyObject *word_hashes(PyObject *self, PyObject *args) {
    Py_buffer v[5];
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*y*w*w*", &v[0], &v[1], &v[2], &v[3], &v[4])) return NULL;
    const u8 *data = v[0].buf, *valid = v[2].buf;
    const i64 *offsets = v[1].buf;
    i64 *doc = v[3].buf, k = 0, texts = v[1].len / 8 - 1;
    u64 *out = v[4].buf;
    Py_BEGIN_ALLOW_THREADS
    for (i64 d = 0; d < texts; d++) {
        if (valid[d]) {
            u64 h = FNV_OFFSET;
            int inside = 0;
            for (i64 i = offsets[d]; i < offsets[d + 1]; i++) {
                u8 b = data[i];
                if (word_byte(b)) {
                    h = (h ^ (u64)((65 <= b && b <= 90) ? b + 32 : b)) * FNV_PRIME;
                    inside = 1;
                } else if (inside) {
                    out[k++] = h;
                    h = FNV_OFFSET;
                    inside = 0;
                }
            }
            if (inside) out[k++] = h;
        }
        doc[d + 1] = k;
    }
    Py_END_ALLOW_THREADS
    release(v, 5);
    return PyLong_FromLongLong(k);
}

/* ---------------------------------------------------------------- the index build */

/* window_key(words, start, length) -> key: kernels.window_key. */
static PyObject *py_window_key(PyObject *self, PyObject *args) {
    Py_buffer words;
    Py_ssize_t start, length;
    if (!PyArg_ParseTuple(args, "y*nn", &words, &start, &length)) return NULL;
    u64 key = window_key(words.buf, start, length);
    PyBuffer_Release(&words);
    return PyLong_FromUnsignedLongLong(key);
}

/* all_windows(doc, words, n, item, pos, keys): kernels.all_windows into buffers of its total. */
static PyObject *all_windows(PyObject *self, PyObject *args) {
    Py_buffer v[5];
    Py_ssize_t n;
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*nw*w*w*", &v[0], &v[1], &n, &v[2], &v[3], &v[4])) return NULL;
    const i64 *doc = v[0].buf;
    i64 *item = v[2].buf, *pos = v[3].buf, texts = v[0].len / 8 - 1, k = 0;
    u64 *keys = v[4].buf;
    Py_BEGIN_ALLOW_THREADS
    for (i64 d = 0; d < texts; d++) {
        for (i64 st = doc[d]; st < doc[d + 1] - n + 1; st++) {
            item[k] = d;
            pos[k] = st - doc[d];
            keys[k] = window_key(v[1].buf, st, n);
            k++;
        }
    }
    Py_END_ALLOW_THREADS
    release(v, 5);
    Py_RETURN_NONE;
}

static void set_filter_bits(u64 *filt, const u64 *keys, i64 count, int filter_bits) {
    for (i64 i = 0; i < count; i++) {
        u64 f = (keys[i] * GOLD2) >> (64 - filter_bits);
        filt[f >> 6] |= (u64)1 << (f & 63);
    }
}

/* build_table(keys, values, bits, filter_bits, tk, tv, filt): kernels.build_table into zeroed buffers. */
static PyObject *build_table(PyObject *self, PyObject *args) {
    Py_buffer v[5];
    int bits, filter_bits;
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*iiw*w*w*", &v[0], &v[1], &bits, &filter_bits, &v[2], &v[3], &v[4]))
        return NULL;
    const u64 *keys = v[0].buf;
    const i64 *values = v[1].buf;
    u64 *tk = v[2].buf, mask = ((u64)1 << bits) - 1;
    i64 *tv = v[3].buf, count = v[0].len / 8;
    Py_BEGIN_ALLOW_THREADS
    for (i64 i = 0; i < count; i++) {
        u64 slot = (keys[i] * GOLD) >> (64 - bits);
        while (tk[slot] != 0 && tk[slot] != keys[i]) slot = (slot + 1) & mask;
        tk[slot] = keys[i];
        tv[slot] = values[i];
    }
    set_filter_bits(v[4].buf, keys, count, filter_bits);
    Py_END_ALLOW_THREADS
    release(v, 5);
    Py_RETURN_NONE;
}

/* build_filter(keys, filter_bits, filt): kernels.build_filter into a zeroed buffer. */
static PyObject *build_filter(PyObject *self, PyObject *args) {
    Py_buffer v[2];
    int filter_bits;
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*iw*", &v[0], &filter_bits, &v[1])) return NULL;
    Py_BEGIN_ALLOW_THREADS
    set_filter_bits(v[1].buf, v[0].buf, v[0].len / 8, filter_bits);
    Py_END_ALLOW_THREADS
    release(v, 2);
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- reports' word spans */

/* word_bounds(raw, limit, starts, ends) -> words: kernels.word_bounds. */
static PyObject *word_bounds(PyObject *self, PyObject *args) {
    Py_buffer v[3];
    Py_ssize_t limit;
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*nw*w*", &v[0], &limit, &v[1], &v[2])) return NULL;
    const u8 *raw = v[0].buf;
    i64 *starts = v[1].buf, *ends = v[2].buf, size = v[0].len, k = 0;
    int inside = 0;
    Py_BEGIN_ALLOW_THREADS
    for (i64 i = 0; i < size; i++) {
        int word = word_byte(raw[i]);
        if (word && !inside) {
            if (k == limit) break;
            starts[k] = i;
            inside = 1;
        } else if (!word && inside) {
            ends[k++] = i;
            inside = 0;
        }
    }
    if (inside) ends[k++] = size;
    Py_END_ALLOW_THREADS
    release(v, 3);
    return PyLong_FromLongLong(k);
}

/* span_chars(raw, spans, out): kernels.span_chars into out (int64, all -1 on entry). */
static PyObject *span_chars(PyObject *self, PyObject *args) {
    Py_buffer v[3];
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*w*", &v[0], &v[1], &v[2])) return NULL;
    const u8 *raw = v[0].buf;
    const i64 *spans = v[1].buf;
    i64 *out = v[2].buf, size = v[0].len, m = v[1].len / 16, limit = 0;
    Py_BEGIN_ALLOW_THREADS
    for (i64 k = 0; k < m; k++) limit = max64(limit, spans[2 * k + 1]);
    i64 count = 0, chars = 0, start = 0, last = -1;
    int inside = 0;
    for (i64 i = 0; i <= size; i++) {
        u8 b = i < size ? raw[i] : 32;
        int word = word_byte(b);
        if (word && !inside) {
            if (count == limit) break;
            start = chars;
            inside = 1;
        } else if (!word && inside) {
            for (i64 k = 0; k < m; k++) {
                if (spans[2 * k] == count) out[2 * k] = start;
                if (spans[2 * k + 1] - 1 == count) out[2 * k + 1] = chars;
            }
            last = chars;
            count++;
            inside = 0;
        }
        if (i < size && (b & 0xC0) != 0x80) chars++;
    }
    for (i64 k = 0; k < m; k++)
        if (spans[2 * k] < count && out[2 * k + 1] < 0) out[2 * k + 1] = last;
    Py_END_ALLOW_THREADS
    release(v, 3);
    Py_RETURN_NONE;
}

/* word_digits(raw, out) -> words: kernels.word_digits into a zeroed bool buffer. */
static PyObject *word_digits(PyObject *self, PyObject *args) {
    Py_buffer v[2];
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*w*", &v[0], &v[1])) return NULL;
    const u8 *raw = v[0].buf;
    u8 *out = v[1].buf;
    i64 k = 0, size = v[0].len;
    int inside = 0;
    Py_BEGIN_ALLOW_THREADS
    for (i64 i = 0; i < size; i++) {
        u8 b = raw[i];
        if (word_byte(b)) {
            inside = 1;
            if (b <= 57) out[k] = 1;
        } else if (inside) {
            k++;
            inside = 0;
        }
    }
    Py_END_ALLOW_THREADS
    release(v, 2);
    return PyLong_FromLongLong(k + inside);
}

/* ---------------------------------------------------------------- verdicts */

/* anchor_facts(ipos, kinds, starts, out): verdict.anchor_facts into a zeroed int64 (pairs, 4). */
static PyObject *anchor_facts(PyObject *self, PyObject *args) {
    Py_buffer v[4];
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &v[0], &v[1], &v[2], &v[3])) return NULL;
    const i64 *ipos = v[0].buf, *starts = v[2].buf;
    const i8 *kinds = v[1].buf;
    i64 *out = v[3].buf, pairs = v[2].len / 8 - 1;
    Py_BEGIN_ALLOW_THREADS
    for (i64 p = 0; p < pairs; p++) {
        i64 exact = 0, direct = 0, grams = 0, distinct = 0, last = -1;
        for (i64 k = starts[p]; k < starts[p + 1]; k++) {
            if (kinds[k] == 1) exact = 1;
            if (kinds[k] != 2) direct = 1;
            if (k == starts[p] || ipos[k] != ipos[k - 1]) distinct++;
            if (kinds[k] == 0 && (grams == 0 || ipos[k] != last)) {
                grams++;
                last = ipos[k];
            }
        }
        out[4 * p] = exact;
        out[4 * p + 1] = direct;
        out[4 * p + 2] = grams;
        out[4 * p + 3] = distinct;
    }
    Py_END_ALLOW_THREADS
    release(v, 4);
    Py_RETURN_NONE;
}

/* One pair's item and text (verdict._pair_facts' arguments) and align's working arrays. */
typedef struct {
    const u64 *iw, *tw, *tmasked;
    const i8 *inum, *tconst;
    const u8 *iname;
    i64 items, texts, consts, look, sync;
    u64 number;
    i8 *state;
    i64 *text_at, *pending, *claimed;
} Pair;

/* align._constant: text word t's constant class. */
static inline int constant_of(const Pair *p, i64 t) {
    if (p->consts) return p->tconst[t];
    return p->tmasked[t] == p->number ? 2 : 0;
}

/* align._agree: `sync` words equal from (i, t) on in direction step. */
static int agree(const Pair *p, i64 i, i64 t, i64 step, i64 sync) {
    for (i64 k = 0; k < sync; k++) {
        i64 a = i + k * step, b = t + k * step;
        if (a < 0 || a >= p->items || b < 0 || b >= p->texts || p->iw[a] != p->tw[b]) return 0;
    }
    return 1;
}

/* align._walk: follow the item through the text from (i, t) in direction step. */
static void walk(Pair *p, i64 i, i64 t, i64 step) {
    i64 waiting = 0;
    while (0 <= i && i < p->items && 0 <= t && t < p->texts) {
        if (p->claimed[t] >= 0 && p->claimed[t] != i) return;
        if (p->iw[i] == p->tw[t]) {
            p->state[i] = 1;
            p->text_at[i] = t;
            p->claimed[t] = i;
            for (i64 k = 0; k < waiting; k++) {
                i64 a = p->pending[2 * k], b = p->pending[2 * k + 1];
                if (p->state[a] == 0) {
                    p->state[a] = 2;
                    p->text_at[a] = b;
                    p->claimed[b] = a;
                }
            }
            waiting = 0;
        } else if (p->inum[i] && p->inum[i] == constant_of(p, t)) {
            p->pending[2 * waiting] = i;
            p->pending[2 * waiting + 1] = t;
            waiting++;
        } else if (p->iname[i] && constant_of(p, t) != 2) {
            while (0 <= i && i < p->items && p->iname[i] && p->iw[i] != p->tw[t]) i += step;
            t += step;
            continue;
        } else {
            int found = 0;
            for (i64 total = 1; total <= 2 * p->look && !found; total++) {
                for (i64 da = max64(0, total - p->look); da <= min64(total, p->look); da++) {
                    if (agree(p, i + da * step, t + (total - da) * step, step, p->sync)) {
                        i += da * step;
                        t += (total - da) * step;
                        found = 1;
                        break;
                    }
                }
            }
            if (!found) return;
            continue;
        }
        i += step;
        t += step;
    }
    if (!(0 <= i && i < p->items)) {
        for (i64 k = 0; k < waiting; k++) {
            i64 a = p->pending[2 * k], b = p->pending[2 * k + 1];
            if (p->state[a] == 0 && p->claimed[b] < 0) {
                p->state[a] = 3;
                p->text_at[a] = b;
                p->claimed[b] = a;
            }
        }
    }
}

/* align.align: walks from every matched window not yet walked through, word-for-word ones first. */
static void align(Pair *p, const i64 *anchor_i, const i64 *anchor_t, i64 anchors, i64 n) {
    for (i64 i = 0; i < p->items; i++) p->text_at[i] = -1;
    for (i64 t = 0; t < p->texts; t++) p->claimed[t] = -1;
    for (int exact_first = 1; exact_first >= 0; exact_first--) {
        for (i64 a = 0; a < anchors; a++) {
            i64 i = anchor_i[a], t = anchor_t[a];
            if (agree(p, i, t, 1, n) != exact_first || (p->state[i] == 1 && p->text_at[i] == t)) continue;
            walk(p, i, t, 1);
            walk(p, i - 1, t - 1, -1);
        }
    }
}

/* verdict._tally: item run edges into edges (returns their count) and the 9 facts. */
static i64 tally(const i8 *state, i64 items, i64 n, const u8 *names, const u8 *numbers, i64 *edges, i64 *facts) {
    i64 count = 0, run = 0;
    int on = 0;
    for (i64 i = 0; i < items; i++) {
        int value = state[i];
        if ((value >= 1) != on) {
            on = !on;
            edges[count++] = i;
        }
        run = value == 1 ? run + 1 : 0;
        if (run >= n) facts[0]++;
        if (value == 2) facts[1]++;
        else if (value == 3) facts[2]++;
        if (names[i]) {
            facts[3]++;
            facts[4] += value == 1;
        }
        if (numbers[i]) {
            facts[5]++;
            facts[6] += value == 1;
        }
        if (!names[i] && !numbers[i]) {
            facts[7]++;
            facts[8] += value == 1;
        }
    }
    if (on) edges[count++] = items;
    return count;
}

/* verdict._text_spans: the text run edges behind a pair into edges; returns their count, or -1
 * when out of memory. */
static i64 text_spans(const i8 *state, const i64 *text_at, i64 items, const i64 *tpos, i64 anchors, i64 n,
                      i64 size, i64 *edges) {
    i64 lo = size, hi = 0;
    for (i64 a = 0; a < anchors; a++) {
        lo = min64(lo, tpos[a]);
        hi = max64(hi, min64(tpos[a] + n, size));
    }
    for (i64 i = 0; i < items; i++) {
        if (state[i] >= 1 && 0 <= text_at[i] && text_at[i] < size) {
            lo = min64(lo, text_at[i]);
            hi = max64(hi, text_at[i] + 1);
        }
    }
    i64 width = max64(hi - lo, 0);
    i64 *depth = calloc(width + 1, sizeof(i64));
    u8 *inside = calloc(width + 1, 1);
    if (!depth || !inside) {
        free(depth);
        free(inside);
        return -1;
    }
    for (i64 a = 0; a < anchors; a++) {
        depth[tpos[a] - lo]++;
        depth[min64(tpos[a] + n, size) - lo]--;
    }
    i64 total = 0, count = 0;
    for (i64 k = 0; k < width; k++) {
        total += depth[k];
        inside[k] = total > 0;
    }
    for (i64 i = 0; i < items; i++)
        if (state[i] >= 1 && 0 <= text_at[i] && text_at[i] < size) inside[text_at[i] - lo] = 1;
    int on = 0;
    for (i64 k = 0; k < width; k++) {
        if (inside[k] != on) {
            on = !on;
            edges[count++] = lo + k;
        }
    }
    if (on) edges[count++] = hi;
    free(depth);
    free(inside);
    return count;
}

/* pair_facts(iw, inum, iname, numbers, types, plain, tw, tmasked, tconst, anchor_i, anchor_t, n,
 * look, sync, number, state, text_at, seen, packed) -> packed length: verdict._pair_facts, its
 * outputs zeroed on entry; packed has room for 11 + items + text words + 2. */
static PyObject *pair_facts(PyObject *self, PyObject *args) {
    Py_buffer v[15];
    Py_ssize_t n, look, sync;
    unsigned long long number;
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*y*y*nnnKw*w*w*w*", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                          &v[6], &v[7], &v[8], &v[9], &v[10], &n, &look, &sync, &number, &v[11], &v[12], &v[13],
                          &v[14]))
        return NULL;
    Pair p = {.iw = v[0].buf, .inum = v[1].buf, .iname = v[2].buf, .tw = v[6].buf, .tmasked = v[7].buf,
              .tconst = v[8].buf, .items = v[0].len / 8, .texts = v[6].len / 8, .consts = v[8].len, .look = look,
              .sync = sync, .number = number, .state = v[11].buf, .text_at = v[12].buf};
    const u8 *numbers = v[3].buf, *plain = v[5].buf;
    const i64 *types = v[4].buf, *anchor_i = v[9].buf, *anchor_t = v[10].buf;
    u8 *seen = v[13].buf;
    i64 *packed = v[14].buf, anchors = v[9].len / 8, distinct = v[5].len, used = -1;
    p.pending = malloc(sizeof(i64) * 2 * (p.items + 1));
    p.claimed = malloc(sizeof(i64) * (p.texts > 0 ? p.texts : 1));
    if (p.pending && p.claimed) {
        Py_BEGIN_ALLOW_THREADS
        align(&p, anchor_i, anchor_t, anchors, n);
        i64 item_edges = tally(p.state, p.items, n, p.iname, numbers, packed + 11, packed);
        i64 text_edges = text_spans(p.state, p.text_at, p.items, anchor_t, anchors, n, p.texts,
                                    packed + 11 + item_edges);
        for (i64 i = 0; i < p.items; i++)
            if (p.state[i] == 1) seen[types[i]] = 1;
        i64 words = 0;
        for (i64 k = 0; k < distinct; k++) words += seen[k] && plain[k];
        packed[9] = words;
        packed[10] = item_edges;
        used = text_edges < 0 ? -1 : 11 + item_edges + text_edges;
        Py_END_ALLOW_THREADS
    }
    free(p.pending);
    free(p.claimed);
    release(v, 15);
    if (used < 0) return PyErr_NoMemory();
    return PyLong_FromLongLong(used);
}

static PyMethodDef methods[] = {
    {"scan_words", scan_words, METH_VARARGS, "kernels.scan_words (see curate/decontam/native.py)."},
    {"scan_bytes", scan_bytes, METH_VARARGS, "kernels.scan_bytes."},
    {"word_hashes", word_hashes, METH_VARARGS, "words._word_hashes into buffers."},
    {"word_hashes_masked", word_hashes_masked, METH_VARARGS, "words._word_hashes_masked into buffers."},
    {"window_key", py_window_key, METH_VARARGS, "kernels.window_key."},
    {"all_windows", all_windows, METH_VARARGS, "kernels.all_windows into buffers."},
    {"build_table", build_table, METH_VARARGS, "kernels.build_table into zeroed buffers."},
    {"build_filter", build_filter, METH_VARARGS, "kernels.build_filter into a zeroed buffer."},
    {"word_bounds", word_bounds, METH_VARARGS, "kernels.word_bounds into buffers."},
    {"span_chars", span_chars, METH_VARARGS, "kernels.span_chars into a buffer."},
    {"word_digits", word_digits, METH_VARARGS, "kernels.word_digits into a buffer."},
    {"anchor_facts", anchor_facts, METH_VARARGS, "verdict.anchor_facts into a buffer."},
    {"pair_facts", pair_facts, METH_VARARGS, "verdict._pair_facts into buffers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "curate's decontam kernels in C.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
