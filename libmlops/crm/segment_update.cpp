#include "libmlops/crm/segment_update.hpp"

#include <fmt/format.h>

#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"

namespace mlops::crm {

SegmentUpdate update_segment(CrmStore& store, const SegmentUpdateInput& in, const Scorer& score) {
  const auto step = [&](std::string_view what, logging::Fields fields) {
    fields.insert(fields.begin(), {{"customer_id", in.customer_id}, {"request_id", in.request_id}});
    logging::event(logging::Level::info, what, fields);
  };
  const auto customer = store.find_customer(in.customer_id);
  if (!customer) throw Error(ErrorCode::not_found, fmt::format("no customer with id '{}' in the CRM", in.customer_id));
  step("crm features fetched", {{"features", std::to_string(customer->features.size())}, {"segment", customer->segment}});
  if (customer->features.size() != in.feature_count) {
    throw Error(ErrorCode::invalid_input, fmt::format("the CRM has {} features for {}, the model expects {}",
                                                      customer->features.size(), in.customer_id, in.feature_count));
  }
  SegmentUpdate out;
  out.prediction = score(customer->features);
  step("prediction", {{"prediction", out.prediction.label.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)},
                      {"probability", fmt::format("{:.4f}", out.prediction.probability)},
                      {"model_version", in.model_version}});
  out.segment = out.prediction.segment;
  step("decision", {{"segment", out.segment}, {"previous_segment", customer->segment}, {"policy", in.policy}});
  const auto change = store.write_segments({{in.customer_id, out.segment, in.model_version, in.source, in.force}}).front();
  out.previous_segment = change.old_segment;
  out.status = change.changed || in.force ? "updated" : "unchanged";
  step("crm write", {{"status", out.status}, {"segment", out.segment}});
  return out;
}

}  // namespace mlops::crm
