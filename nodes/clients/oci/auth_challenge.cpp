#include "nodes/clients/oci/auth_challenge.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pp::oci {
namespace {

// RFC 7230 tchar: the characters of a token (auth-scheme, auth-param name, unquoted value).
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// RFC 7235 token68 characters before the trailing '='s.
bool is_token68_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// qdtext and the second character of a quoted-pair: HTAB, SP, VCHAR, obs-text. Other control
// characters (CR, LF, NUL, DEL) are damage: the values end up in URLs and log lines.
bool is_quoted_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return c == '\t' || (u >= 0x20 && u != 0x7f);
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  std::vector<Challenge> parse() {
    std::vector<Challenge> out;
    skip_list_separators();
    std::string_view scheme = token();
    while (!scheme.empty()) {
      // The scheme ends at whitespace, a comma or the end; anything else ("Bearer=x") is damage.
      if (!at_end() && !is_ows(peek()) && peek() != ',') break;
      // "realm = x" after a token68 challenge is a parameter where only a scheme may stand.
      if (followed_by_equals()) break;
      out.push_back(Challenge{lowercase(scheme), {}});
      scheme = challenge_body(out.back());
    }
    return out;
  }

 private:
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }

  void skip_ows() {
    while (!at_end() && is_ows(peek()))
      ++pos_;
  }
  // "#rule" lists allow empty elements: ", ,Bearer".
  void skip_list_separators() {
    while (!at_end() && (is_ows(peek()) || peek() == ','))
      ++pos_;
  }

  // Whether BWS '=' follows pos_ (which is kept).
  bool followed_by_equals() const {
    std::size_t i = pos_;
    while (i < s_.size() && is_ows(s_[i]))
      ++i;
    return i < s_.size() && s_[i] == '=';
  }

  std::string_view token() {
    const std::size_t start = pos_;
    while (!at_end() && is_tchar(peek()))
      ++pos_;
    return s_.substr(start, pos_ - start);
  }

  // A quoted-string at pos_ (which is '"'), unescaped; nullopt (and pos_ anywhere) when damaged.
  std::optional<std::string> quoted_string() {
    std::string out;
    ++pos_;  // opening quote
    while (!at_end()) {
      const char c = peek();
      ++pos_;
      if (c == '"') return out;
      if (c == '\\') {
        if (at_end() || !is_quoted_char(peek())) return std::nullopt;
        out.push_back(peek());
        ++pos_;
      } else if (is_quoted_char(c)) {
        out.push_back(c);
      } else {
        return std::nullopt;
      }
    }
    return std::nullopt;  // unterminated
  }

  // After a list element: true at the end or at a comma (consumed, with following separators).
  bool element_end() {
    skip_ows();
    if (at_end()) return true;
    if (peek() != ',') return false;
    skip_list_separators();
    return true;
  }

  // A token68 at pos_ when the element is one ("abc==" then end or comma); pos_ is kept otherwise.
  std::optional<std::string_view> token68() {
    std::size_t end = pos_;
    while (end < s_.size() && is_token68_char(s_[end]))
      ++end;
    if (end == pos_) return std::nullopt;
    while (end < s_.size() && s_[end] == '=')
      ++end;
    std::size_t after = end;
    while (after < s_.size() && is_ows(s_[after]))
      ++after;
    if (after < s_.size() && s_[after] != ',') return std::nullopt;
    const std::string_view value = s_.substr(pos_, end - pos_);
    pos_ = end;
    return value;
  }

  // The value after "name BWS = BWS"; nullopt when damaged.
  std::optional<std::string> param_value() {
    skip_ows();
    if (at_end()) return std::nullopt;
    if (peek() == '"') return quoted_string();
    const std::string_view value = token();
    if (value.empty()) return std::nullopt;
    return std::string(value);
  }

  // Parses what follows a scheme: a token68 or auth-params, up to the next challenge. Returns the
  // scheme of the next challenge (pos_ just after it), or "" at the end or on damage.
  std::string_view challenge_body(Challenge& challenge) {
    if (element_end()) {
      // No token68 or parameters ("Basic" alone): a following token is the next scheme.
      return token();
    }
    if (auto t68 = token68()) {
      challenge.params.emplace("", std::string(*t68));
      if (!element_end()) return {};
      return token();  // a token68 challenge carries nothing else: the next token is a scheme
    }
    std::string_view name = token();
    while (true) {
      if (name.empty()) return {};
      if (!followed_by_equals()) {
        // After a comma, a token not followed by '=' begins the next challenge.
        return challenge.params.empty() ? std::string_view{} : name;
      }
      skip_ows();
      ++pos_;  // '='
      auto value = param_value();
      // A parameter counts only when its list element ends cleanly: "a=b:c" or "a="b"x" is
      // damage, and a cut-off value must not pass for a whole one.
      if (!value || !element_end()) return {};
      // RFC 7235: a parameter name occurs once per challenge; the first occurrence wins.
      challenge.params.emplace(lowercase(name), std::move(*value));
      name = token();
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

std::vector<Challenge> parse_www_authenticate(std::string_view header) {
  return Parser(header).parse();
}

const Challenge* find_challenge(const std::vector<Challenge>& challenges, std::string_view scheme) {
  const std::string wanted = lowercase(scheme);
  for (const Challenge& c : challenges) {
    if (c.scheme == wanted) return &c;
  }
  return nullptr;
}

std::string pull_scope(std::string_view repository) {
  std::string scope = "repository:";
  scope += repository;
  scope += ":pull";
  return scope;
}

}  // namespace pp::oci
