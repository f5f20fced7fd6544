/* maskforge._native: the kernels shared between the C files of the optional extension. */
#ifndef MASKFORGE_KERNELS_H
#define MASKFORGE_KERNELS_H

#include <stdint.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MASKFORGE_X86 1
#endif

/* reach.c: the grower's candidate scan (see there). */
typedef int64_t (*reach_kernel)(const float *x, int64_t n, const uint8_t *excl, float bound, int largest,
                                int magnitude, int64_t *pos, float *val, int64_t cap, int64_t offset);

/* Fills names/kernels with the scan kernels this CPU runs, the fastest first; returns how many. */
int reach_kernels(const char **names, reach_kernel *kernels, int room);

/* Scores at `draws` positions drawn uniformly (with replacement, from `seed`) among the n at x,
 * leaving out NaN and excluded entries; writes them to out (room for `draws`), returns how many. */
int64_t sample_scores(const float *x, int64_t n, const uint8_t *excl, int64_t draws, uint64_t seed, int magnitude,
                      float *out);

/* apply.c: the engine's writes at the changed entries of one tensor (see there). */
int64_t mark_flags(uint8_t *flags, int64_t n, const int64_t *index, int64_t m, float *ones, int64_t *out_of_range);
int64_t clear_left(const uint8_t *after, int64_t n, const int64_t *drops, int64_t m, float *const *targets,
                   int n_targets, int64_t *out_of_range);

#endif
