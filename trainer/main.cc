// trainer --job job.json: trains one job and writes its events as JSON lines to stdout.
#include <csignal>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "trainer/contract/events.h"
#include "trainer/contract/job_spec.h"
#include "trainer/training.h"

namespace {
void on_signal(int) { gansweep::request_stop(); }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gansweep trainer: trains one GAN job from a job spec, events as JSON lines"};
  std::string job_path, events_path;
  app.add_option("--job", job_path, "job spec (JSON); see docs/job-spec.md")->required();
  app.add_option("--events", events_path, "write events to this file instead of stdout");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and succeeds; a wrong command line goes to stderr, never to the event stream.
    return app.exit(e, std::cerr, std::cerr) == 0 ? 0 : gansweep::kExitUsage;
  }

  std::ofstream file;
  if (!events_path.empty()) {
    file.open(events_path, std::ios::app);
    if (!file) {
      std::cerr << "trainer: cannot open events file " << events_path << "\n";
      return gansweep::kExitUsage;
    }
  }
  std::ostream& events = events_path.empty() ? std::cout : file;

  gansweep::JobSpec spec;
  try {
    spec = gansweep::load_job_spec(job_path);
  } catch (const gansweep::JobSpecError& e) {
    gansweep::Event failed;
    failed.type = gansweep::EventType::failed;
    failed.reason = e.what();
    gansweep::emit(events, failed);
    std::cerr << "trainer: " << e.what() << "\n";
    return gansweep::kExitBadInput;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGUSR1, on_signal);  // what mpirun forwards to its ranks without ending them (docs/gpu.md)
  const int code = gansweep::run_job(spec, events);
  if (code != gansweep::kExitFinished && code != gansweep::kExitPreempted)
    std::cerr << "trainer: job " << spec.job_id << " failed (exit " << code << "); see the failed event\n";
  return code;
}
