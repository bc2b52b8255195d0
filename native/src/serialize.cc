// serializeValue: V8's own ValueSerializer, the one v8.serialize drives, with a delegate whose
// buffer is memory the caller keeps from one checkpoint to the next.
//
// v8.serialize grows a fresh malloc'd buffer for every call. For 10^6 small objects that is an
// 80 MB stream whose pages are all new: 40-60 thousand page faults and 60-110 ms of system time
// inside a 0.9 s call, every checkpoint. Here the stream goes into the caller's arena, whose
// pages stay mapped after its first use; a stream that outgrows it continues on the heap and is
// handed back in an ArrayBuffer of its own (the caller then grows the arena for the next time).
//
// The stream is byte for byte what src/capture/state-serializer.ts's StateSerializer writes: the
// same serializer, views as host objects, and each host object's reference computed by the same
// JS function. Whatever V8 refuses (a function, a SharedArrayBuffer, a view of shared memory...)
// returns null, and the caller serializes again on its JS path, which names what and where.
//
// This file alone uses the V8 API rather than Node-API: Node-API has no value serializer. A
// napi_value is a v8::Local<v8::Value> (Node's own js_native_api_v8.h converts them so); cr is
// built from source against the Node that runs it, so the V8 headers always match.
#include "serialize.h"

#include <v8.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "args.h"

namespace cr {

namespace {

constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1

// A whole number in [0, max]: what a reference may hold (NaN, negatives and fractions are not).
bool Count(double v, double max) { return v >= 0 && v <= max && v == static_cast<double>(static_cast<uint64_t>(v)); }

v8::Local<v8::Value> ToV8(napi_value value) {
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(value), "napi_value is a v8::Local");
  std::memcpy(static_cast<void*>(&local), &value, sizeof(value));
  return local;
}

class ArenaDelegate final : public v8::ValueSerializer::Delegate {
 public:
  ArenaDelegate(v8::Isolate* isolate, uint8_t* arena, size_t capacity,
                v8::Local<v8::Function> hostObject, double* reference)
      : isolate_(isolate),
        arena_(arena),
        capacity_(capacity),
        hostObject_(hostObject),
        reference_(reference) {}

  void SetSerializer(v8::ValueSerializer* serializer) { serializer_ = serializer; }
  uint8_t* arena() const { return arena_; }
  bool failed() const { return failed_; }

  void ThrowDataCloneError(v8::Local<v8::String> message) override {
    isolate_->ThrowException(v8::Exception::Error(message));
  }

  // A view (or another host object): the JS function fills reference[0..3] with the buffer's
  // index, the view's type code, its byte offset and its length, or throws.
  v8::Maybe<bool> WriteHostObject(v8::Isolate* isolate, v8::Local<v8::Object> object) override {
    v8::Local<v8::Value> argv[] = {object};
    if (hostObject_->Call(isolate->GetCurrentContext(), v8::Undefined(isolate), 1, argv).IsEmpty() ||
        !Count(reference_[0], UINT32_MAX) || !Count(reference_[1], UINT32_MAX) ||
        !Count(reference_[2], kMaxSafe) || !Count(reference_[3], kMaxSafe)) {
      // V8 goes on after a host object only when no exception is scheduled, and the caller's
      // TryCatch keeps this one from being scheduled: the stream is worthless from here on.
      failed_ = true;
      return v8::Nothing<bool>();
    }
    serializer_->WriteUint32(static_cast<uint32_t>(reference_[0]));
    serializer_->WriteUint32(static_cast<uint32_t>(reference_[1]));
    serializer_->WriteUint64(static_cast<uint64_t>(reference_[2]));
    serializer_->WriteUint64(static_cast<uint64_t>(reference_[3]));
    return v8::Just(true);
  }

  // V8's default answer writes nothing for the module and reports success, which leaves a stream
  // no deserializer can read (v8.serialize does the same): refuse it instead.
  v8::Maybe<uint32_t> GetWasmModuleTransferId(v8::Isolate* isolate,
                                              v8::Local<v8::WasmModuleObject>) override {
    failed_ = true;
    isolate->ThrowException(v8::Exception::Error(
        v8::String::NewFromUtf8Literal(isolate, "a WebAssembly.Module cannot be serialized")));
    return v8::Nothing<uint32_t>();
  }

  // realloc's contract: the first call gets the arena whole; growing out of it moves what was
  // written to the heap.
  void* ReallocateBufferMemory(void* old, size_t size, size_t* actual) override {
    if (old == nullptr && size <= capacity_) {
      *actual = capacity_;
      return arena_;
    }
    void* grown;
    if (old == arena_ && arena_ != nullptr) {
      grown = std::malloc(size);
      if (grown != nullptr) std::memcpy(grown, arena_, capacity_);
    } else {
      grown = std::realloc(old, size);
    }
    if (grown != nullptr) *actual = size;
    return grown;
  }

  void FreeBufferMemory(void* buffer) override {
    if (buffer != arena_) std::free(buffer);
  }

 private:
  v8::Isolate* const isolate_;
  uint8_t* const arena_;
  const size_t capacity_;
  const v8::Local<v8::Function> hostObject_;
  double* const reference_;
  v8::ValueSerializer* serializer_ = nullptr;
  bool failed_ = false;
};

}  // namespace

Napi::Value SerializeValueJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "serializeValue";
  View arena = Uint8ArrayArg(env, info[1], fn, "arena");
  const auto offset = static_cast<size_t>(
      IntegerArg(env, info[2], fn, "offset", 0, static_cast<int64_t>(arena.byteLength)));
  if (!info[3].IsFunction()) ThrowType(env, std::string(fn) + ": hostObject must be a function");
  View reference = TypedArrayArg(env, info[4], napi_float64_array, fn, "reference");
  if (reference.length < 4) ThrowRange(env, std::string(fn) + ": reference must hold 4 numbers");

  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  ArenaDelegate delegate(isolate, arena.data + offset, arena.byteLength - offset,
                         ToV8(info[3]).As<v8::Function>(),
                         reinterpret_cast<double*>(reference.data));
  v8::ValueSerializer serializer(isolate, &delegate);
  delegate.SetSerializer(&serializer);
  serializer.SetTreatArrayBufferViewsAsHostObjects(true);
  {
    // Whatever it throws stays here: the caller's JS path says what could not be captured.
    v8::TryCatch tryCatch(isolate);
    serializer.WriteHeader();
    if (serializer.WriteValue(context, ToV8(info[0])).IsNothing() || delegate.failed() ||
        tryCatch.HasCaught()) {
      return env.Null();
    }
  }
  const std::pair<uint8_t*, size_t> stream = serializer.Release();
  if (stream.first == delegate.arena()) {
    return Napi::Number::New(env, static_cast<double>(offset + stream.second));
  }
  // Copied into an ArrayBuffer of V8's own rather than handed over as external memory, which
  // builds of Node with V8's sandbox refuse. Only the capture that outgrows the arena pays it.
  Napi::ArrayBuffer out;
  try {
    out = Napi::ArrayBuffer::New(env, stream.second);
  } catch (const Napi::Error&) {
    // No memory for the copy: the caller's JS path tries, and says what failed.
    std::free(stream.first);
    return env.Null();
  }
  std::memcpy(out.Data(), stream.first, stream.second);
  std::free(stream.first);
  return out;
}

}  // namespace cr
