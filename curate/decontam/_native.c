/* decontam's kernels in C, built with the package (an optional extension: without a C compiler
 * the install still works and the numba kernels run instead).
 *
 * Each function computes exactly what its numba twin in curate/decontam/kernels.py, align.py,
 * verdict.py or curate/text/words.py computes (the same integer arithmetic, wrapping mod 2^64),
 * so outputs are bit-identical whichever ran; tests/test_native_decontam.py compares them. A
 * `curate decontam` that finds this module imports no numba. The Python wrappers in
 * curate/decontam/native.py allocate every output; these functions fill buffers, with the GIL
 * released. */
#include "_native.h"

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
