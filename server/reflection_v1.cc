#include "server/reflection_v1.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpcpp/impl/server_builder_plugin.h"
#include "grpcpp/impl/server_initializer.h"

namespace token_authority::server {
namespace {

namespace v1 = ::grpc::reflection::v1;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;

// Answers one stream's requests; remembers which files it already sent (a
// client gets each import once per stream, as the protocol allows).
class StreamAnswers {
 public:
  StreamAnswers(const DescriptorPool* pool, std::vector<std::string> services)
      : pool_(pool), services_(std::move(services)) {}

  void Answer(const v1::ServerReflectionRequest& request,
              v1::ServerReflectionResponse* response) {
    response->set_valid_host(request.host());
    *response->mutable_original_request() = request;
    using Request = v1::ServerReflectionRequest;
    switch (request.message_request_case()) {
      case Request::kListServices:
        for (const std::string& name : services_) {
          response->mutable_list_services_response()->add_service()->set_name(
              name);
        }
        return;
      case Request::kFileByFilename:
        return SendFile(pool_->FindFileByName(request.file_by_filename()),
                        "File", request.file_by_filename(), response);
      case Request::kFileContainingSymbol:
        return SendFile(
            pool_->FindFileContainingSymbol(request.file_containing_symbol()),
            "Symbol", request.file_containing_symbol(), response);
      case Request::kFileContainingExtension: {
        const auto& ext = request.file_containing_extension();
        const auto* type = pool_->FindMessageTypeByName(ext.containing_type());
        const auto* field = type == nullptr ? nullptr
                                            : pool_->FindExtensionByNumber(
                                                  type, ext.extension_number());
        return SendFile(field == nullptr ? nullptr : field->file(), "Extension",
                        absl::StrCat(ext.containing_type(), "(",
                                     ext.extension_number(), ")"),
                        response);
      }
      case Request::kAllExtensionNumbersOfType:
        return ExtensionNumbers(request.all_extension_numbers_of_type(),
                                response);
      default:
        return Error(grpc::StatusCode::UNIMPLEMENTED,
                     "request: no known request type set", response);
    }
  }

 private:
  static void Error(grpc::StatusCode code, std::string message,
                    v1::ServerReflectionResponse* response) {
    response->mutable_error_response()->set_error_code(code);
    response->mutable_error_response()->set_error_message(std::move(message));
  }

  // `file` and every file it imports, transitively, not sent before.
  void SendFile(const FileDescriptor* file, const char* what,
                const std::string& name,
                v1::ServerReflectionResponse* response) {
    if (file == nullptr) {
      return Error(grpc::StatusCode::NOT_FOUND,
                   absl::StrCat(what, " not found: ", name), response);
    }
    auto* out = response->mutable_file_descriptor_response();
    std::vector<const FileDescriptor*> todo = {file};
    bool first = true;
    while (!todo.empty()) {
      const FileDescriptor* f = todo.back();
      todo.pop_back();
      // The file asked for always (an empty answer reads as "not found" to
      // some clients), its imports once per stream, as grpc-go does.
      if (!sent_.insert(f->name()).second && !first) continue;
      first = false;
      google::protobuf::FileDescriptorProto proto;
      f->CopyTo(&proto);
      proto.SerializeToString(out->add_file_descriptor_proto());
      for (int i = 0; i < f->dependency_count(); ++i) {
        todo.push_back(f->dependency(i));
      }
    }
  }

  void ExtensionNumbers(const std::string& type_name,
                        v1::ServerReflectionResponse* response) {
    const auto* type = pool_->FindMessageTypeByName(type_name);
    if (type == nullptr) {
      return Error(grpc::StatusCode::NOT_FOUND,
                   absl::StrCat("Type not found: ", type_name), response);
    }
    std::vector<const google::protobuf::FieldDescriptor*> extensions;
    pool_->FindAllExtensions(type, &extensions);
    auto* out = response->mutable_all_extension_numbers_response();
    out->set_base_type_name(type_name);
    for (const auto* e : extensions) out->add_extension_number(e->number());
  }

  const DescriptorPool* const pool_;
  const std::vector<std::string> services_;
  absl::flat_hash_set<std::string> sent_;
};

class ReflectionV1Service final : public v1::ServerReflection::Service {
 public:
  // Called once, before the server takes calls.
  void SetServiceList(const std::vector<std::string>& services) {
    MutexLock lock(&mu_);
    services_ = services;
  }

  grpc::Status ServerReflectionInfo(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<v1::ServerReflectionResponse,
                               v1::ServerReflectionRequest>* stream) override {
    std::vector<std::string> services;
    {
      MutexLock lock(&mu_);
      services = services_;
    }
    StreamAnswers answers(DescriptorPool::generated_pool(),
                          std::move(services));
    v1::ServerReflectionRequest request;
    while (stream->Read(&request)) {
      v1::ServerReflectionResponse response;
      answers.Answer(request, &response);
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

 private:
  // Set by the plugin's Finish, which gRPC calls just after the server
  // started.
  Mutex mu_;
  std::vector<std::string> services_ ABSL_GUARDED_BY(mu_);
};

class ReflectionV1Plugin : public grpc::ServerBuilderPlugin {
 public:
  ReflectionV1Plugin() : service_(std::make_shared<ReflectionV1Service>()) {}

  std::string name() override { return "token_authority_reflection_v1"; }
  void InitServer(grpc::ServerInitializer* si) override {
    si->RegisterService(service_);
  }
  void Finish(grpc::ServerInitializer* si) override {
    service_->SetServiceList(*si->GetServiceList());
  }
  void ChangeArguments(const std::string& /*name*/, void* /*value*/) override {}
  bool has_sync_methods() const override { return true; }
  bool has_async_methods() const override { return false; }

 private:
  const std::shared_ptr<ReflectionV1Service> service_;
};

class ReflectionV1Option : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {
    // grpc.health.v1's messages, referenced so that the linker keeps their
    // file, which registers the descriptor with the generated pool.
    (void)grpc::health::v1::HealthCheckRequest::descriptor();
  }
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    plugins->push_back(std::make_unique<ReflectionV1Plugin>());
  }
};

}  // namespace

std::unique_ptr<grpc::ServerBuilderOption> NewReflectionV1Option() {
  return std::make_unique<ReflectionV1Option>();
}

}  // namespace token_authority::server
