// Plane-coded blocks of 8-byte elements restored in one pass with AVX-512: a group of 64
// elements is read from its eight byte planes, its predictor undone and written out, all in
// registers (planes.cc calls it on each step; the shuffle and the inverse on their own are in
// shuffle.cc and predict.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "predict.h"

namespace cr {

// Restores the first elements of a step: element i of `out` (8 bytes, little-endian) from byte
// i of planes[0..7], with p's prediction undone and p1, p2 carried as Inverse carries them.
// Returns how many it restored: a multiple of 64,
// 0 where the CPU lacks AVX-512 (CpuHasAvx512).
size_t UnshuffleInverse8(const uint8_t* const* planes, size_t count, Predictor p, uint8_t* out,
                         uint64_t& p1, uint64_t& p2);

}  // namespace cr
