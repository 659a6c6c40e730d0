#pragma once
// oneTBB's task scheduler lives in libtbb, which is not built with ThreadSanitizer: a message that
// one graph node puts and the next one takes crosses threads through synchronisation TSan cannot
// see. In a TSan build the graph's edges say what they are: whoever puts a transfer's message
// releases on the transfer, and the stage that takes it acquires. Elsewhere these cost nothing.

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace pp {

inline void handoff_release([[maybe_unused]] const void* on) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(const_cast<void*>(on));
#endif
}

inline void handoff_acquire([[maybe_unused]] const void* on) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(const_cast<void*>(on));
#endif
}

}  // namespace pp
