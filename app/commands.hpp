#pragma once
// The subcommands. Each returns the process's exit status.

#include <chrono>
#include <string>

#include "app/config/settings.hpp"

namespace pp {

// Exit statuses shared by the subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the operation failed (the message says why)
inline constexpr int kExitUsage = 2;    // invalid command line or configuration
inline constexpr int kExitTimeout = 3;  // pull: no complete answer in time

int run_serve(const Config& config);
// `sign_key`: a PEM private key to sign the pushed manifest with; empty: unsigned.
int run_push(const Config& config, const std::string& file, const std::string& reference,
             const std::string& sign_key);
int run_verify(const Config& config, const std::string& reference);
int run_pull(const Config& config, const std::string& reference, const std::string& out,
             std::chrono::seconds timeout);

}  // namespace pp
