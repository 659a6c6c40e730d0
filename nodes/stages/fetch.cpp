#include "nodes/stages/fetch.hpp"

#include "nodes/common/fault.hpp"
#include "nodes/model/next.hpp"

namespace pp {

FetchStage::Next FetchStage::operator()(const TransferPtr& t) {
  active_.dequeued();
  fault_point("fetch", t->request.app_name);
  if (t->failed.load()) return fail_by<failed, Next>(t, cancelled_error());
  // A resend the proxy made itself knows its module already.
  if (t->module) return by<to_download, Next>(t);
  if (auto cached = resolution_.start_from_cache(*t, false); cached.answered) {
    if (cached.error) return fail_by<failed, Next>(t, std::move(*cached.error));
    return by<to_download, Next>(t);
  }
  publisher_.publish_progress(*t, "resolving");
  return by<to_registry, Next>(t);
}

}  // namespace pp
