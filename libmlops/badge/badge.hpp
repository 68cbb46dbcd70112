// badge: flat shields.io-style SVG badges and shields.io endpoint JSON. Knows nothing of
// grading: a badge is a label, a message and a colour.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mlops::badge {

struct Badge {
  std::string label;    // left, on grey; may be empty (a message-only badge)
  std::string message;  // right, on `color`
  std::string color;    // a shields colour name (brightgreen, green, yellowgreen, yellow,
                        // orange, red, blue, lightgrey, grey, ...) or #rgb / #rrggbb
};

// The colour as #rrggbb. Throws Error{invalid_input} naming the colour and the valid names.
std::string color_hex(std::string_view color);

// Width in pixels of UTF-8 text in Verdana 11px (shields.io's measure: per-character
// widths; a character outside the table counts as wide as 'm').
double text_width(std::string_view utf8);

// A well-formed standalone SVG (xmlns set, text XML-escaped, title for screen readers),
// 20 px high, each half as wide as its text plus 5 px on each side.
std::string render_svg(const Badge& badge);

// shields.io's endpoint format: {"schemaVersion":1,"label","message","color"}.
nlohmann::json endpoint_json(const Badge& badge);

}  // namespace mlops::badge
