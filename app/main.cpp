// propeller-proxy: serves WebAssembly modules from OCI registries to proplets over MQTT.
// The command line: every setting is a flag and an environment variable (flag > environment >
// aliases > config.toml > default); `serve` is the default subcommand.

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <map>

#include "app/commands.hpp"
#include "app/config/settings.hpp"
#include "app/config/sources.hpp"
#include "nodes/common/log.hpp"

#ifndef PP_VERSION
#define PP_VERSION "unknown"
#endif

namespace {

std::string help_for(const pp::Setting& s) {
  std::string text = std::string(s.description) + " [env " + s.env;
  if (*s.default_value) text += ", default " + std::string(s.default_value);
  if (s.required_by) text += ", required";
  for (const char* alias : s.aliases) {
    text += std::string(", also ") + alias;
  }
  for (const char* key : s.toml_keys) {
    text += std::string(", also config.toml [proxy].") + key;
  }
  return text + "]";
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "propeller-proxy: %s\n", message.c_str());
  return pp::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // serve takes SIGINT/SIGTERM synchronously (graceful shutdown). Blocking them first thing means
  // a signal that arrives during start-up waits for it instead of killing the process half-made,
  // and every thread created later inherits the mask. The client subcommands unblock them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  pp::oci::ProxyEnvironment proxies = pp::oci::take_proxy_environment();
  CLI::App app{"Delivers WebAssembly modules from OCI registries to Propeller proplets over MQTT.",
               "propeller-proxy"};
  app.set_version_flag("--version", PP_VERSION);
  app.footer(
      "Every setting is a flag or an environment variable. Some also take the Go proxy's names "
      "(\"also\" above), so that its deployments work unchanged; the setting's own variable wins "
      "over them. Where neither a flag nor a variable gives the tenant, entity id, API key or "
      "channel, they are read from the [proxy] table of --config (default: ./config.toml, if it "
      "exists).");
  app.fallthrough();  // settings may follow the subcommand: `propeller-proxy serve --chunk-size 1`
  app.require_subcommand(0, 1);

  std::map<std::string, std::string> values;
  std::map<std::string, CLI::Option*> options;
  for (const pp::Setting& s : pp::settings()) {
    options[s.env] = app.add_option(s.flag, values[s.env], help_for(s))->type_name("VALUE");
  }

  auto* serve = app.add_subcommand("serve", "Answer proplets' requests (the default)");
  bool print_config = false;
  serve->add_flag("--print-config", print_config,
                  "Print the effective configuration (secrets redacted) and exit");

  auto* push = app.add_subcommand("push", "Push a wasm file to a registry as an OCI artifact");
  std::string push_file, push_ref;
  push->add_option("FILE", push_file, "The .wasm file")->required();
  push->add_option("REF", push_ref, "Where to push it: [host[:port]/]repo[:tag]")->required();
  std::string push_sign_key;
  push->add_option("--sign-key", push_sign_key,
                   "Sign it with this unencrypted PEM private key (ECDSA P-256, RSA or Ed25519), "
                   "as cosign 3 does: a Sigstore bundle attached as an OCI 1.1 referrer")
      ->type_name("KEY.pem");

  auto* pull =
      app.add_subcommand("pull", "Fetch a module through a running proxy, as a proplet does");
  std::string pull_ref, pull_out;
  int pull_timeout = 60;
  pull->add_option("REF", pull_ref, "The module's reference, as a proplet sends it")->required();
  pull->add_option("--out,-o", pull_out, "Where to write the verified module")->required();
  pull->add_option("--timeout", pull_timeout, "Seconds to wait for the whole module [default 60]")
      ->check(CLI::PositiveNumber);

  auto* verify = app.add_subcommand(
      "verify", "Check a module's signatures as the proxy would, and print the verdict");
  std::string verify_ref;
  verify->add_option("REF", verify_ref, "The module's reference: [host[:port]/]repo[:tag|@digest]")
      ->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return usage_error(e.what());
  }

  pp::FlagValues flags;
  for (const auto& [env, option] : options) {
    if (option->count() > 0) flags[env] = values[env];
  }
  const pp::Command command = push->parsed()     ? pp::kPush
                              : pull->parsed()   ? pp::kPull
                              : verify->parsed() ? pp::kVerify
                                                 : pp::kServe;
  const auto env = pp::process_environment();
  auto config = pp::load_config(env, flags, command);
  if (print_config) std::fputs(pp::describe_config(env, flags).c_str(), stdout);
  if (!config) return usage_error("configuration error: " + config.error().message);
  if (print_config) return pp::kExitOk;
  config->proxies = std::move(proxies);

  // The client subcommands print their own result; their log shows only problems unless asked.
  const bool level_given = flags.count("PROXY_LOG_LEVEL") || env("PROXY_LOG_LEVEL");
  pp::log::setup(command == pp::kServe || level_given ? config->log_level : "warn",
                 config->log_json);

  if (command != pp::kServe) pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
  switch (command) {
    case pp::kPush:
      return pp::run_push(*config, push_file, push_ref, push_sign_key);
    case pp::kVerify:
      return pp::run_verify(*config, verify_ref);
    case pp::kPull:
      return pp::run_pull(*config, pull_ref, pull_out, std::chrono::seconds(pull_timeout));
    default:
      return pp::run_serve(*config);
  }
}
