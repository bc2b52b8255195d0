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
// Blocks the page cache does not hold are read with O_DIRECT, through a second open file
// description of the same file: a restart reads each block once, and reading it through the
// page cache would copy it once more and fault in page-cache memory for the whole image (on
// this kind of virtual machine, fresh memory costs the kernel far more than the copy). Blocks
// the page cache holds (an image just written with buffered writes) are read from it.
// CR_DIRECT_READS=0 reads every block through the page cache.
#include "readblocks.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "args.h"
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

// Reads exactly `length` bytes at `position`, retrying short reads and EINTR. 0 or an errno.
int ReadFully(int fd, uint8_t* out, size_t length, uint64_t position, bool* truncated) {
  size_t done = 0;
  while (done < length) {
    const size_t want = std::min<size_t>(length - done, size_t{1} << 30);
    const ssize_t n = pread(fd, out + done, want, static_cast<off_t>(position + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) {
      *truncated = true;
      return 0;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

// Reads `length` bytes at `position` past the page cache into `buffer` (kReadBufferSize bytes,
// aligned): whole alignment units from the one holding `position` on. Returns where the bytes
// start in `buffer`, or null with *err set (0 and *truncated for a file that ends early). What
// direct I/O refuses (EINVAL: a device with larger sectors, a file system that changed its mind)
// and a short read that leaves an unaligned remainder are read through the page cache instead.
uint8_t* ReadDirect(int directFd, int fd, uint8_t* buffer, size_t length, uint64_t position,
                    int* err, bool* truncated) {
  const uint64_t start = position / kDirectAlignment * kDirectAlignment;
  const size_t skip = static_cast<size_t>(position - start);
  const size_t need = skip + length;
  const size_t want = (need + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment;
  size_t done = 0;
  while (done < need) {
    if (done % kDirectAlignment != 0) break;  // unaligned now: the rest through the page cache
    const ssize_t n = pread(directFd, buffer + done, want - done, static_cast<off_t>(start + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL) break;
      *err = errno;
      return nullptr;
    }
    if (n == 0) {
      *truncated = true;
      *err = 0;
      return nullptr;
    }
    done += static_cast<size_t>(n);
  }
  if (done < need) {
    *err = ReadFully(fd, buffer + done, need - done, start + done, truncated);
    if (*err != 0 || *truncated) return nullptr;
  }
  *err = 0;
  return buffer + skip;
}

// The second descriptors readBlocks reads uncached blocks through: one per distinct file
// descriptor it was given, closed when the call returns.
class DirectFiles {
 public:
  DirectFiles() = default;
  DirectFiles(const DirectFiles&) = delete;
  DirectFiles& operator=(const DirectFiles&) = delete;
  ~DirectFiles() {
    for (const auto& [fd, direct] : direct_) {
      if (direct >= 0) close(direct);
    }
  }

  // Sets directFd on every block the page cache does not hold all of, where the file can be
  // read with O_DIRECT; whether any block is to be read so. A call that would read less than
  // kDirectMinBytes past the cache reads everything through it: too few blocks to keep the disk
  // busy without the kernel's read-ahead (a restore of many small regions makes one call each).
  bool Assign(std::vector<ReadRef>& blocks) {
    const char* setting = std::getenv("CR_DIRECT_READS");
    if (setting != nullptr && std::strcmp(setting, "0") == 0) return false;
    uint64_t total = 0;
    for (const ReadRef& b : blocks) total += b.storedLength;
    if (total < kDirectMinBytes) return false;
    std::map<int, std::vector<size_t>> byFd;
    for (size_t i = 0; i < blocks.size(); ++i) byFd[blocks[i].fd].push_back(i);
    std::vector<std::pair<size_t, int>> uncached;
    uint64_t uncachedBytes = 0;
    for (const auto& [fd, indices] : byFd) {
      const int direct = Open(fd);
      direct_[fd] = direct;
      if (direct < 0) continue;
      uint64_t from = UINT64_MAX, to = 0;
      for (const size_t i : indices) {
        from = std::min(from, blocks[i].position);
        to = std::max(to, blocks[i].position + blocks[i].storedLength);
      }
      const Residency resident(fd, from, to);
      for (const size_t i : indices) {
        if (resident.Holds(blocks[i].position, blocks[i].storedLength)) continue;
        uncached.emplace_back(i, direct);
        uncachedBytes += blocks[i].storedLength;
      }
    }
    if (uncachedBytes < kDirectMinBytes) return false;
    for (const auto& [i, direct] : uncached) blocks[i].directFd = direct;
    return true;
  }

 private:
  static constexpr uint64_t kDirectMinBytes = uint64_t{8} << 20;

  // The file behind `fd` opened again with O_DIRECT, or -1: only a regular file, and only where
  // the file system allows direct I/O (tmpfs does not).
  static int Open(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    const int direct = open(link.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (direct < 0) return -1;
    struct stat again;
    if (fstat(direct, &again) != 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino) {
      close(direct);
      return -1;
    }
    return direct;
  }

  // Which pages of [from, to) of a file the page cache holds (mincore over a mapping of it, which
  // reads nothing). Where that cannot be told, nothing counts as held: the block is read directly.
  class Residency {
   public:
    Residency(int fd, uint64_t from, uint64_t to) {
      struct stat st;
      if (fstat(fd, &st) != 0 || st.st_size <= 0) return;
      const uint64_t size = static_cast<uint64_t>(st.st_size);
      to = std::min(to, size);
      if (from >= to) return;
      const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
      void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      if (map == MAP_FAILED) return;
      first_ = from / page;
      page_ = page;
      const uint64_t end = (to + page - 1) / page;
      pages_.resize(end - first_);
      if (mincore(static_cast<uint8_t*>(map) + first_ * page, (end - first_) * page,
                  pages_.data()) != 0) {
        pages_.clear();
      }
      munmap(map, size);
    }

    bool Holds(uint64_t position, size_t length) const {
      if (length == 0) return true;
      const uint64_t first = position / page_;
      const uint64_t last = (position + length - 1) / page_;
      if (first < first_ || last - first_ >= pages_.size()) return false;
      for (uint64_t p = first; p <= last; ++p) {
        if ((pages_[p - first_] & 1) == 0) return false;
      }
      return true;
    }

   private:
    std::vector<unsigned char> pages_;
    uint64_t first_ = 0;
    uint64_t page_ = 1;
  };

  std::map<int, int> direct_;
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
    const bool rawInPlace = b.flags == 0 && b.storedLength == b.rawLength && b.directFd < 0;
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
    // Step 6: stored hash, then the shape the flags promise, decoding, raw hash.
    const uint64_t storedHash = BlockHash(hash_, stored, b.storedLength);
    if (storedHash != b.storedHash) return ReadStatus::kStoredHash;
    if (!StoredBlockIsWellFormed(stored, b.storedLength, b.flags, b.rawLength)) {
      return ReadStatus::kDecompress;
    }
    if (b.flags == 0 && b.storedLength == b.rawLength) {
      // The raw bytes are the stored bytes just hashed.
      if (storedHash != b.rawHash) return ReadStatus::kRawHash;
      if (!rawInPlace) std::memcpy(out, stored, b.rawLength);
      return ReadStatus::kOk;
    }
    switch (DecodeVerifiedBlock(stored, b.storedLength, b.flags, hash_, b.rawHash, out,
                                b.rawLength, elementSize_)) {
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
  const bool anyDirect = directFiles.Assign(blocks);
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
