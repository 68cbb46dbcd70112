#include "libmlops/crm/segment_policy.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"

namespace mlops::crm {
namespace {

[[noreturn]] void bad(const std::string& origin, int line, const std::string& why) {
  throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: {}", origin, line, why),
              "see examples/segment_policy.yml for the format");
}

int line_of(const YAML::Node& node) { return node.Mark().line + 1; }

std::string label(const YAML::Node& node, const std::string& origin, const char* what) {
  if (!node.IsScalar() || node.as<std::string>().empty()) bad(origin, line_of(node), fmt::format("{} must be a non-empty label", what));
  return node.as<std::string>();
}

}  // namespace

SegmentPolicy SegmentPolicy::course_default() {
  SegmentPolicy p;
  p.classes_ = {{"1", "Churn_Risk_AI", 0}};
  return p;
}

SegmentPolicy SegmentPolicy::parse(std::string_view yaml, const std::string& origin) {
  SegmentPolicy p;
  p.origin_ = origin;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    bad(origin, e.mark.line + 1, fmt::format("not valid YAML: {}", e.msg));
  }
  if (!root.IsMap()) bad(origin, 1, "the policy must be a mapping with default, classes and/or bands");
  try {
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      const YAML::Node& value = entry.second;
      if (key == "default") {
        p.default_segment_ = label(value, origin, "default");
      } else if (key == "classes") {
        if (!value.IsMap()) bad(origin, line_of(value), "classes must map a class label to a segment");
        for (const auto& rule : value) {
          p.classes_.push_back({rule.first.as<std::string>(), label(rule.second, origin, "a class's segment"), line_of(rule.first)});
        }
      } else if (key == "bands") {
        if (!value.IsMap() || !value["class"] || !value["ranges"] || !value["ranges"].IsSequence()) {
          bad(origin, line_of(value), "bands needs class and a list of ranges");
        }
        p.band_class_ = value["class"].as<std::string>();
        p.band_class_line_ = line_of(value["class"]);
        for (const auto& range : value["ranges"]) {
          Band b{range["from"] ? range["from"].as<double>() : 0.0, range["to"] ? range["to"].as<double>() : 1.0,
                 range["segment"] ? label(range["segment"], origin, "a band's segment") : "", line_of(range)};
          if (b.segment.empty()) bad(origin, b.line, "a band needs a segment");
          if (!(b.from >= 0 && b.to <= 1 && b.from < b.to)) {
            bad(origin, b.line, fmt::format("band [{}, {}) must lie in [0, 1] with from < to", b.from, b.to));
          }
          p.bands_.push_back(std::move(b));
        }
        std::vector<Band> sorted = p.bands_;
        std::sort(sorted.begin(), sorted.end(), [](const Band& a, const Band& b) { return a.from < b.from; });
        for (std::size_t i = 1; i < sorted.size(); ++i) {
          if (sorted[i].from < sorted[i - 1].to) {
            bad(origin, sorted[i].line, fmt::format("band [{}, {}) overlaps the band on line {}", sorted[i].from,
                                                    sorted[i].to, sorted[i - 1].line));
          }
        }
      } else if (key != "version" && key != "description") {
        bad(origin, line_of(entry.first), fmt::format("unknown key '{}' (expected default, classes, bands)", key));
      }
    }
  } catch (const YAML::Exception& e) {
    bad(origin, e.mark.line + 1, e.msg);
  }
  return p;
}

SegmentPolicy SegmentPolicy::load(const std::string& path) { return parse(read_file(path), path); }

void SegmentPolicy::check_classes(const std::vector<std::string>& model_classes) const {
  const auto known = [&](const std::string& c) {
    return std::find(model_classes.begin(), model_classes.end(), c) != model_classes.end();
  };
  for (const ClassRule& rule : classes_) {
    if (!known(rule.class_label)) {
      bad(origin_, rule.line, fmt::format("class '{}' is not one of the model's classes ({})", rule.class_label,
                                          fmt::join(model_classes, ", ")));
    }
  }
  if (!bands_.empty() && !known(band_class_)) {
    bad(origin_, band_class_line_, fmt::format("bands class '{}' is not one of the model's classes ({})", band_class_,
                                               fmt::join(model_classes, ", ")));
  }
}

std::string SegmentPolicy::decide(std::size_t predicted, const std::vector<std::string>& model_classes,
                                  const double* probabilities) const {
  if (!bands_.empty()) {
    const auto it = std::find(model_classes.begin(), model_classes.end(), band_class_);
    if (it != model_classes.end()) {
      const double p = probabilities[it - model_classes.begin()];
      for (const Band& b : bands_) {
        if (p >= b.from && (p < b.to || (b.to == 1.0 && p <= 1.0))) return b.segment;
      }
    }
  }
  for (const ClassRule& rule : classes_) {
    if (rule.class_label == model_classes[predicted]) return rule.segment;
  }
  return default_segment_;
}

}  // namespace mlops::crm
