#include "simd.h"

namespace cr {

bool CpuHasAvx2() {
#if CR_HAS_AVX2_PATHS
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
#else
  return false;
#endif
}

}  // namespace cr
