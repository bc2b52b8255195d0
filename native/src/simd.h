// Which vector paths the addon has, decided in one place. The build assumes only the baseline of
// x86-64 (SSE2). AVX2 paths are compiled for x86-64 by GCC or Clang into functions marked
// CR_AVX2, and taken only where CpuHasAvx2() says the CPU runs them.
#pragma once

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define CR_SSE2 1
#endif

#if CR_SSE2 && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CR_HAS_AVX2_PATHS 1
#define CR_AVX2 __attribute__((target("avx2")))
#endif

namespace cr {

// Whether this CPU runs the CR_AVX2 functions (false where none are compiled). Checked once.
bool CpuHasAvx2();

}  // namespace cr
