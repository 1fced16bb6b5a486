// The gRPC service on loopback: every call through a real channel, the store behind it.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "coordinator/progress.h"
#include "coordinator/service.h"
#include "coordinator/store.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;
using namespace gansweep::v1;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

const std::string kEval =
    R"({"event":"eval","job_id":"j","step":2,"epoch":0,"time":1,"loss_d":0.5,"loss_g":1.5,)"
    R"("metrics":{"fid":42.5,"is_mean":2.5,"is_std":0.1,"kid_mean":null,"kid_std":null,)"
    R"("samples":64,"backbone":"inception","weights_sha256":"abc"}})";
const std::string kProgress = R"({"event":"progress","job_id":"j","step":3,"epoch":0,"time":1,"loss_d":0.4})";

TEST(Progress, EvalEventsBecomeOneRowPerValueNamingTheBackbone) {
  const ProgressReport report = read_event_lines({kEval, kProgress});
  EXPECT_EQ(report.step, 3);
  ASSERT_EQ(report.metrics.size(), 5u);  // fid, is_mean, is_std, loss_d, loss_g; KID not computed
  std::map<std::string, double> values;
  for (const auto& m : report.metrics) {
    values[m.name] = m.value;
    EXPECT_EQ(m.step, 2);
    EXPECT_EQ(m.backbone, "inception");
    EXPECT_EQ(m.weights_sha256, "abc");
    EXPECT_EQ(m.samples, 64);
  }
  EXPECT_EQ(values["fid"], 42.5);
  EXPECT_EQ(values["loss_g"], 1.5);
  EXPECT_EQ(values.count("kid_mean"), 0u);
}

TEST(Progress, FidAtSeveralSampleCountsBecomesOneRowPerCount) {
  const std::string eval =
      R"({"event":"eval","job_id":"j","step":4,"epoch":1,"time":1,"metrics":{"fid":30.0,"samples":10000,)"
      R"("backbone":"inception","weights_sha256":"abc","fid_by_samples":[{"samples":1000,"fid":45.0},)"
      R"({"samples":5000,"fid":33.0}]}})";
  const ProgressReport report = read_event_lines({eval});
  std::map<std::string, std::pair<double, int64_t>> rows;
  for (const auto& m : report.metrics) rows[m.name] = {m.value, m.samples};
  EXPECT_EQ(rows.at("fid"), (std::pair<double, int64_t>{30.0, 10000}));
  EXPECT_EQ(rows.at("fid@1000"), (std::pair<double, int64_t>{45.0, 1000}));
  EXPECT_EQ(rows.at("fid@5000"), (std::pair<double, int64_t>{33.0, 5000}));
}

TEST(Progress, SampleGridsAndCheckpointsBecomeArtifacts) {
  const std::string eval =
      R"({"event":"eval","job_id":"j","step":5,"epoch":1,"time":1,"sample_grid":"/w/samples/step_00000005.png"})";
  const std::string checkpoint =
      R"({"event":"checkpoint","job_id":"j","step":5,"epoch":1,"time":1,"checkpoint":"/w/checkpoint.pt"})";
  const ProgressReport report = read_event_lines({eval, checkpoint, kProgress});
  ASSERT_EQ(report.artifacts.size(), 2u);
  EXPECT_EQ(report.artifacts[0].kind, "sample_grid");
  EXPECT_EQ(report.artifacts[0].path, "/w/samples/step_00000005.png");
  EXPECT_EQ(report.artifacts[0].step, 5);
  EXPECT_EQ(report.artifacts[1].kind, "checkpoint");
  EXPECT_EQ(report.artifacts[1].path, "/w/checkpoint.pt");
}

TEST(Progress, ABadLineIsNamed) {
  try {
    read_event_lines({kProgress, "{not json"});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("event line 2"), std::string::npos) << e.what();
  }
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gansweep-service-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = std::make_unique<Store>(Store::open((dir_ / "results.db").string()));
    service_ = std::make_unique<CoordinatorService>(*store_, 30);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    stub_ = Coordinator::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_->Shutdown();
    server_.reset();
    service_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  SubmitSweepReply submit(const std::string& yaml, grpc::Status* status = nullptr) {
    grpc::ClientContext context;
    SubmitSweepRequest request;
    request.set_yaml(yaml);
    SubmitSweepReply reply;
    const grpc::Status s = stub_->SubmitSweep(&context, request, &reply);
    if (status) *status = s;
    else EXPECT_TRUE(s.ok()) << s.error_message();
    return reply;
  }
  int64_t register_worker(const std::string& name) {
    grpc::ClientContext context;
    RegisterRequest request;
    request.set_protocol_version(kProtocolVersion);
    request.set_name(name);
    request.set_host("host-" + name);
    request.set_cores(8);
    auto* device = request.add_devices();
    device->set_index(0);
    device->set_model("RTX 3090");
    device->set_memory_bytes(24LL << 30);
    (*request.mutable_software_versions())["cuda"] = "12.1";
    RegisterReply reply;
    EXPECT_TRUE(stub_->Register(&context, request, &reply).ok());
    EXPECT_EQ(reply.lease_seconds(), 30);
    return reply.worker_id();
  }
  AcquireJobReply acquire(int64_t worker, std::vector<int> free) {
    grpc::ClientContext context;
    AcquireJobRequest request;
    request.set_worker_id(worker);
    for (int d : free) request.add_free_devices(d);
    AcquireJobReply reply;
    EXPECT_TRUE(stub_->AcquireJob(&context, request, &reply).ok());
    return reply;
  }
  grpc::Status report(int64_t attempt, const std::vector<std::string>& lines, int64_t* added = nullptr) {
    grpc::ClientContext context;
    ReportProgressRequest request;
    request.set_attempt_id(attempt);
    for (const auto& line : lines) request.add_event_lines(line);
    ReportProgressReply reply;
    const grpc::Status status = stub_->ReportProgress(&context, request, &reply);
    if (added) *added = reply.metrics_added();
    return status;
  }
  grpc::Status finish(int64_t attempt, int code, std::string* job_status = nullptr) {
    grpc::ClientContext context;
    FinishJobRequest request;
    request.set_attempt_id(attempt);
    request.set_exit_code(code);
    request.add_last_error_lines("line one");
    request.add_last_error_lines("line two");
    FinishJobReply reply;
    const grpc::Status status = stub_->FinishJob(&context, request, &reply);
    if (job_status) *job_status = reply.job_status();
    return status;
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<CoordinatorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Coordinator::Stub> stub_;
};

TEST_F(ServiceTest, AProtocolMismatchIsRefusedNamingBothVersions) {
  grpc::ClientContext context;
  RegisterRequest request;
  request.set_protocol_version(kProtocolVersion + 1);
  request.set_name("old");
  request.set_host("h");
  RegisterReply reply;
  const grpc::Status status = stub_->Register(&context, request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("speaks version " + std::to_string(kProtocolVersion + 1)), std::string::npos);
  EXPECT_NE(status.error_message().find("this coordinator speaks version " + std::to_string(kProtocolVersion)),
            std::string::npos)
      << status.error_message();
  EXPECT_TRUE(store_->list_workers().empty());
}

TEST_F(ServiceTest, SubmittingTwiceAddsNothingAndAMalformedSweepChangesNothing) {
  const std::string yaml = read_file(GANSWEEP_SWEEPS_DIR "/smoke.yaml");
  const auto first = submit(yaml);
  EXPECT_TRUE(first.created());
  EXPECT_EQ(first.jobs(), 4);
  const auto again = submit(yaml);
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.sweep_id(), first.sweep_id());

  grpc::Status status;
  submit("name: bad\nmethod: grid\nparameters:\n  los: {value: rmcos}\n", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(status.error_message().empty());

  grpc::ClientContext context;
  ListSweepsReply sweeps;
  ASSERT_TRUE(stub_->ListSweeps(&context, ListSweepsRequest(), &sweeps).ok());
  ASSERT_EQ(sweeps.sweeps_size(), 1);
  EXPECT_EQ(sweeps.sweeps(0).total_jobs(), 4);
  EXPECT_EQ(sweeps.sweeps(0).job_counts().at("queued"), 4);
}

TEST_F(ServiceTest, AWorkerRunsAJobReportsOnceAndFinishes) {
  submit(read_file(GANSWEEP_SWEEPS_DIR "/smoke.yaml"));
  const int64_t worker = register_worker("w1");
  const auto lease = acquire(worker, {0});
  ASSERT_TRUE(lease.has_job());
  EXPECT_EQ(lease.lease().devices_size(), 1);
  EXPECT_FALSE(acquire(worker, {0}).has_job());  // device 0 is held

  int64_t added = 0;
  ASSERT_TRUE(report(lease.lease().attempt_id(), {kProgress, kEval}, &added).ok());
  EXPECT_EQ(added, 5);
  ASSERT_TRUE(report(lease.lease().attempt_id(), {kEval}, &added).ok());
  EXPECT_EQ(added, 0);  // a replayed report adds nothing
  EXPECT_EQ(report(lease.lease().attempt_id(), {"garbage"}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  {
    grpc::ClientContext context;
    HeartbeatRequest request;
    request.set_worker_id(worker);
    request.add_attempt_ids(lease.lease().attempt_id());
    HeartbeatReply reply;
    ASSERT_TRUE(stub_->Heartbeat(&context, request, &reply).ok());
    ASSERT_EQ(reply.extended_size(), 1);
    EXPECT_EQ(reply.stop_size(), 0);
  }
  std::string job_status;
  ASSERT_TRUE(finish(lease.lease().attempt_id(), 0, &job_status).ok());
  EXPECT_EQ(job_status, "done");
  // The finished attempt is superseded: its late reports and finishes are refused.
  EXPECT_EQ(report(lease.lease().attempt_id(), {kProgress}).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(finish(lease.lease().attempt_id(), 0).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  grpc::ClientContext context;
  GetSweepRequest request;
  request.set_name("smoke");
  GetSweepReply sweep;
  ASSERT_TRUE(stub_->GetSweep(&context, request, &sweep).ok());
  int done = 0;
  for (const auto& job : sweep.jobs()) done += job.status() == "done";
  EXPECT_EQ(done, 1);
}

TEST_F(ServiceTest, AFailedAttemptKeepsItsErrorLines) {
  submit(read_file(GANSWEEP_SWEEPS_DIR "/smoke.yaml"));  // retries: 0
  const auto lease = acquire(register_worker("w1"), {0});
  std::string job_status;
  ASSERT_TRUE(finish(lease.lease().attempt_id(), 4, &job_status).ok());
  EXPECT_EQ(job_status, "failed");
  EXPECT_EQ(store_->get_job(lease.lease().job_id())->last_error, "line one\nline two");
}

TEST_F(ServiceTest, CancellingASweepStopsItsTrainersAtTheNextHeartbeat) {
  submit(read_file(GANSWEEP_SWEEPS_DIR "/smoke.yaml"));
  const int64_t worker = register_worker("w1");
  const auto lease = acquire(worker, {0});
  {
    grpc::ClientContext context;
    CancelSweepRequest request;
    request.set_name("smoke");
    CancelReply reply;
    ASSERT_TRUE(stub_->CancelSweep(&context, request, &reply).ok());
    EXPECT_EQ(reply.jobs_cancelled(), 4);
  }
  grpc::ClientContext context;
  HeartbeatRequest request;
  request.set_worker_id(worker);
  request.add_attempt_ids(lease.lease().attempt_id());
  HeartbeatReply reply;
  ASSERT_TRUE(stub_->Heartbeat(&context, request, &reply).ok());
  ASSERT_EQ(reply.stop_size(), 1);
  EXPECT_EQ(reply.stop(0), lease.lease().attempt_id());
  EXPECT_FALSE(acquire(worker, {1}).has_job());
  EXPECT_TRUE(service_->all_sweeps_settled());
}

TEST_F(ServiceTest, ListWorkersShowsDevicesVersionsAndRunningAttempts) {
  submit(read_file(GANSWEEP_SWEEPS_DIR "/smoke.yaml"));
  const int64_t worker = register_worker("w1");
  acquire(worker, {0});
  grpc::ClientContext context;
  ListWorkersReply reply;
  const grpc::Status status = stub_->ListWorkers(&context, ListWorkersRequest(), &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(reply.workers_size(), 1);
  const auto& w = reply.workers(0);
  EXPECT_EQ(w.name(), "w1");
  EXPECT_EQ(w.host(), "host-w1");
  EXPECT_EQ(w.cores(), 8);
  ASSERT_EQ(w.devices_size(), 1);
  EXPECT_EQ(w.devices(0).model(), "RTX 3090");
  EXPECT_EQ(w.devices(0).memory_bytes(), 24LL << 30);
  EXPECT_EQ(w.software_versions().at("cuda"), "12.1");
  EXPECT_EQ(w.running_attempts(), 1);
}

TEST_F(ServiceTest, CancelJobAndUnknownNames) {
  submit(read_file(GANSWEEP_SWEEPS_DIR "/smoke.yaml"));
  const auto jobs = store_->list_jobs(store_->get_sweep("smoke")->id);
  {
    grpc::ClientContext context;
    CancelJobRequest request;
    request.set_job_id(jobs[0].id);
    CancelReply reply;
    ASSERT_TRUE(stub_->CancelJob(&context, request, &reply).ok());
    EXPECT_EQ(reply.jobs_cancelled(), 1);
  }
  EXPECT_EQ(store_->get_job(jobs[0].id)->status, "cancelled");
  grpc::ClientContext context;
  GetSweepRequest request;
  request.set_name("nope");
  GetSweepReply reply;
  EXPECT_EQ(stub_->GetSweep(&context, request, &reply).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace gansweep
