#include "plane-groups.h"

#include <cassert>

#include "simd.h"

namespace cr {

#if CR_HAS_AVX2_PATHS

namespace {

// A group is 64 elements: N = sizeof(T) registers of L = 64 / N lanes. Encoding one needs no
// arrangement: each residual depends only on the one or two elements before it, which lane
// shifts across two registers bring alongside, and one transpose of bytes writes the planes. Decoding undoes
// running sums, so there the residuals are first arranged "by run": the group cut into L runs of
// N elements, register t lane l holding element N * l + t. Undoing a prediction is then a running
// sum down the registers, the same addition in every lane, and only the runs' totals cross lanes,
// once per group; in element order every register's sums would cross lanes, which takes about
// twice the shuffles. The planes reach this arrangement, and the restored elements leave it, by
// N x N transposes.
//
// A transpose in R = log2(N) rounds of two-register permutes (_mm512_permutex2var). Cell (a, c),
// in register a at column c before, is in register c at column a after; each round halves the
// columns a register holds and doubles its rows, so every register of a round draws on two of
// the round before. Where cell (a, c) is after round r (0: before):
constexpr int Register(int kLog, int round, int a, int c) {
  return round == 0 ? a : ((a >> round) << round) | (c >> (kLog - round));
}

constexpr int Column(int kLog, int round, int a, int c) {
  return round == 0 ? c : ((c & ((1 << (kLog - round)) - 1)) << round) | (a & ((1 << round) - 1));
}

// The two registers of round - 1 that register k of `round` draws on (side 0, then 1).
constexpr int Source(int kLog, int round, int k, int side) {
  return ((((k >> round) << 1) | side) << (round - 1)) | ((k & ((1 << round) - 1)) >> 1);
}

// Each round's permute indices, for registers of N * kUnits elements of type Index's size. A
// cell is kUnits of them. Unit u of the cell at column c lies at element c + N * u, except before
// the first round of a kInContiguous table and after the last of a kOutContiguous one, where it
// lies at c * kUnits + u.
template <typename Index, int kLog, int kUnits>
struct Rounds {
  static constexpr int kN = 1 << kLog;
  alignas(64) Index index[kLog][kN][kN * kUnits];
};

template <typename Index, int kLog, int kUnits, bool kInContiguous, bool kOutContiguous = false>
Rounds<Index, kLog, kUnits> Build() {
  constexpr int kN = 1 << kLog;
  auto at = [](int round, int a, int c, int u) {
    const int column = Column(kLog, round, a, c);
    const bool contiguous = (round == 0 && kInContiguous) || (round == kLog && kOutContiguous);
    return contiguous ? column * kUnits + u : column + kN * u;
  };
  Rounds<Index, kLog, kUnits> t{};
  for (int r = 1; r <= kLog; ++r) {
    for (int a = 0; a < kN; ++a) {
      for (int c = 0; c < kN; ++c) {
        const int k = Register(kLog, r, a, c);
        const int before = Register(kLog, r - 1, a, c);
        const int side = before == Source(kLog, r, k, 0) ? 0 : 1;
        assert(before == Source(kLog, r, k, side));
        for (int u = 0; u < kUnits; ++u) {
          t.index[r - 1][k][at(r, a, c, u)] = static_cast<Index>(at(r - 1, a, c, u) + side * kN * kUnits);
        }
      }
    }
  }
  return t;
}

// The lane arithmetic of a group, for 64-bit and 32-bit elements.
template <typename T>
struct Lanes;

template <>
struct Lanes<uint64_t> {
  static constexpr int kLog = 3;  // 8 registers of 8 lanes
  using Index = int64_t;
  CR_AVX512 static __m512i Add(__m512i a, __m512i b) { return _mm512_add_epi64(a, b); }
  CR_AVX512 static __m512i Sub(__m512i a, __m512i b) { return _mm512_sub_epi64(a, b); }
  // Zig: (r << 1) ^ (r >> 63), the shift arithmetic.
  CR_AVX512 static __m512i Zig(__m512i r) {
    return _mm512_xor_si512(_mm512_slli_epi64(r, 1), _mm512_srai_epi64(r, 63));
  }
  // The elements k places before each of x's, the first k from the end of `before`.
  template <int k>
  CR_AVX512 static __m512i Before(__m512i x, __m512i before) { return _mm512_alignr_epi64(x, before, 8 - k); }
  // A register ending in p2, p1: the two elements before a group.
  CR_AVX512 static __m512i Tail(uint64_t p1, uint64_t p2) {
    return _mm512_set_epi64(static_cast<long long>(p1), static_cast<long long>(p2), 0, 0, 0, 0, 0, 0);
  }
  // Unzig: (z >> 1) ^ -(z & 1).
  CR_AVX512 static __m512i Unzig(__m512i z) {
    return _mm512_xor_si512(_mm512_srli_epi64(z, 1), _mm512_srai_epi64(_mm512_slli_epi64(z, 63), 63));
  }
  CR_AVX512 static __m512i Times(__m512i v) { return _mm512_slli_epi64(v, kLog); }  // v * N
  CR_AVX512 static __m512i Set1(uint64_t v) { return _mm512_set1_epi64(static_cast<long long>(v)); }
  // Lane l: the sum of lanes 0..l-1 of v.
  CR_AVX512 static __m512i ExclusiveSum(__m512i v) {
    const __m512i zero = _mm512_setzero_si512();
    __m512i s = _mm512_alignr_epi64(v, zero, 7);
    s = _mm512_add_epi64(s, _mm512_alignr_epi64(s, zero, 7));
    s = _mm512_add_epi64(s, _mm512_alignr_epi64(s, zero, 6));
    return _mm512_add_epi64(s, _mm512_alignr_epi64(s, zero, 4));
  }
  CR_AVX512 static __m512i LastLane(__m512i v) { return _mm512_permutexvar_epi64(_mm512_set1_epi64(7), v); }
  CR_AVX512 static __m512i Permute(__m512i a, __m512i idx, __m512i b) { return _mm512_permutex2var_epi64(a, idx, b); }
  CR_AVX512 static uint64_t First(__m512i v) {
    return static_cast<uint64_t>(_mm_cvtsi128_si64(_mm512_castsi512_si128(v)));
  }
};

template <>
struct Lanes<uint32_t> {
  static constexpr int kLog = 2;  // 4 registers of 16 lanes
  using Index = int32_t;
  CR_AVX512 static __m512i Add(__m512i a, __m512i b) { return _mm512_add_epi32(a, b); }
  CR_AVX512 static __m512i Sub(__m512i a, __m512i b) { return _mm512_sub_epi32(a, b); }
  CR_AVX512 static __m512i Zig(__m512i r) {
    return _mm512_xor_si512(_mm512_slli_epi32(r, 1), _mm512_srai_epi32(r, 31));
  }
  template <int k>
  CR_AVX512 static __m512i Before(__m512i x, __m512i before) { return _mm512_alignr_epi32(x, before, 16 - k); }
  CR_AVX512 static __m512i Tail(uint32_t p1, uint32_t p2) {
    return _mm512_set_epi32(static_cast<int>(p1), static_cast<int>(p2), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  }
  CR_AVX512 static __m512i Unzig(__m512i z) {
    return _mm512_xor_si512(_mm512_srli_epi32(z, 1), _mm512_srai_epi32(_mm512_slli_epi32(z, 31), 31));
  }
  CR_AVX512 static __m512i Times(__m512i v) { return _mm512_slli_epi32(v, kLog); }
  CR_AVX512 static __m512i Set1(uint32_t v) { return _mm512_set1_epi32(static_cast<int>(v)); }
  CR_AVX512 static __m512i ExclusiveSum(__m512i v) {
    const __m512i zero = _mm512_setzero_si512();
    __m512i s = _mm512_alignr_epi32(v, zero, 15);
    s = _mm512_add_epi32(s, _mm512_alignr_epi32(s, zero, 15));
    s = _mm512_add_epi32(s, _mm512_alignr_epi32(s, zero, 14));
    s = _mm512_add_epi32(s, _mm512_alignr_epi32(s, zero, 12));
    return _mm512_add_epi32(s, _mm512_alignr_epi32(s, zero, 8));
  }
  CR_AVX512 static __m512i LastLane(__m512i v) { return _mm512_permutexvar_epi32(_mm512_set1_epi32(15), v); }
  CR_AVX512 static __m512i Permute(__m512i a, __m512i idx, __m512i b) { return _mm512_permutex2var_epi32(a, idx, b); }
  CR_AVX512 static uint32_t First(__m512i v) {
    return static_cast<uint32_t>(_mm_cvtsi128_si32(_mm512_castsi512_si128(v)));
  }
};

// Planes to runs: register a = plane b, column c = position t within a run, unit u = run l (the
// byte of element N * l + t). After: register t, byte N * l + b, which is lane l's byte b.
template <typename T>
const auto& PlanesToRuns() {
  constexpr int kLog = Lanes<T>::kLog;
  static const auto t = Build<uint8_t, kLog, (64 >> kLog), false>();
  return t;
}

// Runs to elements: register a = position t; run l is column c = l / kUnits, unit l % kUnits,
// kUnits = L / N (lane l holds it: a contiguous table). After: register c, lane t + N * (l %
// kUnits), which is element N * l + t of the group.
template <typename T>
const auto& RunsToElements() {
  constexpr int kLog = Lanes<T>::kLog;
  static const auto t = Build<typename Lanes<T>::Index, kLog, 64 / (sizeof(T) * sizeof(T)), true>();
  return t;
}

// Elements to planes, for the encoder: register a = element register m, column c = byte b, unit
// u = lane j (byte b of element L * m + j). After: register b, byte L * m + j.
template <typename T>
const auto& ElementsToPlanes() {
  constexpr int kLog = Lanes<T>::kLog;
  static const auto t = Build<uint8_t, kLog, (64 >> kLog), false, true>();
  return t;
}

template <typename T, int kRound, bool kBytes, typename Table>
CR_AVX512 inline void Round(__m512i (&x)[1 << Lanes<T>::kLog], const Table& index) {
  constexpr int kLog = Lanes<T>::kLog;
  constexpr int kN = 1 << kLog;
  __m512i y[kN];
  for (int k = 0; k < kN; ++k) {
    const __m512i idx = _mm512_load_si512(index[k]);
    const __m512i a = x[Source(kLog, kRound, k, 0)];
    const __m512i b = x[Source(kLog, kRound, k, 1)];
    if constexpr (kBytes) {
      y[k] = _mm512_permutex2var_epi8(a, idx, b);
    } else {
      y[k] = Lanes<T>::Permute(a, idx, b);
    }
  }
  for (int k = 0; k < kN; ++k) x[k] = y[k];
}

template <typename T, bool kBytes, typename Table>
CR_AVX512 inline void Transpose(__m512i (&x)[1 << Lanes<T>::kLog], const Table& t) {
  Round<T, 1, kBytes>(x, t.index[0]);
  Round<T, 2, kBytes>(x, t.index[1]);
  if constexpr (Lanes<T>::kLog == 3) Round<T, 3, kBytes>(x, t.index[2]);
}

// How far ahead of the group in each plane to prefetch. The raw planes are read straight from the
// image, usually past the caches; 512 bytes (8 groups) ahead took about 5% off a decode's CPU
// time, 256 and 1024 less.
constexpr size_t kPrefetch = 512;

template <typename T, Predictor P>
CR_AVX512 size_t RestoreGroups(const uint8_t* const* planes, size_t count, uint8_t* out, T& p1, T& p2) {
  using V = Lanes<T>;
  constexpr int kN = 1 << V::kLog;
  const auto& toRuns = PlanesToRuns<T>();
  const auto& toElements = RunsToElements<T>();
  // x: the last element restored; d: the line's last slope, x minus the element before it.
  __m512i x = V::Set1(p1);
  __m512i d = V::Set1(static_cast<T>(p1 - p2));
  size_t i = 0;
  for (; i + 64 <= count; i += 64) {
    __m512i v[kN];
    for (int b = 0; b < kN; ++b) {
      // As an integer: the address may lie past the plane (a prefetch never faults).
      const uintptr_t ahead = reinterpret_cast<uintptr_t>(planes[b]) + i + kPrefetch;
      _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
      v[b] = _mm512_loadu_si512(planes[b] + i);
    }
    Transpose<T, true>(v, toRuns);
    if constexpr (P != Predictor::kNone) {
      for (int t = 0; t < kN; ++t) v[t] = V::Unzig(v[t]);
      // Each run's own running sum, as if the run started from zero.
      for (int t = 1; t < kN; ++t) v[t] = V::Add(v[t], v[t - 1]);
      if constexpr (P == Predictor::kDelta) {
        // Run l starts from x plus the totals of the runs before it.
        const __m512i before = V::Add(x, V::ExclusiveSum(v[kN - 1]));
        for (int t = 0; t < kN; ++t) v[t] = V::Add(v[t], before);
      } else {
        // v holds the slopes' running sums; summed again, the values' (both from zero).
        const __m512i slopes = v[kN - 1];
        for (int t = 1; t < kN; ++t) v[t] = V::Add(v[t], v[t - 1]);
        // Run l starts with slope dBefore and value xBefore; its element t is
        // xBefore + (t + 1) * dBefore + v[t], and it ends at xBefore + N * dBefore + v[N - 1].
        const __m512i dBefore = V::Add(d, V::ExclusiveSum(slopes));
        const __m512i ends = V::Add(V::Times(dBefore), v[kN - 1]);
        __m512i offset = V::Add(x, V::ExclusiveSum(ends));
        for (int t = 0; t < kN; ++t) {
          offset = V::Add(offset, dBefore);
          v[t] = V::Add(v[t], offset);
        }
        d = V::LastLane(V::Add(dBefore, slopes));
      }
      x = V::LastLane(v[kN - 1]);
    }
    Transpose<T, false>(v, toElements);
    for (int m = 0; m < kN; ++m) _mm512_storeu_si512(out + i * sizeof(T) + 64 * m, v[m]);
  }
  if constexpr (P != Predictor::kNone) {
    // As InverseScalar leaves them: the delta predictor never reads p2.
    const T last = V::First(x);
    p2 = static_cast<T>(last - V::First(d));
    p1 = last;
  }
  return i;
}

template <typename T, Predictor P>
CR_AVX512 size_t PredictGroups(const uint8_t* src, size_t count, uint8_t* const* planes, T& p1, T& p2) {
  using V = Lanes<T>;
  constexpr int kN = 1 << V::kLog;
  constexpr int kL = 64 / sizeof(T);
  const auto& toPlanes = ElementsToPlanes<T>();
  // The register before the group's first: it ends with the two elements before the group.
  __m512i before = V::Tail(p1, p2);
  size_t i = 0;
  for (; i + 64 <= count; i += 64) {
    __m512i v[kN];
    for (int m = 0; m < kN; ++m) {
      const __m512i x = _mm512_loadu_si512(src + i * sizeof(T) + 64 * m);
      if constexpr (P == Predictor::kNone) {
        v[m] = x;
      } else {
        const __m512i x1 = V::template Before<1>(x, before);
        __m512i prediction = x1;
        if constexpr (P == Predictor::kLine) prediction = V::Sub(V::Add(x1, x1), V::template Before<2>(x, before));
        v[m] = V::Zig(V::Sub(x, prediction));
      }
      before = x;
    }
    Transpose<T, true>(v, toPlanes);
    for (int b = 0; b < kN; ++b) _mm512_storeu_si512(planes[b] + i, v[b]);
  }
  if (i > 0) {
    alignas(64) T last[kL];
    _mm512_store_si512(last, before);
    p1 = last[kL - 1];
    p2 = last[kL - 2];
  }
  return i;
}

}  // namespace

template <typename T>
size_t PredictShuffle(const uint8_t* src, size_t count, Predictor p, uint8_t* const* planes, T& p1,
                      T& p2) {
  if (!CpuHasAvx512()) return 0;
  switch (p) {
    case Predictor::kNone: return PredictGroups<T, Predictor::kNone>(src, count, planes, p1, p2);
    case Predictor::kDelta: return PredictGroups<T, Predictor::kDelta>(src, count, planes, p1, p2);
    default: return PredictGroups<T, Predictor::kLine>(src, count, planes, p1, p2);
  }
}

template <typename T>
size_t UnshuffleInverse(const uint8_t* const* planes, size_t count, Predictor p, uint8_t* out,
                        T& p1, T& p2) {
  if (!CpuHasAvx512()) return 0;
  switch (p) {
    case Predictor::kNone: return RestoreGroups<T, Predictor::kNone>(planes, count, out, p1, p2);
    case Predictor::kDelta: return RestoreGroups<T, Predictor::kDelta>(planes, count, out, p1, p2);
    default: return RestoreGroups<T, Predictor::kLine>(planes, count, out, p1, p2);
  }
}

#else

template <typename T>
size_t PredictShuffle(const uint8_t*, size_t, Predictor, uint8_t* const*, T&, T&) {
  return 0;
}

template <typename T>
size_t UnshuffleInverse(const uint8_t* const*, size_t, Predictor, uint8_t*, T&, T&) {
  return 0;
}

#endif

template size_t PredictShuffle<uint32_t>(const uint8_t*, size_t, Predictor, uint8_t* const*,
                                         uint32_t&, uint32_t&);
template size_t PredictShuffle<uint64_t>(const uint8_t*, size_t, Predictor, uint8_t* const*,
                                         uint64_t&, uint64_t&);
template size_t UnshuffleInverse<uint32_t>(const uint8_t* const*, size_t, Predictor, uint8_t*,
                                           uint32_t&, uint32_t&);
template size_t UnshuffleInverse<uint64_t>(const uint8_t* const*, size_t, Predictor, uint8_t*,
                                           uint64_t&, uint64_t&);

}  // namespace cr
