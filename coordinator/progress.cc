#include "coordinator/progress.h"

#include <algorithm>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "trainer/contract/events.h"

namespace gansweep {

ProgressReport read_event_lines(const std::vector<std::string>& lines) {
  ProgressReport report;
  for (size_t i = 0; i < lines.size(); ++i) {
    Event event;
    try {
      event = event_from_json(nlohmann::json::parse(lines[i]));
    } catch (const std::exception& e) {
      throw std::runtime_error("event line " + std::to_string(i + 1) + " of the report: " + e.what());
    }
    report.step = std::max(report.step, event.step);
    if (event.type == EventType::checkpoint && !event.checkpoint.empty())
      report.artifacts.push_back({"checkpoint", event.checkpoint, event.step});
    if (event.type != EventType::eval) continue;
    if (!event.sample_grid.empty()) report.artifacts.push_back({"sample_grid", event.sample_grid, event.step});
    const EvalMetrics m = event.metrics.value_or(EvalMetrics{});
    // Every row names the evaluation that produced it, so rows of different backbones never mix.
    auto add = [&](const char* name, const std::optional<double>& value) {
      if (!value) return;
      MetricRecord r;
      r.step = event.step;
      r.epoch = event.epoch;
      r.name = name;
      r.value = *value;
      r.backbone = m.backbone;
      r.weights_sha256 = m.weights_sha256;
      r.samples = m.samples;
      report.metrics.push_back(std::move(r));
    };
    add("fid", m.fid);
    add("is_mean", m.is_mean);
    add("is_std", m.is_std);
    add("kid_mean", m.kid_mean);
    add("kid_std", m.kid_std);
    for (const auto& [n, fid] : m.fid_by_samples) {  // Fig. 4b/c: one row per sample count
      add(("fid@" + std::to_string(n)).c_str(), fid);
      report.metrics.back().samples = n;
    }
    add("loss_d", event.loss_d);
    add("loss_g", event.loss_g);
  }
  return report;
}

}  // namespace gansweep
