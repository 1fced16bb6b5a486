#include "trainer/contract/events.h"

#include <array>
#include <chrono>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace gansweep {
namespace {

using json = nlohmann::json;

constexpr std::array<const char*, 6> kTypeNames{"started", "progress", "eval",
                                                "checkpoint", "finished", "failed"};

void put(json& j, const char* key, const std::optional<double>& v) {
  if (v) j[key] = *v;
}
void take(const json& j, const char* key, std::optional<double>& v) {
  if (j.contains(key) && !j.at(key).is_null()) v = j.at(key).get<double>();
}

}  // namespace

std::string to_string(EventType t) { return kTypeNames.at(static_cast<size_t>(t)); }

json to_json(const Event& e) {
  json j = {{"event", to_string(e.type)}, {"job_id", e.job_id}, {"step", e.step},
            {"epoch", e.epoch}, {"time", e.time}};
  switch (e.type) {
    case EventType::started:
      j["total_steps"] = e.total_steps;
      j["resumed"] = e.resumed;
      j["architecture"] = e.architecture;
      j["g_parameters"] = e.g_parameters;
      j["d_parameters"] = e.d_parameters;
      j["dataset_images"] = e.dataset_images;
      j["world_size"] = e.world_size;
      break;
    case EventType::progress:
      put(j, "loss_d", e.loss_d);
      put(j, "loss_g", e.loss_g);
      put(j, "iterations_per_second", e.iterations_per_second);
      break;
    case EventType::eval: {
      put(j, "loss_d", e.loss_d);
      put(j, "loss_g", e.loss_g);
      j["sample_grid"] = e.sample_grid;
      j["eval_seconds"] = e.eval_seconds;
      const EvalMetrics m = e.metrics.value_or(EvalMetrics{});
      json mj = {{"samples", m.samples}, {"backbone", m.backbone},
                 {"weights_sha256", m.weights_sha256}};
      // Absent metrics are written as null, so a reader sees the field exists but was not computed.
      for (auto [key, value] : {std::pair{"fid", m.fid}, {"is_mean", m.is_mean}, {"is_std", m.is_std},
                                {"kid_mean", m.kid_mean}, {"kid_std", m.kid_std}})
        mj[key] = value ? json(*value) : json(nullptr);
      if (!m.fid_by_samples.empty()) {
        json by = json::array();
        for (const auto& [n, fid] : m.fid_by_samples) by.push_back({{"samples", n}, {"fid", fid}});
        mj["fid_by_samples"] = by;
      }
      j["metrics"] = mj;
      break;
    }
    case EventType::checkpoint:
      j["checkpoint"] = e.checkpoint;
      break;
    case EventType::finished:
      break;
    case EventType::failed:
      j["reason"] = e.reason;
      j["retryable"] = e.retryable;
      j["preempted"] = e.preempted;
      break;
  }
  return j;
}

Event event_from_json(const json& j) {
  Event e;
  try {
    const std::string type = j.at("event").get<std::string>();
    bool known = false;
    for (size_t i = 0; i < kTypeNames.size(); ++i)
      if (type == kTypeNames[i]) {
        e.type = static_cast<EventType>(i);
        known = true;
      }
    if (!known) throw std::runtime_error("unknown event type '" + type + "'");
    e.job_id = j.value("job_id", "");
    e.step = j.at("step").get<int64_t>();
    e.epoch = j.at("epoch").get<int64_t>();
    e.time = j.value("time", 0.0);
    e.total_steps = j.value("total_steps", int64_t{0});
    e.resumed = j.value("resumed", false);
    e.architecture = j.value("architecture", "");
    e.g_parameters = j.value("g_parameters", int64_t{0});
    e.d_parameters = j.value("d_parameters", int64_t{0});
    e.dataset_images = j.value("dataset_images", int64_t{0});
    e.world_size = j.value("world_size", 1);
    take(j, "loss_d", e.loss_d);
    take(j, "loss_g", e.loss_g);
    take(j, "iterations_per_second", e.iterations_per_second);
    e.sample_grid = j.value("sample_grid", "");
    e.eval_seconds = j.value("eval_seconds", 0.0);
    if (j.contains("metrics")) {
      const json& mj = j.at("metrics");
      EvalMetrics m;
      m.samples = mj.value("samples", int64_t{0});
      m.backbone = mj.value("backbone", "none");
      m.weights_sha256 = mj.value("weights_sha256", "");
      take(mj, "fid", m.fid);
      take(mj, "is_mean", m.is_mean);
      take(mj, "is_std", m.is_std);
      take(mj, "kid_mean", m.kid_mean);
      take(mj, "kid_std", m.kid_std);
      if (mj.contains("fid_by_samples"))
        for (const auto& point : mj.at("fid_by_samples"))
          m.fid_by_samples.emplace_back(point.at("samples").get<int64_t>(), point.at("fid").get<double>());
      e.metrics = m;
    }
    e.checkpoint = j.value("checkpoint", "");
    e.reason = j.value("reason", "");
    e.retryable = j.value("retryable", false);
    e.preempted = j.value("preempted", false);
  } catch (const json::exception& ex) {
    throw std::runtime_error(std::string("malformed event: ") + ex.what());
  }
  return e;
}

void emit(std::ostream& out, Event e) {
  if (e.time == 0)
    e.time = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  out << to_json(e).dump() << '\n';
  out.flush();
}

}  // namespace gansweep
