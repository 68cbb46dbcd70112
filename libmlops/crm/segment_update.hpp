// crm: the steps of one customer's segment update (the course's M4 flow) as a plain
// function: fetch the features, predict, decide the segment, write it back. The service
// routes and tests call it; it knows no HTTP.
#pragma once
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "libmlops/crm/crm_store.hpp"

namespace mlops::crm {

// What the model and the segment policy said of one customer's features.
struct Prediction {
  nlohmann::json label;  // the predicted class (a number or a string, as the model's classes)
  double probability = 0;
  std::string segment;   // the policy's decision
};
using Scorer = std::function<Prediction(const std::vector<double>& features)>;

struct SegmentUpdateInput {
  std::string customer_id;
  std::string model_version;   // stamped on the customer with the segment
  std::size_t feature_count;   // what the model expects
  std::string source;          // the audit's source, e.g. "request:ID"
  bool force = false;          // write (and audit) even when the segment is unchanged
  std::string policy;          // the policy's origin, for the log
  std::string request_id;      // for the log
};

struct SegmentUpdate {
  std::string status;            // "updated" or "unchanged"
  std::string previous_segment;
  std::string segment;
  Prediction prediction;
};

// Logs each step (info: "crm features fetched", "prediction", "decision", "crm write") with
// the customer and request id. The CRM is written last, so a failure before leaves it
// untouched. Throws Error{not_found} for an unknown customer, Error{invalid_input} when the
// CRM holds another number of features than the model expects, and the store's errors.
SegmentUpdate update_segment(CrmStore& store, const SegmentUpdateInput& in, const Scorer& score);

}  // namespace mlops::crm
