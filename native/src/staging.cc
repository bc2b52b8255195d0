#include "staging.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "pool.h"
#include "stream-out.h"

namespace cr {

namespace {

// One memcpy of a contiguous run of staged blocks (or a piece of one).
struct Piece {
  size_t src;
  size_t dst;
  size_t length;
};

// A copy of at least kCopyParallelBytes is cut into tasks of kTaskBytes that the addon's threads
// and the caller take in turn, whichever is free, so that a thread sharing its core with another
// does not hold up the copy; a smaller copy runs on the caller. A checkpoint's staging arrives in
// pieces of 64 MiB (capture/staging.ts, StagingCopy) while the image writer encodes the pieces
// before. Into warm memory each task is copied with non-temporal stores, which write whole lines
// instead of reading each first: glibc's memcpy does so only above 127 MiB here, and 1 GiB in
// 64 MiB calls took 176-186 ms with it against 78-80 ms (docs/incremental.md, "The staging copy").
constexpr size_t kTaskBytes = size_t{1} << 20;

// Copies one piece: non-temporal stores into resident memory, plain ones into fresh memory
// (stream-out.h), fenced so that the piece is in place when the copy reports done.
void CopyPiece(uint8_t* dst, const uint8_t* src, size_t length) {
  if (Resident(dst, length)) {
    StreamCopy(dst, src, length);
    StreamFence();
  } else {
    std::memcpy(dst, src, length);
  }
}

class CopyBatch : public Batch {
 public:
  CopyBatch(std::vector<Piece> pieces, const uint8_t* src, uint8_t* dst)
      : Batch(pieces.size()), pieces_(std::move(pieces)), src_(src), dst_(dst) {}

  std::mutex mutex;
  std::condition_variable finishedCv;
  bool finished = false;

 protected:
  void RunTask(size_t i) noexcept override {
    const Piece& p = pieces_[i];
    CopyPiece(dst_ + p.dst, src_ + p.src, p.length);
  }
  void Finish() noexcept override {
    {
      std::lock_guard<std::mutex> lock(mutex);
      finished = true;
    }
    finishedCv.notify_all();
  }

 private:
  const std::vector<Piece> pieces_;
  const uint8_t* const src_;
  uint8_t* const dst_;
};

}  // namespace

const size_t kCopyParallelBytes = size_t{4} << 20;

Napi::Value CopyBlocksJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "copyBlocks";
  View src = Uint8ArrayArg(env, info[0], fn, "src");
  const auto blockSize = static_cast<size_t>(
      IntegerArg(env, info[1], fn, "blockSize", 1, int64_t{1} << 40));
  View blocks;
  const bool all = info[2].IsNull();
  if (!all) blocks = Uint8ArrayArg(env, info[2], fn, "blocks");
  View dst = Uint8ArrayArg(env, info[3], fn, "dst");
  const auto dstOffset = static_cast<size_t>(
      IntegerArg(env, info[4], fn, "dstOffset", 0, static_cast<int64_t>(dst.byteLength)));
  View slots = TypedArrayArg(env, info[5], napi_float64_array, fn, "slots");

  const size_t count = (src.byteLength + blockSize - 1) / blockSize;
  if (!all && blocks.length != count) {
    ThrowRange(env, std::string(fn) + ": blocks has " + std::to_string(blocks.length) +
                        " entries, src has " + std::to_string(count) + " blocks");
  }
  if (slots.length != count) {
    ThrowRange(env, std::string(fn) + ": slots has " + std::to_string(slots.length) +
                        " entries, src has " + std::to_string(count) + " blocks");
  }
  // The pool threads write dst while reading src and the descriptors: none may share a byte
  // with dst, or the result would depend on the order the threads ran in.
  if (Overlaps(src, dst)) ThrowRange(env, std::string(fn) + ": src and dst overlap");
  if (Overlaps(slots, dst) || (!all && Overlaps(blocks, dst))) {
    ThrowRange(env, std::string(fn) + ": blocks or slots lie inside dst");
  }

  // Consecutive staged blocks are one run: one memcpy, and side by side in dst (what the image
  // writer reads back as one source range).
  std::vector<Piece> runs;
  size_t at = dstOffset;
  for (size_t b = 0; b < count; ++b) {
    if (!all && blocks.data[b] == 0) continue;
    const size_t begin = b * blockSize;
    const size_t length = std::min(blockSize, src.byteLength - begin);
    if (!runs.empty() && runs.back().src + runs.back().length == begin) {
      runs.back().length += length;
    } else {
      runs.push_back({begin, at, length});
    }
    at += length;
  }
  const size_t total = at - dstOffset;
  if (total > dst.byteLength - dstOffset) {
    ThrowRange(env, std::string(fn) + ": the " + std::to_string(total) +
                        " staged bytes do not fit dst at offset " + std::to_string(dstOffset) +
                        " (" + std::to_string(dst.byteLength) + " bytes)");
  }

  if (total < kCopyParallelBytes || Pool::ThreadCount() < 2) {
    for (const Piece& p : runs) CopyPiece(dst.data + p.dst, src.data + p.src, p.length);
  } else {
    std::vector<Piece> pieces;
    for (const Piece& r : runs) {
      for (size_t off = 0; off < r.length; off += kTaskBytes) {
        pieces.push_back({r.src + off, r.dst + off, std::min(kTaskBytes, r.length - off)});
      }
    }
    auto batch = std::make_shared<CopyBatch>(std::move(pieces), src.data, dst.data);
    Pool::Get().Submit(batch);
    // The job's thread copies too: it waits for the copy anyway (the pause is what it pays).
    RunAndWait(batch, batch->mutex, batch->finishedCv, batch->finished);
  }

  // Written last: slots may be read only once every byte they point at is in place.
  double* out = reinterpret_cast<double*>(slots.data);
  at = dstOffset;
  for (size_t b = 0; b < count; ++b) {
    if (!all && blocks.data[b] == 0) {
      out[b] = -1;
      continue;
    }
    out[b] = static_cast<double>(at);
    at += std::min(blockSize, src.byteLength - b * blockSize);
  }
  return Napi::Number::New(env, static_cast<double>(at));
}

}  // namespace cr
