// Replacing the process with another program (execv), for the CLI to restart Node with V8 flags
// that can only be given at start-up.
#pragma once

#include <napi.h>

namespace cr {

// exec(path, argv): never returns on success; throws with errno's message when execv fails.
Napi::Value ExecJs(const Napi::CallbackInfo& info);

}  // namespace cr
