// Plane-coded blocks of 4- and 8-byte elements restored in one pass with AVX-512: a group of 64
// elements is read from its byte planes, its predictor undone and written out, all in registers
// (planes.cc calls it on each step; the shuffle and the inverse on their own are in shuffle.cc
// and predict.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "predict.h"

namespace cr {

// Restores the first elements of a step: element i of `out` (sizeof(T) bytes, little-endian)
// from byte i of planes[0..sizeof(T) - 1], with p's prediction undone and p1, p2 carried as
// Inverse carries them. T is uint32_t or uint64_t. Returns how many it restored: a multiple of
// 64, 0 where the CPU lacks AVX-512 (CpuHasAvx512).
template <typename T>
size_t UnshuffleInverse(const uint8_t* const* planes, size_t count, Predictor p, uint8_t* out,
                        T& p1, T& p2);

}  // namespace cr
