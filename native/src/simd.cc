#include "simd.h"

#include <cstdlib>
#include <cstring>

namespace cr {

namespace {

enum class Level { kSse2, kAvx2, kAvx512 };

// The widest level both the CPU and CR_SIMD allow. __builtin_cpu_supports also checks that the
// operating system saves the AVX and AVX-512 registers.
Level Allowed() {
#if CR_HAS_AVX2_PATHS
  __builtin_cpu_init();
  Level level = Level::kSse2;
  if (__builtin_cpu_supports("avx2")) level = Level::kAvx2;
  if (level == Level::kAvx2 && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi")) {
    level = Level::kAvx512;
  }
  const char* cap = std::getenv("CR_SIMD");
  if (cap != nullptr && std::strcmp(cap, "sse2") == 0) return Level::kSse2;
  if (cap != nullptr && std::strcmp(cap, "avx2") == 0 && level == Level::kAvx512) return Level::kAvx2;
  return level;
#else
  return Level::kSse2;
#endif
}

Level Current() {
  static const Level level = Allowed();
  return level;
}

}  // namespace

bool CpuHasAvx2() { return Current() != Level::kSse2; }

bool CpuHasAvx512() { return Current() == Level::kAvx512; }

const char* SimdPaths() {
#if CR_SSE2
  switch (Current()) {
    case Level::kAvx512: return "avx512";
    case Level::kAvx2: return "avx2";
    default: return "sse2";
  }
#else
  return "none";
#endif
}

}  // namespace cr
