#include "trainer/training.h"

#include <ATen/CPUGeneratorImpl.h>

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>

#include "metrics/classifier.h"
#include "metrics/evaluator.h"
#include "metrics/npz.h"
#include "metrics/weights.h"
#include "trainer/contract/events.h"
#include "trainer/data/image_set.h"
#include "trainer/losses.h"
#include "trainer/models/dcgan.h"
#include "trainer/parallel/communicator.h"
#include "trainer/parallel/sync.h"
#include "trainer/sample_grid.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop_requested{false};

constexpr int kGridImages = 64;  // the 8x8 sample grid
constexpr uint64_t kGridSeedSalt = 0x5A4D'9E1E'2B0C'77F1ULL;
constexpr uint64_t kEvalSeedSalt = 0x3C6E'F372'FE94'F82BULL;

// Raised for errors that no retry can fix (bad spec, data, checkpoint).
struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void set_requires_grad(torch::nn::Module& m, bool on) {
  for (auto& p : m.parameters()) p.set_requires_grad(on);
}

// Drops the gradients instead of zero-filling them, so backward writes them directly rather
// than adding to zeros (the same values, one pass less over every parameter).
void clear_grads(torch::nn::Module& m) {
  for (auto& p : m.parameters()) p.mutable_grad().reset();
}

// Where ranks other than 0 write events: nowhere (rank 0 alone emits the stream).
struct NullBuffer : std::streambuf {
  int overflow(int c) override { return c; }
};

class Training {
 public:
  Training(const JobSpec& spec, std::ostream& out, const RunHooks& hooks)
      : spec_(spec), out_(out), null_out_(&null_buffer_), events_(&out), hooks_(hooks) {}

  int run();
  // A failed event at the step reached so far. With several ranks, rank 0 reports and the
  // others write the reason to stderr; all leave together (a bounded barrier), so no rank
  // is killed by mpirun before rank 0 has written its event.
  int fail(const std::string& reason, bool retryable, int code) {
    Event e = event(EventType::failed);
    e.reason = reason;
    e.retryable = retryable;
    emit(*events_, e);
    if (comm_ && comm_->size() > 1) {
      if (comm_->rank() != 0) std::cerr << "trainer rank " << comm_->rank() << ": " << reason << "\n";
      comm_->barrier();
    }
    return code;
  }

 private:
  void start_ranks();
  void load_data();
  void build_models();
  void load_metrics();
  BackboneOutput generated_outputs(int64_t count);
  torch::Tensor generate_shared(const torch::Tensor& z);
  torch::Tensor local_rows(const torch::Tensor& global) const;
  bool agree_to_stop();
  void check_ranks_agree();
  torch::Tensor real_batch(const torch::Tensor& indices, bool g_step) const;
  torch::Tensor random_indices();
  torch::Tensor next_indices();
  std::pair<double, double> iteration(const torch::Tensor& indices);
  bool eval_due() const;
  void evaluate();
  void save_checkpoint();
  bool load_checkpoint();
  std::string checkpoint_path() const { return (fs::path(spec_.output_dir) / "checkpoint.pt").string(); }
  nlohmann::json identity() const;
  Event event(EventType type) const;

  const JobSpec& spec_;
  std::ostream& out_;
  NullBuffer null_buffer_;
  std::ostream null_out_;
  std::ostream* events_;  // out_ on rank 0, null_out_ on the others
  const RunHooks& hooks_;
  std::unique_ptr<Communicator> comm_;
  torch::Device device_ = torch::kCPU;
  torch::Dtype dtype_ = torch::kFloat;
  int64_t bucket_bytes_ = 0;
  ImageSet data_;
  torch::Tensor images_;  // uint8 (N, 3, S, S), shares data_'s memory
  int image_size_ = 0;
  Generator g_{nullptr};
  Discriminator d_{nullptr};
  std::unique_ptr<torch::optim::Adam> opt_g_, opt_d_;
  at::Generator rng_;     // all training randomness: batches, z
  torch::Tensor grid_z_;  // fixed latents of the sample grid
  std::unique_ptr<Backbone> backbone_;  // set when the job measures FID/IS/KID
  Reference reference_;

  int64_t step_ = 0, epoch_ = 0;
  int64_t batch_in_epoch_ = 0;
  torch::Tensor epoch_order_;  // the current epoch's permutation (epoch schedule)
  int64_t steps_per_epoch_ = 0, total_steps_ = 0;
  double loss_d_sum_ = 0, loss_g_sum_ = 0;  // since the last evaluation
  int64_t losses_counted_ = 0;
};

Event Training::event(EventType type) const {
  Event e;
  e.type = type;
  e.job_id = spec_.job_id;
  e.step = step_;
  e.epoch = epoch_;
  return e;
}

// The ranks of this job (one without mpirun), their device, and who emits events.
void Training::start_ranks() {
  ParallelOptions options;
  options.backend = spec_.parallel.backend;
  options.timeout_seconds = spec_.parallel.timeout_s;
  try {
    comm_ = make_communicator(options);
  } catch (const ParallelError& e) {
    throw BadInput(e.what());
  }
  // A stalled collective is reported by the lowest live rank, whatever its number.
  comm_->set_on_stall([this](const std::string& message) {
    Event e = event(EventType::failed);
    e.reason = message;
    e.retryable = true;
    emit(out_, e);
  });
  device_ = comm_->device();
  if (comm_->rank() != 0) events_ = &null_out_;
  bucket_bytes_ = int64_t(spec_.parallel.bucket_mb * 1024 * 1024);
  if (spec_.train.batch_size % comm_->size() != 0)
    throw BadInput("train.batch_size " + std::to_string(spec_.train.batch_size) + " is not divisible by the " +
                   std::to_string(comm_->size()) + " ranks of this job: each rank trains on an equal share");
}

void Training::load_data() {
  try {
    data_ = load_dataset(spec_.dataset, spec_.seed);
  } catch (const DataError& e) {
    throw BadInput(std::string("dataset ") + spec_.dataset.name + ": " + e.what());
  }
  image_size_ = image_size_for(spec_.dataset);
  if (data_.height != image_size_ || data_.width != image_size_)
    throw BadInput("dataset yields " + std::to_string(data_.width) + "x" + std::to_string(data_.height) +
                   " images, expected " + std::to_string(image_size_));
  if (data_.count < spec_.train.batch_size)
    throw BadInput("dataset " + spec_.dataset.name + " has " + std::to_string(data_.count) +
                   " images, fewer than one batch of " + std::to_string(spec_.train.batch_size));
  images_ = torch::from_blob(data_.pixels.data(), {data_.count, 3, image_size_, image_size_}, torch::kUInt8);
}

void Training::build_models() {
  torch::manual_seed(spec_.seed);  // model initialization draws from the global generator
  g_ = Generator(image_size_);
  d_ = Discriminator(image_size_, spec_.loss == Loss::rmcos);
  dtype_ = spec_.train.dtype == "float64" ? torch::kDouble : torch::kFloat;
  g_->to(device_, dtype_);
  d_->to(device_, dtype_);
  // Every rank starts from rank 0's weights, whatever its own initialization drew.
  broadcast_module(*g_, *comm_);
  broadcast_module(*d_, *comm_);
  if (comm_->size() > 1) g_->set_communicator(comm_.get());
  const auto& t = spec_.train;
  opt_g_ = std::make_unique<torch::optim::Adam>(
      g_->parameters(), torch::optim::AdamOptions(t.lr_g).betas({t.beta1, t.beta2}));
  opt_d_ = std::make_unique<torch::optim::Adam>(
      d_->parameters(), torch::optim::AdamOptions(t.lr_d).betas({t.beta1, t.beta2}));
  rng_ = at::make_generator<at::CPUGeneratorImpl>(spec_.seed);
  auto grid_rng = at::make_generator<at::CPUGeneratorImpl>(spec_.seed ^ kGridSeedSalt);
  grid_z_ = torch::randn({kGridImages, kLatentDim}, grid_rng);

  steps_per_epoch_ = data_.count / spec_.train.batch_size;  // the last partial batch is dropped
  total_steps_ = t.schedule == Schedule::epochs ? t.epochs * steps_per_epoch_ : t.iterations;
}

// The backbone and the real-data reference, before any training: a bad weights or
// statistics file fails the job at once.
void Training::load_metrics() {
  const MetricsSpec& m = spec_.metrics;
  if (m.backbone == "none") return;
  // Rank 0 first: it trains or computes what is cached (the classifier, the real
  // statistics); the others then load the backbone from the cache and need no reference.
  if (comm_->rank() != 0) comm_->barrier();
  const char* home = std::getenv("HOME");
  const std::string cache = !m.cache_dir.empty() ? m.cache_dir
                            : home ? (fs::path(home) / ".cache" / "gansweep").string()
                                   : (fs::path(spec_.output_dir) / "metrics-cache").string();
  try {
    if (m.backbone == "classifier") {
      if (data_.labels.empty())
        throw BadInput("metrics.backbone: the classifier backbone trains on the dataset's labels, and dataset " +
                       spec_.dataset.name + " has none");
      const auto labels = torch::tensor(data_.labels, torch::kLong);
      backbone_ = std::make_unique<ClassifierBackbone>(images_, labels, spec_.dataset.name, cache);
    } else {
      InceptionConfig config;
      config.weights = m.weights;
      config.weights_sha256 = m.weights_sha256;
      config.preprocess = m.preprocess == "pytorch-fid" ? Preprocess::pytorch_fid : Preprocess::tensorflow;
      config.batch_size = m.batch_size;
      config.device = device_;
      backbone_ = std::make_unique<InceptionBackbone>(config);
      if (!m.fid_reference.empty()) {
        reference_ = Reference{read_stats_npz(m.fid_reference), torch::Tensor()};
        if (comm_->rank() == 0) comm_->barrier();
        return;
      }
    }
    if (comm_->rank() == 0) {
      const int64_t n = m.reference_samples > 0 ? std::min(m.reference_samples, data_.count) : data_.count;
      reference_ = real_reference(*backbone_, images_.narrow(0, 0, n), spec_.dataset.name, cache);
    }
  } catch (const WeightsError& e) {
    throw BadInput(std::string("metrics.weights: ") + e.what());
  } catch (const NpzError& e) {
    throw BadInput(std::string("metrics: ") + e.what());
  }
  if (comm_->rank() == 0) comm_->barrier();
}

// This rank's rows of a tensor every rank holds whole (latents, batch indices).
torch::Tensor Training::local_rows(const torch::Tensor& global) const {
  const auto [begin, end] = shard_range(global.size(0), comm_->rank(), comm_->size());
  return global.narrow(0, begin, end - begin);
}

// G(z) of a batch every rank drew whole: each rank generates its rows (BN statistics over
// the whole batch), and every rank gets all images back, in order.
torch::Tensor Training::generate_shared(const torch::Tensor& z) {
  return gather_rows(g_->forward(local_rows(z).to(device_, dtype_)), *comm_).cpu();
}

// Backbone outputs of `count` images generated as the reference does for FID/IS: batches
// of latents from a generator of their own (seeded by the job and the step, so training
// randomness is untouched), quantized to uint8 as save_image writes PNGs. Each rank
// generates and extracts its share of every batch; the outputs are gathered in order.
BackboneOutput Training::generated_outputs(int64_t count) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(spec_.seed ^ kEvalSeedSalt ^ uint64_t(step_));
  std::vector<torch::Tensor> features, logits;
  for (int64_t done = 0; done < count; done += spec_.metrics.batch_size) {
    const int64_t n = std::min(spec_.metrics.batch_size, count - done);
    const auto z = local_rows(torch::randn({n, kLatentDim}, gen)).to(device_, dtype_);
    const auto local = backbone_->extract(quantize_images(g_->forward(z)).cpu());
    // Gathered batch by batch, so the samples keep one process's order (IS splits, FID@n).
    features.push_back(gather_rows(local.features, *comm_));
    logits.push_back(gather_rows(local.logits, *comm_));
  }
  return {torch::cat(features), torch::cat(logits)};
}

// ToTensor then Normalize(0.5, 0.5): (v/255 − 0.5)/0.5, in that order as torchvision.
torch::Tensor Training::real_batch(const torch::Tensor& indices, bool g_step) const {
  if (hooks_.on_real_batch)
    hooks_.on_real_batch(g_step, std::vector<int64_t>(indices.data_ptr<int64_t>(),
                                                      indices.data_ptr<int64_t>() + indices.numel()));
  return images_.index_select(0, indices).to(device_, dtype_).div_(255).sub_(0.5).div_(0.5);
}

// B distinct images drawn uniformly, independently of other batches (numpy.random.choice
// without replacement, as the reference's every batch).
torch::Tensor Training::random_indices() {
  return torch::randperm(data_.count, rng_, torch::kLong).narrow(0, 0, spec_.train.batch_size);
}

torch::Tensor Training::next_indices() {
  if (spec_.train.schedule == Schedule::iterations) return random_indices();
  if (!epoch_order_.defined()) epoch_order_ = torch::randperm(data_.count, rng_, torch::kLong);
  return epoch_order_.narrow(0, batch_in_epoch_ * spec_.train.batch_size, spec_.train.batch_size);
}

// One D step then one G step, in the reference's order (rmcosgan.md §3). Every rank draws
// the whole global batch (indices and latents, from the same generator) and trains on its
// rows; losses are means over the rank's rows, relativistic batch means are global, and
// the gradients are averaged, which together give one process's update on the batch.
std::pair<double, double> Training::iteration(const torch::Tensor& indices) {
  const int64_t b = spec_.train.batch_size;
  LossParams params{spec_.margin, spec_.scale, {}};
  if (comm_->size() > 1) params.batch_mean = [this](const torch::Tensor& x) { return global_mean(x, *comm_); };
  // Drawn in float32 whatever the precision, so float64 runs see the same latents.
  const auto latents = [&] { return local_rows(torch::randn({b, kLatentDim}, rng_)).to(device_, dtype_); };

  set_requires_grad(*d_, true);
  clear_grads(*d_);
  const auto c_real = d_->forward(real_batch(local_rows(indices), false));
  torch::Tensor fake;
  {
    torch::NoGradGuard no_grad;  // the fakes are detached in the D step
    fake = g_->forward(latents());
  }
  const auto c_fake = d_->forward(fake);
  const auto loss_d = discriminator_loss(spec_.loss, c_real, c_fake, params);
  loss_d.backward();
  average_gradients(d_->parameters(), *comm_, bucket_bytes_);
  opt_d_->step();

  set_requires_grad(*d_, false);
  clear_grads(*g_);
  const auto c_fake_g = d_->forward(g_->forward(latents()));
  torch::Tensor c_real_g;
  if (is_relativistic(spec_.loss)) {
    torch::NoGradGuard no_grad;  // D is frozen: C_r of the fresh batch is a constant
    c_real_g = d_->forward(real_batch(local_rows(random_indices()), true));
  }
  const auto loss_g = generator_loss(spec_.loss, c_real_g, c_fake_g, params);
  loss_g.backward();
  average_gradients(g_->parameters(), *comm_, bucket_bytes_);
  opt_g_->step();
  // The losses of the whole batch, the same on every rank (so all stop together on NaN).
  auto losses = torch::stack({loss_d.detach(), loss_g.detach()}).to(torch::kDouble);
  comm_->all_reduce(losses, ReduceOp::average);
  losses = losses.cpu();
  return {losses[0].item<double>(), losses[1].item<double>()};
}

// Stop (SIGTERM) when any rank was asked to, so all ranks checkpoint at the same step.
bool Training::agree_to_stop() {
  auto flag = torch::tensor({g_stop_requested.load() ? 1.0 : 0.0}, torch::kDouble).to(device_);
  comm_->all_reduce(flag, ReduceOp::sum);
  return flag.cpu().item<double>() > 0;
}

// The ranks must hold the same weights and buffers (spectral-norm vectors, BN statistics);
// a difference means they trained apart, and the checkpoint would not be the job's state.
void Training::check_ranks_agree() {
  if (comm_->size() == 1) return;
  const auto mine = torch::cat({state_fingerprint(*g_), state_fingerprint(*d_)}).contiguous();
  const auto all = comm_->all_gather(mine).cpu();
  for (int r = 1; r < comm_->size(); ++r)
    if (!torch::equal(all[r], all[0]))
      throw std::runtime_error("rank " + std::to_string(r) + " holds other weights than rank 0 at step " +
                               std::to_string(step_) + ": the ranks diverged");
}

bool Training::eval_due() const {
  if (step_ == total_steps_) return true;
  if (spec_.train.schedule == Schedule::iterations)  // after update i with i % N == 0, as the reference
    return (step_ - 1) % spec_.train.eval_every == 0;
  return batch_in_epoch_ == 0 && epoch_ % spec_.train.eval_every == 0;
}

void Training::evaluate() {
  const auto start = Clock::now();
  const fs::path dir = fs::path(spec_.output_dir) / "samples";
  fs::create_directories(dir);
  std::ostringstream name;
  name << "step_" << std::setw(8) << std::setfill('0') << step_ << ".png";
  EvalMetrics metrics;
  {
    // The reference samples with G in train mode (BN on batch statistics); optional eval mode.
    torch::NoGradGuard no_grad;
    if (spec_.train.sample_in_eval_mode) g_->eval();
    const auto grid = generate_shared(grid_z_);
    if (comm_->rank() == 0) write_sample_grid(grid, 8, (dir / name.str()).string());
    if (backbone_) {
      const auto outputs = generated_outputs(spec_.metrics.samples);
      if (comm_->rank() == 0)
        metrics = evaluate_outputs(*backbone_, reference_, outputs, spec_.metrics.fid_sample_counts);
    }
    g_->train();
  }
  // The others wait here while rank 0 computes the statistics, not inside a collective.
  comm_->barrier();
  Event e = event(EventType::eval);
  if (losses_counted_ > 0) {
    e.loss_d = loss_d_sum_ / double(losses_counted_);
    e.loss_g = loss_g_sum_ / double(losses_counted_);
  }
  e.sample_grid = (dir / name.str()).string();
  e.metrics = metrics;
  e.eval_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  emit(*events_, e);
  loss_d_sum_ = loss_g_sum_ = 0;
  losses_counted_ = 0;
}

// What must match for a checkpoint to continue this job.
nlohmann::json Training::identity() const {
  return {{"loss", to_string(spec_.loss)}, {"margin", spec_.margin}, {"scale", spec_.scale},
          {"seed", spec_.seed}, {"dataset", spec_.dataset.name}, {"images", data_.count},
          {"image_size", image_size_}, {"batch_size", spec_.train.batch_size},
          {"schedule", to_string(spec_.train.schedule)}, {"dtype", spec_.train.dtype}};
}

// Collective: rank 0 writes (every rank holds the same state), and all ranks leave together,
// so a rank that exits next is never killed by mpirun before the file is complete.
void Training::save_checkpoint() {
  check_ranks_agree();
  if (comm_->rank() != 0) {
    comm_->barrier();
    return;
  }
  torch::serialize::OutputArchive archive, g, d, og, od;
  g_->save(g);
  d_->save(d);
  opt_g_->save(og);
  opt_d_->save(od);
  archive.write("generator", g);
  archive.write("discriminator", d);
  archive.write("optimizer_g", og);
  archive.write("optimizer_d", od);
  archive.write("rng", rng_.get_state());
  archive.write("counters", torch::tensor({step_, epoch_, batch_in_epoch_, losses_counted_}, torch::kLong));
  archive.write("loss_sums", torch::tensor({loss_d_sum_, loss_g_sum_}, torch::kDouble));
  archive.write("epoch_order", epoch_order_.defined() ? epoch_order_ : torch::empty({0}, torch::kLong));
  archive.write("identity", c10::IValue(identity().dump()));
  // Write then rename: a crash mid-write never leaves a half checkpoint behind.
  const std::string path = checkpoint_path(), tmp = path + ".tmp";
  archive.save_to(tmp);
  fs::rename(tmp, path);
  Event e = event(EventType::checkpoint);
  e.checkpoint = path;
  emit(*events_, e);
  comm_->barrier();
}

// Rank 0 reads the file and sends its bytes to every rank, so all resume from the same
// weights, optimizer state, random state and counters.
bool Training::load_checkpoint() {
  const std::string path = checkpoint_path();
  std::string bytes;
  if (comm_->rank() == 0 && fs::exists(path)) {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) bytes.clear();
    if (bytes.empty()) bytes = "unreadable";  // still "a checkpoint is there": load_from reports it
  }
  bytes = comm_->broadcast_bytes(bytes, 0);
  if (bytes.empty()) return false;
  if (!spec_.resume)
    throw BadInput("output_dir " + spec_.output_dir + " already holds a checkpoint and resume is false; "
                   "choose a new output_dir (nothing stored is overwritten)");
  try {
    torch::serialize::InputArchive archive, g, d, og, od;
    archive.load_from(bytes.data(), bytes.size(), device_);
    c10::IValue id;
    archive.read("identity", id);
    const auto stored = nlohmann::json::parse(id.toStringRef());
    if (stored != identity())
      throw BadInput("checkpoint " + path + " belongs to another job: it has " + stored.dump() + ", this job is " +
                     identity().dump());
    archive.read("generator", g);
    archive.read("discriminator", d);
    archive.read("optimizer_g", og);
    archive.read("optimizer_d", od);
    g_->load(g);
    d_->load(d);
    opt_g_->load(og);
    opt_d_->load(od);
    torch::Tensor rng, counters, sums, order;
    archive.read("rng", rng);
    archive.read("counters", counters);
    archive.read("loss_sums", sums);
    archive.read("epoch_order", order);
    rng_.set_state(rng.cpu());
    counters = counters.cpu();
    step_ = counters[0].item<int64_t>();
    epoch_ = counters[1].item<int64_t>();
    batch_in_epoch_ = counters[2].item<int64_t>();
    losses_counted_ = counters[3].item<int64_t>();
    loss_d_sum_ = sums[0].item<double>();
    loss_g_sum_ = sums[1].item<double>();
    epoch_order_ = order.numel() > 0 ? order.cpu() : torch::Tensor();
  } catch (const c10::Error& e) {
    throw BadInput("checkpoint " + path + " is unreadable (" + e.what_without_backtrace() +
                   "); move it away to start afresh");
  } catch (const nlohmann::json::exception& e) {
    throw BadInput("checkpoint " + path + " has a corrupt identity record: " + e.what());
  }
  return true;
}

int Training::run() {
  if (spec_.train.threads > 0) torch::set_num_threads(spec_.train.threads);
  // TF32 changes FID (and was not there in the paper's PyTorch 1.2): full float32 on GPUs.
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
  start_ranks();
  fs::create_directories(spec_.output_dir);
  load_data();
  build_models();
  load_metrics();
  const bool resumed = load_checkpoint();

  Event started = event(EventType::started);
  started.total_steps = total_steps_;
  started.resumed = resumed;
  started.architecture = architecture_name(image_size_);
  started.g_parameters = count_parameters(*g_);
  started.d_parameters = count_parameters(*d_);
  started.dataset_images = data_.count;
  started.world_size = comm_->size();
  emit(*events_, started);

  g_->train();
  d_->train();  // D is never put in eval mode: every forward runs a power iteration
  auto window_start = Clock::now();
  int64_t window_steps = 0;
  while (step_ < total_steps_) {
    if (agree_to_stop()) {
      save_checkpoint();
      Event e = event(EventType::failed);
      e.reason = "preempted: stopped by a signal after step " + std::to_string(step_) + ", checkpoint written";
      e.retryable = true;
      e.preempted = true;
      emit(*events_, e);
      comm_->barrier();
      return kExitPreempted;
    }
    const auto [loss_d, loss_g] = iteration(next_indices());
    ++step_;
    ++window_steps;
    if (spec_.train.schedule == Schedule::epochs && ++batch_in_epoch_ == steps_per_epoch_) {
      ++epoch_;
      batch_in_epoch_ = 0;
      epoch_order_ = torch::Tensor();
    }
    if (!std::isfinite(loss_d) || !std::isfinite(loss_g)) {
      return fail("training diverged: non-finite loss at step " + std::to_string(step_) + " (loss_d " +
                      std::to_string(loss_d) + ", loss_g " + std::to_string(loss_g) + ")",
                  false, kExitFailed);
    }
    loss_d_sum_ += loss_d;
    loss_g_sum_ += loss_g;
    ++losses_counted_;
    if (step_ % spec_.train.log_every == 0 || step_ == total_steps_) {
      const double seconds = std::chrono::duration<double>(Clock::now() - window_start).count();
      Event e = event(EventType::progress);
      e.loss_d = loss_d;
      e.loss_g = loss_g;
      e.iterations_per_second = seconds > 0 ? window_steps / seconds : 0.0;
      emit(*events_, e);
      window_start = Clock::now();
      window_steps = 0;
    }
    if (eval_due()) {
      evaluate();
      save_checkpoint();
    }
  }
  emit(*events_, event(EventType::finished));
  comm_->barrier();
  return kExitFinished;
}

}  // namespace

void request_stop() { g_stop_requested.store(true); }

int run_job(const JobSpec& spec, std::ostream& events, const RunHooks& hooks) {
  g_stop_requested.store(false);
  Training training(spec, events, hooks);
  try {
    return training.run();
  } catch (const BadInput& e) {
    return training.fail(e.what(), false, kExitBadInput);
  } catch (const c10::Error& e) {
    return training.fail(std::string("LibTorch error: ") + e.what_without_backtrace(), true, kExitFailed);
  } catch (const std::exception& e) {
    return training.fail(e.what(), true, kExitFailed);
  }
}

}  // namespace gansweep
