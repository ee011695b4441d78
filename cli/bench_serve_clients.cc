#include "cli/bench_serve_clients.h"

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proto/infernum/v1/worker.grpc.pb.h"

namespace infernum::cli {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr int kMaxModelInfoBytes = 256 << 20;
constexpr int kTimeoutSec = 600;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Records one streamed chunk carrying tokens at the current time.
void OnChunk(Clock::time_point t0, double* last, RequestResult* r) {
  const double now = Since(t0);
  if (*last < 0) {
    r->ttft_s = now;
  } else {
    r->itl_s.push_back(now - *last);
  }
  *last = now;
}

// Incremental SSE parser for /v1/completions: feeds complete `data:` lines
// into the result; remembers a partial line across calls.
class SseParser {
 public:
  SseParser(Clock::time_point t0, RequestResult* r) : t0_(t0), r_(r) {}

  void Feed(const char* data, size_t n) {
    buf_.append(data, n);
    size_t start = 0, pos;
    while ((pos = buf_.find('\n', start)) != std::string::npos) {
      std::string_view line(buf_.data() + start, pos - start);
      start = pos + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.substr(0, 5) == "data:") HandleData(line.substr(5));
    }
    buf_.erase(0, start);  // Keep only a partial line.
  }
  bool done() const { return done_; }
  int64_t num_chunks() const { return num_chunks_; }
  int64_t usage_tokens() const { return usage_tokens_; }
  const std::string& error() const { return error_; }

 private:
  void HandleData(std::string_view payload) {
    if (!payload.empty() && payload.front() == ' ') payload.remove_prefix(1);
    if (payload == "[DONE]") {
      done_ = true;
      return;
    }
    json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      error_ = "malformed SSE data: " + std::string(payload.substr(0, 200));
      return;
    }
    if (j.contains("error")) error_ = j["error"].dump();
    auto u = j.find("usage");
    if (u != j.end() && u->is_object()) {
      usage_tokens_ = u->value("completion_tokens", int64_t{0});
    }
    auto c = j.find("choices");
    if (c == j.end() || !c->is_array() || c->empty()) return;
    const json& text = (*c)[0]["text"];
    if (text.is_string() && !text.get_ref<const std::string&>().empty()) {
      ++num_chunks_;
      OnChunk(t0_, &last_, r_);
    }
  }

  Clock::time_point t0_;
  RequestResult* r_;
  std::string buf_;
  double last_ = -1;
  bool done_ = false;
  int64_t num_chunks_ = 0;
  int64_t usage_tokens_ = -1;
  std::string error_;
};

class HttpServeClient : public ServeClient {
 public:
  HttpServeClient(std::string base_url, ServeRequestOptions options)
      : base_url_(std::move(base_url)), options_(std::move(options)) {}

  RequestResult Send(const std::vector<int32_t>& prompt_ids,
                     int64_t request_index) override {
    std::unique_ptr<httplib::Client> client = Acquire();
    RequestResult r = SendWith(*client, prompt_ids, request_index);
    // Reuse only healthy keep-alive connections.
    if (r.ok && options_.keep_alive) Release(std::move(client));
    return r;
  }

 private:
  std::string Body(const std::vector<int32_t>& prompt_ids,
                   int64_t request_index) const {
    json body = {{"model", options_.model},
                 {"prompt", prompt_ids},
                 {"max_tokens", options_.max_tokens},
                 {"temperature", options_.temperature},
                 {"ignore_eos", true},
                 {"stream", true},
                 {"stream_options", {{"include_usage", true}}}};
    if (options_.temperature > 0) body["seed"] = options_.seed + request_index;
    return body.dump();
  }

  RequestResult SendWith(httplib::Client& client,
                         const std::vector<int32_t>& prompt_ids,
                         int64_t request_index) {
    RequestResult r;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.headers = {{"Accept", "text/event-stream"}};
    req.body = Body(prompt_ids, request_index);
    req.headers.emplace("Content-Type", "application/json");
    const Clock::time_point t0 = Clock::now();
    SseParser parser(t0, &r);
    std::string raw;  // Kept (truncated) for error messages.
    req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
      if (raw.size() < 512) raw.append(d, std::min<size_t>(n, 512));
      parser.Feed(d, n);
      return true;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool sent = client.send(req, res, err);
    r.e2e_s = Since(t0);
    if (!sent) {
      r.error = "HTTP error: " + httplib::to_string(err);
    } else if (res.status != 200) {
      r.error = absl::StrCat("HTTP ", res.status, ": ", raw);
    } else if (!parser.error().empty()) {
      r.error = parser.error();
    } else if (parser.done() && parser.num_chunks() == 0 &&
               parser.usage_tokens() > 0) {
      // Tokens were generated but none had visible text (a random-weight
      // model can emit only special or partial-UTF-8 tokens): the client's
      // first output is the end of the stream.
      r.ok = true;
      r.ttft_s = r.e2e_s;
      r.output_tokens = parser.usage_tokens();
    } else if (!parser.done() || parser.num_chunks() == 0) {
      r.error = absl::StrCat(
          "stream ended ", parser.done() ? "without tokens" : "without [DONE]",
          " (", parser.num_chunks(), " text chunks, usage ",
          parser.usage_tokens(), " tokens): ", raw);
    } else {
      r.ok = true;
      r.output_tokens = parser.usage_tokens() >= 0 ? parser.usage_tokens()
                                                   : parser.num_chunks();
    }
    return r;
  }

  std::unique_ptr<httplib::Client> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        auto c = std::move(free_.back());
        free_.pop_back();
        return c;
      }
    }
    auto c = std::make_unique<httplib::Client>(base_url_);
    c->set_keep_alive(options_.keep_alive);
    c->set_tcp_nodelay(true);
    c->set_connection_timeout(10, 0);
    c->set_read_timeout(kTimeoutSec, 0);
    return c;
  }

  void Release(std::unique_ptr<httplib::Client> c) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(c));
  }

  const std::string base_url_;
  const ServeRequestOptions options_;
  std::mutex mu_;
  std::vector<std::unique_ptr<httplib::Client>> free_;
};

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxModelInfoBytes);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

class GrpcServeClient : public ServeClient {
 public:
  GrpcServeClient(const std::string& address, ServeRequestOptions options)
      : stub_(v1::Worker::NewStub(MakeChannel(address))),
        options_(std::move(options)) {}

  RequestResult Send(const std::vector<int32_t>& prompt_ids,
                     int64_t request_index) override {
    v1::GenerateRequest req;
    req.set_request_id(absl::StrCat("bench-", request_index));
    req.mutable_prompt_token_ids()->Add(prompt_ids.begin(), prompt_ids.end());
    req.mutable_sampling()->set_temperature(
        static_cast<float>(options_.temperature));
    if (options_.temperature > 0) {
      req.mutable_sampling()->set_seed(options_.seed + request_index);
    }
    req.set_max_tokens(options_.max_tokens);
    req.set_ignore_eos(true);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(kTimeoutSec));
    RequestResult r;
    const Clock::time_point t0 = Clock::now();
    auto reader = stub_->Generate(&ctx, req);
    double last = -1;
    v1::GenerateResponse msg;
    bool got_final = false;
    int64_t streamed = 0;
    while (reader->Read(&msg)) {
      if (msg.has_chunk() && msg.chunk().tokens_size() > 0) {
        streamed += msg.chunk().tokens_size();
        OnChunk(t0, &last, &r);
      } else if (msg.has_final()) {
        got_final = true;
        r.output_tokens = msg.final().completion_tokens();
        if (msg.final().finish_reason() == v1::FINISH_REASON_ERROR ||
            msg.final().finish_reason() == v1::FINISH_REASON_ABORT) {
          r.error = "worker ended the stream: " + msg.final().error_message();
        }
      }
    }
    const grpc::Status st = reader->Finish();
    r.e2e_s = Since(t0);
    if (!st.ok()) {
      r.error =
          absl::StrCat("gRPC ", st.error_code(), ": ", st.error_message());
    } else if (!got_final || streamed == 0) {
      if (r.error.empty()) r.error = "stream ended without tokens or final";
    }
    r.ok = r.error.empty();
    if (r.ok && r.output_tokens == 0) r.output_tokens = streamed;
    return r;
  }

 private:
  std::unique_ptr<v1::Worker::Stub> stub_;
  const ServeRequestOptions options_;
};

}  // namespace

std::unique_ptr<ServeClient> MakeHttpServeClient(
    const std::string& base_url, const ServeRequestOptions& options) {
  return std::make_unique<HttpServeClient>(base_url, options);
}

std::unique_ptr<ServeClient> MakeGrpcServeClient(
    const std::string& address, const ServeRequestOptions& options) {
  return std::make_unique<GrpcServeClient>(address, options);
}

absl::StatusOr<std::string> FetchRouterModel(const std::string& base_url) {
  httplib::Client client(base_url);
  client.set_connection_timeout(10, 0);
  httplib::Result res = client.Get("/v1/models");
  if (!res) {
    return absl::UnavailableError(absl::StrCat(
        "GET ", base_url, "/v1/models: ", httplib::to_string(res.error())));
  }
  json j = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (res->status != 200 || j.is_discarded() || !j.contains("data") ||
      !j["data"].is_array() || j["data"].empty() ||
      !j["data"][0].contains("id") || !j["data"][0]["id"].is_string()) {
    return absl::UnavailableError(
        absl::StrCat("GET /v1/models gave no model (HTTP ", res->status, ")"));
  }
  return j["data"][0]["id"].get<std::string>();
}

absl::StatusOr<WorkerModel> FetchWorkerModel(const std::string& address) {
  auto stub = v1::Worker::NewStub(MakeChannel(address));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ModelInfo info;
  grpc::Status st = stub->GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info);
  if (!st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("GetModelInfo on ", address, ": ", st.error_message()));
  }
  return WorkerModel{info.model_id(), info.vocab_size()};
}

absl::Status ParseHttpUrl(const std::string& url, std::string* host,
                          int* port) {
  const std::string scheme = "http://";
  std::string rest = url.rfind(scheme, 0) == 0 ? url.substr(scheme.size()) : "";
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t colon = rest.rfind(':');
  if (rest.empty() || colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(rest.substr(colon + 1), port) || *port <= 0 ||
      *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--url must look like http://HOST:PORT, got '", url, "'"));
  }
  *host = rest.substr(0, colon);
  return absl::OkStatus();
}

}  // namespace infernum::cli
