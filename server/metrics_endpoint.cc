#include "server/metrics_endpoint.h"

#include <exception>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/text_serializer.h"

namespace token_authority::server {
namespace {

// The format escapes a backslash and a newline in HELP text; prometheus-cpp
// 1.0.1 writes the text as it is given (a newline would end the line), so
// the families are handed over escaped. Label values it escapes itself.
void EscapeHelp(std::vector<prometheus::MetricFamily>* families) {
  for (prometheus::MetricFamily& f : *families) {
    std::string escaped;
    escaped.reserve(f.help.size());
    for (const char c : f.help) {
      if (c == '\\') {
        escaped += "\\\\";
      } else if (c == '\n') {
        escaped += "\\n";
      } else {
        escaped.push_back(c);
      }
    }
    f.help = std::move(escaped);
  }
}

}  // namespace

class MetricsEndpoint::Collector : public prometheus::Collectable {
 public:
  explicit Collector(CollectFn collect) : collect_(std::move(collect)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    collect_(&out);
    EscapeHelp(&out);
    return out;
  }

 private:
  const CollectFn collect_;
};

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& listen, CollectFn collect) {
  const size_t colon = listen.rfind(':');
  const bool bracketed = !listen.empty() && listen[0] == '[';
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size() ||
      (bracketed && listen[colon - 1] != ']') ||
      (!bracketed && listen.find(':') != colon)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics-listen: \"", listen,
                     "\" is not host:port (IPv6: [addr]:port)"));
  }
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint());
  endpoint->collector_ = std::make_shared<Collector>(std::move(collect));
  // civetweb reports a failure to bind by throwing; nothing else of it
  // escapes this function.
  try {
    endpoint->exposer_ =
        std::make_unique<prometheus::Exposer>(std::vector<std::string>{
            "listening_ports", listen, "num_threads", "2"});
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "metrics-listen: cannot listen on ", listen, ": ", e.what()));
  }
  const std::vector<int> ports = endpoint->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(
        absl::StrCat("metrics-listen: cannot listen on ", listen));
  }
  endpoint->port_ = ports[0];
  endpoint->exposer_->RegisterCollectable(endpoint->collector_);
  return endpoint;
}

MetricsEndpoint::~MetricsEndpoint() {
  // The Exposer's threads end before the collector (and what its function
  // captured) goes.
  exposer_.reset();
}

std::string SerializeMetrics(std::vector<prometheus::MetricFamily> families) {
  EscapeHelp(&families);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace token_authority::server
