// For ZSTD_c_literalCompressionMode (CompressPlane), defined before any header includes zstd.h;
// zstd is compiled with the addon, so its experimental parameters cannot change under it.
#define ZSTD_STATIC_LINKING_ONLY
#include "planes.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "codec.h"
#include "hash.h"
#include "plane-groups.h"
#include "shuffle.h"
#include "stream-out.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "plane coding reads elements as little-endian integers in place");

namespace cr {

namespace {

// Elements sampled per window, and windows per block, to estimate each predictor's planes.
constexpr size_t kSampleWindow = 256;
constexpr size_t kSampleWindows = 4;
constexpr size_t kMaxSample = kSampleWindow * kSampleWindows;

// Once a predictor has removed what repeats, a plane whose sampled order-0 entropy (bits per
// byte) is at least this is stored raw. At level 1 (the default, chosen for speed) from 3 bits:
// what zstd saves on such a plane is all in Huffman-coding its literals, and decoding those took
// about a fifth of a block's decode on the bench's field, for images 4% smaller. Above level 1
// unless zstd would save under ~6%. (With 1024 samples, uniformly random bytes measure about
// 7.8 bits.)
double RawEntropyBits(int level) { return level <= 1 ? 3.0 : 7.5; }

// c * log2(c) for the counts a sample can reach.
const std::array<float, kMaxSample + 1>& CLog2C() {
  static const std::array<float, kMaxSample + 1> table = [] {
    std::array<float, kMaxSample + 1> t{};
    for (size_t c = 1; c <= kMaxSample; ++c) {
      t[c] = static_cast<float>(static_cast<double>(c) * std::log2(static_cast<double>(c)));
    }
    return t;
  }();
  return table;
}

// Order-0 entropy, bits per byte, of each plane of each predictor's residuals over a sample of
// the block: kSampleWindows runs of consecutive elements spread over it, each predicted from
// the elements before it as the encoder will.
template <typename T>
void SampleEntropy(const uint8_t* raw, size_t n, double (&bits)[3][kMaxPlanes]) {
  constexpr unsigned es = sizeof(T);
  static thread_local uint16_t hist[3][kMaxPlanes][256];
  std::memset(hist, 0, sizeof(hist));
  const size_t window = std::min(kSampleWindow, n);
  const size_t windows = n >= kSampleWindow * kSampleWindows ? kSampleWindows : 1;
  size_t samples = 0;
  for (size_t w = 0; w < windows; ++w) {
    const size_t start = windows == 1 ? 0 : w * (n - window) / (windows - 1);
    T p1 = 0, p2 = 0;
    if (start >= 1) std::memcpy(&p1, raw + (start - 1) * es, es);
    if (start >= 2) std::memcpy(&p2, raw + (start - 2) * es, es);
    for (size_t i = start; i < start + window; ++i) {
      T x;
      std::memcpy(&x, raw + i * es, es);
      const T r[3] = {x, Zig<T>(static_cast<T>(x - p1)),
                      Zig<T>(static_cast<T>(x - static_cast<T>(static_cast<T>(p1 << 1) - p2)))};
      for (int t = 0; t < 3; ++t) {
        for (unsigned b = 0; b < es; ++b) ++hist[t][b][(r[t] >> (8 * b)) & 0xff];
      }
      p2 = p1;
      p1 = x;
    }
    samples += window;
  }
  const auto& clog = CLog2C();
  const double total = static_cast<double>(samples);
  for (int t = 0; t < 3; ++t) {
    for (unsigned b = 0; b < es; ++b) {
      double sum = 0;
      for (int v = 0; v < 256; ++v) sum += clog[hist[t][b][v]];
      bits[t][b] = std::log2(total) - sum / total;
    }
  }
}

template <typename T>
void HashPredictShuffle(const uint8_t* raw, size_t n, Predictor p, uint8_t* const* planes,
                        StreamHash* hash) {
  alignas(16) T tmp[kStepElements];
  T p1 = 0, p2 = 0;
  uint8_t* at[kMaxPlanes];
  for (size_t start = 0; start < n; start += kStepElements) {
    const size_t count = std::min(kStepElements, n - start);
    hash->Update(raw + start * sizeof(T), count * sizeof(T));
    for (unsigned b = 0; b < sizeof(T); ++b) at[b] = planes[b] + start;
    // 4- and 8-byte elements 64 at a time in one pass (AVX-512), the rest in two.
    size_t done = 0;
    if constexpr (sizeof(T) >= 4) done = PredictShuffle<T>(raw + start * sizeof(T), count, p, at, p1, p2);
    if (done == count) continue;
    for (unsigned b = 0; b < sizeof(T); ++b) at[b] += done;
    const uint8_t* src = raw + (start + done) * sizeof(T);
    const uint8_t* shuffled = src;
    if (p == Predictor::kDelta) {
      Forward<T, Predictor::kDelta>(src, tmp, count - done, p1, p2);
      shuffled = reinterpret_cast<const uint8_t*>(tmp);
    } else if (p == Predictor::kLine) {
      Forward<T, Predictor::kLine>(src, tmp, count - done, p1, p2);
      shuffled = reinterpret_cast<const uint8_t*>(tmp);
    }
    ShufflePlanes(shuffled, at, count - done, sizeof(T));
  }
}

// The inverse of HashPredictShuffle into dst. With `stream`, each step is restored in a buffer
// that stays in L1 and copied to dst with non-temporal stores (stream-out.h); else in place.
template <typename T>
void UnshuffleRestoreHash(const uint8_t* const* planes, size_t n, Predictor p, uint8_t* dst,
                          StreamHash* hash, bool stream) {
  alignas(64) T tmp[kStepElements];
  T p1 = 0, p2 = 0;
  const uint8_t* at[kMaxPlanes];
  for (size_t start = 0; start < n; start += kStepElements) {
    const size_t count = std::min(kStepElements, n - start);
    for (unsigned b = 0; b < sizeof(T); ++b) at[b] = planes[b] + start;
    uint8_t* target = dst + start * sizeof(T);
    uint8_t* out = stream ? reinterpret_cast<uint8_t*>(tmp) : target;
    // 4- and 8-byte elements 64 at a time in one pass (AVX-512), the rest in two.
    size_t done = 0;
    if constexpr (sizeof(T) >= 4) done = UnshuffleInverse<T>(at, count, p, out, p1, p2);
    if (done < count) {
      for (unsigned b = 0; b < sizeof(T); ++b) at[b] += done;
      UnshufflePlanes(at, out + done * sizeof(T), count - done, sizeof(T));
      Inverse<T>(out + done * sizeof(T), count - done, p, p1, p2);
    }
    hash->Update(out, count * sizeof(T));
    if (stream) StreamCopy(target, out, count * sizeof(T));
  }
  if (stream) StreamFence();
}

uint32_t ReadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

void WriteLe32(uint8_t* p, uint32_t v) {
  for (int k = 0; k < 4; ++k) p[k] = static_cast<uint8_t>(v >> (8 * k));
}

bool ValidElementSize(unsigned es) { return es == 2 || es == 4 || es == 8; }

// One zstd frame of a plane at `level`. Residuals of a prediction hold few repeats worth a
// match shorter than 7 bytes (their runs of zeros are long): a minimum match of 7 lets zstd's
// match finder skip most positions, about halving its time on a noisy plane for the same size.
// At level 1 their literals (the few bytes between the runs, on the planes zstd is offered there)
// are stored as they are: Huffman-coding them saved 5% of such a frame and cost a third of its
// decode.
size_t CompressPlane(ZSTD_CCtx* cctx, uint8_t* dst, size_t capacity, const uint8_t* plane,
                     size_t n, int level, Predictor p) {
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  size_t e = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  if (!ZSTD_isError(e) && p != Predictor::kNone) {
    e = ZSTD_CCtx_setParameter(cctx, ZSTD_c_minMatch, 7);
  }
  if (!ZSTD_isError(e) && p != Predictor::kNone && level <= 1) {
    e = ZSTD_CCtx_setParameter(cctx, ZSTD_c_literalCompressionMode, ZSTD_ps_disable);
  }
  if (ZSTD_isError(e)) return e;
  return ZSTD_compress2(cctx, dst, capacity, plane, n);
}

}  // namespace

bool PlanesApply(size_t len, unsigned elementSize) {
  // Below 64 elements a plane is a few bytes: its frame's own header outweighs what it saves.
  return ValidElementSize(elementSize) && len / elementSize >= 64;
}

size_t EncodePlanes(const uint8_t* raw, size_t len, unsigned es, int level, HashKind kind,
                    ZSTD_CCtx* cctx, uint8_t* scratch, uint8_t* out, size_t outCapacity,
                    uint64_t* rawHash) {
  const size_t n = len / es;
  const size_t tail = len - n * es;
  double bits[3][kMaxPlanes] = {};
  switch (es) {
    case 2: SampleEntropy<uint16_t>(raw, n, bits); break;
    case 4: SampleEntropy<uint32_t>(raw, n, bits); break;
    default: SampleEntropy<uint64_t>(raw, n, bits); break;
  }
  // The predictor whose planes' estimated sizes add up to the least. The estimate cannot see the
  // repeats zstd finds in unpredicted data, so a predictor must save a clear margin to win.
  double cost[3] = {};
  for (int t = 0; t < 3; ++t) {
    for (unsigned b = 0; b < es; ++b) cost[t] += std::min(bits[t][b], 8.0);
  }
  int best = 0;
  for (int t = 1; t < 3; ++t) {
    if (cost[t] < cost[best] - 0.25 * es) best = t;
  }
  const Predictor p = static_cast<Predictor>(best);
  const size_t header = PlanesHeaderLength(es);
  // A plane whose estimate rules zstd out is stored raw. Those before the first plane zstd may
  // shrink have a known place in out: they are shuffled straight there, which saves copying
  // them from scratch (the noisy low planes of a float64 field, half its bytes).
  auto tryZstd = [&](unsigned b) { return p == Predictor::kNone || bits[best][b] < RawEntropyBits(level); };
  unsigned direct = 0;
  if (outCapacity >= header + es * n) {
    while (direct < es && !tryZstd(direct)) ++direct;
  }
  uint8_t* planes[kMaxPlanes];
  for (unsigned b = 0; b < es; ++b) planes[b] = b < direct ? out + header + b * n : scratch + b * n;

  StreamHash hash(kind);
  switch (es) {
    case 2: HashPredictShuffle<uint16_t>(raw, n, p, planes, &hash); break;
    case 4: HashPredictShuffle<uint32_t>(raw, n, p, planes, &hash); break;
    default: HashPredictShuffle<uint64_t>(raw, n, p, planes, &hash); break;
  }
  hash.Update(raw + n * es, tail);
  *rawHash = hash.Digest();

  if (outCapacity < header || len <= header) return 0;
  out[0] = static_cast<uint8_t>(p);
  out[1] = static_cast<uint8_t>(es);
  size_t pos = header;
  for (unsigned b = 0; b < es; ++b) {
    const uint8_t* plane = planes[b];
    PlaneCoding coding = PlaneCoding::kRaw;
    size_t stored = n;
    // Unpredicted planes always go through zstd: their repeats are what compresses them.
    if (tryZstd(b) && outCapacity - pos > 1) {
      // A frame must come out shorter than the plane; a capacity of n - 1 makes zstd give up
      // (with an error) as soon as it cannot.
      const size_t room = std::min(n - 1, outCapacity - pos);
      const size_t frame = CompressPlane(cctx, out + pos, room, plane, n, level, p);
      if (!ZSTD_isError(frame) && frame < n) {
        coding = PlaneCoding::kZstd;
        stored = frame;
      }
    }
    if (coding == PlaneCoding::kRaw && plane != out + pos) {
      if (outCapacity - pos < n) return 0;
      std::memcpy(out + pos, plane, n);
    }
    out[2 + 5 * b] = static_cast<uint8_t>(coding);
    WriteLe32(out + 3 + 5 * b, static_cast<uint32_t>(stored));
    pos += stored;
    if (pos >= len) return 0;
  }
  if (pos + tail >= len || outCapacity - pos < tail) return 0;
  if (tail > 0) std::memcpy(out + pos, raw + n * es, tail);
  return pos + tail;
}

bool PlanesAreWellFormed(const uint8_t* stored, size_t storedLength, size_t rawLength) {
  if (storedLength < 2) return false;
  const unsigned es = stored[1];
  if (stored[0] > static_cast<uint8_t>(Predictor::kLine) || !ValidElementSize(es)) return false;
  const size_t header = PlanesHeaderLength(es);
  const size_t n = rawLength / es;
  if (storedLength < header || n == 0) return false;
  size_t pos = header;
  for (unsigned b = 0; b < es; ++b) {
    const uint8_t coding = stored[2 + 5 * b];
    const size_t length = ReadLe32(stored + 3 + 5 * b);
    if (length > storedLength - pos) return false;
    if (coding == static_cast<uint8_t>(PlaneCoding::kRaw)) {
      if (length != n) return false;
    } else if (coding == static_cast<uint8_t>(PlaneCoding::kZstd)) {
      if (length > ZSTD_compressBound(n) ||
          ZstdFrameContentSize(stored + pos, length) != static_cast<int64_t>(n)) {
        return false;
      }
    } else {
      return false;
    }
    pos += length;
  }
  return storedLength - pos == rawLength - n * es;
}

PlanesStatus DecodePlanes(const uint8_t* stored, size_t storedLength, uint8_t* dst,
                          size_t rawLength, unsigned elementSize, HashKind kind,
                          ZSTD_DCtx* dctx, uint8_t* scratch, uint64_t* rawHash) {
  if (!PlanesAreWellFormed(stored, storedLength, rawLength) || stored[1] != elementSize) {
    return PlanesStatus::kMalformed;
  }
  const unsigned es = elementSize;
  const size_t n = rawLength / es;
  const Predictor p = static_cast<Predictor>(stored[0]);
  const uint8_t* planes[kMaxPlanes];
  size_t pos = PlanesHeaderLength(es);
  for (unsigned b = 0; b < es; ++b) {
    const size_t length = ReadLe32(stored + 3 + 5 * b);
    if (stored[2 + 5 * b] == static_cast<uint8_t>(PlaneCoding::kRaw)) {
      planes[b] = stored + pos;
    } else {
      if (dctx == nullptr || scratch == nullptr) return PlanesStatus::kNoMemory;
      // Capacity exactly n: a frame that holds more fails instead of writing past its plane.
      const size_t got = ZSTD_decompressDCtx(dctx, scratch + b * n, n, stored + pos, length);
      if (ZSTD_isError(got) || got != n) return PlanesStatus::kMalformed;
      planes[b] = scratch + b * n;
    }
    pos += length;
  }
  StreamHash hash(kind);
  const bool stream = Resident(dst, rawLength);
  switch (es) {
    case 2: UnshuffleRestoreHash<uint16_t>(planes, n, p, dst, &hash, stream); break;
    case 4: UnshuffleRestoreHash<uint32_t>(planes, n, p, dst, &hash, stream); break;
    default: UnshuffleRestoreHash<uint64_t>(planes, n, p, dst, &hash, stream); break;
  }
  const size_t tail = rawLength - n * es;
  if (tail > 0) std::memcpy(dst + n * es, stored + pos, tail);
  hash.Update(dst + n * es, tail);
  *rawHash = hash.Digest();
  return PlanesStatus::kOk;
}

}  // namespace cr
