// Plane coding of 4- and 8-byte elements in one pass with AVX-512, 64 elements at a time in
// registers: predicted and split into byte planes when a block is encoded, and read from the
// planes with the prediction undone when it is decoded (planes.cc calls these on each step; the
// shuffle and the predictor on their own are in shuffle.cc and predict.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "predict.h"

namespace cr {

// Encodes the first elements of a step: byte b of element i of src (sizeof(T) bytes,
// little-endian, any alignment) to byte i of planes[b], after p's prediction (Forward's, with
// p1, p2 carried the same way). T is uint32_t or uint64_t. Returns how many it encoded: a multiple
// of 64, 0 where the CPU lacks AVX-512 (CpuHasAvx512).
template <typename T>
size_t PredictShuffle(const uint8_t* src, size_t count, Predictor p, uint8_t* const* planes, T& p1,
                      T& p2);

// Restores the first elements of a step: element i of `out` (sizeof(T) bytes, little-endian)
// from byte i of planes[0..sizeof(T) - 1], with p's prediction undone and p1, p2 carried as
// Inverse carries them. T is uint32_t or uint64_t. Returns how many it restored: a multiple of
// 64, 0 where the CPU lacks AVX-512 (CpuHasAvx512).
template <typename T>
size_t UnshuffleInverse(const uint8_t* const* planes, size_t count, Predictor p, uint8_t* out,
                        T& p1, T& p2);

}  // namespace cr
