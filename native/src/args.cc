#include "args.h"

#include <cmath>
#include <cstdio>

namespace cr {

namespace {

const char* TypeName(napi_env env, napi_value value) {
  napi_valuetype t;
  if (napi_typeof(env, value, &t) != napi_ok) return "unknown";
  switch (t) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_object: return "object";
    case napi_function: return "function";
    case napi_external: return "external";
    case napi_bigint: return "bigint";
  }
  return "unknown";
}

const char* TypedArrayName(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
  }
  return "TypedArray";
}

std::string NumberText(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  if (d == std::floor(d) && std::fabs(d) < 1e21) {
    snprintf(buf, sizeof buf, "%.0f", d);
  } else {
    snprintf(buf, sizeof buf, "%g", d);
  }
  return buf;
}

}  // namespace

void ThrowType(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

void ThrowRange(Napi::Env env, const std::string& message) {
  throw Napi::RangeError::New(env, message);
}

View TypedArrayArg(Napi::Env env, Napi::Value value, napi_typedarray_type type, const char* fn,
                   const char* name) {
  bool is = false;
  napi_is_typedarray(env, value, &is);
  napi_typedarray_type actual = napi_int8_array;
  View v;
  void* data = nullptr;
  size_t byteOffset = 0;
  if (is) {
    NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, value, &actual, &v.length, &data,
                                                       &v.arraybuffer, &byteOffset),
                         View());
  }
  if (!is || actual != type) {
    ThrowType(env, std::string(fn) + ": " + name + " must be a " + TypedArrayName(type) +
                       ", got " + (is ? TypedArrayName(actual) : TypeName(env, value)));
  }
  v.value = value;
  // The element size follows from the type; napi reports the length in elements.
  size_t elementBytes = 1;
  switch (type) {
    case napi_int16_array:
    case napi_uint16_array: elementBytes = 2; break;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: elementBytes = 4; break;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array: elementBytes = 8; break;
    default: break;
  }
  v.byteLength = v.length * elementBytes;
  v.data = v.byteLength == 0 ? nullptr : static_cast<uint8_t*>(data);
  return v;
}

int64_t IntegerArg(Napi::Env env, Napi::Value value, const char* fn, const char* name, int64_t min,
                   int64_t max) {
  if (!value.IsNumber()) {
    ThrowType(env, std::string(fn) + ": " + name + " must be a number, got " +
                       TypeName(env, value));
  }
  double d = value.As<Napi::Number>().DoubleValue();
  if (!(d == std::floor(d)) || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    ThrowRange(env, std::string(fn) + ": " + name + " must be an integer in [" +
                        std::to_string(min) + ", " + std::to_string(max) + "], got " +
                        NumberText(d));
  }
  return static_cast<int64_t>(d);
}

unsigned ElementSizeArg(Napi::Env env, Napi::Value value, const char* fn, const char* name) {
  if (!value.IsNumber()) {
    ThrowType(env, std::string(fn) + ": " + name + " must be a number, got " +
                       TypeName(env, value));
  }
  double d = value.As<Napi::Number>().DoubleValue();
  if (d != 1 && d != 2 && d != 4 && d != 8) {
    ThrowRange(env, std::string(fn) + ": " + name + " must be 1, 2, 4 or 8, got " + NumberText(d));
  }
  return static_cast<unsigned>(d);
}

HashKind HashKindArg(Napi::Env env, Napi::Value value, const char* fn, const char* name) {
  if (!value.IsNumber()) {
    ThrowType(env, std::string(fn) + ": " + name + " must be a number, got " +
                       TypeName(env, value));
  }
  double d = value.As<Napi::Number>().DoubleValue();
  if (d != 0 && d != 1) {
    ThrowRange(env, std::string(fn) + ": " + name + " must be 0 (XXH64) or 1 (XXH3), got " +
                        NumberText(d));
  }
  return d == 1 ? HashKind::kXxh3 : HashKind::kXxh64;
}

bool Overlaps(const View& a, const View& b) {
  if (a.byteLength == 0 || b.byteLength == 0) return false;
  auto a0 = reinterpret_cast<uintptr_t>(a.data);
  auto b0 = reinterpret_cast<uintptr_t>(b.data);
  return a0 < b0 + b.byteLength && b0 < a0 + a.byteLength;
}

int64_t OffsetValue(double d) {
  // 2^53: every integer up to it is exact in a double, and no buffer comes near it.
  if (!(d >= 0 && d <= 9007199254740992.0) || d != std::floor(d)) return -1;
  return static_cast<int64_t>(d);
}

std::string BlockText(size_t i) {
  return "block " + std::to_string(i);
}

void CheckBlockLengths(Napi::Env env, const char* fn, size_t i, uint32_t rawLength,
                       uint32_t storedLength, size_t maxRaw, size_t maxStored) {
  if (rawLength > maxRaw) {
    ThrowRange(env, std::string(fn) + ": " + BlockText(i) + " has rawLength " +
                        std::to_string(rawLength) + " > " + std::to_string(maxRaw));
  }
  if (storedLength > maxStored) {
    ThrowRange(env, std::string(fn) + ": " + BlockText(i) + " has storedLength " +
                        std::to_string(storedLength) + " > compressBound(1 MiB)");
  }
}

}  // namespace cr
