// readBlocks: the restore path's read + verify + decode of image blocks, on the pool's threads.
//
// Each block is one task: the thread that claims it preads the block's stored bytes into its
// own reusable buffer (a raw block straight into its place in dst), checks the stored hash and
// the frame's shape, decompresses and unshuffles into dst and checks the raw hash. With two or
// more threads claiming blocks in turn, one thread's read overlaps another's decode, and no
// batch boundary makes the reads wait for the decodes (or the other way round); the calling
// JS thread takes part, as in decodeBlocks. What a reader checks, and in which order, is that
// of docs/image-format.md step 6; the caller (src/image/reader.ts) has done steps 1–5.
//
// Which blocks are read past the page cache, and how, is block-files.h's.
#include "readblocks.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "args.h"
#include "block-files.h"
#include "codec.h"
#include "pool.h"

namespace cr {

namespace {

enum class ReadStatus : uint8_t {
  kOk = 0,
  kStoredHash,
  kDecompress,
  kRawHash,
  kTruncated,  // the file ended before the block's last byte
  kIo,         // pread failed; errno kept
  kNoMemory,
};

struct ReadRef {
  int fd;
  // The same file opened with O_DIRECT, when the block is to be read past the page cache; else -1.
  int directFd;
  uint64_t position;
  size_t storedLength;
  size_t dstOffset;
  size_t rawLength;
  uint64_t storedHash;
  uint64_t rawHash;
  uint8_t flags;
};


class ReadBatch : public Batch {
 public:
  ReadBatch(std::vector<ReadRef> blocks, uint8_t* dst, unsigned es, HashKind hash)
      : Batch(blocks.size()),
        blocks_(std::move(blocks)),
        statuses_(blocks_.size(), ReadStatus::kOk),
        errnos_(blocks_.size(), 0),
        dst_(dst),
        elementSize_(es),
        hash_(hash) {}

  std::mutex mutex;
  std::condition_variable finishedCv;
  bool finished = false;

  size_t firstFailure() const { return firstFailure_.load(); }
  ReadStatus status(size_t i) const { return statuses_[i]; }
  int error(size_t i) const { return errnos_[i]; }

 protected:
  void RunTask(size_t i) noexcept override {
    // Only the lowest failing block is reported, so blocks after a known failure are skipped.
    if (i > firstFailure_.load(std::memory_order_relaxed)) return;
    const ReadStatus s = ReadOne(i);
    if (s == ReadStatus::kOk) return;
    statuses_[i] = s;
    size_t seen = firstFailure_.load();
    while (i < seen && !firstFailure_.compare_exchange_weak(seen, i)) {
    }
  }
  void Finish() noexcept override {
    {
      std::lock_guard<std::mutex> lock(mutex);
      finished = true;
    }
    finishedCv.notify_all();
  }

 private:
  ReadStatus ReadOne(size_t i) noexcept {
    const ReadRef& b = blocks_[i];
    uint8_t* const out = dst_ + b.dstOffset;
    // A raw block is read into its place in dst: its stored bytes are its raw bytes, so the copy
    // from a buffer is saved. dst holds unverified bytes until the hash check below, as it does
    // mid-decode on any failure; a caller never uses dst after a failure.
    // (Not when it is read past the page cache: direct I/O lands in aligned memory.)
    const bool raw = b.flags == 0 && b.storedLength == b.rawLength;
    const bool rawInPlace = raw && b.directFd < 0;
    uint8_t* stored = out;
    bool truncated = false;
    int err = 0;
    if (rawInPlace) {
      err = ReadFully(b.fd, stored, b.storedLength, b.position, &truncated);
    } else {
      uint8_t* buffer = LocalCodec().ReadBuffer();
      if (buffer == nullptr) return ReadStatus::kNoMemory;
      if (b.directFd >= 0) {
        stored = ReadDirect(b.directFd, b.fd, buffer, b.storedLength, b.position, &err, &truncated);
      } else {
        stored = buffer;
        err = ReadFully(b.fd, stored, b.storedLength, b.position, &truncated);
      }
    }
    if (err != 0) {
      errnos_[i] = err;
      return ReadStatus::kIo;
    }
    if (truncated) return ReadStatus::kTruncated;
    // Step 6: the shape the flags promise, then decoding and the hashes (codec.h, DecodeBlock:
    // a coded block's stored hash only names a failure).
    const DecodeStatus s =
        StoredBlockIsWellFormed(stored, b.storedLength, b.flags, b.rawLength)
            ? DecodeBlock(stored, b.storedLength, b.flags, hash_, b.storedHash, b.rawHash, out,
                          b.rawLength, elementSize_)
            : NameFailure(DecodeStatus::kDecompress, stored, b.storedLength, hash_, b.storedHash);
    switch (s) {
      case DecodeStatus::kOk: return ReadStatus::kOk;
      case DecodeStatus::kStoredHash: return ReadStatus::kStoredHash;
      case DecodeStatus::kDecompress: return ReadStatus::kDecompress;
      case DecodeStatus::kRawHash: return ReadStatus::kRawHash;
      case DecodeStatus::kNoMemory: return ReadStatus::kNoMemory;
    }
    return ReadStatus::kNoMemory;
  }

  const std::vector<ReadRef> blocks_;
  std::vector<ReadStatus> statuses_;
  std::vector<int> errnos_;
  uint8_t* const dst_;
  const unsigned elementSize_;
  const HashKind hash_;
  std::atomic<size_t> firstFailure_{SIZE_MAX};
};

}  // namespace

Napi::Value ReadBlocks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "readBlocks";
  View fds = TypedArrayArg(env, info[0], napi_int32_array, fn, "fds");
  View positions = TypedArrayArg(env, info[1], napi_float64_array, fn, "positions");
  View storedLengths = TypedArrayArg(env, info[2], napi_uint32_array, fn, "storedLengths");
  View flags = Uint8ArrayArg(env, info[3], fn, "flags");
  View storedHashes = TypedArrayArg(env, info[4], napi_biguint64_array, fn, "storedHashes");
  View rawHashes = TypedArrayArg(env, info[5], napi_biguint64_array, fn, "rawHashes");
  View dst = Uint8ArrayArg(env, info[6], fn, "dst");
  View dstOffsets = TypedArrayArg(env, info[7], napi_float64_array, fn, "dstOffsets");
  View rawLengths = TypedArrayArg(env, info[8], napi_uint32_array, fn, "rawLengths");
  const unsigned elementSize = ElementSizeArg(env, info[9], fn, "elementSize");
  const HashKind hash = HashKindArg(env, info[10], fn, "hash");

  const size_t n = positions.length;
  const std::pair<const View*, const char*> perBlock[] = {
      {&fds, "fds"},         {&storedLengths, "storedLengths"}, {&flags, "flags"},
      {&storedHashes, "storedHashes"}, {&rawHashes, "rawHashes"}, {&dstOffsets, "dstOffsets"},
      {&rawLengths, "rawLengths"}};
  for (const auto& [view, name] : perBlock) {
    if (view->length < n) {
      ThrowRange(env, std::string(fn) + ": " + name + " has " + std::to_string(view->length) +
                          " entries, positions has " + std::to_string(n));
    }
  }

  // Copied out first: the pool writes into dst, and the descriptor arrays could lie inside it.
  std::vector<ReadRef> blocks(n);
  const size_t maxStored = ZSTD_compressBound(kMaxBlockSize);
  for (size_t i = 0; i < n; ++i) {
    ReadRef& b = blocks[i];
    double pos, dO;
    std::memcpy(&pos, positions.data + 8 * i, 8);
    std::memcpy(&dO, dstOffsets.data + 8 * i, 8);
    int32_t fd;
    std::memcpy(&fd, fds.data + 4 * i, 4);
    uint32_t sl, rl;
    std::memcpy(&sl, storedLengths.data + 4 * i, 4);
    std::memcpy(&rl, rawLengths.data + 4 * i, 4);
    std::memcpy(&b.storedHash, storedHashes.data + 8 * i, 8);
    std::memcpy(&b.rawHash, rawHashes.data + 8 * i, 8);
    b.flags = flags.data[i];
    b.storedLength = sl;
    b.rawLength = rl;
    b.fd = fd;
    b.directFd = -1;
    const int64_t position = OffsetValue(pos);
    const int64_t dstOffset = OffsetValue(dO);
    if (fd < 0) ThrowRange(env, std::string(fn) + ": fds[" + std::to_string(i) + "] is negative");
    if (position < 0 || position > INT64_MAX - static_cast<int64_t>(maxStored)) {
      ThrowRange(env, std::string(fn) + ": positions[" + std::to_string(i) +
                          "] is not an integer offset");
    }
    if (dstOffset < 0) {
      ThrowRange(env, std::string(fn) + ": dstOffsets[" + std::to_string(i) +
                          "] is not an integer offset");
    }
    b.position = static_cast<uint64_t>(position);
    b.dstOffset = static_cast<size_t>(dstOffset);
    // Undefined flags are not refused here: in an image they are damage, which the task reports
    // (after the stored hash, as for every block) the way the portable codec does.
    CheckBlockLengths(env, fn, i, b.rawLength, b.storedLength, kMaxBlockSize, maxStored);
  }
  CheckDestinations(env, fn, blocks, dst.byteLength);
  if (n == 0) return env.Null();

  DirectFiles directFiles;  // closed when this call returns, after every task has ended
  std::vector<StoredSpan> spans(n);
  for (size_t i = 0; i < n; ++i) spans[i] = {blocks[i].fd, blocks[i].position, blocks[i].storedLength};
  const std::vector<int> directFds = directFiles.Assign(spans);
  for (size_t i = 0; i < directFds.size(); ++i) blocks[i].directFd = directFds[i];
  const bool anyDirect = !directFds.empty();
  auto batch = std::make_shared<ReadBatch>(std::move(blocks), dst.data, elementSize, hash);
  Pool::Get().Submit(batch);
  // A thread waiting for a direct read uses no CPU, and nothing reads ahead for it: the
  // background pool's threads claim blocks too, so that more reads are in flight while others
  // decode (claims are shared; a pool that comes to the batch late finds it claimed).
  if (anyDirect) Pool::Background().Submit(batch);
  RunAndWait(batch, batch->mutex, batch->finishedCv, batch->finished);

  const size_t first = batch->firstFailure();
  if (first == SIZE_MAX) return env.Null();
  const char* reason = nullptr;
  switch (batch->status(first)) {
    case ReadStatus::kStoredHash: reason = "stored-hash"; break;
    case ReadStatus::kDecompress: reason = "decompress"; break;
    case ReadStatus::kRawHash: reason = "raw-hash"; break;
    case ReadStatus::kTruncated: reason = "truncated"; break;
    case ReadStatus::kIo: reason = "io"; break;
    case ReadStatus::kNoMemory:
    case ReadStatus::kOk:
      throw Napi::Error::New(env, std::string(fn) + ": out of memory for zstd contexts while "
                                                    "reading " + BlockText(first));
  }
  Napi::Object failure = Napi::Object::New(env);
  failure.Set("index", Napi::Number::New(env, static_cast<double>(first)));
  failure.Set("reason", Napi::String::New(env, reason));
  if (batch->status(first) == ReadStatus::kIo) {
    failure.Set("errno", Napi::Number::New(env, batch->error(first)));
  }
  return failure;
}

}  // namespace cr
