/* decontam's C kernels, second file: the reports' word spans (kernels.word_bounds, span_chars,
 * word_digits) and the per-pair verdict facts (verdict.anchor_facts, verdict._pair_facts with
 * align.py's walk). Same rules as _native.c: bit-identical to the numba twins, outputs
 * allocated by curate/decontam/native.py, GIL released while filling them. */
#include "_native.h"

/* ---------------------------------------------------------------- reports' word spans */

/* word_bounds(raw, limit, starts, ends) -> words: kernels.word_bounds. */
PyObject *word_bounds(PyObject *self, PyObject *args) {
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
PyObject *span_chars(PyObject *self, PyObject *args) {
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
PyObject *word_digits(PyObject *self, PyObject *args) {
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
PyObject *anchor_facts(PyObject *self, PyObject *args) {
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
PyObject *pair_facts(PyObject *self, PyObject *args) {
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
