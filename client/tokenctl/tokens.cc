// The token commands: issue, get, decode, verify, revoke (list and
// revoke-bulk: token_lists.cc).
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/dialog.h"
#include "client/local_verifier.h"
#include "client/offline_decode.h"
#include "client/proto_text.h"
#include "client/tokenctl/command.h"
#include "client/tokenctl/commands.h"
#include "client/tokenctl/form_flags.h"
#include "client/tokenctl/output.h"
#include "convert/proto_convert.h"
#include "token/ip_address.h"
#include "token/jws.h"

namespace token_authority::client::tokenctl {
namespace {

namespace v1 = ::tokenauthority::v1;

// A token's record, one field a line, times also relative to now.
std::string TokenText(const v1::Token& t, absl::Time now) {
  auto when = [&](const google::protobuf::Timestamp& ts, bool set) {
    if (!set) return std::string("-");
    return absl::StrCat(TimeText(ts, true), " (",
                        RelativeTime(convert::FromProtoTimestamp(ts), now),
                        ")");
  };
  std::vector<std::pair<std::string, std::string>> f = {
      {"Token ID", t.id()},
      {"Organisation", t.organization_id()},
      {"Target", DescribeTarget(t.target())},
      {"State", TokenStateText(t.state())},
      {"Issued", when(t.issued_at(), t.has_issued_at())},
      {"Not before", when(t.not_before(), t.has_not_before())},
      {"Expiry", when(t.expires_at(), t.has_expires_at())},
      {"IP address", t.client_ip().empty() ? "(any)" : t.client_ip()},
      {"Domain", t.domain().empty() ? "(any)" : t.domain()},
      {"User ID", t.user_id()},
      {"Tag", t.tag()},
      {"Key ID", t.key_id()},
      {"Algorithm", AlgorithmText(t.algorithm())},
      {"Issued by", t.issued_by()},
  };
  if (t.has_revoked_at()) {
    f.push_back({"Revoked", when(t.revoked_at(), true)});
    f.push_back({"Reason", t.revocation_reason()});
  }
  return RenderFields(f);
}

// The JWT argument: `arg`, or stdin for "-", without surrounding whitespace
// and a "Bearer " prefix. InvalidArgumentError when empty.
absl::StatusOr<std::string> JwtArgument(Context& context,
                                        const std::string& arg) {
  std::string jwt = arg;
  if (arg == "-") {
    std::ostringstream s;
    s << context.in().rdbuf();
    jwt = s.str();
  }
  const absl::string_view v = token::TrimPastedToken(jwt);
  if (v.empty()) {
    return absl::InvalidArgumentError(
        "JWT: the token is empty (give it as an argument, or - to read stdin)");
  }
  return std::string(v);
}

// issue ----------------------------------------------------------------------

struct IssueFlags {
  FormFlags form;
  std::string request_id;
};

int Issue(Context& context, const IssueFlags& flags) {
  DialogForm form;
  form.target = "";
  form.stream_group_id = "";
  form.lifetime = "";  // the server's default lifetime
  flags.form.ApplyTo(&form);
  const FormCheck check = ValidateForm(form, context.clock().Now());
  if (!check.ok()) {
    return EmitProblems(context, check.problems, "nothing was issued");
  }
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  v1::IssueTokenRequest request;
  *request.mutable_spec() = check.spec;
  request.set_request_id(flags.request_id);
  absl::StatusOr<v1::IssueTokenResponse> response =
      (*client)->IssueToken(request, context.Call());
  if (!response.ok()) {
    if (response.status().code() == absl::StatusCode::kInvalidArgument) {
      return EmitProblems(context, ProblemsFromServerError(response.status()),
                          "the server refused the token");
    }
    return context.ServerFailure(response.status());
  }
  const TokenOverview overview =
      OverviewFromIssue(*response, context.clock().Now());
  nlohmann::json doc = nlohmann::json::parse(OverviewToJson(overview, -1));
  doc["token"] = ProtoToJson(response->token());
  return context.Emit(doc, FormatOverview(overview));
}

// get, revoke ----------------------------------------------------------------

struct GetFlags {
  std::string token_id;
};

int Get(Context& context, const GetFlags& flags) {
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  v1::GetTokenRequest request;
  request.set_token_id(flags.token_id);
  absl::StatusOr<v1::Token> token =
      (*client)->GetToken(request, context.Call());
  if (!token.ok()) return context.ServerFailure(token.status());
  return context.Emit(ProtoToJson(*token),
                      TokenText(*token, context.clock().Now()));
}

struct RevokeFlags {
  std::string token_id, reason;
};

int Revoke(Context& context, const RevokeFlags& flags) {
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  v1::RevokeTokenRequest request;
  request.set_token_id(flags.token_id);
  request.set_reason(flags.reason);
  absl::StatusOr<v1::Token> token =
      (*client)->RevokeToken(request, context.Call());
  if (!token.ok()) return context.ServerFailure(token.status());
  return context.Emit(ProtoToJson(*token),
                      TokenText(*token, context.clock().Now()));
}

// decode ---------------------------------------------------------------------

struct DecodeFlags {
  std::string jwt, jwks_file, org;
};

int Decode(Context& context, const DecodeFlags& flags) {
  absl::StatusOr<std::string> jwt = JwtArgument(context, flags.jwt);
  if (!jwt.ok()) return context.Usage(jwt.status().message());
  v1::DecodeTokenResponse response;
  if (!flags.jwks_file.empty()) {
    absl::StatusOr<std::string> jwks = ReadFile("--jwks", flags.jwks_file);
    if (!jwks.ok()) return context.Usage(jwks.status().message());
    absl::StatusOr<v1::DecodeTokenResponse> offline =
        DecodeTokenOffline(*jwt, *jwks, flags.org, context.clock().Now());
    if (!offline.ok()) {
      return context.Usage(absl::StrCat("--jwks ", flags.jwks_file, ": ",
                                        offline.status().message()));
    }
    response = *std::move(offline);
  } else {
    auto client = context.Client();
    if (!client.ok()) return context.Failure(client.status());
    v1::DecodeTokenRequest request;
    request.set_jwt(*jwt);
    absl::StatusOr<v1::DecodeTokenResponse> online =
        (*client)->DecodeToken(request, context.Call());
    if (!online.ok()) return context.ServerFailure(online.status());
    response = *std::move(online);
  }
  const TokenOverview overview =
      OverviewFromDecode(response, *jwt, context.clock().Now());
  nlohmann::json doc = nlohmann::json::parse(OverviewToJson(overview, -1));
  doc["offline"] = !flags.jwks_file.empty();
  auto parsed_or_text = [](const std::string& text) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    return j.is_discarded() ? nlohmann::json(text) : j;
  };
  doc["header"] = parsed_or_text(response.header_json());
  doc["payload"] = parsed_or_text(response.payload_json());
  std::string human = FormatOverview(overview);
  absl::StrAppend(&human, "\nHeader   ", Cell(response.header_json()),
                  "\nPayload  ", Cell(response.payload_json()), "\n");
  context.Emit(doc, human);
  if (!flags.jwks_file.empty()) {
    context.Hint("decoded offline: revocations are not known here");
  }
  // Its signature does not verify: not a token to play (like a denial).
  return overview.invalid ? kExitDenied : kExitOk;
}

// verify ---------------------------------------------------------------------

struct VerifyFlags {
  std::string jwt, org, group, stream, ip, domain, jwks_file;
};

int Verify(Context& context, const VerifyFlags& flags) {
  absl::StatusOr<std::string> jwt = JwtArgument(context, flags.jwt);
  if (!jwt.ok()) return context.Usage(jwt.status().message());
  // Bad input, not a denial: said before any call.
  if (!flags.ip.empty() && !token::IpAddress::Parse(flags.ip).ok()) {
    return context.Usage(
        absl::StrCat("--ip \"", absl::CEscape(flags.ip),
                     "\" is not an IP address: give the viewer's IPv4 or "
                     "IPv6 address, e.g. 203.0.113.7 or 2001:db8::1"),
        {{"--ip", "not an IPv4 or IPv6 address", ""}});
  }
  v1::VerifyTokenRequest request;
  request.set_jwt(*jwt);
  request.set_organization_id(flags.org);
  request.set_stream_group_id(flags.group);
  request.set_stream_name(flags.stream);
  request.set_client_ip(flags.ip);
  request.set_domain(flags.domain);
  v1::VerifyTokenResponse response;
  if (!flags.jwks_file.empty()) {
    absl::StatusOr<std::string> jwks = ReadFile("--jwks", flags.jwks_file);
    if (!jwks.ok()) return context.Usage(jwks.status().message());
    LocalVerifierOptions options;
    options.clock = &context.clock();
    absl::StatusOr<std::unique_ptr<LocalVerifier>> verifier =
        LocalVerifier::FromJwks({{flags.org, *jwks}}, options);
    if (!verifier.ok()) {
      return context.Usage(absl::StrCat("--jwks ", flags.jwks_file, ": ",
                                        verifier.status().message()));
    }
    absl::StatusOr<v1::VerifyTokenResponse> offline =
        (*verifier)->Verify(request);
    if (!offline.ok()) return context.Usage(offline.status().message());
    response = *std::move(offline);
  } else {
    auto client = context.Client();
    if (!client.ok()) return context.Failure(client.status());
    absl::StatusOr<v1::VerifyTokenResponse> online =
        (*client)->VerifyToken(request, context.Call());
    if (!online.ok()) return context.ServerFailure(online.status());
    response = *std::move(online);
  }
  nlohmann::json doc = ProtoToJson(response);
  doc["offline"] = !flags.jwks_file.empty();
  std::vector<std::pair<std::string, std::string>> f = {
      {"Result", response.allowed() ? "allowed" : "denied"}};
  if (!response.allowed()) {
    f.push_back({"Reason", DenyReasonText(response.reason())});
  }
  f.push_back({"Detail", response.detail()});
  f.push_back({"Token ID", response.token_id()});
  context.Emit(doc, RenderFields(f));
  if (!flags.jwks_file.empty()) {
    context.Hint("verified offline: revocations are not known here");
  }
  return response.allowed() ? kExitOk : kExitDenied;
}

// Registration ---------------------------------------------------------------

void AddIssue(CLI::App& app, CommandList& commands) {
  auto flags = std::make_shared<IssueFlags>();
  CLI::App* issue =
      commands.Add(&app, "issue", "Issue a token",
                   [flags](Context& c) { return Issue(c, *flags); });
  flags->form.Add(issue);
  issue->add_option("--request-id", flags->request_id,
                    "Idempotency key (default: a fresh one per run)");
}

void AddGet(CLI::App& app, CommandList& commands) {
  auto get_flags = std::make_shared<GetFlags>();
  CLI::App* get =
      commands.Add(&app, "get", "Show one token's record",
                   [get_flags](Context& c) { return Get(c, *get_flags); });
  get->add_option("TOKEN_ID", get_flags->token_id, "The token ID (jti)")
      ->required();
}

void AddDecodeAndVerify(CLI::App& app, CommandList& commands) {
  auto decode_flags = std::make_shared<DecodeFlags>();
  CLI::App* decode = commands.Add(
      &app, "decode", "Show the Secure Token Overview of any JWT",
      [decode_flags](Context& c) { return Decode(c, *decode_flags); });
  decode->add_option("JWT", decode_flags->jwt, "The token, or - to read stdin")
      ->required();
  decode->add_option("--jwks", decode_flags->jwks_file,
                     "Decode offline, checking the signature with this JWK "
                     "Set file (from `tokenctl keys jwks`)");
  decode->add_option("--org", decode_flags->org,
                     "With --jwks: the organisation the JWK Set belongs to "
                     "(default: the token's)");

  auto v = std::make_shared<VerifyFlags>();
  CLI::App* verify = commands.Add(
      &app, "verify",
      "Decide whether a token allows a playback (exit 3 when denied)",
      [v](Context& c) { return Verify(c, *v); });
  verify->add_option("JWT", v->jwt, "The token, or - to read stdin")
      ->required();
  verify
      ->add_option("--org", v->org,
                   "The organisation that owns the stream (required: a "
                   "token is only valid for its own organisation's streams, "
                   "never taken from the token itself)")
      ->required();
  verify->add_option("--group", v->group, "The stream group played");
  verify->add_option("--stream", v->stream, "The stream name played");
  verify->add_option("--ip", v->ip, "The viewer's IP address");
  verify->add_option("--domain", v->domain, "The embedding page's host name");
  verify->add_option("--jwks", v->jwks_file,
                     "Verify offline with this JWK Set file (revocations "
                     "unknown)");
}

void AddRevoke(CLI::App& app, CommandList& commands) {
  auto revoke_flags = std::make_shared<RevokeFlags>();
  CLI::App* revoke = commands.Add(
      &app, "revoke", "Revoke one token",
      [revoke_flags](Context& c) { return Revoke(c, *revoke_flags); });
  revoke->add_option("TOKEN_ID", revoke_flags->token_id, "The token ID (jti)")
      ->required();
  revoke->add_option("--reason", revoke_flags->reason,
                     "Why (kept in the audit log)");
}

}  // namespace

void AddTokenCommands(CLI::App& app, CommandList& commands) {
  AddIssue(app, commands);
  AddGet(app, commands);
  AddListCommand(app, commands);
  AddDecodeAndVerify(app, commands);
  AddRevoke(app, commands);
  AddRevokeBulkCommand(app, commands);
}

}  // namespace token_authority::client::tokenctl
