#include "coordinator/sweep.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "trainer/contract/job_spec.h"
#include "trainer/contract/sha256.h"

namespace gansweep {

using json = nlohmann::json;

const std::vector<std::string> kParameterOrder = {"dataset", "loss", "margin", "scale", "seed"};

std::string to_string(SweepMethod method) {
  return method == SweepMethod::grid ? "grid" : "random";
}
std::string to_string(Placement placement) {
  return placement == Placement::any ? "any" : "every-worker";
}

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// neighbouring characters each cost 1, since a swap is the commonest typo ("valeus").
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// The closest valid name, when it is close enough to be a likely typo.
std::optional<std::string> nearest(const std::string& word, const std::vector<std::string>& valid) {
  std::optional<std::string> best;
  size_t best_distance = std::max<size_t>(2, word.size() / 2) + 1;
  for (const auto& candidate : valid) {
    const size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

std::string child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// Reads YAML nodes with strict types; every error names the file, line and key path.
class Reader {
 public:
  Reader(std::string source, std::map<std::string, int>& lines)
      : source_(std::move(source)), lines_(lines) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& path,
                         const std::string& what) const {
    fail_at(node.Mark().line + 1, path, what);
  }
  [[noreturn]] void fail_at(int line, const std::string& path, const std::string& what) const {
    std::string where = source_;
    if (line > 0) where += ":" + std::to_string(line);
    throw SweepError(where + ": " + (path.empty() ? "(top level)" : path) + ": " + what);
  }

  // Checks the keys of a mapping, remembers their lines, and returns them in file order.
  std::vector<std::pair<std::string, YAML::Node>> mapping(const YAML::Node& node,
                                                          const std::string& path,
                                                          const std::vector<std::string>& valid) {
    if (!node.IsMap()) fail(node, path, "must be a mapping of keys to values");
    std::vector<std::pair<std::string, YAML::Node>> items;
    std::set<std::string> seen;
    for (const auto& item : node) {
      const YAML::Node& key_node = item.first;
      if (!key_node.IsScalar()) fail(key_node, path, "keys must be plain names");
      const std::string key = key_node.Scalar();
      const std::string key_path = child(path, key);
      if (!valid.empty() && std::find(valid.begin(), valid.end(), key) == valid.end()) {
        std::string what = "unknown key '" + key + "'";
        if (auto guess = nearest(key, valid))
          what += " (did you mean '" + *guess + "'?)";
        else
          what += " (valid: " + join(valid) + ")";
        fail(key_node, key_path, what);
      }
      if (!seen.insert(key).second) fail(key_node, key_path, "given twice");
      lines_[key_path] = key_node.Mark().line + 1;
      items.emplace_back(key, item.second);
    }
    return items;
  }

  std::string string(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar()) fail(node, path, "must be a string");
    return node.Scalar();
  }
  int64_t integer(const YAML::Node& node, const std::string& path) const {
    int64_t value = 0;
    // A quoted scalar is a string, even when it looks like a number.
    if (!node.IsScalar() || node.Tag() == "!" || !YAML::convert<int64_t>::decode(node, value))
      fail(node, path, "must be an integer, not '" + describe(node) + "'");
    return value;
  }
  int64_t integer_in(const YAML::Node& node, const std::string& path, int64_t min,
                     int64_t max) const {
    const int64_t value = integer(node, path);
    if (value < min || value > max)
      fail(node, path,
           "must lie in [" + std::to_string(min) + ", " + std::to_string(max) + "], not " +
               std::to_string(value));
    return value;
  }
  double number(const YAML::Node& node, const std::string& path) const {
    double value = 0;
    if (!node.IsScalar() || node.Tag() == "!" || !YAML::convert<double>::decode(node, value) ||
        !std::isfinite(value))
      fail(node, path, "must be a finite number, not '" + describe(node) + "'");
    return value;
  }
  bool boolean(const YAML::Node& node, const std::string& path) const {
    bool value = false;
    if (!node.IsScalar() || node.Tag() == "!" || !YAML::convert<bool>::decode(node, value))
      fail(node, path, "must be true or false, not '" + describe(node) + "'");
    return value;
  }

  int line_of(std::string path) const {
    // A missing key is placed at the nearest enclosing key that exists.
    while (true) {
      auto it = lines_.find(path);
      if (it != lines_.end()) return it->second;
      const size_t dot = path.rfind('.');
      if (dot == std::string::npos) return 0;
      path.resize(dot);
    }
  }

 private:
  static std::string describe(const YAML::Node& node) {
    if (node.IsScalar()) return node.Scalar();
    if (node.IsSequence()) return "a list";
    if (node.IsMap()) return "a mapping";
    return "nothing";
  }

  std::string source_;
  std::map<std::string, int>& lines_;
};

// How to copy one job-spec field from YAML to JSON with its type checked.
enum class FieldType { string, integer, number, boolean, integer_list };
using FieldTypes = std::vector<std::pair<std::string, FieldType>>;

const FieldTypes kTrainFields = {
    {"schedule", FieldType::string},   {"epochs", FieldType::integer},
    {"iterations", FieldType::integer}, {"batch_size", FieldType::integer},
    {"lr_d", FieldType::number},        {"lr_g", FieldType::number},
    {"beta1", FieldType::number},       {"beta2", FieldType::number},
    {"eval_every", FieldType::integer}, {"log_every", FieldType::integer},
    {"sample_in_eval_mode", FieldType::boolean}, {"threads", FieldType::integer},
    {"dtype", FieldType::string}};
// Mirrors MetricsSpec in trainer/contract/job_spec.h.
const FieldTypes kMetricsFields = {
    {"samples", FieldType::integer},       {"backbone", FieldType::string},
    {"weights", FieldType::string},        {"weights_sha256", FieldType::string},
    {"fid_reference", FieldType::string},  {"reference_samples", FieldType::integer},
    {"batch_size", FieldType::integer},    {"preprocess", FieldType::string},
    {"cache_dir", FieldType::string},     {"fid_sample_counts", FieldType::integer_list}};
// Mirrors ParallelSpec in trainer/contract/job_spec.h.
const FieldTypes kParallelFields = {
    {"backend", FieldType::string}, {"bucket_mb", FieldType::number}, {"timeout_s", FieldType::number}};
const FieldTypes kDatasetFields = {
    {"format", FieldType::string},     {"path", FieldType::string},
    {"limit", FieldType::integer},     {"image_size", FieldType::integer},
    {"synthetic_count", FieldType::integer}, {"fid_reference", FieldType::string}};

std::vector<std::string> names_of(const FieldTypes& fields) {
  std::vector<std::string> names;
  for (const auto& field : fields) names.push_back(field.first);
  return names;
}

json read_fields(Reader& reader, const YAML::Node& node, const std::string& path,
                 const FieldTypes& fields) {
  json out = json::object();
  for (const auto& [key, value] : reader.mapping(node, path, names_of(fields))) {
    const std::string key_path = child(path, key);
    FieldType type = FieldType::string;
    for (const auto& field : fields)
      if (field.first == key) type = field.second;
    switch (type) {
      case FieldType::string: out[key] = reader.string(value, key_path); break;
      case FieldType::integer: out[key] = reader.integer(value, key_path); break;
      case FieldType::number: out[key] = reader.number(value, key_path); break;
      case FieldType::boolean: out[key] = reader.boolean(value, key_path); break;
      case FieldType::integer_list: {
        if (!value.IsSequence()) reader.fail(value, key_path, "must be a list of integers");
        json list = json::array();
        for (size_t i = 0; i < value.size(); ++i)
          list.push_back(reader.integer(value[i], key_path + "[" + std::to_string(i) + "]"));
        out[key] = list;
        break;
      }
    }
  }
  return out;
}

// Runs the trainer's own validation and reports its error at the sweep key it came from.
JobSpec validate_job(const Reader& reader, const json& spec,
                     const std::function<std::string(const std::string&)>& sweep_path_of,
                     const std::string& job_label) {
  try {
    return job_spec_from_json(spec);
  } catch (const JobSpecError& e) {
    std::string message = e.what();
    const std::string prefix = "job spec: ";
    if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
    const size_t colon = message.find(": ");
    const std::string field = colon == std::string::npos ? "" : message.substr(0, colon);
    const std::string problem = colon == std::string::npos ? message : message.substr(colon + 2);
    const std::string path = sweep_path_of(field);
    reader.fail_at(reader.line_of(path), path,
                   problem + (job_label.empty() ? "" : " (in job " + job_label + ")"));
  }
}

// Where a job-spec field comes from in the sweep file.
std::string sweep_path_for(const std::string& field, const std::string& dataset_name) {
  if (field.rfind("dataset.", 0) == 0) return "datasets." + dataset_name + field.substr(7);
  if (field == "dataset") return "datasets." + dataset_name;
  if (field.rfind("train", 0) == 0 || field.rfind("metrics", 0) == 0 || field.rfind("parallel", 0) == 0) return field;
  return "parameters." + field;
}

json read_parameter_value(Reader& reader, const YAML::Node& node, const std::string& path,
                          const std::string& parameter, const Sweep& sweep) {
  if (parameter == "dataset") {
    const std::string name = reader.string(node, path);
    if (!sweep.datasets.count(name)) {
      std::vector<std::string> valid;
      for (const auto& item : sweep.datasets) valid.push_back(item.first);
      std::string what = "unknown dataset '" + name + "'";
      if (auto guess = nearest(name, valid)) what += " (did you mean '" + *guess + "'?)";
      reader.fail(node, path, what + " (defined under datasets: " + join(valid) + ")");
    }
    return name;
  }
  if (parameter == "loss") {
    const std::string name = reader.string(node, path);
    try {
      parse_loss(name);
    } catch (const JobSpecError& e) {
      reader.fail(node, path, e.what());
    }
    return name;
  }
  if (parameter == "seed") return reader.integer_in(node, path, 0, std::numeric_limits<int64_t>::max());
  const double value = reader.number(node, path);
  if (parameter == "margin" && !(value >= 0 && value <= 2))
    reader.fail(node, path, "must lie in [0, 2] (cosines differ by at most 2)");
  if (parameter == "scale" && !(value > 0 && value <= 1000))
    reader.fail(node, path, "must lie in (0, 1000]");
  return value;
}

Parameter read_parameter(Reader& reader, const YAML::Node& node, const std::string& path,
                         const std::string& name, const Sweep& sweep) {
  Parameter p;
  p.name = name;
  // optional: a default YAML::Node is a defined null node, so it cannot mark "absent".
  std::optional<YAML::Node> min_node, max_node, distribution_node;
  bool has_value = false;
  for (const auto& [key, value] :
       reader.mapping(node, path, {"value", "values", "distribution", "min", "max"})) {
    const std::string key_path = child(path, key);
    if (key == "value") {
      has_value = true;
      p.values.push_back(read_parameter_value(reader, value, key_path, name, sweep));
    } else if (key == "values") {
      has_value = true;
      if (!value.IsSequence() || value.size() == 0)
        reader.fail(value, key_path, "must be a non-empty list");
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string item_path = key_path + "[" + std::to_string(i) + "]";
        json item = read_parameter_value(reader, value[i], item_path, name, sweep);
        if (std::find(p.values.begin(), p.values.end(), item) != p.values.end())
          reader.fail(value[i], item_path, "repeats " + item.dump() + " (each job would run twice)");
        p.values.push_back(std::move(item));
      }
    } else if (key == "distribution") {
      distribution_node = value;
    } else if (key == "min") {
      min_node = value;
    } else {
      max_node = value;
    }
  }
  if (int(has_value) + int(distribution_node.has_value()) != 1)
    reader.fail(node, path, "needs exactly one of 'value', 'values' or 'distribution'");
  if (has_value) {
    if (min_node || max_node)
      reader.fail(min_node ? *min_node : *max_node, path, "'min' and 'max' go with 'distribution'");
    return p;
  }

  const std::string dist_path = child(path, "distribution");
  if (sweep.method != SweepMethod::random)
    reader.fail(*distribution_node, dist_path, "only with method: random (a grid needs 'values')");
  const std::string kind = reader.string(*distribution_node, dist_path);
  Distribution d;
  if (kind == "uniform") {
    d.kind = Distribution::Kind::uniform;
  } else if (kind == "int_uniform") {
    d.kind = Distribution::Kind::int_uniform;
  } else if (kind == "log_uniform") {
    d.kind = Distribution::Kind::log_uniform;
  } else {
    std::string what = "unknown distribution '" + kind + "'";
    if (auto guess = nearest(kind, {"uniform", "int_uniform", "log_uniform"}))
      what += " (did you mean '" + *guess + "'?)";
    reader.fail(*distribution_node, dist_path, what + " (valid: uniform, int_uniform, log_uniform)");
  }
  if (name == "dataset" || name == "loss")
    reader.fail(*distribution_node, dist_path, name + " takes 'value' or 'values', not a distribution");
  const bool integer_parameter = name == "seed";
  if (integer_parameter != (d.kind == Distribution::Kind::int_uniform))
    reader.fail(*distribution_node, dist_path,
                integer_parameter ? "seed needs int_uniform" : name + " needs uniform or log_uniform");
  if (!min_node) reader.fail(node, child(path, "min"), "missing (a distribution needs min and max)");
  if (!max_node) reader.fail(node, child(path, "max"), "missing (a distribution needs min and max)");
  // Both ends must be valid values of the parameter, so every draw is one too.
  d.min = read_parameter_value(reader, *min_node, child(path, "min"), name, sweep).get<double>();
  d.max = read_parameter_value(reader, *max_node, child(path, "max"), name, sweep).get<double>();
  if (d.min > d.max) reader.fail(*max_node, child(path, "max"), "must be >= min");
  // Draws are computed in double precision, exact for integers up to 2^53.
  if (integer_parameter && d.max > 9007199254740992.0)
    reader.fail(*max_node, child(path, "max"), "must be at most 9007199254740992 (2^53) for int_uniform");
  if (d.kind == Distribution::Kind::log_uniform && d.min <= 0)
    reader.fail(*min_node, child(path, "min"), "must be > 0 for log_uniform");
  p.distribution = d;
  return p;
}

json canonical_parameter(const Parameter& p) {
  if (!p.distribution) return {{"values", p.values}};
  const char* kinds[] = {"uniform", "int_uniform", "log_uniform"};
  return {{"distribution", kinds[int(p.distribution->kind)]},
          {"min", p.distribution->min},
          {"max", p.distribution->max}};
}

std::string key_of(const std::vector<std::pair<std::string, json>>& assignment) {
  std::string key;
  for (const auto& [name, value] : assignment)
    key += (key.empty() ? "" : ",") + name + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
  return key;
}

// Uniform in [0, 1) from 53 random bits: the same on every platform, unlike
// std::uniform_real_distribution.
double unit_draw(std::mt19937_64& rng) {
  return double(rng() >> 11) * (1.0 / 9007199254740992.0);
}

json draw(const Parameter& p, std::mt19937_64& rng) {
  const double u = unit_draw(rng);
  if (!p.distribution) {
    const size_t index = std::min(p.values.size() - 1, size_t(u * double(p.values.size())));
    return p.values[index];
  }
  const Distribution& d = *p.distribution;
  switch (d.kind) {
    case Distribution::Kind::int_uniform: {
      const double span = d.max - d.min + 1;
      return int64_t(d.min) + std::min(int64_t(span - 1), int64_t(u * span));
    }
    case Distribution::Kind::log_uniform:
      // Clamped: exp(log(max)) can round just above max, out of the parameter's range.
      return std::clamp(std::exp(std::log(d.min) + u * (std::log(d.max) - std::log(d.min))), d.min, d.max);
    case Distribution::Kind::uniform:
      break;
  }
  return d.min + u * (d.max - d.min);
}

json job_spec_for(const Sweep& sweep, const std::vector<std::pair<std::string, json>>& assignment,
                  const std::string& key) {
  json spec = {{"job_id", sweep.name + "/" + key}, {"output_dir", "jobs/" + key}};
  for (const auto& [name, value] : assignment) {
    if (name == "dataset")
      spec["dataset"] = sweep.datasets.at(value.get<std::string>());
    else
      spec[name] = value;
  }
  if (!sweep.train.empty()) spec["train"] = sweep.train;
  if (!sweep.metrics.empty()) spec["metrics"] = sweep.metrics;
  if (!sweep.parallel.empty()) spec["parallel"] = sweep.parallel;
  // A dataset's own FID statistics override the sweep-wide metrics.fid_reference.
  const auto reference = sweep.fid_references.find(spec["dataset"]["name"].get<std::string>());
  if (reference != sweep.fid_references.end()) spec["metrics"]["fid_reference"] = reference->second;
  return spec;
}

}  // namespace

Sweep parse_sweep(const std::string& yaml_text, const std::string& source) {
  Sweep sweep;
  sweep.source = source;
  sweep.yaml_text = yaml_text;
  Reader reader(source, sweep.lines);

  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    reader.fail_at(e.mark.line + 1, "", "not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) reader.fail_at(1, "", "must be a mapping with at least 'name', 'method', 'parameters' and 'datasets'");

  const std::vector<std::string> top_keys = {
      "name",     "description", "method",  "count",     "seed",    "parameters", "train",
      "metrics",  "parallel",    "datasets",  "resources", "retries", "priority", "placement"};
  std::map<std::string, YAML::Node> top;
  for (const auto& [key, value] : reader.mapping(root, "", top_keys)) top[key] = value;
  auto required = [&](const std::string& key) {
    if (!top.count(key)) reader.fail_at(1, key, "missing");
    return top[key];
  };

  sweep.name = reader.string(required("name"), "name");
  if (sweep.name.empty() || sweep.name.find_first_of("/ \t\n") != std::string::npos)
    reader.fail(top["name"], "name", "must be a non-empty name without spaces or '/'");
  if (top.count("description")) sweep.description = reader.string(top["description"], "description");

  const std::string method = reader.string(required("method"), "method");
  if (method == "grid") {
    sweep.method = SweepMethod::grid;
  } else if (method == "random") {
    sweep.method = SweepMethod::random;
  } else {
    std::string what = "unknown method '" + method + "'";
    if (auto guess = nearest(method, {"grid", "random"})) what += " (did you mean '" + *guess + "'?)";
    reader.fail(top["method"], "method", what + " (valid: grid, random)");
  }
  if (sweep.method == SweepMethod::random) {
    sweep.count = reader.integer_in(required("count"), "count", 1, 100000);
    if (top.count("seed"))
      sweep.seed = uint64_t(reader.integer_in(top["seed"], "seed", 0, std::numeric_limits<int64_t>::max()));
  } else {
    for (const char* key : {"count", "seed"})
      if (top.count(key))
        reader.fail(top[key], key, "only with method: random (a job's seed is parameters.seed)");
  }

  // Datasets first: parameters refer to them by name.
  for (const auto& [name, node] : reader.mapping(required("datasets"), "datasets", {})) {
    const std::string path = "datasets." + name;
    json dataset = read_fields(reader, node, path, kDatasetFields);
    if (dataset.contains("fid_reference")) {
      sweep.fid_references[name] = dataset["fid_reference"].get<std::string>();
      dataset.erase("fid_reference");  // a job-spec metrics field, not a dataset field
    }
    dataset["name"] = name;
    sweep.datasets[name] = dataset;
  }
  if (sweep.datasets.empty()) reader.fail(top["datasets"], "datasets", "must define at least one dataset");

  if (top.count("train")) sweep.train = read_fields(reader, top["train"], "train", kTrainFields);
  if (top.count("metrics")) sweep.metrics = read_fields(reader, top["metrics"], "metrics", kMetricsFields);
  if (top.count("parallel")) sweep.parallel = read_fields(reader, top["parallel"], "parallel", kParallelFields);

  std::map<std::string, Parameter> parameters;
  for (const auto& [name, node] : reader.mapping(required("parameters"), "parameters", kParameterOrder))
    parameters[name] = read_parameter(reader, node, "parameters." + name, name, sweep);
  for (const char* needed : {"dataset", "loss"})
    if (!parameters.count(needed))
      reader.fail(top["parameters"], std::string("parameters.") + needed, "missing (every job needs one)");
  for (const auto& name : kParameterOrder)
    if (parameters.count(name)) sweep.parameters.push_back(parameters[name]);

  if (top.count("resources")) {
    for (const auto& [key, value] : reader.mapping(top["resources"], "resources", {"gpus"}))
      sweep.gpus = int(reader.integer_in(value, "resources." + key, 1, 64));
  }
  if (top.count("retries")) sweep.retries = int(reader.integer_in(top["retries"], "retries", 0, 100));
  if (top.count("priority"))
    sweep.priority = int(reader.integer_in(top["priority"], "priority", -1000000, 1000000));
  if (top.count("placement")) {
    const std::string placement = reader.string(top["placement"], "placement");
    if (placement == "any") {
      sweep.placement = Placement::any;
    } else if (placement == "every-worker") {
      sweep.placement = Placement::every_worker;
    } else {
      std::string what = "unknown placement '" + placement + "'";
      if (auto guess = nearest(placement, {"any", "every-worker"})) what += " (did you mean '" + *guess + "'?)";
      reader.fail(top["placement"], "placement", what + " (valid: any, every-worker)");
    }
  }

  // Each dataset on its own, so one no job uses is still checked.
  for (const auto& [name, dataset] : sweep.datasets) {
    const json probe = {{"dataset", dataset}, {"loss", "ce"}, {"output_dir", "probe"}};
    validate_job(reader, probe, [&](const std::string& field) { return sweep_path_for(field, name); }, "");
  }

  json canonical_parameters = json::object();
  for (const auto& p : sweep.parameters) canonical_parameters[p.name] = canonical_parameter(p);
  json canonical_datasets = json::object();
  for (const auto& [name, dataset] : sweep.datasets) {
    canonical_datasets[name] = dataset;
    if (sweep.fid_references.count(name)) canonical_datasets[name]["fid_reference"] = sweep.fid_references[name];
  }
  sweep.canonical = {{"name", sweep.name},           {"method", to_string(sweep.method)},
                     {"parameters", canonical_parameters}, {"train", sweep.train},
                     {"metrics", sweep.metrics},     {"datasets", canonical_datasets},
                     {"resources", {{"gpus", sweep.gpus}}}, {"retries", sweep.retries},
                     {"priority", sweep.priority},   {"placement", to_string(sweep.placement)}};
  // Only when given, so the content hash of sweeps written before it existed is unchanged.
  if (!sweep.parallel.empty()) sweep.canonical["parallel"] = sweep.parallel;
  if (sweep.method == SweepMethod::random) {
    sweep.canonical["count"] = sweep.count;
    sweep.canonical["seed"] = sweep.seed;
  }
  sweep.content_hash = sha256_hex(sweep.canonical.dump());

  expand_sweep(sweep);  // every job validated now, before anything can be stored
  return sweep;
}

Sweep load_sweep(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SweepError(path + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  return parse_sweep(text.str(), path);
}

std::vector<ExpandedJob> expand_sweep(const Sweep& sweep) {
  std::map<std::string, int> lines = sweep.lines;
  Reader reader(sweep.source, lines);
  std::vector<ExpandedJob> jobs;
  std::set<std::string> keys;

  auto add = [&](const std::vector<std::pair<std::string, json>>& assignment) {
    ExpandedJob job;
    job.key = key_of(assignment);
    if (!keys.insert(job.key).second) return false;
    const json spec = job_spec_for(sweep, assignment, job.key);
    const std::string dataset = spec["dataset"]["name"].get<std::string>();
    // Store the spec as the trainer reads it, defaults included: what ran is explicit.
    job.spec = to_json(validate_job(
        reader, spec, [&](const std::string& field) { return sweep_path_for(field, dataset); }, job.key));
    jobs.push_back(std::move(job));
    return true;
  };

  if (sweep.method == SweepMethod::grid) {
    // Odometer over the parameters: the last one (seed) varies fastest.
    std::vector<size_t> index(sweep.parameters.size(), 0);
    while (true) {
      std::vector<std::pair<std::string, json>> assignment;
      for (size_t i = 0; i < sweep.parameters.size(); ++i)
        assignment.emplace_back(sweep.parameters[i].name, sweep.parameters[i].values[index[i]]);
      add(assignment);
      size_t i = sweep.parameters.size();
      while (i > 0 && ++index[i - 1] == sweep.parameters[i - 1].values.size()) index[--i] = 0;
      if (i == 0) break;
    }
    return jobs;
  }

  std::mt19937_64 rng(sweep.seed);
  // Repeated draws are skipped so every job is distinct; a small discrete space runs out.
  const int64_t max_draws = sweep.count * 100;
  for (int64_t draws = 0; int64_t(jobs.size()) < sweep.count; ++draws) {
    if (draws == max_draws)
      reader.fail_at(reader.line_of("count"), "count",
                     std::to_string(sweep.count) + " distinct jobs requested, but only " +
                         std::to_string(jobs.size()) + " found in " + std::to_string(max_draws) +
                         " draws: the parameter space is too small");
    std::vector<std::pair<std::string, json>> assignment;
    for (const auto& p : sweep.parameters) assignment.emplace_back(p.name, draw(p, rng));
    add(assignment);
  }
  return jobs;
}

}  // namespace gansweep
