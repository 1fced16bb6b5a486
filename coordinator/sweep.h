// Sweep files: parsing, validation and expansion into jobs. docs/sweep-format.md describes the
// format. Every job a sweep expands to is a job spec the trainer accepts (job_spec_from_json),
// so a sweep can never store a job that would be refused later.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gansweep {

// Thrown for any invalid sweep file; the message reads "FILE:LINE: key.path: problem".
class SweepError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class SweepMethod { grid, random };
enum class Placement { any, every_worker };

std::string to_string(SweepMethod method);
std::string to_string(Placement placement);

// A distribution a random sweep draws a parameter from.
struct Distribution {
  enum class Kind { uniform, int_uniform, log_uniform };
  Kind kind = Kind::uniform;
  double min = 0;
  double max = 0;
};

// One varying (or fixed) job-spec field: dataset, loss, margin, scale or seed.
struct Parameter {
  std::string name;
  std::vector<nlohmann::json> values;       // from `value` or `values`; empty with a distribution
  std::optional<Distribution> distribution;  // random sweeps only
};

struct Sweep {
  std::string source;     // file name used in messages
  std::string yaml_text;  // the file as written, stored with the sweep
  std::string name;
  std::string description;
  SweepMethod method = SweepMethod::grid;
  int64_t count = 0;  // random only: number of jobs
  uint64_t seed = 0;  // random only: sampler seed
  // In expansion order (kParameterOrder); only the parameters the file names.
  std::vector<Parameter> parameters;
  nlohmann::json train = nlohmann::json::object();     // job-spec `train` object
  nlohmann::json metrics = nlohmann::json::object();   // job-spec `metrics` object
  nlohmann::json parallel = nlohmann::json::object();  // job-spec `parallel` object
  std::map<std::string, nlohmann::json> datasets;      // name -> job-spec `dataset` object
  std::map<std::string, std::string> fid_references;   // dataset -> its jobs' metrics.fid_reference
  int gpus = 1;
  int retries = 2;
  int priority = 0;
  Placement placement = Placement::any;
  // Line of every key path read ("train.batch_size" -> 14), to place errors found later.
  std::map<std::string, int> lines;
  // Canonical JSON of everything above except source, yaml_text and description, and its
  // SHA-256: comments, key order and formatting do not change the hash.
  nlohmann::json canonical;
  std::string content_hash;
};

// The parameters a sweep may vary, in the order they nest in a grid (dataset outermost, seed
// innermost) and appear in job keys.
extern const std::vector<std::string> kParameterOrder;

struct ExpandedJob {
  std::string key;      // canonical "dataset=mnist,loss=rmcos,margin=0.15,seed=1"
  nlohmann::json spec;  // a valid job spec; output_dir is the placeholder "jobs/<key>"
};

// Parse and validate; throws SweepError. `source` names the file in messages.
Sweep parse_sweep(const std::string& yaml_text, const std::string& source);
Sweep load_sweep(const std::string& path);

// Grid: the cartesian product in kParameterOrder, each parameter's values in file order.
// Random: `count` draws seeded by `seed`, distinct keys. Deterministic in both cases.
// Validates every job with job_spec_from_json; throws SweepError naming the job and line.
std::vector<ExpandedJob> expand_sweep(const Sweep& sweep);

// Edit distance (a swap of neighbouring letters counts 1), the basis of "did you mean"
// suggestions; exposed for tests.
size_t edit_distance(const std::string& a, const std::string& b);


}  // namespace gansweep
