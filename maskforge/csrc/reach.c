/* The grower's candidate scan in one pass (part of the optional extension maskforge._native).
 *
 * reach() finds, in a float32 array x of n entries, the positions of the entries that are not
 * excluded and whose score (x, or |x| with magnitude) reaches a bound (>= bound when largest,
 * <= bound otherwise; NaN never does), in increasing order, and writes their positions (plus
 * offset) and scores. It is what maskforge.index_selection does with torch and numpy in five
 * passes per cache-sized piece (abs, compare, exclusion, compaction, gather); here the
 * compaction is branch-free, so a scattered hit costs no mispredicted branch.
 *
 * Three kernels compute the same thing: AVX-512 (compress instructions), AVX2 (a lookup table
 * of lane permutations) and portable C; the best one the CPU supports is picked at import time,
 * and tests compare every supported one with the pure Python path. Pointers come from the
 * Python wrapper (maskforge/native.py), which checks dtypes, sizes and contiguity.
 */
#include <math.h>
#include <stdint.h>

#include "kernels.h"

#ifdef MASKFORGE_X86
#include <immintrin.h>
#endif

/* Entries after the last whole block, and every entry once the output is nearly full: written
 * while there is room, counted always. */
static int64_t reach_tail(const float *x, int64_t i, int64_t n, const uint8_t *excl, float bound, int largest,
                          int magnitude, int64_t *pos, float *val, int64_t cap, int64_t offset, int64_t j) {
    for (; i < n; i++) {
        float a = magnitude ? fabsf(x[i]) : x[i];
        int hit = largest ? (a >= bound) : (a <= bound);
        if (excl && excl[i]) hit = 0;
        if (hit) {
            if (j < cap) {
                pos[j] = i + offset;
                val[j] = a;
            }
            j++;
        }
    }
    return j;
}

#define BLOCK 256

static int64_t reach_portable(const float *x, int64_t n, const uint8_t *excl, float bound, int largest, int magnitude,
                              int64_t *pos, float *val, int64_t cap, int64_t offset) {
    int64_t i = 0, j = 0;
    /* Branch-free: every entry is written at the next free slot, which advances only on a hit;
     * a whole block fits below cap, so no write goes past it. */
    for (; i + BLOCK <= n && j + BLOCK <= cap; i += BLOCK) {
        for (int64_t t = i; t < i + BLOCK; t++) {
            float a = magnitude ? fabsf(x[t]) : x[t];
            int hit = largest ? (a >= bound) : (a <= bound);
            if (excl) hit &= excl[t] == 0;
            pos[j] = t + offset;
            val[j] = a;
            j += hit;
        }
    }
    return reach_tail(x, i, n, excl, bound, largest, magnitude, pos, val, cap, offset, j);
}

#ifdef MASKFORGE_X86

__attribute__((target("avx512f,avx512bw,avx512vl,popcnt")))
static int64_t reach_avx512(const float *x, int64_t n, const uint8_t *excl, float bound, int largest, int magnitude,
                            int64_t *pos, float *val, int64_t cap, int64_t offset) {
    const __m512 b = _mm512_set1_ps(bound);
    const __m512i abs_bits = _mm512_set1_epi32(0x7fffffff);
    const __m512i lanes_lo = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i lanes_hi = _mm512_set_epi64(15, 14, 13, 12, 11, 10, 9, 8);
    const int predicate = largest ? _CMP_GE_OQ : _CMP_LE_OQ; /* ordered: NaN compares false */
    int64_t i = 0, j = 0;
    for (; i + 16 <= n && j + 16 <= cap; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        if (magnitude) v = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), abs_bits));
        __mmask16 hit = predicate == _CMP_GE_OQ ? _mm512_cmp_ps_mask(v, b, _CMP_GE_OQ)
                                                : _mm512_cmp_ps_mask(v, b, _CMP_LE_OQ);
        if (excl) hit &= _mm_cmpeq_epi8_mask(_mm_loadu_si128((const __m128i *)(excl + i)), _mm_setzero_si128());
        __m512i at = _mm512_set1_epi64(i + offset);
        __mmask8 lo = (__mmask8)hit, hi = (__mmask8)(hit >> 8);
        _mm512_storeu_ps(val + j, _mm512_maskz_compress_ps(hit, v));
        _mm512_storeu_si512(pos + j, _mm512_maskz_compress_epi64(lo, _mm512_add_epi64(at, lanes_lo)));
        _mm512_storeu_si512(pos + j + __builtin_popcount(lo), _mm512_maskz_compress_epi64(hi, _mm512_add_epi64(at, lanes_hi)));
        j += __builtin_popcount(hit);
    }
    return reach_tail(x, i, n, excl, bound, largest, magnitude, pos, val, cap, offset, j);
}

/* For each 8-bit hit mask, the lanes of its set bits first (a left-pack permutation). */
static int32_t left_pack[256][8] __attribute__((aligned(32)));

static void build_left_pack(void) {
    for (int m = 0; m < 256; m++) {
        int k = 0;
        for (int lane = 0; lane < 8; lane++)
            if (m & (1 << lane)) left_pack[m][k++] = lane;
        for (; k < 8; k++) left_pack[m][k] = 0;
    }
}

__attribute__((target("avx2,popcnt")))
static int64_t reach_avx2(const float *x, int64_t n, const uint8_t *excl, float bound, int largest, int magnitude,
                          int64_t *pos, float *val, int64_t cap, int64_t offset) {
    const __m256 b = _mm256_set1_ps(bound);
    const __m256 abs_bits = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    int64_t i = 0, j = 0;
    for (; i + 8 <= n && j + 8 <= cap; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        if (magnitude) v = _mm256_and_ps(v, abs_bits);
        int hit = _mm256_movemask_ps(largest ? _mm256_cmp_ps(v, b, _CMP_GE_OQ) : _mm256_cmp_ps(v, b, _CMP_LE_OQ));
        if (excl) {
            __m128i flags = _mm_loadl_epi64((const __m128i *)(excl + i));
            hit &= _mm_movemask_epi8(_mm_cmpeq_epi8(flags, _mm_setzero_si128())) & 0xff;
        }
        __m256i lanes = _mm256_load_si256((const __m256i *)left_pack[hit]);
        __m256i at = _mm256_set1_epi64x(i + offset);
        _mm256_storeu_ps(val + j, _mm256_permutevar8x32_ps(v, lanes));
        _mm256_storeu_si256((__m256i *)(pos + j), _mm256_add_epi64(at, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(lanes))));
        _mm256_storeu_si256((__m256i *)(pos + j + 4), _mm256_add_epi64(at, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(lanes, 1))));
        j += __builtin_popcount(hit);
    }
    return reach_tail(x, i, n, excl, bound, largest, magnitude, pos, val, cap, offset, j);
}

#endif /* MASKFORGE_X86 */

int64_t gather_magnitudes(const float *x, int64_t n, const int64_t *index, int64_t m, float *out, int64_t *out_of_range) {
    int64_t nan = 0, bad = 0;
    for (int64_t k = 0; k < m; k++) {
        int64_t ahead = index_ahead(index, k, m, n);
        if (ahead >= 0) PREFETCH_READ(x + ahead);
        uint64_t i = (uint64_t)index[k];
        if (i >= (uint64_t)n) {
            bad++;
            out[k] = 0.0f;
            continue;
        }
        float v = fabsf(x[i]);
        out[k] = v;
        nan += v != v;
    }
    *out_of_range = bad;
    return nan;
}

/* splitmix64: a small, well-mixed generator for the sample's positions. */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int64_t sample_scores(const float *x, int64_t n, const uint8_t *excl, int64_t draws, uint64_t seed, int magnitude,
                      float *out) {
    uint64_t state = seed;
    int64_t found = 0;
    if (n <= 0) return 0;
    for (int64_t k = 0; k < draws; k++) {
        /* a position in [0, n): the high half of a 64 x 64-bit product (Lemire's reduction) */
#ifdef __SIZEOF_INT128__
        uint64_t at = (uint64_t)(((unsigned __int128)next_random(&state) * (uint64_t)n) >> 64);
#else
        uint64_t at = next_random(&state) % (uint64_t)n;
#endif
        float v = magnitude ? fabsf(x[at]) : x[at];
        if (v != v || (excl && excl[at])) continue; /* NaN, or excluded */
        out[found++] = v;
    }
    return found;
}

int reach_kernels(const char **names, reach_kernel *kernels, int room) {
    int k = 0;
#ifdef MASKFORGE_X86
    __builtin_cpu_init();
    build_left_pack();
    if (k < room && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
        names[k] = "avx512";
        kernels[k++] = reach_avx512;
    }
    if (k < room && __builtin_cpu_supports("avx2")) {
        names[k] = "avx2";
        kernels[k++] = reach_avx2;
    }
#endif
    if (k < room) {
        names[k] = "portable";
        kernels[k++] = reach_portable;
    }
    return k;
}
