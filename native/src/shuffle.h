// Byte-plane shuffle of the image format (docs/image-format.md, "Blocks"): with
// n = len / es elements, output byte b*n + i is input byte i*es + b, and the len % es tail
// bytes are copied unchanged at the end. src and dst must not overlap.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cr {

constexpr unsigned kMaxPlanes = 8;

void Shuffle(const uint8_t* src, uint8_t* dst, size_t len, unsigned elementSize);
void Unshuffle(const uint8_t* src, uint8_t* dst, size_t len, unsigned elementSize);

// The element part only, for n whole elements: plane b of src's n elements goes to planes[b]
// (elementSize <= kMaxPlanes), so that a block can be shuffled a few elements at a time, each
// plane where it is wanted.
void ShufflePlanes(const uint8_t* src, uint8_t* const* planes, size_t n, unsigned elementSize);
// The inverse, reading plane b from planes[b] (elementSize <= kMaxPlanes): the planes of a
// block need not lie side by side.
void UnshufflePlanes(const uint8_t* const* planes, uint8_t* dst, size_t n, unsigned elementSize);

}  // namespace cr
