/* The sparse engine's writes at the changed entries of one tensor, one pass per index (part of
 * the optional extension maskforge._native).
 *
 * A mask update writes several tensors at the same scattered entries: the new boolean mask and
 * the ever-active record at the grown ones (each first read, to check and to count), and the
 * float mask, the weight and every optimizer state at the dropped ones that really leave. With
 * torch that is one index_fill_ or index_select per tensor, plus the compactions that find which
 * dropped entries leave; here each index is walked once. Every index is checked against the
 * tensor's size (an entry out of range is skipped and counted, and the caller raises), so a bad
 * index cannot write outside a tensor. The Python wrapper is maskforge/native.py.
 */
#include <stdint.h>
#include <string.h>

#include "kernels.h"

/* flags[index[k]] = 1 (and ones[index[k]] = 1.0 when ones is not NULL) for every k; returns how
 * many flags were set already (an entry listed twice counts once more). */
int64_t mark_flags(uint8_t *flags, int64_t n, const int64_t *index, int64_t m, float *ones, int64_t *out_of_range) {
    int64_t already = 0, bad = 0;
    for (int64_t k = 0; k < m; k++) {
        int64_t ahead = index_ahead(index, k, m, n);
        if (ahead >= 0) {
            PREFETCH_WRITE(flags + ahead);
            if (ones) PREFETCH_WRITE(ones + ahead);
        }
        uint64_t i = (uint64_t)index[k];
        if (i >= (uint64_t)n) {
            bad++;
            continue;
        }
        already += flags[i] != 0;
        flags[i] = 1;
        if (ones) ones[i] = 1.0f;
    }
    *out_of_range = bad;
    return already;
}

/* For every dropped entry that is not active in `after` (the new mask, grown entries set), write
 * 0.0 at it in each target. Returns how many entries left. */
int64_t clear_left(const uint8_t *after, int64_t n, const int64_t *drops, int64_t m, float *const *targets,
                   int n_targets, int64_t *out_of_range) {
    int64_t left = 0, bad = 0;
    for (int64_t k = 0; k < m; k++) {
        int64_t ahead = index_ahead(drops, k, m, n);
        if (ahead >= 0) {
            PREFETCH_READ(after + ahead);
            for (int t = 0; t < n_targets; t++) PREFETCH_WRITE(targets[t] + ahead);
        }
        uint64_t i = (uint64_t)drops[k];
        if (i >= (uint64_t)n) {
            bad++;
            continue;
        }
        if (after[i]) continue; /* dropped and regrown by the same update: kept as it is */
        for (int t = 0; t < n_targets; t++) targets[t][i] = 0.0f;
        left++;
    }
    *out_of_range = bad;
    return left;
}

/* out = old with out[positions[k]] = values[k]: the mask's new active index, the grown entries in
 * the dropped ones' places. positions must be strictly increasing and below n (returns -1, and
 * out is incomplete, when they are not: the caller takes another path). One copy, then one
 * forward walk. */
int64_t replace_at(const int64_t *old, int64_t n, const int64_t *positions, const int64_t *values, int64_t m,
                   int64_t *out) {
    memcpy(out, old, (size_t)n * sizeof(int64_t));
    int64_t next = 0; /* the lowest position allowed next */
    for (int64_t k = 0; k < m; k++) {
        int64_t at = positions[k];
        if (at < next || at >= n) return -1; /* not increasing, repeated or out of range */
        out[at] = values[k];
        next = at + 1;
    }
    return n;
}
