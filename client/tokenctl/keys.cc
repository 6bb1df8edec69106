// The signing key commands: keys list, keys rotate, keys jwks.
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/proto_text.h"
#include "client/tokenctl/command.h"
#include "client/tokenctl/commands.h"
#include "client/tokenctl/output.h"
#include "convert/proto_convert.h"
#include "token/algorithm.h"

namespace token_authority::client::tokenctl {
namespace {

namespace v1 = ::tokenauthority::v1;

struct KeysListFlags {
  bool include_retired = false;
};

int KeysList(Context& context, const KeysListFlags& flags) {
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  v1::ListSigningKeysRequest request;
  request.set_include_retired(flags.include_retired);
  absl::StatusOr<v1::ListSigningKeysResponse> r =
      (*client)->ListSigningKeys(request, context.Call());
  if (!r.ok()) return context.ServerFailure(r.status());
  Table table(
      {"KEY ID", "ALGORITHM", "STATE", "CREATED (UTC)", "RETIRED (UTC)"});
  for (const v1::SigningKey& k : r->keys()) {
    table.AddRow({k.key_id(), AlgorithmText(k.algorithm()),
                  SigningKeyStateText(k.state()),
                  TimeText(k.created_at(), k.has_created_at()),
                  TimeText(k.retired_at(), k.has_retired_at())});
  }
  return context.Emit(ProtoToJson(*r),
                      table.empty() ? "No signing keys.\n" : table.Render());
}

struct KeysRotateFlags {
  std::string algorithm;
};

int KeysRotate(Context& context, const KeysRotateFlags& flags) {
  v1::RotateSigningKeyRequest request;
  if (!flags.algorithm.empty()) {
    std::optional<token::Algorithm> alg =
        token::ParseAlgorithmFlag(flags.algorithm);
    if (!alg.has_value()) {
      return context.Usage(
          absl::StrCat("--algorithm \"", flags.algorithm,
                       "\" is not one of ES256, RS256, EdDSA, HS256"));
    }
    request.set_algorithm(convert::ToProtoAlgorithm(*alg));
  }
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  absl::StatusOr<v1::RotateSigningKeyResponse> r =
      (*client)->RotateSigningKey(request, context.Call());
  if (!r.ok()) return context.ServerFailure(r.status());
  const v1::SigningKey& k = r->key();
  return context.Emit(
      ProtoToJson(*r),
      RenderFields(
          {{"Key ID", k.key_id()},
           {"Algorithm", AlgorithmText(k.algorithm())},
           {"State", SigningKeyStateText(k.state())},
           {"Created", TimeText(k.created_at(), k.has_created_at())}}));
}

struct KeysJwksFlags {
  std::string org;
};

int KeysJwks(Context& context, const KeysJwksFlags& flags) {
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  v1::GetJwksRequest request;
  request.set_organization_id(flags.org);
  absl::StatusOr<v1::GetJwksResponse> r =
      (*client)->GetJwks(request, context.Call());
  if (!r.ok()) return context.ServerFailure(r.status());
  // Already JSON: printed as the document in both modes (so that
  // `tokenctl keys jwks > jwks.json` feeds `decode --jwks`).
  nlohmann::json doc = nlohmann::json::parse(r->jwks_json(), nullptr, false);
  if (doc.is_discarded()) {
    return context.ServerFailure(
        absl::InternalError("the server's JWK Set is not valid JSON"));
  }
  return context.EmitJson(doc);
}

}  // namespace

void AddKeyCommands(CLI::App& app, CommandList& commands) {
  CLI::App* keys = app.add_subcommand("keys", "Signing keys");
  keys->require_subcommand(1);

  auto list_flags = std::make_shared<KeysListFlags>();
  CLI::App* list = commands.Add(
      keys, "list", "List the signing keys",
      [list_flags](Context& c) { return KeysList(c, *list_flags); });
  list->add_flag("--include-retired", list_flags->include_retired,
                 "Also list retired keys");

  auto rotate_flags = std::make_shared<KeysRotateFlags>();
  CLI::App* rotate = commands.Add(
      keys, "rotate", "Make a new primary signing key",
      [rotate_flags](Context& c) { return KeysRotate(c, *rotate_flags); });
  rotate->add_option("--algorithm", rotate_flags->algorithm,
                     "ES256 (default), RS256, EdDSA or HS256");

  auto jwks_flags = std::make_shared<KeysJwksFlags>();
  CLI::App* jwks = commands.Add(
      keys, "jwks", "Print the public JWK Set",
      [jwks_flags](Context& c) { return KeysJwks(c, *jwks_flags); });
  jwks->add_option("--org", jwks_flags->org,
                   "The organisation (required for verifier and admin keys)");
}

}  // namespace token_authority::client::tokenctl
