#include "trainer/contract/job_spec.h"

#include <array>
#include <fstream>
#include <limits>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

namespace gansweep {
namespace {

using json = nlohmann::json;

constexpr std::array<std::pair<Loss, const char*>, 8> kLosses{{{Loss::ce, "ce"},
                                                               {Loss::rce, "rce"},
                                                               {Loss::race, "race"},
                                                               {Loss::ls, "ls"},
                                                               {Loss::rals, "rals"},
                                                               {Loss::hinge, "hinge"},
                                                               {Loss::rahinge, "rahinge"},
                                                               {Loss::rmcos, "rmcos"}}};
constexpr std::array<std::pair<DatasetFormat, const char*>, 5> kFormats{
    {{DatasetFormat::cifar10, "cifar10"},
     {DatasetFormat::idx, "idx"},
     {DatasetFormat::stl10, "stl10"},
     {DatasetFormat::cat, "cat"},
     {DatasetFormat::synthetic, "synthetic"}}};

[[noreturn]] void fail(const std::string& field, const std::string& what) {
  throw JobSpecError("job spec: " + field + ": " + what);
}

// Reads an object's fields, rejecting unknown keys and values of the wrong type.
class Fields {
 public:
  Fields(const json& j, std::string prefix) : j_(j), prefix_(std::move(prefix)) {
    if (!j_.is_object()) fail(prefix_.empty() ? "(top level)" : prefix_, "must be an object");
  }
  // Call after the last get(): any key not asked for is a typo or a field of another version.
  void reject_unknown() const {
    for (const auto& item : j_.items())
      if (!seen_.count(item.key())) fail(name(item.key()), "unknown key");
  }

  template <typename T>
  void get(const std::string& key, T& out, bool required = false) {
    seen_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end()) {
      if (required) fail(name(key), "missing");
      return;
    }
    check_type<T>(key, *it);
    out = it->template get<T>();
  }

  bool has(const std::string& key) const { return j_.contains(key); }
  const json& at(const std::string& key) {
    seen_.insert(key);
    if (!j_.contains(key)) fail(name(key), "missing");
    return j_.at(key);
  }
  std::string name(const std::string& key) const {
    return prefix_.empty() ? key : prefix_ + "." + key;
  }

 private:
  template <typename T>
  void check_type(const std::string& key, const json& v) const {
    if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) fail(name(key), "must be true or false");
    } else if constexpr (std::is_integral_v<T>) {
      if (!v.is_number_integer()) fail(name(key), "must be an integer");
      if constexpr (std::is_unsigned_v<T>)
        if (!v.is_number_unsigned() && v.get<int64_t>() < 0) fail(name(key), "must not be negative");
      // A value the field cannot hold would be silently truncated by the conversion.
      const uint64_t max = uint64_t(std::numeric_limits<T>::max());
      bool fits;
      if (v.is_number_unsigned()) {
        fits = v.get<uint64_t>() <= max;
      } else {
        const int64_t x = v.get<int64_t>();
        fits = x >= 0 ? uint64_t(x) <= max : x >= int64_t(std::numeric_limits<T>::min());
      }
      if (!fits) fail(name(key), "out of range (" + v.dump() + ")");
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!v.is_number()) fail(name(key), "must be a number");
    } else {
      if (!v.is_string()) fail(name(key), "must be a string");
    }
  }

  const json& j_;
  std::string prefix_;
  std::set<std::string> seen_;
};

void require(bool ok, const std::string& field, const std::string& what) {
  if (!ok) fail(field, what);
}

}  // namespace

std::string to_string(Loss loss) {
  for (const auto& [l, n] : kLosses)
    if (l == loss) return n;
  return "?";
}
std::string to_string(DatasetFormat format) {
  for (const auto& [f, n] : kFormats)
    if (f == format) return n;
  return "?";
}
std::string to_string(Schedule schedule) {
  return schedule == Schedule::epochs ? "epochs" : "iterations";
}

Loss parse_loss(const std::string& name) {
  std::string valid;
  for (const auto& [l, n] : kLosses) {
    if (name == n) return l;
    valid += valid.empty() ? n : std::string(", ") + n;
  }
  throw JobSpecError("unknown loss '" + name + "' (valid: " + valid + ")");
}

DatasetFormat parse_dataset_format(const std::string& name) {
  std::string valid;
  for (const auto& [f, n] : kFormats) {
    if (name == n) return f;
    valid += valid.empty() ? n : std::string(", ") + n;
  }
  throw JobSpecError("unknown dataset format '" + name + "' (valid: " + valid + ")");
}

bool is_relativistic(Loss loss) {
  return loss == Loss::rce || loss == Loss::race || loss == Loss::rals ||
         loss == Loss::rahinge || loss == Loss::rmcos;
}

JobSpec job_spec_from_json(const json& j) {
  JobSpec s;
  Fields top(j, "");
  top.get("job_id", s.job_id);
  top.get("output_dir", s.output_dir, true);
  require(!s.output_dir.empty(), "output_dir", "must not be empty");
  top.get("resume", s.resume);

  std::string loss = to_string(s.loss);
  top.get("loss", loss, true);
  try {
    s.loss = parse_loss(loss);
  } catch (const JobSpecError& e) {
    fail("loss", e.what());
  }
  top.get("margin", s.margin);
  require(s.margin >= 0.0 && s.margin <= 2.0, "margin", "must lie in [0, 2] (cosines differ by at most 2)");
  top.get("scale", s.scale);
  require(s.scale > 0.0 && s.scale <= 1000.0, "scale", "must lie in (0, 1000]");
  top.get("seed", s.seed);

  {
    Fields d(top.at("dataset"), "dataset");
    std::string format;
    d.get("format", format, true);
    try {
      s.dataset.format = parse_dataset_format(format);
    } catch (const JobSpecError& e) {
      fail("dataset.format", e.what());
    }
    s.dataset.name = format;
    d.get("name", s.dataset.name);
    d.get("path", s.dataset.path, s.dataset.format != DatasetFormat::synthetic);
    d.get("limit", s.dataset.limit);
    require(s.dataset.limit >= 0, "dataset.limit", "must be >= 0 (0 = all images)");
    d.get("image_size", s.dataset.image_size);
    d.get("synthetic_count", s.dataset.synthetic_count);
    if (s.dataset.format == DatasetFormat::synthetic) {
      require(s.dataset.image_size == 32 || s.dataset.image_size == 48 || s.dataset.image_size == 64,
              "dataset.image_size", "must be 32, 48 or 64 (the paper's three architectures)");
      require(s.dataset.synthetic_count > 0, "dataset.synthetic_count", "must be > 0");
    } else {
      require(!d.has("image_size"), "dataset.image_size",
              "only for synthetic data: " + format + " fixes the size");
      require(!s.dataset.path.empty(), "dataset.path", "must not be empty");
    }
    d.reject_unknown();
  }

  if (top.has("train")) {
    Fields t(top.at("train"), "train");
    TrainSpec& tr = s.train;
    std::string schedule = to_string(tr.schedule);
    t.get("schedule", schedule);
    if (schedule == "epochs")
      tr.schedule = Schedule::epochs;
    else if (schedule == "iterations")
      tr.schedule = Schedule::iterations;
    else
      fail("train.schedule", "must be 'epochs' or 'iterations', not '" + schedule + "'");
    t.get("epochs", tr.epochs);
    t.get("iterations", tr.iterations);
    if (tr.schedule == Schedule::epochs) {
      require(tr.epochs > 0, "train.epochs", "must be > 0");
      require(!t.has("iterations"), "train.iterations", "only with schedule 'iterations'");
    } else {
      require(tr.iterations > 0, "train.iterations", "must be > 0 with schedule 'iterations'");
      require(!t.has("epochs"), "train.epochs", "only with schedule 'epochs'");
    }
    t.get("batch_size", tr.batch_size);
    require(tr.batch_size >= 2 && tr.batch_size <= 4096, "train.batch_size", "must lie in [2, 4096]");
    t.get("lr_d", tr.lr_d);
    t.get("lr_g", tr.lr_g);
    require(tr.lr_d > 0 && tr.lr_d < 1, "train.lr_d", "must lie in (0, 1)");
    require(tr.lr_g > 0 && tr.lr_g < 1, "train.lr_g", "must lie in (0, 1)");
    t.get("beta1", tr.beta1);
    t.get("beta2", tr.beta2);
    require(tr.beta1 >= 0 && tr.beta1 < 1, "train.beta1", "must lie in [0, 1)");
    require(tr.beta2 >= 0 && tr.beta2 < 1, "train.beta2", "must lie in [0, 1)");
    t.get("eval_every", tr.eval_every);
    require(tr.eval_every > 0, "train.eval_every", "must be > 0");
    t.get("log_every", tr.log_every);
    require(tr.log_every > 0, "train.log_every", "must be > 0");
    t.get("sample_in_eval_mode", tr.sample_in_eval_mode);
    t.get("threads", tr.threads);
    require(tr.threads >= 0 && tr.threads <= 1024, "train.threads", "must lie in [0, 1024]");
    t.get("dtype", tr.dtype);
    require(tr.dtype == "float32" || tr.dtype == "float64", "train.dtype", "must be 'float32' or 'float64'");
    t.reject_unknown();
  }

  if (top.has("metrics")) {
    Fields m(top.at("metrics"), "metrics");
    m.get("samples", s.metrics.samples);
    require(s.metrics.samples > 0, "metrics.samples", "must be > 0");
    if (m.has("fid_sample_counts")) {
      const json& counts = m.at("fid_sample_counts");
      require(counts.is_array(), "metrics.fid_sample_counts", "must be a list of integers");
      for (const auto& n : counts) {
        require(n.is_number_integer() && n.get<int64_t>() >= 2 && n.get<int64_t>() <= s.metrics.samples,
                "metrics.fid_sample_counts", "each count must be an integer in [2, metrics.samples]");
        s.metrics.fid_sample_counts.push_back(n.get<int64_t>());
      }
    }
    m.get("backbone", s.metrics.backbone);
    require(s.metrics.backbone == "none" || s.metrics.backbone == "inception" || s.metrics.backbone == "classifier",
            "metrics.backbone", "unknown backbone '" + s.metrics.backbone + "' (valid: none, inception, classifier)");
    m.get("weights", s.metrics.weights);
    require(s.metrics.backbone != "inception" || !s.metrics.weights.empty(), "metrics.weights",
            "the inception backbone needs the path of its weights (docs/metrics.md)");
    m.get("weights_sha256", s.metrics.weights_sha256);
    m.get("fid_reference", s.metrics.fid_reference);
    m.get("reference_samples", s.metrics.reference_samples);
    require(s.metrics.reference_samples >= 0, "metrics.reference_samples", "must be >= 0 (0 = all)");
    m.get("batch_size", s.metrics.batch_size);
    require(s.metrics.batch_size > 0 && s.metrics.batch_size <= 10000, "metrics.batch_size", "must lie in [1, 10000]");
    m.get("preprocess", s.metrics.preprocess);
    require(s.metrics.preprocess == "tensorflow" || s.metrics.preprocess == "pytorch-fid", "metrics.preprocess",
            "must be 'tensorflow' or 'pytorch-fid'");
    m.get("cache_dir", s.metrics.cache_dir);
    m.reject_unknown();
  }

  if (top.has("parallel")) {
    Fields p(top.at("parallel"), "parallel");
    p.get("backend", s.parallel.backend);
    require(s.parallel.backend == "auto" || s.parallel.backend == "single" || s.parallel.backend == "mpi" ||
                s.parallel.backend == "nccl",
            "parallel.backend", "unknown backend '" + s.parallel.backend + "' (valid: auto, single, mpi, nccl)");
    p.get("bucket_mb", s.parallel.bucket_mb);
    require(s.parallel.bucket_mb > 0 && s.parallel.bucket_mb <= 4096, "parallel.bucket_mb", "must lie in (0, 4096]");
    p.get("timeout_s", s.parallel.timeout_s);
    require(s.parallel.timeout_s >= 1 && s.parallel.timeout_s <= 86400, "parallel.timeout_s", "must lie in [1, 86400]");
    p.reject_unknown();
  }
  top.reject_unknown();
  return s;
}

JobSpec load_job_spec(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw JobSpecError("job spec: cannot open '" + path + "'");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw JobSpecError("job spec: '" + path + "' is not valid JSON: " + e.what());
  }
  return job_spec_from_json(j);
}

json to_json(const JobSpec& s) {
  json train = {{"schedule", to_string(s.train.schedule)},
                {"batch_size", s.train.batch_size},
                {"lr_d", s.train.lr_d},
                {"lr_g", s.train.lr_g},
                {"beta1", s.train.beta1},
                {"beta2", s.train.beta2},
                {"eval_every", s.train.eval_every},
                {"log_every", s.train.log_every},
                {"sample_in_eval_mode", s.train.sample_in_eval_mode},
                {"threads", s.train.threads},
                {"dtype", s.train.dtype}};
  if (s.train.schedule == Schedule::epochs)
    train["epochs"] = s.train.epochs;
  else
    train["iterations"] = s.train.iterations;
  json dataset = {{"format", to_string(s.dataset.format)},
                  {"name", s.dataset.name},
                  {"limit", s.dataset.limit}};
  if (s.dataset.format == DatasetFormat::synthetic) {
    dataset["image_size"] = s.dataset.image_size;
    dataset["synthetic_count"] = s.dataset.synthetic_count;
  } else {
    dataset["path"] = s.dataset.path;
  }
  return {{"job_id", s.job_id},
          {"dataset", dataset},
          {"loss", to_string(s.loss)},
          {"margin", s.margin},
          {"scale", s.scale},
          {"seed", s.seed},
          {"train", train},
          {"metrics",
           {{"samples", s.metrics.samples},
            {"fid_sample_counts", s.metrics.fid_sample_counts},
            {"backbone", s.metrics.backbone},
            {"weights", s.metrics.weights},
            {"weights_sha256", s.metrics.weights_sha256},
            {"fid_reference", s.metrics.fid_reference},
            {"reference_samples", s.metrics.reference_samples},
            {"batch_size", s.metrics.batch_size},
            {"preprocess", s.metrics.preprocess},
            {"cache_dir", s.metrics.cache_dir}}},
          {"parallel",
           {{"backend", s.parallel.backend}, {"bucket_mb", s.parallel.bucket_mb}, {"timeout_s", s.parallel.timeout_s}}},
          {"output_dir", s.output_dir},
          {"resume", s.resume}};
}

}  // namespace gansweep
