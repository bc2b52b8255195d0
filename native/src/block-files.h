// Reading a block's stored bytes from an image file, for readBlocks (readblocks.cc): exactly,
// through the page cache or past it.
//
// Blocks the page cache does not hold are read with O_DIRECT, through a second open file
// description of the same file: a restart reads each block once, and reading it through the
// page cache would copy it once more and fault in page-cache memory for the whole image (on
// this kind of virtual machine, fresh memory costs the kernel far more than the copy). Blocks
// the page cache holds (an image just written with buffered writes) are read from it.
// CR_DIRECT_READS=0 reads every block through the page cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace cr {

// Reads exactly `length` bytes at `position`, retrying short reads and EINTR. 0 or an errno
// (0 and *truncated for a file that ends early).
int ReadFully(int fd, uint8_t* out, size_t length, uint64_t position, bool* truncated);

// Memory for direct reads to land in: kDirectPage bytes at a kDirectPage boundary, advised to the
// kernel as one huge page, or null. A direct read into 4 KiB pages is split into many more,
// smaller requests to the device than one into a 2 MiB page: on this project's virtio disk, the
// same image read into huge pages went 1.4–1.8× as fast. Freed with UnmapDirectPage.
constexpr size_t kDirectPage = size_t{2} << 20;
uint8_t* MapDirectPage();
void UnmapDirectPage(uint8_t* page);

// Reads `length` bytes at `position` past the page cache into `buffer` (kReadBufferSize bytes,
// aligned): whole alignment units from the one holding `position` on. Returns where the bytes
// start in `buffer`, or null with *err set (0 and *truncated for a file that ends early). What
// direct I/O refuses (EINVAL: a device with larger sectors, a file system that changed its mind)
// and a short read that leaves an unaligned remainder are read through the page cache instead.
uint8_t* ReadDirect(int directFd, int fd, uint8_t* buffer, size_t length, uint64_t position,
                    int* err, bool* truncated);

// Where a block's stored bytes are.
struct StoredSpan {
  int fd;
  uint64_t position;
  size_t length;
};

// The second descriptors a readBlocks call reads uncached blocks through: one per distinct file
// descriptor it was given, closed with this object (after every read has ended).
class DirectFiles {
 public:
  DirectFiles() = default;
  DirectFiles(const DirectFiles&) = delete;
  DirectFiles& operator=(const DirectFiles&) = delete;
  ~DirectFiles();

  // For each block, the O_DIRECT descriptor to read it through, or -1 for the page cache: a
  // block the cache does not hold all of, in a file that can be read with O_DIRECT. Empty when
  // every block is read through the cache. A call that would read less than 8 MiB past the
  // cache reads everything through it: too few blocks to keep the disk busy without the kernel's
  // read-ahead (a restore of many small regions makes one call each).
  std::vector<int> Assign(const std::vector<StoredSpan>& blocks);

 private:
  std::map<int, int> direct_;
};

}  // namespace cr
