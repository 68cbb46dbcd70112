// crm: the segment policy — which CRM segment a prediction becomes (YAML, validated).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace mlops::crm {

// A policy maps a prediction to a segment label:
//   default: Normal_Segment_AI      # any class not listed
//   classes: {1: Churn_Risk_AI}     # predicted class -> segment
//   bands:                          # optional: graded by one class's probability
//     class: 1
//     ranges: [{from: 0.8, to: 1.0, segment: High_Risk_AI}, {from: 0.5, to: 0.8, segment: Churn_Risk_AI}]
// When bands are given, a probability inside a range takes its segment; outside every
// range the class rules apply.
class SegmentPolicy {
 public:
  struct Band {
    double from = 0, to = 1;  // [from, to), the last range of 1.0 includes 1.0
    std::string segment;
    int line = 0;
  };
  struct ClassRule {
    std::string class_label;
    std::string segment;
    int line = 0;
  };

  // The course's binary policy: class 1 -> Churn_Risk_AI, else Normal_Segment_AI.
  static SegmentPolicy course_default();
  // Throws Error{invalid_input} naming origin and line: empty labels, bands outside [0, 1]
  // or overlapping, unknown keys.
  static SegmentPolicy parse(std::string_view yaml, const std::string& origin);
  static SegmentPolicy load(const std::string& path);  // Error{not_found} if missing

  // Error{invalid_input} naming the line when the policy names a class the model lacks.
  void check_classes(const std::vector<std::string>& model_classes) const;
  // The segment for a prediction (probabilities in model class order).
  std::string decide(std::size_t predicted, const std::vector<std::string>& model_classes,
                     const double* probabilities) const;
  const std::string& origin() const { return origin_; }

 private:
  std::string origin_ = "built-in course policy";
  std::string default_segment_ = "Normal_Segment_AI";
  std::vector<ClassRule> classes_;
  std::string band_class_;
  int band_class_line_ = 0;
  std::vector<Band> bands_;
};

}  // namespace mlops::crm
