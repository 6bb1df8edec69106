// The token commands: issue, get, list, decode, verify, revoke, revoke-bulk.
#include <cstdint>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/dialog.h"
#include "client/local_verifier.h"
#include "client/offline_decode.h"
#include "client/proto_text.h"
#include "client/tokenctl/command.h"
#include "client/tokenctl/commands.h"
#include "client/tokenctl/form_flags.h"
#include "client/tokenctl/list_flags.h"
#include "client/tokenctl/output.h"
#include "convert/proto_convert.h"
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

std::vector<std::string> TokenRow(const v1::Token& t) {
  return {t.id(),
          DescribeTarget(t.target()),
          TokenStateText(t.state()),
          TimeText(t.expires_at(), t.has_expires_at()),
          t.user_id(),
          t.tag()};
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

// list -----------------------------------------------------------------------

struct ListTokensFlags {
  ListFlags filters;
  PageFlags paging;
};

int List(Context& context, const ListTokensFlags& flags) {
  const ListFlags& filters = flags.filters;
  v1::ListTokensRequest request;
  request.set_tag(filters.tag);
  request.set_user_id(filters.user);
  request.set_stream_name(filters.stream);
  request.set_stream_group_id(filters.group);
  if (!filters.state.empty()) {
    std::optional<v1::TokenState> state = ParseState(filters.state);
    if (!state.has_value()) {
      return context.Usage(absl::StrCat(
          "--state \"", filters.state,
          "\" is not a state: use active, not-yet-valid, expired or revoked"));
    }
    request.set_state(*state);
  }
  v1::ListTokensResponse all;
  const int rc = CollectPages(
      context, flags.paging, std::move(request),
      [&context](TokenAuthorityClient& c, const v1::ListTokensRequest& r) {
        return c.ListTokens(r, context.Call());
      },
      &all);
  if (rc != kExitOk) return rc;
  Table table({"ID", "TARGET", "STATE", "EXPIRES", "USER", "TAG"});
  for (const v1::Token& t : all.tokens()) table.AddRow(TokenRow(t));
  std::string human = table.empty() ? "No tokens match.\n" : table.Render();
  if (!all.next_page_token().empty()) {
    absl::StrAppend(&human, "More tokens: repeat with --page-token ",
                    all.next_page_token(), " (or --all)\n");
  }
  return context.Emit(ProtoToJson(all), human);
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
  if (!flags.jwks_file.empty()) {
    absl::StrAppend(&human,
                    "\n(decoded offline: revocations are not known here)\n");
  }
  return context.Emit(doc, human);
}

// verify ---------------------------------------------------------------------

struct VerifyFlags {
  std::string jwt, org, group, stream, ip, domain, jwks_file;
};

int Verify(Context& context, const VerifyFlags& flags) {
  absl::StatusOr<std::string> jwt = JwtArgument(context, flags.jwt);
  if (!jwt.ok()) return context.Usage(jwt.status().message());
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
  std::string human = RenderFields(f);
  if (!flags.jwks_file.empty()) {
    absl::StrAppend(&human, "(verified offline: revocations are not known)\n");
  }
  context.Emit(doc, human);
  return response.allowed() ? kExitOk : kExitDenied;
}

// revoke-bulk ----------------------------------------------------------------

struct RevokeBulkFlags {
  ListFlags filters;
  std::string reason;
  bool yes = false;
};

int RevokeBulk(Context& context, const RevokeBulkFlags& flags) {
  const ListFlags& filters = flags.filters;
  if (!filters.AnyFilter()) {
    return context.Usage(
        "give at least one filter: --tag, --user, --stream or --group");
  }
  // One RevokeTokens call does the whole job, --state included: the server
  // counts (dry run) and revokes with the same filter.
  v1::RevokeTokensRequest bulk;
  bulk.set_tag(filters.tag);
  bulk.set_user_id(filters.user);
  bulk.set_stream_name(filters.stream);
  bulk.set_stream_group_id(filters.group);
  bulk.set_reason(flags.reason);
  if (!filters.state.empty()) {
    std::optional<v1::TokenState> state = ParseState(filters.state);
    if (!state.has_value() || *state == v1::TOKEN_STATE_REVOKED ||
        *state == v1::TOKEN_STATE_EXPIRED) {
      return context.Usage(absl::StrCat("--state \"", filters.state,
                                        "\" cannot be revoked: use active or "
                                        "not-yet-valid"));
    }
    bulk.set_state(*state);
  }
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());

  // Count what matches.
  v1::RevokeTokensRequest dry = bulk;
  dry.set_dry_run(true);
  absl::StatusOr<v1::RevokeTokensResponse> count =
      (*client)->RevokeTokens(dry, context.Call());
  if (!count.ok()) return context.ServerFailure(count.status());
  const int64_t matched = count->revoked_count();
  const std::string filter = filters.Describe();
  if (matched == 0) {
    return context.Emit(
        {{"matched", 0}, {"revoked_count", 0}, {"filter", filter}},
        absl::StrCat("No unrevoked tokens match (", filter,
                     "); nothing to revoke.\n"));
  }
  if (!flags.yes) {
    std::ostream& err = context.err();
    err << matched << (matched == 1 ? " token matches" : " tokens match")
        << " (" << filter << "). Revoke " << (matched == 1 ? "it" : "them")
        << "? [y/N] " << std::flush;
    std::string answer;
    std::getline(context.in(), answer);
    answer = absl::AsciiStrToLower(absl::StripAsciiWhitespace(answer));
    if (answer != "y" && answer != "yes") {
      err << "tokenctl " << context.command()
          << ": not confirmed; nothing was revoked (answer y, or pass --yes)"
          << "\n";
      context.JsonError("NOT_CONFIRMED", "not confirmed; nothing was revoked",
                        kExitServerFailure);
      return kExitServerFailure;
    }
  }
  absl::StatusOr<v1::RevokeTokensResponse> done =
      (*client)->RevokeTokens(bulk, context.Call());
  if (!done.ok()) return context.ServerFailure(done.status());
  const int64_t revoked = done->revoked_count();
  return context.Emit(
      {{"matched", matched}, {"revoked_count", revoked}, {"filter", filter}},
      absl::StrCat("Revoked ", revoked, revoked == 1 ? " token" : " tokens",
                   " (", filter, ").\n"));
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

void AddGetAndList(CLI::App& app, CommandList& commands) {
  auto get_flags = std::make_shared<GetFlags>();
  CLI::App* get =
      commands.Add(&app, "get", "Show one token's record",
                   [get_flags](Context& c) { return Get(c, *get_flags); });
  get->add_option("TOKEN_ID", get_flags->token_id, "The token ID (jti)")
      ->required();

  auto list_flags = std::make_shared<ListTokensFlags>();
  CLI::App* list =
      commands.Add(&app, "list", "List tokens, newest first",
                   [list_flags](Context& c) { return List(c, *list_flags); });
  list_flags->filters.Add(list);
  list_flags->paging.Add(list);
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

void AddRevokes(CLI::App& app, CommandList& commands) {
  auto revoke_flags = std::make_shared<RevokeFlags>();
  CLI::App* revoke = commands.Add(
      &app, "revoke", "Revoke one token",
      [revoke_flags](Context& c) { return Revoke(c, *revoke_flags); });
  revoke->add_option("TOKEN_ID", revoke_flags->token_id, "The token ID (jti)")
      ->required();
  revoke->add_option("--reason", revoke_flags->reason,
                     "Why (kept in the audit log)");

  auto bulk_flags = std::make_shared<RevokeBulkFlags>();
  CLI::App* bulk = commands.Add(
      &app, "revoke-bulk",
      "Revoke every token matching the filters (asks first)",
      [bulk_flags](Context& c) { return RevokeBulk(c, *bulk_flags); });
  bulk_flags->filters.Add(bulk, /*with_state=*/true,
                          "Only tokens in this state: active or not-yet-valid");
  bulk->add_option("--reason", bulk_flags->reason,
                   "Why (kept in the audit log)");
  bulk->add_flag("--yes,-y", bulk_flags->yes, "Do not ask for confirmation");
}

}  // namespace

void AddTokenCommands(CLI::App& app, CommandList& commands) {
  AddIssue(app, commands);
  AddGetAndList(app, commands);
  AddDecodeAndVerify(app, commands);
  AddRevokes(app, commands);
}

}  // namespace token_authority::client::tokenctl
