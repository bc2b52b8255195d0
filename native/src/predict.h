// The predictors of plane-coded blocks (docs/image-format.md, "Plane-coded blocks"): each element
// is replaced by its difference from a prediction, the previous element (delta) or the line
// through the two before it (line), zigzagged so that a small difference of either sign leaves
// the high bytes zero. Elements are read as little-endian unsigned integers; the arithmetic wraps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace cr {

enum class Predictor : uint8_t { kNone = 0, kDelta = 1, kLine = 2 };

// Elements plane coding handles per step (planes.cc: hash, predict and shuffle, or unshuffle,
// restore and hash), and the most one Forward call takes. A step holds its input, Forward's copy
// of it and the residuals: 8 KiB each for 8-byte elements fit a 48 KiB L1 with the planes' lines;
// at 2048 elements the encode took 4-6% more CPU.
constexpr size_t kStepElements = 1024;

template <typename T>
T Zig(T r) {
  using S = std::make_signed_t<T>;
  return static_cast<T>(static_cast<T>(r << 1) ^
                        static_cast<T>(static_cast<S>(r) >> (sizeof(T) * 8 - 1)));
}

template <typename T>
T Unzig(T z) {
  return static_cast<T>((z >> 1) ^ static_cast<T>(0 - (z & 1)));
}

// Residuals of `count` (at most kStepElements) elements at src (any alignment) into out; p1, p2
// carry the two elements before them from one call to the next. The elements are copied behind
// their two predecessors first, so the loop reads plain arrays and the compiler can vectorise it.
template <typename T, Predictor P>
void Forward(const uint8_t* src, T* out, size_t count, T& p1, T& p2) {
  alignas(16) T x[kStepElements + 2];
  x[0] = p2;
  x[1] = p1;
  std::memcpy(x + 2, src, count * sizeof(T));
  constexpr unsigned kTop = sizeof(T) * 8 - 1;
  for (size_t i = 0; i < count; ++i) {
    T pred;
    if constexpr (P == Predictor::kDelta) {
      pred = x[i + 1];
    } else {
      pred = static_cast<T>(static_cast<T>(x[i + 1] << 1) - x[i]);
    }
    const T r = static_cast<T>(x[i + 2] - pred);
    // Zig(r), written with a logical shift so that SSE2 can do it two elements at a time.
    out[i] = static_cast<T>(static_cast<T>(r << 1) ^ static_cast<T>(0 - (r >> kTop)));
  }
  p2 = x[count];
  p1 = x[count + 1];
}

// The inverse, in place over `count` elements at buf. For the line, x[i] - x[i-1] is carried as
// its own running sum: two chains of one addition each instead of one chain of three operations.
template <typename T, Predictor P>
void InverseScalar(uint8_t* buf, size_t count, T& p1, T& p2) {
  T x = p1;
  T d = static_cast<T>(p1 - p2);
  for (size_t i = 0; i < count; ++i) {
    T z;
    std::memcpy(&z, buf + i * sizeof(T), sizeof(T));
    if constexpr (P == Predictor::kDelta) {
      x = static_cast<T>(x + Unzig<T>(z));
    } else {
      d = static_cast<T>(d + Unzig<T>(z));
      x = static_cast<T>(x + d);
    }
    std::memcpy(buf + i * sizeof(T), &x, sizeof(T));
  }
  // (The delta predictor never reads p2.)
  p2 = static_cast<T>(x - d);
  p1 = x;
}

// The 64-bit elements InverseAvx2 restored from the start of buf (a multiple of four; 0 where
// the CPU has no AVX2), carrying p1, p2 past them like InverseScalar.
size_t InverseAvx2(uint8_t* buf, size_t count, Predictor p, uint64_t& p1, uint64_t& p2);

// Restores `count` elements in place at buf from their residuals under p: the inverse of
// Forward, with p1, p2 carried from one call to the next the same way.
template <typename T>
void Inverse(uint8_t* buf, size_t count, Predictor p, T& p1, T& p2) {
  if (p == Predictor::kNone || count == 0) return;
  size_t done = 0;
  if constexpr (sizeof(T) == 8) done = InverseAvx2(buf, count, p, p1, p2);
  buf += done * sizeof(T);
  count -= done;
  if (p == Predictor::kDelta) InverseScalar<T, Predictor::kDelta>(buf, count, p1, p2);
  if (p == Predictor::kLine) InverseScalar<T, Predictor::kLine>(buf, count, p1, p2);
}

}  // namespace cr
