#include "libmlops/observability/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "libmlops/observability/process_stats.hpp"

namespace mlops::observability {
namespace {

// Family::Add builds a label map and takes a lock; a request should not. This caches the
// metric behind each label combination, looked up under a shared lock.
template <class T>
class LabelCache {
 public:
  explicit LabelCache(prometheus::Family<T>& family) : family_(family) {}
  template <class... Extra>
  T& get(const std::string& key, const std::function<prometheus::Labels()>& labels, Extra&&... extra) {
    {
      std::shared_lock lock(mutex_);
      if (auto it = cache_.find(key); it != cache_.end()) return *it->second;
    }
    std::unique_lock lock(mutex_);
    auto [it, inserted] = cache_.try_emplace(key, nullptr);
    if (inserted) it->second = &family_.Add(labels(), std::forward<Extra>(extra)...);
    return *it->second;
  }

 private:
  prometheus::Family<T>& family_;
  std::shared_mutex mutex_;
  std::unordered_map<std::string, T*> cache_;
};

std::string key_of(std::initializer_list<std::string_view> parts) {
  std::string key;
  for (std::string_view p : parts) {
    key += p;
    key += '\x1f';
  }
  return key;
}

}  // namespace

const std::vector<double>& latency_buckets() {
  static const std::vector<double> buckets = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                              0.025,   0.05,   0.1,     0.2,    0.5,   1.0};
  return buckets;
}

struct ServingMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& predictions =
      prometheus::BuildCounter().Name("prediction_requests_total").Help("Prediction requests by model version, endpoint and HTTP status").Register(*registry);
  prometheus::Family<prometheus::Histogram>& latency =
      prometheus::BuildHistogram().Name("prediction_latency_seconds").Help("Time to answer a prediction request, by model version").Register(*registry);
  prometheus::Family<prometheus::Counter>& classes =
      prometheus::BuildCounter().Name("prediction_class_total").Help("Predicted rows by model version and class").Register(*registry);
  prometheus::Family<prometheus::Counter>& http =
      prometheus::BuildCounter().Name("http_requests_total").Help("HTTP requests by method, route and status").Register(*registry);
  prometheus::Family<prometheus::Histogram>& http_latency =
      prometheus::BuildHistogram().Name("http_request_duration_seconds").Help("HTTP request duration by method and route").Register(*registry);
  prometheus::Family<prometheus::Counter>& crm =
      prometheus::BuildCounter().Name("crm_segment_updates_total").Help("CRM segment updates by segment and result").Register(*registry);
  prometheus::Family<prometheus::Gauge>& loaded =
      prometheus::BuildGauge().Name("model_loaded").Help("1 while a model version is loaded and serving").Register(*registry);
  prometheus::Family<prometheus::Gauge>& info =
      prometheus::BuildGauge().Name("model_info").Help("The loaded models: name, version, URI and artifact sha256").Register(*registry);
  // The course's own names (its app/main.py, dashboard and tests read them), beside ours.
  prometheus::Counter& course_predictions = prometheus::BuildCounter()
      .Name("ai_prediction_requests_total").Help("Prediction requests (the course's name)").Register(*registry).Add({});
  prometheus::Counter& course_errors = prometheus::BuildCounter()
      .Name("ai_prediction_errors_total").Help("Prediction requests that failed on the server's side, 5xx (the course's name)")
      .Register(*registry).Add({});
  prometheus::Family<prometheus::Gauge>& course_loaded =
      prometheus::BuildGauge().Name("ai_model_loaded").Help("1 while a model version is loaded (the course's name)").Register(*registry);

  prometheus::Family<prometheus::Gauge>& class_training_share =
      prometheus::BuildGauge().Name("prediction_class_training_share").Help("Share of each class among the model's predictions on its held-out test split (the reference of prediction drift)").Register(*registry);
  prometheus::Family<prometheus::Counter>& rollout_decisions =
      prometheus::BuildCounter().Name("rollout_decisions_total").Help("Rollout decisions this replica made, by decision and reason").Register(*registry);
  prometheus::Family<prometheus::Gauge>& rollout_state =
      prometheus::BuildGauge().Name("rollout_state").Help("1 for the state the model's rollout is in, 0 for the others").Register(*registry);
  prometheus::Family<prometheus::Gauge>& rollout_weight =
      prometheus::BuildGauge().Name("rollout_step_weight").Help("The rollout candidate's share of prediction traffic, 0 to 1").Register(*registry);

  LabelCache<prometheus::Counter> prediction_cache{predictions};
  LabelCache<prometheus::Counter> rollout_decision_cache{rollout_decisions};
  LabelCache<prometheus::Histogram> latency_cache{latency};
  LabelCache<prometheus::Counter> class_cache{classes};
  LabelCache<prometheus::Counter> http_cache{http};
  LabelCache<prometheus::Histogram> http_latency_cache{http_latency};
  LabelCache<prometheus::Counter> crm_cache{crm};

  std::mutex state_mutex;  // guards what follows
  std::vector<ModelInfo> models;
  std::map<std::string, std::pair<prometheus::Gauge*, prometheus::Gauge*>> loaded_by_version;  // ours, the course's
  std::vector<prometheus::Gauge*> info_gauges;
  std::vector<prometheus::Gauge*> share_gauges;
  std::map<std::string, std::pair<std::string, double>> gauges;
  std::function<std::vector<VersionDrift>()> drift_source;
};

ServingMetrics::ServingMetrics() : impl_(std::make_unique<Impl>()) {}
ServingMetrics::~ServingMetrics() = default;

void ServingMetrics::record_prediction(const std::string& model_version, std::string_view endpoint, int http_status,
                                       double seconds) {
  const std::string status = std::to_string(http_status);
  impl_->prediction_cache
      .get(key_of({model_version, endpoint, status}),
           [&] { return prometheus::Labels{{"model_version", model_version}, {"endpoint", std::string(endpoint)}, {"status", status}}; })
      .Increment();
  impl_->latency_cache
      .get(model_version, [&] { return prometheus::Labels{{"model_version", model_version}}; },
           prometheus::Histogram::BucketBoundaries(latency_buckets()))
      .Observe(seconds);
  impl_->course_predictions.Increment();
  if (http_status >= 500) impl_->course_errors.Increment();
}

void ServingMetrics::record_class(const std::string& model_version, const std::string& class_label, double rows) {
  impl_->class_cache
      .get(key_of({model_version, class_label}),
           [&] { return prometheus::Labels{{"model_version", model_version}, {"class", class_label}}; })
      .Increment(rows);
}

void ServingMetrics::record_http(std::string_view method, std::string_view route, int status, double seconds) {
  const std::string code = std::to_string(status);
  impl_->http_cache
      .get(key_of({method, route, code}),
           // endpoint and status_code are the course's names for route and status (same values:
           // the route's template, never the raw path, so the series stay bounded).
           [&] {
             return prometheus::Labels{{"method", std::string(method)}, {"route", std::string(route)}, {"status", code},
                                       {"endpoint", std::string(route)}, {"status_code", code}};
           })
      .Increment();
  impl_->http_latency_cache
      .get(key_of({method, route}),
           [&] { return prometheus::Labels{{"method", std::string(method)}, {"route", std::string(route)}, {"endpoint", std::string(route)}}; },
           prometheus::Histogram::BucketBoundaries(latency_buckets()))
      .Observe(seconds);
}

void ServingMetrics::record_crm_update(std::string_view segment, std::string_view result) {
  impl_->crm_cache
      .get(key_of({segment, result}),
           [&] { return prometheus::Labels{{"segment", std::string(segment)}, {"result", std::string(result)}}; })
      .Increment();
}

void ServingMetrics::set_models(const std::vector<ModelInfo>& loaded) {
  std::lock_guard lock(impl_->state_mutex);
  for (auto& [version, gauges] : impl_->loaded_by_version) {
    gauges.first->Set(0);
    gauges.second->Set(0);
  }
  for (prometheus::Gauge* g : impl_->info_gauges) impl_->info.Remove(g);
  impl_->info_gauges.clear();
  for (prometheus::Gauge* g : impl_->share_gauges) impl_->class_training_share.Remove(g);
  impl_->share_gauges.clear();
  for (const ModelInfo& m : loaded) {
    auto [it, inserted] = impl_->loaded_by_version.try_emplace(m.version, nullptr, nullptr);
    if (inserted) it->second = {&impl_->loaded.Add({{"model_version", m.version}}), &impl_->course_loaded.Add({{"model_version", m.version}})};
    it->second.first->Set(1);
    it->second.second->Set(1);
    auto& info = impl_->info.Add({{"name", m.name}, {"version", m.version}, {"uri", m.uri}, {"sha256", m.sha256}});
    info.Set(1);
    impl_->info_gauges.push_back(&info);
    for (const auto& [label, share] : m.class_training_share) {
      auto& g = impl_->class_training_share.Add({{"model_version", m.version}, {"class", label}});
      g.Set(share);
      impl_->share_gauges.push_back(&g);
    }
  }
  impl_->models = loaded;
}

void ServingMetrics::set_rollout(const std::string& model, std::string_view state, double weight) {
  std::lock_guard lock(impl_->state_mutex);
  for (const char* s : {"running", "paused", "promoted", "rolled_back", "aborted"}) {
    impl_->rollout_state.Add({{"model", model}, {"state", s}}).Set(state == s ? 1 : 0);
  }
  impl_->rollout_weight.Add({{"model", model}}).Set(weight);
}

void ServingMetrics::record_rollout_decision(std::string_view decision, std::string_view reason) {
  impl_->rollout_decision_cache
      .get(key_of({decision, reason}),
           [&] { return prometheus::Labels{{"decision", std::string(decision)}, {"reason", std::string(reason)}}; })
      .Increment();
}

void ServingMetrics::set_gauge(const std::string& name, const std::string& help, double value) {
  std::lock_guard lock(impl_->state_mutex);
  impl_->gauges[name] = {help, value};
}

void ServingMetrics::set_drift_source(std::function<std::vector<VersionDrift>()> source) {
  std::lock_guard lock(impl_->state_mutex);
  impl_->drift_source = std::move(source);
}

std::string ServingMetrics::scrape() {
  // Per-scrape families (drift, process, extra gauges) live in a throwaway registry so that
  // features of a previous model do not linger.
  prometheus::Registry scrape_registry;
  std::function<std::vector<VersionDrift>()> drift_source;
  std::map<std::string, std::pair<std::string, double>> gauges;
  {
    std::lock_guard lock(impl_->state_mutex);
    drift_source = impl_->drift_source;
    gauges = impl_->gauges;
  }
  if (drift_source) {
    auto& psi = prometheus::BuildGauge().Name("feature_drift_psi").Help("Population Stability Index of the drift window's values against the training baseline").Register(scrape_registry);
    auto& mean = prometheus::BuildGauge().Name("feature_mean").Help("Mean of the drift window's feature values").Register(scrape_registry);
    auto& training = prometheus::BuildGauge().Name("feature_training_mean").Help("Mean of the feature in the training data").Register(scrape_registry);
    auto& course_mean = prometheus::BuildGauge().Name("ai_feature_mean").Help("Mean of the drift window's feature values (the course's name)").Register(scrape_registry);
    auto& rows = prometheus::BuildGauge().Name("feature_drift_window_rows").Help("Requests in the drift window (PSI is reported from the minimum on)").Register(scrape_registry);
    for (const VersionDrift& version : drift_source()) {
      const std::string& v = version.model_version;
      if (!version.features.empty()) rows.Add({{"model_version", v}}).Set(static_cast<double>(version.features.front().count));
      for (const FeatureDrift& d : version.features) {
        const prometheus::Labels labels = {{"feature", d.name}, {"model_version", v}};
        if (d.reported) psi.Add(labels).Set(d.psi);  // none from a handful of requests
        if (d.count > 0) {
          mean.Add(labels).Set(d.live_mean);
          course_mean.Add(labels).Set(d.live_mean);
        }
        training.Add(labels).Set(d.training_mean);
      }
    }
  }
  const ProcessStats p = read_process_stats();
  prometheus::BuildCounter().Name("process_cpu_seconds_total").Help("Total user and system CPU time spent in seconds").Register(scrape_registry).Add({}).Increment(p.cpu_seconds);
  prometheus::BuildGauge().Name("process_resident_memory_bytes").Help("Resident memory size in bytes").Register(scrape_registry).Add({}).Set(p.resident_memory_bytes);
  prometheus::BuildGauge().Name("process_virtual_memory_bytes").Help("Virtual memory size in bytes").Register(scrape_registry).Add({}).Set(p.virtual_memory_bytes);
  prometheus::BuildGauge().Name("process_open_fds").Help("Number of open file descriptors").Register(scrape_registry).Add({}).Set(p.open_fds);
  prometheus::BuildGauge().Name("process_start_time_seconds").Help("Start time of the process since unix epoch in seconds").Register(scrape_registry).Add({}).Set(p.start_time_seconds);
  prometheus::BuildGauge().Name("process_threads").Help("Number of OS threads in the process").Register(scrape_registry).Add({}).Set(p.threads);
  for (const auto& [name, help_value] : gauges) {
    prometheus::BuildGauge().Name(name).Help(help_value.first).Register(scrape_registry).Add({}).Set(help_value.second);
  }
  auto families = impl_->registry->Collect();
  auto extra = scrape_registry.Collect();
  families.insert(families.end(), extra.begin(), extra.end());
  return prometheus::TextSerializer().Serialize(families);
}

MetricsSnapshot ServingMetrics::snapshot() {
  MetricsSnapshot out;
  const auto label = [](const prometheus::ClientMetric& m, const std::string& name) {
    for (const auto& l : m.label) {
      if (l.name == name) return l.value;
    }
    return std::string();
  };
  for (const prometheus::MetricFamily& family : impl_->registry->Collect()) {
    for (const prometheus::ClientMetric& m : family.metric) {
      if (family.name == "prediction_requests_total") {
        out.predictions_by_version[label(m, "model_version")] += m.counter.value;
        out.predictions_by_status[label(m, "status")] += m.counter.value;
      } else if (family.name == "crm_segment_updates_total") {
        out.crm_updates[label(m, "segment") + "|" + label(m, "result")] += m.counter.value;
      } else if (family.name == "prediction_class_total") {
        out.classes[label(m, "class")] += m.counter.value;
      } else if (family.name == "prediction_latency_seconds") {
        const auto& buckets = m.histogram.bucket;
        if (out.latency_bounds.empty()) {
          for (const auto& b : buckets) out.latency_bounds.push_back(b.upper_bound);
          out.latency_cumulative.assign(buckets.size(), 0);
        }
        for (std::size_t i = 0; i < buckets.size() && i < out.latency_cumulative.size(); ++i) {
          out.latency_cumulative[i] += static_cast<double>(buckets[i].cumulative_count);
        }
        out.latency_sum += m.histogram.sample_sum;
      }
    }
  }
  return out;
}

}  // namespace mlops::observability
