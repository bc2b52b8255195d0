#include "helpers.h"

#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "args.h"
#include "codec.h"
#include "shuffle.h"

namespace cr {

namespace {

constexpr int64_t kMaxSafeInteger = 9007199254740991LL;

Napi::Value ShuffleCommon(const Napi::CallbackInfo& info, const char* fn, bool forward) {
  Napi::Env env = info.Env();
  View src = Uint8ArrayArg(env, info[0], fn, "src");
  View dst = Uint8ArrayArg(env, info[1], fn, "dst");
  const unsigned es = ElementSizeArg(env, info[2], fn, "elementSize");
  if (dst.byteLength < src.byteLength) {
    ThrowRange(env, std::string(fn) + ": dst (" + std::to_string(dst.byteLength) +
                        " bytes) is shorter than src (" + std::to_string(src.byteLength) + ")");
  }
  // Planes are written far from where they are read: it cannot work in place.
  if (Overlaps(src, dst)) ThrowRange(env, std::string(fn) + ": src and dst overlap");
  if (forward) {
    Shuffle(src.data, dst.data, src.byteLength, es);
  } else {
    Unshuffle(src.data, dst.data, src.byteLength, es);
  }
  return env.Undefined();
}

}  // namespace

Napi::Value Hash64Js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View data = Uint8ArrayArg(env, info[0], "hash64", "data");
  return Napi::BigInt::New(env, static_cast<uint64_t>(Hash64(data.data, data.byteLength)));
}

Napi::Value BlockHashJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View data = Uint8ArrayArg(env, info[0], "blockHash", "data");
  const HashKind kind = HashKindArg(env, info[1], "blockHash", "hash");
  return Napi::BigInt::New(env, static_cast<uint64_t>(BlockHash(kind, data.data, data.byteLength)));
}

Napi::Value ShuffleJs(const Napi::CallbackInfo& info) {
  return ShuffleCommon(info, "shuffle", true);
}

Napi::Value UnshuffleJs(const Napi::CallbackInfo& info) {
  return ShuffleCommon(info, "unshuffle", false);
}

Napi::Value CompressBoundJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto length = static_cast<size_t>(
      IntegerArg(env, info[0], "compressBound", "length", 0, kMaxSafeInteger));
  const size_t bound = ZSTD_compressBound(length);
  if (ZSTD_isError(bound)) {
    ThrowRange(env, "compressBound: " + std::to_string(length) + " bytes is more than zstd accepts");
  }
  return Napi::Number::New(env, static_cast<double>(bound));
}

Napi::Value CompressFrameJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "compressFrame";
  View src = Uint8ArrayArg(env, info[0], fn, "src");
  const int level = static_cast<int>(
      IntegerArg(env, info[1], fn, "level", ZSTD_minCLevel(), ZSTD_maxCLevel()));
  const size_t bound = ZSTD_compressBound(src.byteLength);
  if (ZSTD_isError(bound)) ThrowRange(env, std::string(fn) + ": src is more than zstd accepts");
  ZSTD_CCtx* cctx = LocalCodec().Compressor();
  if (cctx == nullptr) throw Napi::Error::New(env, std::string(fn) + ": out of memory");
  // Compressed into a temporary of the worst-case size, then copied to an exact-size buffer so
  // that callers do not keep the slack alive.
  std::unique_ptr<uint8_t[]> tmp(new uint8_t[bound]);
  const size_t size = ZSTD_compressCCtx(cctx, tmp.get(), bound, src.data, src.byteLength, level);
  if (ZSTD_isError(size)) {
    throw Napi::Error::New(env, std::string(fn) + ": " + ZSTD_getErrorName(size));
  }
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, size);
  if (size > 0) std::memcpy(ab.Data(), tmp.get(), size);
  return Napi::Uint8Array::New(env, size, ab, 0);
}

Napi::Value DecompressFrameJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "decompressFrame";
  View src = Uint8ArrayArg(env, info[0], fn, "src");
  View dst = Uint8ArrayArg(env, info[1], fn, "dst");
  if (Overlaps(src, dst)) ThrowRange(env, std::string(fn) + ": src and dst overlap");
  ZSTD_DCtx* dctx = LocalCodec().Decompressor();
  if (dctx == nullptr) throw Napi::Error::New(env, std::string(fn) + ": out of memory");
  const size_t size = ZSTD_decompressDCtx(dctx, dst.data, dst.byteLength, src.data, src.byteLength);
  if (ZSTD_isError(size)) {
    throw Napi::Error::New(env, std::string(fn) + ": " + ZSTD_getErrorName(size));
  }
  return Napi::Number::New(env, static_cast<double>(size));
}

Napi::Value AddressOfJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* data = nullptr;
  if (info[0].IsArrayBuffer()) {
    data = info[0].As<Napi::ArrayBuffer>().Data();
  } else if (info[0].IsTypedArray()) {
    NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, info[0], nullptr, nullptr, &data,
                                                       nullptr, nullptr),
                         Napi::Value());
  } else {
    ThrowType(env, "_addressOf: expected an ArrayBuffer or a typed array");
  }
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data)));
}

}  // namespace cr
