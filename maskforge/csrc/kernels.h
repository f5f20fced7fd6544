/* maskforge._native: the kernels shared between the C files of the optional extension. */
#ifndef MASKFORGE_KERNELS_H
#define MASKFORGE_KERNELS_H

#include <stdint.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MASKFORGE_X86 1
#endif

/* Scattered reads and writes ask for their cache line this many indices ahead (the indices are
 * known in advance; measured on sorted drops: 5.5 ms -> 4.1 ms for four targets). */
#define PREFETCH_AHEAD 32
#if defined(__GNUC__)
#define PREFETCH_READ(address) __builtin_prefetch((address), 0, 3)
#define PREFETCH_WRITE(address) __builtin_prefetch((address), 1, 3)
#else
#define PREFETCH_READ(address) ((void)0)
#define PREFETCH_WRITE(address) ((void)0)
#endif

/* The entry listed PREFETCH_AHEAD places after k in index (m entries), or -1 when there is none
 * or it is out of range (0..n-1): the cache line a scattered kernel asks for ahead. */
static inline int64_t index_ahead(const int64_t *index, int64_t k, int64_t m, int64_t n) {
    if (k + PREFETCH_AHEAD >= m) return -1;
    int64_t ahead = index[k + PREFETCH_AHEAD];
    return (uint64_t)ahead < (uint64_t)n ? ahead : -1;
}

/* reach.c: the grower's candidate scan (see there). */
typedef int64_t (*reach_kernel)(const float *x, int64_t n, const uint8_t *excl, float bound, int largest,
                                int magnitude, int64_t *pos, float *val, int64_t cap, int64_t offset);

/* Fills names/kernels with the scan kernels this CPU runs, the fastest first; returns how many. */
int reach_kernels(const char **names, reach_kernel *kernels, int room);

/* out[k] = |x[index[k]]| for the m indices; returns how many are NaN (indices out of range are
 * counted in *out_of_range and give 0). */
int64_t gather_magnitudes(const float *x, int64_t n, const int64_t *index, int64_t m, float *out, int64_t *out_of_range);

/* Scores at `draws` positions drawn uniformly (with replacement, from `seed`) among the n at x,
 * leaving out NaN and excluded entries; writes them to out (room for `draws`), returns how many. */
int64_t sample_scores(const float *x, int64_t n, const uint8_t *excl, int64_t draws, uint64_t seed, int magnitude,
                      float *out);

/* apply.c: the engine's writes at the changed entries of one tensor (see there). */
int64_t mark_flags(uint8_t *flags, int64_t n, const int64_t *index, int64_t m, float *ones, int64_t *out_of_range);
int64_t clear_left(const uint8_t *after, int64_t n, const int64_t *drops, int64_t m, float *const *targets,
                   int n_targets, int64_t *out_of_range);
int64_t replace_at(const int64_t *old, int64_t n, const int64_t *positions, const int64_t *values, int64_t m,
                   int64_t *out);

#endif
