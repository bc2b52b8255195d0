// Which vector paths the addon has, decided in one place. The build assumes only the baseline of
// x86-64 (SSE2). AVX2 and AVX-512 paths are compiled for x86-64 by GCC or Clang into functions
// marked CR_AVX2 or CR_AVX512, and taken only where CpuHasAvx2() or CpuHasAvx512() says the CPU
// (and the operating system, which must save the wider registers) runs them.
//
// CR_SIMD=sse2 or CR_SIMD=avx2 in the environment caps these paths (cr's own kernels; xxHash and
// zstd choose theirs), read once at the first call: the tests run the narrower paths this way on
// a machine that has the wider ones. Other values leave the CPU's widest (src/native/binding.ts
// warns about them).
#pragma once

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define CR_SSE2 1
#endif

#if CR_SSE2 && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns that its own AVX-512 intrinsics read an uninitialized value (its bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
#define CR_HAS_AVX2_PATHS 1
#define CR_AVX2 __attribute__((target("avx2")))
#define CR_AVX512 __attribute__((target("avx512f,avx512bw,avx512vbmi")))
#endif

namespace cr {

// Whether this CPU runs the CR_AVX2 functions (false where none are compiled). Checked once.
bool CpuHasAvx2();
// Whether it runs the CR_AVX512 ones: AVX-512 F, BW and VBMI (byte permutes across the register).
bool CpuHasAvx512();
// The widest of "avx512", "avx2" and "sse2" taken ("none" off x86-64).
const char* SimdPaths();

}  // namespace cr
