// Writing decoded bytes into memory the caller will not read soon (a restored region, a decoded
// section): past the caches when that is cheaper. A cached store first reads the line it writes
// (a read for ownership), so a plain copy into memory costs twice its bytes in memory traffic; a
// non-temporal store writes the line whole. Into memory not yet faulted in it is the reverse:
// the kernel has just zeroed the page through the cache, and plain stores land on those lines.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cr {

// Whether every page of [p, p + len) is resident (mincore), so that stores into it fault on none.
bool Resident(const void* p, size_t len);

// Copies len bytes from src to dst with non-temporal stores where dst is 16-byte aligned (else
// memcpy). The stores are ordered only by StreamFence: call it before dst is handed to another
// thread.
void StreamCopy(uint8_t* dst, const uint8_t* src, size_t len);

void StreamFence();

}  // namespace cr
