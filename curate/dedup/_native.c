/* The hot dedup kernels in C, built with the package (an optional extension: without a C
 * compiler the install still works and the numba kernels run instead).
 *
 * Each function computes exactly what its numba twin in curate/dedup/kernels.py or
 * curate/dedup/cluster.py computes (the same integer arithmetic, wrapping mod 2^64 or 2^32), so
 * outputs are bit-identical whichever ran; tests/test_native_kernels.py compares them. A command
 * that finds this module needs no numba import (0.3-0.4 CPU s) and no cache load per kernel.
 * The Python wrappers in curate/dedup/native.py allocate every output; these functions fill
 * buffers, with the GIL released. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

typedef uint64_t u64;
typedef uint32_t u32;
typedef int64_t i64;

#define FOLD 0x9E3779B97F4A7C15ULL
#define FNV_OFFSET 0xCBF29CE484222325ULL
#define FNV_PRIME 0x100000001B3ULL
#define EMPTY 0xFFFFFFFFU

/* x86-64 builds carry AVX-512, AVX2 and baseline copies of the min-hash loop, picked at load
 * time for the CPU that runs them (numba compiles for the host CPU too). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOT
#endif

static inline u64 mix64(u64 h) {
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
    return h ^ (h >> 31);
}

static u64 fold(const u64 *ring, i64 start, i64 width, i64 n) {
    u64 h = (u64)width;
    for (i64 j = 0; j < width; j++) h = h * FOLD + ring[(start + j) % n];
    return mix64(h);
}

static void powers(i64 n, u64 *k_top, u64 *k_width) {
    u64 k = 1;
    for (i64 i = 0; i < n - 1; i++) k *= FOLD;
    *k_top = k;
    *k_width = (u64)n * k * FOLD;
}

static uint8_t word_table[256];

static void init_word_table(void) {
    for (int b = 0; b < 256; b++) {
        if ((48 <= b && b <= 57) || (97 <= b && b <= 122) || b >= 128) word_table[b] = (uint8_t)b;
        else if (65 <= b && b <= 90) word_table[b] = (uint8_t)(b + 32);
        else word_table[b] = 0;
    }
}

/* Hashes of the normalised words of data[lo:hi] into out (branch-free per byte, as in
 * kernels._word_hashes_of); returns their count. */
static i64 word_hashes(const uint8_t *data, i64 lo, i64 hi, u64 *out) {
    u64 h = 0, inside = 0;
    i64 k = 0;
    for (i64 i = lo; i < hi; i++) {
        u64 c = word_table[data[i]];
        u64 w = c != 0;
        out[k] = h;
        k += (i64)(inside & (w ^ 1));
        h = (((h << 7) | (h >> 57)) ^ c) & (0 - w);
        inside = w;
    }
    out[k] = h;
    i64 m = k + (i64)inside;
    for (i64 j = 0; j < m; j++) out[j] = mix64(out[j]);
    return m;
}

static i64 word_shingles(const uint8_t *data, i64 lo, i64 hi, i64 n, u32 *buf, u64 *words, u64 *exact_out) {
    u64 k_top, k_width;
    powers(n, &k_top, &k_width);
    i64 m = word_hashes(data, lo, hi, words);
    i64 count = 0;
    u64 state = 0, exact = FNV_OFFSET;
    for (i64 w = 0; w < m; w++) {
        u64 h = words[w];
        if (w >= n) state -= words[w - n] * k_top;
        state = state * FOLD + h;
        exact = (exact ^ h) * FNV_PRIME;
        if (w + 1 >= n) buf[count++] = (u32)(mix64(k_width + state) >> 32);
    }
    if (0 < m && m < n) buf[count++] = (u32)(fold(words, 0, m, n) >> 32);
    *exact_out = m ? mix64(exact) : 0;
    return count;
}

static inline int word_byte(uint8_t b) {
    return (48 <= b && b <= 57) || (97 <= b && b <= 122) || (65 <= b && b <= 90) || b >= 128;
}

static i64 char_shingles(const uint8_t *data, i64 lo, i64 hi, i64 n, u64 *ring, u32 *buf, u64 *exact_out) {
    u64 k_top, k_width;
    powers(n, &k_top, &k_width);
    i64 count = 0, chars = 0, slot = 0;
    u64 state = 0, exact = FNV_OFFSET;
    int pending_space = 0;
    for (i64 i = lo; i < hi; i++) {
        uint8_t b = data[i];
        if (!word_byte(b)) {
            pending_space = chars > 0;
            continue;
        }
        u64 pair[2] = {32, (65 <= b && b <= 90) ? (u64)b + 32 : (u64)b};
        for (int t = 0; t < 2; t++) {
            u64 c = pair[t];
            if (t == 0 && !pending_space) continue;
            if (chars >= n) state -= ring[slot] * k_top;
            ring[slot] = c;
            slot = slot + 1 < n ? slot + 1 : 0;
            state = state * FOLD + c;
            exact = (exact ^ c) * FNV_PRIME;
            chars++;
            if (chars >= n) buf[count++] = (u32)(mix64(k_width + state) >> 32);
        }
        pending_space = 0;
    }
    if (0 < chars && chars < n) buf[count++] = (u32)(fold(ring, 0, chars, n) >> 32);
    *exact_out = chars ? mix64(exact) : 0;
    return count;
}

/* row[p] = min over the k values of xs of (a[p] * x + b[p]) mod 2^32, eight values a sweep. */
HOT static void min_hashes(u32 *restrict row, const u32 *restrict xs, i64 k, const u32 *restrict a,
                           const u32 *restrict b, i64 perms) {
    for (i64 p = 0; p < perms; p++) row[p] = EMPTY;
    i64 i = 0;
    for (; i + 8 <= k; i += 8) {
        u32 x1 = xs[i], x2 = xs[i + 1], x3 = xs[i + 2], x4 = xs[i + 3];
        u32 x5 = xs[i + 4], x6 = xs[i + 5], x7 = xs[i + 6], x8 = xs[i + 7];
        for (i64 p = 0; p < perms; p++) {
            u32 ap = a[p], bp = b[p];
            u32 v1 = ap * x1 + bp, v2 = ap * x2 + bp, v3 = ap * x3 + bp, v4 = ap * x4 + bp;
            u32 v5 = ap * x5 + bp, v6 = ap * x6 + bp, v7 = ap * x7 + bp, v8 = ap * x8 + bp;
            u32 m1 = v1 < v2 ? v1 : v2, m2 = v3 < v4 ? v3 : v4, m3 = v5 < v6 ? v5 : v6, m4 = v7 < v8 ? v7 : v8;
            m1 = m1 < m2 ? m1 : m2;
            m3 = m3 < m4 ? m3 : m4;
            m1 = m1 < m3 ? m1 : m3;
            row[p] = row[p] < m1 ? row[p] : m1;
        }
    }
    for (; i < k; i++) {
        u32 x = xs[i];
        for (i64 p = 0; p < perms; p++) {
            u32 v = a[p] * x + b[p];
            row[p] = row[p] < v ? row[p] : v;
        }
    }
}

/* least[p] = min(least[p], values[p]): SIMD (a loop of its own, so the compiler sees it whole) */
HOT static void lower_to(u32 *restrict least, const u32 *restrict values, i64 n) {
    for (i64 p = 0; p < n; p++) least[p] = least[p] < values[p] ? least[p] : values[p];
}

/* One permutation hashing (Li, Owen & Zhang 2012), kernels._one_permutation: h = a0 * x + b0
 * mod 2^32 of each of the k values of xs; row[bin] = the smallest h in its bin, the bin being h's
 * place among `perms` equal ranges. An empty bin p then takes the value of the first originally
 * filled bin in order[p] (a fixed permutation of the bins: optimal densification, Shrivastava 2017).
 * With many filled bins, each empty bin scans its order; with fewer (short texts), every bin at
 * once takes the least of keyed[j][p] = (j's place in order[p]) << 16 | j over the filled bins j,
 * a SIMD min per filled bin, where the scans would mispredict once a bin. */
HOT static void one_permutation(u32 *restrict row, const u32 *restrict xs, i64 k, u32 a0, u32 b0,
                                const uint16_t *restrict order, const u32 *restrict keyed, i64 perms) {
    for (i64 p = 0; p < perms; p++) row[p] = EMPTY;
    for (i64 i = 0; i < k; i++) {
        u32 h = a0 * xs[i] + b0;
        i64 bin = (i64)(((u64)h * (u64)perms) >> 32);
        u32 held = row[bin];
        row[bin] = h < held ? h : held;  /* no branch: whether h lowers its bin is unpredictable */
    }
    uint8_t full[1024];  /* perms <= 1024 (DedupConfig.num_perm) */
    i64 filled = 0;
    for (i64 p = 0; p < perms; p++) filled += full[p] = row[p] != EMPTY;
    if (filled == 0 || filled == perms) return;
    if (4 * filled < 3 * perms) {
        u32 least[1024];
        uint16_t bins[1024];
        for (i64 p = 0, f = 0; p < perms; p++) {
            least[p] = EMPTY;
            bins[f] = (uint16_t)p;  /* no branch: the filled bins, in order */
            f += full[p];
        }
        for (i64 f = 0; f < filled; f++) lower_to(least, keyed + (i64)bins[f] * perms, perms);
        for (i64 p = 0; p < perms; p++)
            if (!full[p]) row[p] = row[least[p] & 0xFFFF];
        return;
    }
    for (i64 p = 0; p < perms; p++) {
        if (full[p]) continue;
        const uint16_t *probe = order + p * perms;
        while (!full[*probe]) probe++;  /* ends: a filled bin is somewhere in the permutation */
        row[p] = row[*probe];
    }
}

static void band_row(const u32 *row, u64 *keys, i64 docs, i64 d, i64 bands, i64 rows, const u64 *mult) {
    for (i64 band = 0; band < bands; band++) {
        u64 h = (u64)(band + 1);
        for (i64 r = 0; r < rows; r++) h += (u64)row[band * rows + r] * mult[band * rows + r];
        keys[band * docs + d] = mix64(h);
    }
}

typedef struct {
    Py_buffer data, offsets, valid, a, b, order, mult, sig, keys, exact, counts, kept, kept_offsets;
} MinhashArgs;

/* minhash(data, offsets, valid, n, char_mode, a, b, order, keep, bands, rows, mult, sig, keys, exact,
 * counts, kept, kept_offsets, first_doc, pos) -> (doc, pos): runs kernels._minhash_kernel's loop
 * from `first_doc` with `pos` kept values so far; stops early at the first doc whose shingles
 * may not fit in `kept` (the caller grows it and calls again from there). */
static PyObject *minhash(PyObject *self, PyObject *args) {
    MinhashArgs x;
    Py_ssize_t n, bands, rows, first, pos;
    int char_mode, keep;
    memset(&x, 0, sizeof x);
    if (!PyArg_ParseTuple(args, "y*y*y*npy*y*y*pnny*w*w*w*w*w*w*nn", &x.data, &x.offsets, &x.valid, &n,
                          &char_mode, &x.a, &x.b, &x.order, &keep, &bands, &rows, &x.mult, &x.sig, &x.keys, &x.exact, &x.counts,
                          &x.kept, &x.kept_offsets, &first, &pos))
        return NULL;
    const uint8_t *data = x.data.buf, *valid = x.valid.buf;
    const i64 *offsets = x.offsets.buf;
    i64 docs = x.offsets.len / 8 - 1, perms = x.a.len / 4;
    u32 *sig = x.sig.buf, *kept = x.kept.buf;
    u64 *keys = x.keys.buf, *exact = x.exact.buf;
    i64 *counts = x.counts.buf, *kept_offsets = x.kept_offsets.buf;
    i64 room = x.kept.len / 4, longest = 1, d = first;
    for (i64 i = first; i < docs; i++) {
        i64 len = offsets[i + 1] - offsets[i] + 2;
        if (len > longest) longest = len;
    }
    u32 *buf = malloc(sizeof(u32) * longest * 2);
    u64 *words = malloc(sizeof(u64) * longest), *ring = calloc(n > 1 ? n : 1, sizeof(u64));
    int failed = !buf || !words || !ring;
    /* the order table: perms x perms bin numbers (uint16), or none for `perms` permutations */
    int bad_order = x.order.len && (perms > 1024 || x.order.len != (Py_ssize_t)(perms * perms * 2));
    u32 *keyed = x.order.len && !bad_order ? malloc(sizeof(u32) * perms * perms) : NULL;
    failed |= x.order.len && !bad_order && !keyed;
    if (keyed) {  /* keyed[j][p]: bin j's place in order[p], then j */
        const uint16_t *order = x.order.buf;
        for (i64 p = 0; p < perms; p++)
            for (i64 t = 0; t < perms; t++) {
                u32 j = order[p * perms + t];
                keyed[j * perms + p] = ((u32)t << 16) | j;
            }
    }
    if (!failed && !bad_order) {
        Py_BEGIN_ALLOW_THREADS
        for (; d < docs; d++) {
            u32 *target = buf;
            if (keep) {
                i64 need = 2 * (offsets[d + 1] - offsets[d] + 2);
                if (pos + need > room) break;
                target = kept + pos;
            }
            i64 k = 0;
            if (valid[d]) {
                k = char_mode ? char_shingles(data, offsets[d], offsets[d + 1], n, ring, target, &exact[d])
                              : word_shingles(data, offsets[d], offsets[d + 1], n, target, words, &exact[d]);
            }
            counts[d] = k;
            u32 *row = bands ? sig : sig + d * perms;
            if (keyed)
                one_permutation(row, target, k, ((u32 *)x.a.buf)[0], ((u32 *)x.b.buf)[0], x.order.buf, keyed, perms);
            else
                min_hashes(row, target, k, x.a.buf, x.b.buf, perms);
            if (bands) band_row(row, keys, docs, d, bands, rows, x.mult.buf);
            if (keep) {
                pos += k;
                kept_offsets[d + 1] = pos;
            }
        }
        Py_END_ALLOW_THREADS
    }
    free(buf);
    free(words);
    free(ring);
    free(keyed);
    Py_buffer *all[] = {&x.data, &x.offsets, &x.valid, &x.a, &x.b, &x.order, &x.mult, &x.sig, &x.keys, &x.exact,
                        &x.counts, &x.kept, &x.kept_offsets};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) PyBuffer_Release(all[i]);
    if (failed) return PyErr_NoMemory();
    if (bad_order) {
        PyErr_SetString(PyExc_ValueError, "order must hold perms x perms bins (perms <= 1024)");
        return NULL;
    }
    return Py_BuildValue("nn", (Py_ssize_t)d, pos);
}

/* bag_jaccard(offs, values, left, right, out): jaccard_kernels._bag_jaccard_kernel (exact Jaccard of
 * the distinct values of two unsorted slices, per pair, through one stamped hash table). */
static PyObject *bag_jaccard(PyObject *self, PyObject *args) {
    Py_buffer bo, bv, bl, br, bout;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*", &bo, &bv, &bl, &br, &bout)) return NULL;
    const i64 *offs = bo.buf, *left = bl.buf, *right = br.buf;
    const u32 *values = bv.buf;
    double *out = bout.buf;
    i64 pairs = bl.len / 8, longest = 1, size = 16;
    for (i64 e = 0; e < pairs; e++) {
        i64 both = offs[left[e] + 1] - offs[left[e]] + offs[right[e] + 1] - offs[right[e]];
        if (both > longest) longest = both;
    }
    while (size < 2 * longest) size *= 2;
    i64 mask = size - 1;
    u32 *slots = calloc(size, sizeof(u32));
    i64 *stamps = malloc(sizeof(i64) * size);
    int failed = !slots || !stamps;
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS
        for (i64 j = 0; j < size; j++) stamps[j] = -1;
        for (i64 e = 0; e < pairs; e++) {
            i64 base = 3 * e, distinct_left = 0, common = 0, right_only = 0;
            for (int side = 0; side < 2; side++) {
                i64 u = side ? right[e] : left[e];
                for (i64 i = offs[u]; i < offs[u + 1]; i++) {
                    u32 v = values[i];
                    i64 j = (i64)(((u64)v * FOLD) >> 40) & mask;
                    while (stamps[j] >= base && slots[j] != v) j = (j + 1) & mask;
                    if (stamps[j] < base) {
                        slots[j] = v;
                        stamps[j] = side ? base + 2 : base;
                        if (side) right_only++;
                        else distinct_left++;
                    } else if (side && stamps[j] == base) {
                        stamps[j] = base + 1;
                        common++;
                    }
                }
            }
            i64 uni = distinct_left + right_only;
            out[e] = uni ? (double)common / (double)uni : 1.0;
        }
        Py_END_ALLOW_THREADS
    }
    free(slots);
    free(stamps);
    PyBuffer_Release(&bo);
    PyBuffer_Release(&bv);
    PyBuffer_Release(&bl);
    PyBuffer_Release(&br);
    PyBuffer_Release(&bout);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* bucket_partition(keys, ids, keys_out, ids_out, counts, shift): the stable counting sort of
 * cluster._bucket_edges (partitions by the keys' top `shift` bits); counts: int64[parts + 1],
 * zeroed, becomes the partitions' bounds. ids are 8-byte integers, read as uint64. */
static PyObject *bucket_partition(PyObject *self, PyObject *args) {
    Py_buffer bk, bi, bko, bio, bc;
    int shift;
    if (!PyArg_ParseTuple(args, "y*y*w*w*w*i", &bk, &bi, &bko, &bio, &bc, &shift)) return NULL;
    const u64 *keys = bk.buf, *ids = bi.buf;
    u64 *keys_out = bko.buf, *ids_out = bio.buf;
    i64 *counts = bc.buf, n = bk.len / 8, parts = (i64)1 << shift;
    i64 *fill = malloc(sizeof(i64) * parts);
    if (fill) {
        Py_BEGIN_ALLOW_THREADS
        int top = 64 - shift;
        for (i64 i = 0; i < n; i++) counts[(shift ? (i64)(keys[i] >> top) : 0) + 1]++;
        for (i64 p = 0; p < parts; p++) counts[p + 1] += counts[p];
        memcpy(fill, counts, sizeof(i64) * parts);
        for (i64 i = 0; i < n; i++) {
            i64 p = shift ? (i64)(keys[i] >> top) : 0;
            keys_out[fill[p]] = keys[i];
            ids_out[fill[p]] = ids[i];
            fill[p]++;
        }
        Py_END_ALLOW_THREADS
    }
    free(fill);
    PyBuffer_Release(&bk);
    PyBuffer_Release(&bi);
    PyBuffer_Release(&bko);
    PyBuffer_Release(&bio);
    PyBuffer_Release(&bc);
    if (!fill) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* One partition of cluster._bucket_run: appends edges from k on; returns the new count. */
static i64 bucket_run(const u64 *keys, const u64 *ids, i64 n, u64 *slots, i64 mask, i64 *left, i64 *right, i64 k) {
    const u64 low = 0xFFFFFFFFULL;
    for (i64 i = 0; i < n; i++) {
        u64 key = keys[i];
        i64 j = (i64)((key * FOLD) >> 32) & mask;
        while (slots[2 * j + 1] != 0 && slots[2 * j] != key) j = (j + 1) & mask;
        i64 member = (i64)ids[i];
        u64 tag = (u64)(member + 1), meta = slots[2 * j + 1];
        if (meta == 0) {
            slots[2 * j] = key;
            slots[2 * j + 1] = (tag << 32) | tag;
        } else {
            i64 first = (i64)(meta >> 32) - 1, latest = (i64)(meta & low) - 1;
            left[k] = first;
            right[k++] = member;
            if (latest != first) {
                left[k] = latest;
                right[k++] = member;
            }
            slots[2 * j + 1] = (meta & ~low) | tag;
        }
    }
    return k;
}

/* bucket_runs(keys, ids, counts, first_part, slots, left, right, k) -> (part, k): the edges of
 * partitions from `first_part` on; stops at the first partition whose edges may not fit in
 * left/right (the caller grows them and calls again from there). */
static PyObject *bucket_runs(PyObject *self, PyObject *args) {
    Py_buffer bk, bi, bc, bs, bl, br;
    Py_ssize_t p, k;
    if (!PyArg_ParseTuple(args, "y*y*y*nw*w*w*n", &bk, &bi, &bc, &p, &bs, &bl, &br, &k)) return NULL;
    const u64 *keys = bk.buf, *ids = bi.buf;
    const i64 *counts = bc.buf;
    u64 *slots = bs.buf;
    i64 *left = bl.buf, *right = br.buf, parts = bc.len / 8 - 1, room = bl.len / 8, size = bs.len / 16;
    Py_BEGIN_ALLOW_THREADS
    for (; p < parts; p++) {
        i64 lo = counts[p], hi = counts[p + 1];
        if (hi - lo > 1) {
            if (k + 2 * (hi - lo) > room) break;
            memset(slots, 0, sizeof(u64) * 2 * size);
            k = bucket_run(keys + lo, ids + lo, hi - lo, slots, size - 1, left, right, k);
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bk);
    PyBuffer_Release(&bi);
    PyBuffer_Release(&bc);
    PyBuffer_Release(&bs);
    PyBuffer_Release(&bl);
    PyBuffer_Release(&br);
    return Py_BuildValue("nn", p, k);
}

/* union_find(parent, left, right): cluster._union_find on `parent` (int64, 0..n-1 on entry):
 * every unit's root, the smallest index of its component. */
static PyObject *union_find(PyObject *self, PyObject *args) {
    Py_buffer bp, bl, br;
    if (!PyArg_ParseTuple(args, "w*y*y*", &bp, &bl, &br)) return NULL;
    i64 *parent = bp.buf, n = bp.len / 8, edges = bl.len / 8;
    const i64 *left = bl.buf, *right = br.buf;
    Py_BEGIN_ALLOW_THREADS
    for (i64 e = 0; e < edges; e++) {
        i64 a = left[e], b = right[e];
        while (parent[a] != a) {
            parent[a] = parent[parent[a]];
            a = parent[a];
        }
        while (parent[b] != b) {
            parent[b] = parent[parent[b]];
            b = parent[b];
        }
        if (a < b) parent[b] = a;
        else if (b < a) parent[a] = b;
    }
    for (i64 i = 0; i < n; i++) {
        i64 r = i;
        while (parent[r] != r) r = parent[r];
        parent[i] = r;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bp);
    PyBuffer_Release(&bl);
    PyBuffer_Release(&br);
    Py_RETURN_NONE;
}

/* read_slices(fd, base, starts, stops, targets, out) -> bytes short: cluster._read_slices' loop of
 * preads, the GIL released (a Python loop of one pread a unit held it: threads did not help).
 * Values are uint32; starts, stops and targets count values; returns -1 when all were read, else
 * the index of the slice the file ended in (errno set on an error, 0 at end of file). */
static PyObject *read_slices(PyObject *self, PyObject *args) {
    int fd;
    long long base;
    Py_buffer bs, be, bt, bo;
    if (!PyArg_ParseTuple(args, "iLy*y*y*w*", &fd, &base, &bs, &be, &bt, &bo)) return NULL;
    const i64 *starts = bs.buf, *stops = be.buf, *targets = bt.buf;
    char *out = bo.buf;
    i64 n = bs.len / 8, failed = -1;
    int error = 0;
    Py_BEGIN_ALLOW_THREADS
    for (i64 i = 0; i < n && failed < 0; i++) {
        i64 size = (stops[i] - starts[i]) * 4, done = 0, at = base + starts[i] * 4;
        char *into = out + targets[i] * 4;
        while (done < size) {
            ssize_t got = pread(fd, into + done, (size_t)(size - done), (off_t)(at + done));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                failed = i;
                error = got < 0 ? errno : 0;
                break;
            }
            done += got;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bs);
    PyBuffer_Release(&be);
    PyBuffer_Release(&bt);
    PyBuffer_Release(&bo);
    if (error) {
        errno = error;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLongLong(failed);
}

static PyMethodDef methods[] = {
    {"minhash", minhash, METH_VARARGS, "kernels._minhash_kernel's loop (see curate/dedup/native.py)."},
    {"bag_jaccard", bag_jaccard, METH_VARARGS, "jaccard_kernels._bag_jaccard_kernel into a float64 buffer."},
    {"bucket_partition", bucket_partition, METH_VARARGS, "cluster._bucket_edges' partitioning."},
    {"bucket_runs", bucket_runs, METH_VARARGS, "cluster._bucket_run over partitions."},
    {"union_find", union_find, METH_VARARGS, "cluster._union_find in place."},
    {"read_slices", read_slices, METH_VARARGS, "cluster._read_slices' preads, without the GIL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "curate's dedup kernels in C.", -1, methods};

PyMODINIT_FUNC PyInit__native(void) {
    init_word_table();
    return PyModule_Create(&module);
}
