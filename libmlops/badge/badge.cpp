#include "libmlops/badge/badge.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <vector>

#include "libmlops/core/error.hpp"
#include "libmlops/core/xml.hpp"

namespace mlops::badge {
namespace detail {
extern const std::string_view kVerdana11Widths;
}  // namespace detail
namespace {

struct WidthRange {
  std::uint32_t first, last;
  double width;
};

const std::vector<WidthRange>& widths() {
  static const std::vector<WidthRange> table = [] {
    std::vector<WidthRange> t;
    for (const auto& r : nlohmann::json::parse(detail::kVerdana11Widths)) {
      t.push_back({r[0].get<std::uint32_t>(), r[1].get<std::uint32_t>(), r[2].get<double>()});
    }
    return t;
  }();
  return table;
}

double width_of(std::uint32_t code_point) {
  const auto& t = widths();
  auto it = std::upper_bound(t.begin(), t.end(), code_point, [](std::uint32_t c, const WidthRange& r) { return c < r.first; });
  if (it != t.begin() && code_point <= std::prev(it)->last) return std::prev(it)->width;
  return width_of('m');
}

// Decodes UTF-8; a malformed sequence becomes U+FFFD.
std::vector<std::uint32_t> code_points(std::string_view s) {
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const int extra = b < 0x80 ? 0 : (b >> 5) == 0x6 ? 1 : (b >> 4) == 0xE ? 2 : (b >> 3) == 0x1E ? 3 : -1;
    std::uint32_t c = extra == 0 ? b : extra == 1 ? b & 0x1Fu : extra == 2 ? b & 0x0Fu : b & 0x07u;
    bool ok = extra >= 0 && i + static_cast<std::size_t>(extra) < s.size() + (extra == 0 ? 1 : 0);
    for (int k = 1; ok && k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      ok = (next & 0xC0) == 0x80;
      c = (c << 6) | (next & 0x3Fu);
    }
    out.push_back(ok ? c : 0xFFFD);
    i += ok ? static_cast<std::size_t>(extra) + 1 : 1;
  }
  return out;
}

constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kNamedColors = {{
    {"brightgreen", "#44cc11"}, {"green", "#97ca00"}, {"yellowgreen", "#a4a61d"}, {"yellow", "#dfb317"},
    {"orange", "#fe7d37"}, {"red", "#e05d44"}, {"blue", "#007ec6"}, {"grey", "#555555"}, {"gray", "#555555"},
    {"lightgrey", "#9f9f9f"}, {"lightgray", "#9f9f9f"}, {"success", "#44cc11"}, {"important", "#fe7d37"},
    {"critical", "#e05d44"}, {"informational", "#007ec6"}, {"inactive", "#9f9f9f"},
}};

// Dark text on light backgrounds, as shields.io does.
bool is_light(const std::string& hex) {
  const auto channel = [&](int i) { return std::stoi(hex.substr(1 + 2 * static_cast<std::size_t>(i), 2), nullptr, 16); };
  return (0.299 * channel(0) + 0.587 * channel(1) + 0.114 * channel(2)) / 255 > 0.69;
}

struct Side {
  std::string text;
  double text_width = 0;
  int width = 0;  // text plus 5 px padding each side
};

Side side(const std::string& text) {
  Side s{text, text_width(text), 0};
  s.width = text.empty() ? 0 : static_cast<int>(std::lround(s.text_width)) + 10;
  return s;
}

std::string text_element(const Side& s, int offset, const std::string& background) {
  const bool light = is_light(background);
  const int x = offset * 10 + s.width * 5;  // the centre, in the 10x text coordinates
  const long length = std::lround(s.text_width * 10);
  const std::string text = xml_escape(s.text);
  return fmt::format(
      R"svg(<text aria-hidden="true" x="{0}" y="150" fill="{1}" fill-opacity=".3" transform="scale(.1)" textLength="{2}">{3}</text>)svg"
      R"svg(<text x="{0}" y="140" transform="scale(.1)" fill="{4}" textLength="{2}">{3}</text>)svg",
      x, light ? "#ccc" : "#010101", length, text, light ? "#333" : "#fff");
}

}  // namespace

std::string color_hex(std::string_view color) {
  for (const auto& [name, hex] : kNamedColors) {
    if (color == name) return std::string(hex);
  }
  std::string_view digits = color.substr(!color.empty() && color.front() == '#' ? 1 : 0);
  const bool hex = (digits.size() == 3 || digits.size() == 6) &&
                   std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
  if (!hex) {
    throw Error(ErrorCode::invalid_input, fmt::format("'{}' is not a badge colour", color),
                "use a name (brightgreen, green, yellowgreen, yellow, orange, red, blue, lightgrey, grey) or #rrggbb");
  }
  std::string out = "#";
  for (char c : digits) {
    const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += digits.size() == 3 ? std::string(2, lower) : std::string(1, lower);
  }
  return out;
}

double text_width(std::string_view utf8) {
  double total = 0;
  for (std::uint32_t c : code_points(utf8)) total += width_of(c);
  return total;
}

std::string render_svg(const Badge& badge) {
  const std::string color = color_hex(badge.color);
  const std::string label_color = "#555555";
  const Side left = side(badge.label);
  const Side right = side(badge.message.empty() ? std::string("-") : badge.message);
  const int width = left.width + right.width;
  const std::string title = xml_escape(badge.label.empty() ? badge.message : badge.label + ": " + badge.message);
  std::string svg = fmt::format(
      R"svg(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="20" role="img" aria-label="{1}">)svg"
      R"svg(<title>{1}</title>)svg"
      R"svg(<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>)svg"
      R"svg(<clipPath id="r"><rect width="{0}" height="20" rx="3" fill="#fff"/></clipPath>)svg"
      R"svg(<g clip-path="url(#r)">)svg",
      width, title);
  if (left.width > 0) svg += fmt::format(R"svg(<rect width="{}" height="20" fill="{}"/>)svg", left.width, label_color);
  svg += fmt::format(R"svg(<rect x="{}" width="{}" height="20" fill="{}"/>)svg", left.width, right.width, color);
  svg += fmt::format(R"svg(<rect width="{}" height="20" fill="url(#s)"/></g>)svg", width);
  svg += R"svg(<g text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="110">)svg";
  if (left.width > 0) svg += text_element(left, 0, label_color);
  svg += text_element(right, left.width, color);
  svg += "</g></svg>\n";
  return svg;
}

nlohmann::json endpoint_json(const Badge& badge) {
  color_hex(badge.color);  // the same colours are valid here as in the SVG
  return {{"schemaVersion", 1}, {"label", badge.label}, {"message", badge.message}, {"color", badge.color}};
}

}  // namespace mlops::badge
