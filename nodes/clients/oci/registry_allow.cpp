#include "nodes/clients/oci/registry_allow.hpp"

#include <algorithm>

#include "nodes/clients/oci/ascii.hpp"
#include "nodes/clients/oci/reference.hpp"

namespace pp::oci {

using ascii::lower;
using ascii::trim;

RegistryAllowList::RegistryAllowList(std::string default_registry) {
  if (!default_registry.empty()) registries_.push_back(lower(default_registry));
}

Expected<RegistryAllowList> RegistryAllowList::parse(std::string_view csv,
                                                     std::string default_registry) {
  RegistryAllowList list(std::move(default_registry));
  while (!csv.empty()) {
    const auto comma = csv.find(',');
    const std::string_view entry = trim(csv.substr(0, comma));
    csv = comma == std::string_view::npos ? std::string_view() : csv.substr(comma + 1);
    if (entry.empty()) continue;
    if (entry == "*") {
      list.any_ = true;
      continue;
    }
    // The reference grammar decides what a registry is, and maps Docker Hub's names as it does
    // for requests: "docker.io" allows what "docker.io/x" fetches from.
    const auto ref = parse_reference(std::string(entry) + "/x", "");
    if (!ref || ref->registry.empty() || entry.find('/') != std::string_view::npos) {
      return Error{errc::invalid_request,
                   "\"" + std::string(entry) + "\" is not a registry host[:port] or \"*\""};
    }
    list.registries_.push_back(lower(ref->registry));
  }
  return list;
}

bool RegistryAllowList::allows(std::string_view registry) const {
  if (any_) return true;
  const std::string wanted = lower(registry);
  return std::find(registries_.begin(), registries_.end(), wanted) != registries_.end();
}

std::string RegistryAllowList::describe() const {
  if (any_) return "*";
  std::string out;
  for (const auto& r : registries_)
    out += (out.empty() ? "" : ", ") + r;
  return out.empty() ? "none" : out;
}

}  // namespace pp::oci
