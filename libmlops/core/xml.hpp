// core: escaping text for XML (SVG badges, JUnit reports).
#pragma once
#include <string>
#include <string_view>

namespace mlops {

// & < > " ' as entities, so the text is safe in element content and attribute values.
std::string xml_escape(std::string_view text);

}  // namespace mlops
