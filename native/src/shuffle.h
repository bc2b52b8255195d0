// Byte-plane shuffle of the image format (docs/image-format.md, "Blocks"): with
// n = len / es elements, output byte b*n + i is input byte i*es + b, and the len % es tail
// bytes are copied unchanged at the end. src and dst must not overlap.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cr {

void Shuffle(const uint8_t* src, uint8_t* dst, size_t len, unsigned elementSize);
void Unshuffle(const uint8_t* src, uint8_t* dst, size_t len, unsigned elementSize);

}  // namespace cr
