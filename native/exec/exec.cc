// cr_exec: the scheduler's own tiny addon, apart from the job addon (cr_native). One function,
// exec(path, argv), which replaces the process with another program (execv(3)): cr-scheduler
// uses it to restart Node, in the same process, with V8 flags that V8 takes only at start-up
// (scheduler/exec.ts). It never returns on success; it throws with errno's message when execv fails.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#if !defined(_WIN32)
#include <fcntl.h>
#include <unistd.h>
#endif

namespace cr {

namespace {

Napi::Value ExecJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray()) {
    Napi::TypeError::New(env, "exec(path, argv): path must be a string and argv an array of strings")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
#if defined(_WIN32)
  Napi::Error::New(env, "exec: not available on Windows").ThrowAsJavaScriptException();
  return env.Undefined();
#else
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const Napi::Array list = info[1].As<Napi::Array>();
  std::vector<std::string> args;
  args.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    const Napi::Value v = list.Get(i);
    if (!v.IsString()) {
      Napi::TypeError::New(env, "exec: argv must hold only strings").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    args.push_back(v.As<Napi::String>().Utf8Value());
  }
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The pid and the environment (environ) carry over, and so must stdin, stdout and stderr:
  // Node marks them close-on-exec too (a new Node would find them closed and put /dev/null
  // there), so that mark comes off them here. Every other descriptor stays close-on-exec.
  for (int fd = 0; fd <= 2; fd++) {
    const int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) != 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  execv(path.c_str(), argv.data());
  const int error = errno;
  Napi::Error e = Napi::Error::New(env, std::string("exec ") + path + ": " + std::strerror(error));
  e.Set("errno", Napi::Number::New(env, error));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("exec", Napi::Function::New(env, ExecJs, "exec"));
  return exports;
}

}  // namespace

}  // namespace cr

// NODE_API_MODULE pastes the name into an identifier, so it needs an unqualified one.
static Napi::Object InitCrExec(Napi::Env env, Napi::Object exports) {
  return cr::Init(env, exports);
}

NODE_API_MODULE(cr_exec, InitCrExec)
