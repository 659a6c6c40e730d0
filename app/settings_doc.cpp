// propeller-proxy-settings-doc: prints docs/configuration.md, made from the settings table so that
// the page cannot say other than the code (tests/unit/configuration_doc.cmake compares the two).
// A program of its own rather than a hidden subcommand: the page is a product of the source tree,
// not something an operator runs, so the proxy's command line stays as it is and the program is
// not installed.

#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/config/settings.hpp"

namespace {

constexpr const char* kPreamble =
    R"(# Configuration

<!-- Generated from the settings table (app/config/settings.cpp) by propeller-proxy-settings-doc:
do not edit. The test test_configuration_doc fails when this page is stale and says how to
regenerate it. -->

Every setting is an environment variable and a command-line flag; flags may also follow the
subcommand (`propeller-proxy serve --chunk-size 65536`). An empty variable counts as unset.

The first of these that gives a value wins:

1. the flag;
2. the variable;
3. the Go proxy's names for it (aliases), in the order listed, so that its deployments work
   unchanged;
4. for the settings that list a key, the `[proxy]` table of the config file (`PROXY_CONFIG_FILE`;
   by default `config.toml` in the working directory, read only if it exists), as for the Go proxy;
5. the default.

`propeller-proxy serve --print-config` prints every setting's effective value and its source (the
flag, variable, alias or config file key that gave it, or the default). Secrets are never printed
(they show as `(redacted)`) nor logged.

An invalid value stops the proxy before it does anything, with exit status 2 and a message that
names the flag, variable, alias or config file key that gave it, such as
`propeller-proxy: configuration error: --log-level: "loud" is not debug, info, warn or error`. A
setting required by a subcommand must be given to run it.

## Settings

In the order of the table.
)";

constexpr const char* kNone = "\u2014";

// Text taken literally: what Markdown would read as markup is escaped. An underscore inside a word
// (PROXY_CACHE_DIR) is not markup and stays as it is, for a readable source.
std::string literal(std::string_view text) {
  const auto word = [&](std::size_t i) {
    return i < text.size() && std::isalnum(static_cast<unsigned char>(text[i]));
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool inside_word = c == '_' && i > 0 && word(i - 1) && word(i + 1);
    if (std::string_view("\\`*_<[~$").find(c) != std::string_view::npos && !inside_word) {
      out += '\\';
    }
    out += c;
  }
  return out;
}

std::string code(std::string_view text) {
  return "`" + std::string(text) + "`";
}

std::string joined(const std::vector<std::string>& items) {
  if (items.empty()) return kNone;
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

std::string section(const pp::Setting& s) {
  std::vector<std::string> aliases, keys, commands;
  for (const char* alias : s.aliases)
    aliases.push_back(code(alias));
  for (const char* key : s.toml_keys)
    keys.push_back(code(key));
  for (const auto& [bit, name] : {std::pair{pp::kServe, "serve"}, std::pair{pp::kPush, "push"},
                                  std::pair{pp::kPull, "pull"}}) {
    if (s.required_by & bit) commands.push_back(name);
  }
  return "\n### " + code(s.env) + "\n\n" + literal(s.description) +
         "\n\n| flag | default | aliases | config.toml [proxy] | required by | secret |\n"
         "| --- | --- | --- | --- | --- | --- |\n| " +
         code(s.flag) + " | " + (*s.default_value ? code(s.default_value) : kNone) + " | " +
         joined(aliases) + " | " + joined(keys) + " | " + joined(commands) + " | " +
         (s.secret ? "yes" : "no") + " |\n";
}

}  // namespace

int main() {
  std::string page = kPreamble;
  for (const pp::Setting& s : pp::settings())
    page += section(s);
  return std::fputs(page.c_str(), stdout) < 0 ? 1 : 0;
}
