#include "client/tokenctl/tokenctl.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "client/dialog.h"
#include "client/local_verifier.h"
#include "client/offline_decode.h"
#include "client/proto_text.h"
#include "client/tokenctl/output.h"
#include "convert/proto_convert.h"
#include "token/algorithm.h"
#include "token/time_util.h"

namespace token_authority::client::tokenctl {
namespace {

namespace v1 = ::tokenauthority::v1;

// ---------------------------------------------------------------------------
// Flags.

struct Globals {
  std::string server = "127.0.0.1:50051";
  std::string api_key_file;
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  std::string as_org;
  std::string timeout = "10s";
  bool json = false;
};

struct TokenFlags {
  std::string group, streams;
  bool org_wide = false;
  std::string lifetime, expires, not_before, ip, domain, user, tag;
  CLI::Option* group_opt = nullptr;
  CLI::Option* streams_opt = nullptr;
  CLI::Option* org_wide_opt = nullptr;
  CLI::Option* lifetime_opt = nullptr;
  CLI::Option* expires_opt = nullptr;

  void Add(CLI::App* app) {
    group_opt = app->add_option("--group", group,
                                "Target: the entire stream group with this ID");
    streams_opt = app->add_option(
        "--streams", streams, "Target: these stream names, comma-separated");
    org_wide_opt = app->add_flag("--org-wide", org_wide,
                                 "Target: the entire organisation");
    group_opt->excludes(streams_opt)->excludes(org_wide_opt);
    streams_opt->excludes(org_wide_opt);
    lifetime_opt =
        app->add_option("--lifetime", lifetime,
                        "How long the token is valid: 90m, 36h, 14d, 2w");
    expires_opt =
        app->add_option("--expires", expires,
                        "Absolute expiry instead of a lifetime (RFC 3339, e.g. "
                        "2025-03-01T12:00:00Z)");
    app->add_option("--not-before", not_before,
                    "Not valid before this time (RFC 3339)");
    app->add_option("--ip", ip, "Bind to a viewer IP address or CIDR network");
    app->add_option("--domain", domain,
                    "Bind to a host name, or *.host for its subdomains");
    app->add_option("--user", user, "The viewer's user ID (recorded)");
    app->add_option("--tag", tag, "A tracking tag (for audits and revocation)");
  }

  bool AnyGiven(const CLI::App* app) const {
    for (const char* name :
         {"--group", "--streams", "--org-wide", "--lifetime", "--expires",
          "--not-before", "--ip", "--domain", "--user", "--tag"}) {
      if (app->count(name) > 0) return true;
    }
    return false;
  }

  // Applies the given flags on top of `form`.
  void ApplyTo(DialogForm* form) const {
    if (group_opt->count() > 0) {
      form->target = "stream_group";
      form->stream_group_id = group;
    } else if (streams_opt->count() > 0) {
      form->target = "streams";
      form->stream_names = streams;
    } else if (org_wide_opt->count() > 0 && org_wide) {
      form->target = "organization";
    }
    if (lifetime_opt->count() > 0) form->lifetime = lifetime;
    if (expires_opt->count() > 0) {
      form->expires = expires;
      // An expiry replaces the default lifetime (but not a given one, which
      // the validation then reports).
      if (lifetime_opt->count() == 0) form->lifetime.clear();
    }
    if (!not_before.empty()) form->not_before = not_before;
    if (!ip.empty()) form->client_ip = ip;
    if (!domain.empty()) form->domain = domain;
    if (!user.empty()) form->user_id = user;
    if (!tag.empty()) form->tag = tag;
  }
};

// The flag that fills a form field, for messages.
std::string FlagOf(const std::string& field) {
  if (field == "target") return "--group ID, --streams a,b,c or --org-wide";
  if (field == "stream_group_id") return "--group";
  if (field == "stream_names") return "--streams";
  if (field == "lifetime") return "--lifetime";
  if (field == "expires") return "--expires";
  if (field == "not_before") return "--not-before";
  if (field == "client_ip") return "--ip";
  if (field == "domain") return "--domain";
  if (field == "user_id") return "--user";
  if (field == "tag") return "--tag";
  return "";
}

struct ListFlags {
  std::string tag, user, stream, group, state;
  void Add(CLI::App* app, bool with_state = true,
           const char* state_help =
               "Only tokens in this state: active, "
               "not-yet-valid, expired, revoked") {
    app->add_option("--tag", tag, "Only tokens with this tag");
    app->add_option("--user", user, "Only tokens of this user ID");
    app->add_option("--stream", stream,
                    "Only tokens covering this stream name");
    app->add_option("--group", group, "Only tokens for this stream group");
    if (with_state) {
      app->add_option("--state", state, state_help);
    }
  }
  bool AnyFilter() const {
    return !tag.empty() || !user.empty() || !stream.empty() || !group.empty();
  }
  std::string Describe() const {
    std::vector<std::string> parts;
    if (!tag.empty()) parts.push_back(absl::StrCat("tag=", tag));
    if (!user.empty()) parts.push_back(absl::StrCat("user=", user));
    if (!stream.empty()) parts.push_back(absl::StrCat("stream=", stream));
    if (!group.empty()) parts.push_back(absl::StrCat("group=", group));
    if (!state.empty()) parts.push_back(absl::StrCat("state=", state));
    return absl::StrJoin(parts, ", ");
  }
};

std::optional<v1::TokenState> ParseState(std::string text) {
  text = absl::AsciiStrToLower(text);
  for (char& c : text) {
    if (c == '-' || c == ' ') c = '_';
  }
  if (text == "active") return v1::TOKEN_STATE_ACTIVE;
  if (text == "not_yet_valid") return v1::TOKEN_STATE_NOT_YET_VALID;
  if (text == "expired") return v1::TOKEN_STATE_EXPIRED;
  if (text == "revoked") return v1::TOKEN_STATE_REVOKED;
  return std::nullopt;
}

std::optional<v1::ApiKeyRole> ParseRole(std::string text) {
  text = absl::AsciiStrToLower(text);
  if (text == "admin") return v1::API_KEY_ROLE_ADMIN;
  if (text == "issuer") return v1::API_KEY_ROLE_ISSUER;
  if (text == "verifier") return v1::API_KEY_ROLE_VERIFIER;
  if (text == "auditor") return v1::API_KEY_ROLE_AUDITOR;
  return std::nullopt;
}

absl::StatusOr<std::string> ReadFile(const std::string& flag,
                                     const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read file \"", path, "\""));
  }
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// What to tell a person about a server failure, by code.
std::string Hint(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
      return "check --server and that the token authority is running";
    case absl::StatusCode::kDeadlineExceeded:
      return "the server did not answer in time; try again or raise --timeout";
    case absl::StatusCode::kUnauthenticated:
      return "check the API key (--api-key-file or TOKENCTL_API_KEY)";
    case absl::StatusCode::kPermissionDenied:
      return "use an API key whose role allows this";
    case absl::StatusCode::kNotFound:
      return "check the ID (and the organisation the key acts for)";
    case absl::StatusCode::kInvalidArgument:
      return "fix the values named above";
    case absl::StatusCode::kAlreadyExists:
      return "use a new --request-id for a different token";
    case absl::StatusCode::kFailedPrecondition:
      return "ask an administrator to enable it";
    default:
      return "try again; if it persists, check the server's log";
  }
}

// ---------------------------------------------------------------------------
// A run.

class Ctl {
 public:
  Ctl(Environment& env, const std::vector<std::string>& args)
      : env_(env),
        out_(*env.out),
        err_(*env.err),
        clock_(env.clock != nullptr ? *env.clock : Clock::Real()),
        args_(args) {}

  int Main();

 private:
  // Errors: print one line, return the exit code.
  int Usage(absl::string_view message) {
    err_ << "tokenctl" << (command_.empty() ? "" : " ") << command_ << ": "
         << message << "\n";
    JsonError("USAGE", message, kExitUsage);
    return kExitUsage;
  }
  int ServerFailure(const absl::Status& status) {
    err_ << "tokenctl" << (command_.empty() ? "" : " ") << command_ << ": "
         << status.message() << " (" << absl::StatusCodeToString(status.code())
         << "); " << Hint(status.code()) << "\n";
    JsonError(absl::StatusCodeToString(status.code()), status.message(),
              kExitServerFailure);
    return kExitServerFailure;
  }
  // With --json, stdout always carries one document: an error says so there
  // too (unless a document was printed already).
  void JsonError(absl::string_view code, absl::string_view message,
                 int exit_code) {
    if (!globals_.json || emitted_) return;
    out_ << DumpJson({{"error",
                       {{"code", std::string(code)},
                        {"message", std::string(message)},
                        {"exit_code", exit_code}}}});
    emitted_ = true;
  }
  // A status from the client: usage for local problems, else the server's.
  int Failure(const absl::Status& status) {
    return local_failure_ ? Usage(status.message()) : ServerFailure(status);
  }

  absl::StatusOr<TokenAuthorityClient*> Client();
  CallOptions Call() const { return CallOptions{}; }

  int Emit(const nlohmann::json& doc, const std::string& human) {
    if (globals_.json) {
      out_ << DumpJson(doc);
      emitted_ = true;
    } else {
      out_ << human;
    }
    return kExitOk;
  }
  int EmitProblems(const std::vector<FormProblem>& problems,
                   absl::string_view what);

  // Sends `request` (a ListTokens or ListAuditEvents request) with --limit and
  // --page-token through `fetch(client, request)` and gathers one page, or
  // with --all every page, into `all`. Returns kExitOk or the exit code of
  // the failure (already reported).
  template <typename Request, typename Response, typename Fetch>
  int CollectPages(Request request, Fetch fetch, Response* all);

  std::string TokenText(const v1::Token& t) const;
  std::vector<std::string> TokenRow(const v1::Token& t) const;
  absl::StatusOr<std::string> JwtArgument(const std::string& arg);

  int Issue();
  int Get();
  int List();
  int Decode();
  int Verify();
  int Revoke();
  int RevokeBulk();
  int KeysList();
  int KeysRotate();
  int KeysJwks();
  int Audit();
  int OrgCreate();
  int OrgUpdate();
  int OrgList();
  int KeyCreate();
  int KeyList();
  int KeyRevoke();
  int Dialog();

  Environment& env_;
  std::ostream& out_;
  std::ostream& err_;
  const Clock& clock_;
  const std::vector<std::string>& args_;
  std::string command_;  // "issue", "keys rotate", ...
  bool local_failure_ = false;
  bool emitted_ = false;  // a JSON document went to stdout
  std::unique_ptr<TokenAuthorityClient> client_;

  Globals globals_;
  TokenFlags issue_flags_, dialog_flags_;
  std::string request_id_;
  std::string token_id_, reason_, jwt_arg_, jwks_file_, org_, path_;
  ListFlags list_flags_, bulk_flags_;
  int limit_ = 0;
  std::string page_token_;
  bool all_pages_ = false;
  bool yes_ = false;
  std::string verify_group_, verify_stream_, verify_ip_, verify_domain_;
  bool include_retired_ = false, include_revoked_ = false;
  std::string algorithm_;
  std::string audit_token_, audit_action_, audit_since_, audit_until_;
  std::string name_, secure_text_, role_, key_id_;
  bool secure_flag_ = false;
  bool create_ = false;
  CLI::App* dialog_app_ = nullptr;
};

absl::StatusOr<TokenAuthorityClient*> Ctl::Client() {
  if (client_ != nullptr) return client_.get();
  local_failure_ = true;
  ConnectionOptions c;
  c.server = globals_.server;
  if (!globals_.api_key_file.empty()) {
    absl::StatusOr<std::string> key =
        ReadFile("--api-key-file", globals_.api_key_file);
    if (!key.ok()) return key.status();
    c.api_key = std::string(absl::StripAsciiWhitespace(*key));
  } else if (env_.getenv) {
    c.api_key = env_.getenv("TOKENCTL_API_KEY").value_or("");
  }
  if (c.api_key.empty()) {
    return absl::InvalidArgumentError(
        "no API key: pass --api-key-file FILE or set TOKENCTL_API_KEY");
  }
  if (!globals_.tls_ca.empty()) {
    absl::StatusOr<std::string> ca = ReadFile("--tls-ca", globals_.tls_ca);
    if (!ca.ok()) return ca.status();
    c.tls_ca_pem = *ca;
  }
  if (globals_.tls_cert.empty() != globals_.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together (mTLS)");
  }
  if (!globals_.tls_cert.empty()) {
    absl::StatusOr<std::string> cert =
        ReadFile("--tls-cert", globals_.tls_cert);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile("--tls-key", globals_.tls_key);
    if (!key.ok()) return key.status();
    c.tls_cert_pem = *cert;
    c.tls_key_pem = *key;
  }
  c.tls = globals_.tls || !c.tls_ca_pem.empty() || !c.tls_cert_pem.empty();
  c.tls_server_name = globals_.tls_server_name;
  c.as_organization = globals_.as_org;
  absl::StatusOr<absl::Duration> timeout =
      token::ParseDuration(globals_.timeout);
  if (!timeout.ok() || *timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout \"", globals_.timeout,
                     "\" is not a positive duration such as 10s or 2m"));
  }
  c.timeout = *timeout;
  absl::StatusOr<std::unique_ptr<TokenAuthorityClient>> client =
      env_.client_factory(c);
  if (!client.ok()) return client.status();
  client_ = *std::move(client);
  local_failure_ = false;
  return client_.get();
}

int Ctl::EmitProblems(const std::vector<FormProblem>& problems,
                      absl::string_view what) {
  if (globals_.json) {
    nlohmann::json doc = {{"problems", nlohmann::json::array()}};
    for (const FormProblem& p : problems) {
      doc["problems"].push_back({{"field", p.field},
                                 {"flag", FlagOf(p.field)},
                                 {"message", p.message}});
    }
    out_ << DumpJson(doc);
    emitted_ = true;
  }
  std::vector<std::string> parts;
  for (const FormProblem& p : problems) {
    std::string m(absl::StripSuffix(p.message, "."));
    const std::string flag = FlagOf(p.field);
    parts.push_back(flag.empty() ? absl::StrCat(m, ".")
                                 : absl::StrCat(m, " (", flag, ")."));
  }
  return Usage(absl::StrCat(what, ": ", absl::StrJoin(parts, " ")));
}

std::string Ctl::TokenText(const v1::Token& t) const {
  const absl::Time now = clock_.Now();
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

std::vector<std::string> Ctl::TokenRow(const v1::Token& t) const {
  return {t.id(),
          DescribeTarget(t.target()),
          TokenStateText(t.state()),
          TimeText(t.expires_at(), t.has_expires_at()),
          t.user_id(),
          t.tag()};
}

absl::StatusOr<std::string> Ctl::JwtArgument(const std::string& arg) {
  std::string jwt = arg;
  if (arg == "-") {
    std::ostringstream s;
    s << env_.in->rdbuf();
    jwt = s.str();
  }
  absl::string_view v = absl::StripAsciiWhitespace(jwt);
  if (absl::StartsWithIgnoreCase(v, "bearer ")) {
    v.remove_prefix(7);
    v = absl::StripAsciiWhitespace(v);
  }
  if (v.empty()) {
    return absl::InvalidArgumentError(
        "JWT: the token is empty (give it as an argument, or - to read stdin)");
  }
  return std::string(v);
}

// ---------------------------------------------------------------------------
// Commands.

int Ctl::Issue() {
  DialogForm form;
  form.target = "";
  form.stream_group_id = "";
  form.lifetime = "";  // the server's default lifetime
  issue_flags_.ApplyTo(&form);
  const FormCheck check = ValidateForm(form, clock_.Now());
  if (!check.ok()) return EmitProblems(check.problems, "nothing was issued");
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  v1::IssueTokenRequest request;
  *request.mutable_spec() = check.spec;
  request.set_request_id(request_id_);
  absl::StatusOr<v1::IssueTokenResponse> response =
      (*client)->IssueToken(request, Call());
  if (!response.ok()) {
    if (response.status().code() == absl::StatusCode::kInvalidArgument) {
      return EmitProblems(ProblemsFromServerError(response.status()),
                          "the server refused the token");
    }
    return ServerFailure(response.status());
  }
  const TokenOverview overview = OverviewFromIssue(*response, clock_.Now());
  nlohmann::json doc = nlohmann::json::parse(OverviewToJson(overview, -1));
  doc["token"] = ProtoToJson(response->token());
  return Emit(doc, FormatOverview(overview));
}

int Ctl::Get() {
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  v1::GetTokenRequest request;
  request.set_token_id(token_id_);
  absl::StatusOr<v1::Token> token = (*client)->GetToken(request, Call());
  if (!token.ok()) return ServerFailure(token.status());
  return Emit(ProtoToJson(*token), TokenText(*token));
}

template <typename Request, typename Response, typename Fetch>
int Ctl::CollectPages(Request request, Fetch fetch, Response* all) {
  if (limit_ < 0 || limit_ > 1000) {
    return Usage("--limit must be 1 to 1000 (0: the server's default)");
  }
  request.set_page_size(limit_);
  request.set_page_token(page_token_);
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  while (true) {
    absl::StatusOr<Response> page = fetch(**client, request);
    if (!page.ok()) return ServerFailure(page.status());
    all->MergeFrom(*page);  // appends the page's items
    all->set_next_page_token(page->next_page_token());
    if (!all_pages_ || page->next_page_token().empty()) return kExitOk;
    request.set_page_token(page->next_page_token());
  }
}

int Ctl::List() {
  v1::ListTokensRequest request;
  request.set_tag(list_flags_.tag);
  request.set_user_id(list_flags_.user);
  request.set_stream_name(list_flags_.stream);
  request.set_stream_group_id(list_flags_.group);
  if (!list_flags_.state.empty()) {
    std::optional<v1::TokenState> state = ParseState(list_flags_.state);
    if (!state.has_value()) {
      return Usage(absl::StrCat("--state \"", list_flags_.state,
                                "\" is not a state: use active, not-yet-valid, "
                                "expired or revoked"));
    }
    request.set_state(*state);
  }
  v1::ListTokensResponse all;
  const int rc = CollectPages(
      std::move(request),
      [this](TokenAuthorityClient& c, const v1::ListTokensRequest& r) {
        return c.ListTokens(r, Call());
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
  return Emit(ProtoToJson(all), human);
}

int Ctl::Decode() {
  absl::StatusOr<std::string> jwt = JwtArgument(jwt_arg_);
  if (!jwt.ok()) return Usage(jwt.status().message());
  v1::DecodeTokenResponse response;
  if (!jwks_file_.empty()) {
    absl::StatusOr<std::string> jwks = ReadFile("--jwks", jwks_file_);
    if (!jwks.ok()) return Usage(jwks.status().message());
    absl::StatusOr<v1::DecodeTokenResponse> offline =
        DecodeTokenOffline(*jwt, *jwks, org_, clock_.Now());
    if (!offline.ok()) {
      return Usage(absl::StrCat("--jwks ", jwks_file_, ": ",
                                offline.status().message()));
    }
    response = *std::move(offline);
  } else {
    auto client = Client();
    if (!client.ok()) return Failure(client.status());
    v1::DecodeTokenRequest request;
    request.set_jwt(*jwt);
    absl::StatusOr<v1::DecodeTokenResponse> online =
        (*client)->DecodeToken(request, Call());
    if (!online.ok()) return ServerFailure(online.status());
    response = *std::move(online);
  }
  const TokenOverview overview =
      OverviewFromDecode(response, *jwt, clock_.Now());
  nlohmann::json doc = nlohmann::json::parse(OverviewToJson(overview, -1));
  doc["offline"] = !jwks_file_.empty();
  auto parsed_or_text = [](const std::string& text) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    return j.is_discarded() ? nlohmann::json(text) : j;
  };
  doc["header"] = parsed_or_text(response.header_json());
  doc["payload"] = parsed_or_text(response.payload_json());
  std::string human = FormatOverview(overview);
  absl::StrAppend(&human, "\nHeader   ", Cell(response.header_json()),
                  "\nPayload  ", Cell(response.payload_json()), "\n");
  if (!jwks_file_.empty()) {
    absl::StrAppend(&human,
                    "\n(decoded offline: revocations are not known here)\n");
  }
  return Emit(doc, human);
}

int Ctl::Verify() {
  absl::StatusOr<std::string> jwt = JwtArgument(jwt_arg_);
  if (!jwt.ok()) return Usage(jwt.status().message());
  v1::VerifyTokenRequest request;
  request.set_jwt(*jwt);
  request.set_organization_id(org_);
  request.set_stream_group_id(verify_group_);
  request.set_stream_name(verify_stream_);
  request.set_client_ip(verify_ip_);
  request.set_domain(verify_domain_);
  v1::VerifyTokenResponse response;
  if (!jwks_file_.empty()) {
    absl::StatusOr<std::string> jwks = ReadFile("--jwks", jwks_file_);
    if (!jwks.ok()) return Usage(jwks.status().message());
    LocalVerifierOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<LocalVerifier>> verifier =
        LocalVerifier::FromJwks({{org_, *jwks}}, options);
    if (!verifier.ok()) {
      return Usage(absl::StrCat("--jwks ", jwks_file_, ": ",
                                verifier.status().message()));
    }
    absl::StatusOr<v1::VerifyTokenResponse> offline =
        (*verifier)->Verify(request);
    if (!offline.ok()) return Usage(offline.status().message());
    response = *std::move(offline);
  } else {
    auto client = Client();
    if (!client.ok()) return Failure(client.status());
    absl::StatusOr<v1::VerifyTokenResponse> online =
        (*client)->VerifyToken(request, Call());
    if (!online.ok()) return ServerFailure(online.status());
    response = *std::move(online);
  }
  nlohmann::json doc = ProtoToJson(response);
  doc["offline"] = !jwks_file_.empty();
  std::vector<std::pair<std::string, std::string>> f = {
      {"Result", response.allowed() ? "allowed" : "denied"}};
  if (!response.allowed()) {
    f.push_back({"Reason", DenyReasonText(response.reason())});
  }
  f.push_back({"Detail", response.detail()});
  f.push_back({"Token ID", response.token_id()});
  std::string human = RenderFields(f);
  if (!jwks_file_.empty()) {
    absl::StrAppend(&human, "(verified offline: revocations are not known)\n");
  }
  Emit(doc, human);
  return response.allowed() ? kExitOk : kExitDenied;
}

int Ctl::Revoke() {
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  v1::RevokeTokenRequest request;
  request.set_token_id(token_id_);
  request.set_reason(reason_);
  absl::StatusOr<v1::Token> token = (*client)->RevokeToken(request, Call());
  if (!token.ok()) return ServerFailure(token.status());
  return Emit(ProtoToJson(*token), TokenText(*token));
}

int Ctl::RevokeBulk() {
  if (!bulk_flags_.AnyFilter()) {
    return Usage(
        "give at least one filter: --tag, --user, --stream or --group");
  }
  // One RevokeTokens call does the whole job, --state included: the server
  // counts (dry run) and revokes with the same filter.
  v1::RevokeTokensRequest bulk;
  bulk.set_tag(bulk_flags_.tag);
  bulk.set_user_id(bulk_flags_.user);
  bulk.set_stream_name(bulk_flags_.stream);
  bulk.set_stream_group_id(bulk_flags_.group);
  bulk.set_reason(reason_);
  if (!bulk_flags_.state.empty()) {
    std::optional<v1::TokenState> state = ParseState(bulk_flags_.state);
    if (!state.has_value() || *state == v1::TOKEN_STATE_REVOKED ||
        *state == v1::TOKEN_STATE_EXPIRED) {
      return Usage(absl::StrCat("--state \"", bulk_flags_.state,
                                "\" cannot be revoked: use active or "
                                "not-yet-valid"));
    }
    bulk.set_state(*state);
  }
  auto client = Client();
  if (!client.ok()) return Failure(client.status());

  // Count what matches.
  v1::RevokeTokensRequest dry = bulk;
  dry.set_dry_run(true);
  absl::StatusOr<v1::RevokeTokensResponse> count =
      (*client)->RevokeTokens(dry, Call());
  if (!count.ok()) return ServerFailure(count.status());
  const int64_t matched = count->revoked_count();
  const std::string filter = bulk_flags_.Describe();
  if (matched == 0) {
    return Emit({{"matched", 0}, {"revoked_count", 0}, {"filter", filter}},
                absl::StrCat("No unrevoked tokens match (", filter,
                             "); nothing to revoke.\n"));
  }
  if (!yes_) {
    err_ << matched << (matched == 1 ? " token matches" : " tokens match")
         << " (" << filter << "). Revoke " << (matched == 1 ? "it" : "them")
         << "? [y/N] " << std::flush;
    std::string answer;
    std::getline(*env_.in, answer);
    answer = absl::AsciiStrToLower(absl::StripAsciiWhitespace(answer));
    if (answer != "y" && answer != "yes") {
      err_ << "tokenctl " << command_
           << ": not confirmed; nothing was revoked (answer y, or pass --yes)"
           << "\n";
      JsonError("NOT_CONFIRMED", "not confirmed; nothing was revoked",
                kExitServerFailure);
      return kExitServerFailure;
    }
  }
  absl::StatusOr<v1::RevokeTokensResponse> done =
      (*client)->RevokeTokens(bulk, Call());
  if (!done.ok()) return ServerFailure(done.status());
  const int64_t revoked = done->revoked_count();
  return Emit(
      {{"matched", matched}, {"revoked_count", revoked}, {"filter", filter}},
      absl::StrCat("Revoked ", revoked, revoked == 1 ? " token" : " tokens",
                   " (", filter, ").\n"));
}

int Ctl::KeysList() {
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  v1::ListSigningKeysRequest request;
  request.set_include_retired(include_retired_);
  absl::StatusOr<v1::ListSigningKeysResponse> r =
      (*client)->ListSigningKeys(request, Call());
  if (!r.ok()) return ServerFailure(r.status());
  Table table({"KEY ID", "ALGORITHM", "STATE", "CREATED", "RETIRED"});
  for (const v1::SigningKey& k : r->keys()) {
    table.AddRow({k.key_id(), AlgorithmText(k.algorithm()),
                  SigningKeyStateText(k.state()),
                  TimeText(k.created_at(), k.has_created_at()),
                  TimeText(k.retired_at(), k.has_retired_at())});
  }
  return Emit(ProtoToJson(*r),
              table.empty() ? "No signing keys.\n" : table.Render());
}

int Ctl::KeysRotate() {
  v1::RotateSigningKeyRequest request;
  if (!algorithm_.empty()) {
    std::optional<token::Algorithm> alg = token::ParseAlgorithmFlag(algorithm_);
    if (!alg.has_value()) {
      return Usage(absl::StrCat("--algorithm \"", algorithm_,
                                "\" is not one of ES256, RS256, EdDSA, HS256"));
    }
    request.set_algorithm(convert::ToProtoAlgorithm(*alg));
  }
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  absl::StatusOr<v1::RotateSigningKeyResponse> r =
      (*client)->RotateSigningKey(request, Call());
  if (!r.ok()) return ServerFailure(r.status());
  const v1::SigningKey& k = r->key();
  return Emit(ProtoToJson(*r),
              RenderFields(
                  {{"Key ID", k.key_id()},
                   {"Algorithm", AlgorithmText(k.algorithm())},
                   {"State", SigningKeyStateText(k.state())},
                   {"Created", TimeText(k.created_at(), k.has_created_at())}}));
}

int Ctl::KeysJwks() {
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  v1::GetJwksRequest request;
  request.set_organization_id(org_);
  absl::StatusOr<v1::GetJwksResponse> r = (*client)->GetJwks(request, Call());
  if (!r.ok()) return ServerFailure(r.status());
  // Already JSON: printed as the document in both modes (so that
  // `tokenctl keys jwks > jwks.json` feeds `decode --jwks`).
  nlohmann::json doc = nlohmann::json::parse(r->jwks_json(), nullptr, false);
  if (doc.is_discarded()) {
    return ServerFailure(
        absl::InternalError("the server's JWK Set is not valid JSON"));
  }
  out_ << DumpJson(doc);
  emitted_ = true;
  return kExitOk;
}

int Ctl::Audit() {
  v1::ListAuditEventsRequest request;
  request.set_tag(list_flags_.tag);
  request.set_user_id(list_flags_.user);
  request.set_token_id(audit_token_);
  request.set_action(audit_action_);
  for (auto [flag, text, ts] :
       {std::make_tuple("--since", &audit_since_, request.mutable_since()),
        std::make_tuple("--until", &audit_until_, request.mutable_until())}) {
    if (text->empty()) continue;
    absl::StatusOr<absl::Time> t = token::ParseRfc3339(*text);
    if (!t.ok()) {
      return Usage(absl::StrCat(flag, " \"", *text,
                                "\" is not a time: write it as "
                                "2025-03-01T12:00:00Z (RFC 3339)"));
    }
    *ts = convert::ToProtoTimestamp(*t);
  }
  if (audit_since_.empty()) request.clear_since();
  if (audit_until_.empty()) request.clear_until();
  v1::ListAuditEventsResponse all;
  const int rc = CollectPages(
      std::move(request),
      [this](TokenAuthorityClient& c, const v1::ListAuditEventsRequest& r) {
        return c.ListAuditEvents(r, Call());
      },
      &all);
  if (rc != kExitOk) return rc;
  Table table({"TIME", "ACTION", "ACTOR", "TOKEN", "TAG", "USER", "DETAIL"});
  for (const v1::AuditEvent& e : all.events()) {
    table.AddRow({TimeText(e.time(), e.has_time()), e.action(), e.actor(),
                  e.token_id(), e.tag(), e.user_id(), e.detail()});
  }
  std::string human =
      table.empty() ? "No audit events match.\n" : table.Render();
  if (!all.next_page_token().empty()) {
    absl::StrAppend(&human, "More events: repeat with --page-token ",
                    all.next_page_token(), " (or --all)\n");
  }
  return Emit(ProtoToJson(all), human);
}

std::string OrgText(const v1::Organization& o) {
  return RenderFields(
      {{"Organisation ID", o.id()},
       {"Name", o.name()},
       {"Secure playback", o.secure_enabled() ? "enabled" : "disabled"},
       {"Created", TimeText(o.created_at(), o.has_created_at())},
       {"Updated", TimeText(o.updated_at(), o.has_updated_at())}});
}

std::optional<bool> ParseBool(std::string text) {
  text = absl::AsciiStrToLower(text);
  if (text == "true" || text == "yes" || text == "on" || text == "1") {
    return true;
  }
  if (text == "false" || text == "no" || text == "off" || text == "0") {
    return false;
  }
  return std::nullopt;
}

int Ctl::OrgCreate() {
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  v1::CreateOrganizationRequest request;
  request.set_name(name_);
  request.set_secure_enabled(!secure_flag_);  // --no-secure turns it off
  absl::StatusOr<v1::Organization> o =
      (*client)->CreateOrganization(request, Call());
  if (!o.ok()) return ServerFailure(o.status());
  return Emit(ProtoToJson(*o), OrgText(*o));
}

int Ctl::OrgUpdate() {
  if (secure_text_.empty() && name_.empty()) {
    return Usage("give --secure true|false and/or --name NAME");
  }
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  v1::UpdateOrganizationRequest request;
  request.set_organization_id(org_);
  request.set_name(name_);
  if (secure_text_.empty()) {
    // Keep the current flag: read it first (the request always carries it).
    v1::ListOrganizationsRequest list;
    list.set_page_size(1000);
    bool found = false;
    while (!found) {
      absl::StatusOr<v1::ListOrganizationsResponse> page =
          (*client)->ListOrganizations(list, Call());
      if (!page.ok()) return ServerFailure(page.status());
      for (const v1::Organization& o : page->organizations()) {
        if (o.id() == org_) {
          request.set_secure_enabled(o.secure_enabled());
          found = true;
        }
      }
      if (page->next_page_token().empty()) break;
      list.set_page_token(page->next_page_token());
    }
    if (!found) {
      return ServerFailure(absl::NotFoundError(
          absl::StrCat("organisation ", org_, " not found")));
    }
  } else {
    std::optional<bool> secure = ParseBool(secure_text_);
    if (!secure.has_value()) {
      return Usage(
          absl::StrCat("--secure \"", secure_text_, "\" is not true or false"));
    }
    request.set_secure_enabled(*secure);
  }
  absl::StatusOr<v1::Organization> o =
      (*client)->UpdateOrganization(request, Call());
  if (!o.ok()) return ServerFailure(o.status());
  return Emit(ProtoToJson(*o), OrgText(*o));
}

int Ctl::OrgList() {
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  v1::ListOrganizationsRequest request;
  request.set_page_size(1000);
  v1::ListOrganizationsResponse all;
  while (true) {
    absl::StatusOr<v1::ListOrganizationsResponse> page =
        (*client)->ListOrganizations(request, Call());
    if (!page.ok()) return ServerFailure(page.status());
    for (const v1::Organization& o : page->organizations()) {
      *all.add_organizations() = o;
    }
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  Table table({"ID", "NAME", "SECURE", "CREATED"});
  for (const v1::Organization& o : all.organizations()) {
    table.AddRow({o.id(), o.name(), o.secure_enabled() ? "enabled" : "disabled",
                  TimeText(o.created_at(), o.has_created_at())});
  }
  return Emit(ProtoToJson(all),
              table.empty() ? "No organisations.\n" : table.Render());
}

std::vector<std::pair<std::string, std::string>> ApiKeyFields(
    const v1::ApiKey& k) {
  return {{"Key ID", k.id()},
          {"Organisation",
           k.organization_id().empty() ? "(all)" : k.organization_id()},
          {"Role", ApiKeyRoleText(k.role())},
          {"Created", TimeText(k.created_at(), k.has_created_at())},
          {"Revoked", TimeText(k.revoked_at(), k.has_revoked_at())},
          {"Last used", TimeText(k.last_used_at(), k.has_last_used_at())}};
}

int Ctl::KeyCreate() {
  std::optional<v1::ApiKeyRole> role = ParseRole(role_);
  if (!role.has_value()) {
    return Usage(absl::StrCat("--role \"", role_,
                              "\" is not a role: use admin, issuer, verifier "
                              "or auditor"));
  }
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  v1::CreateApiKeyRequest request;
  request.set_organization_id(org_);
  request.set_role(*role);
  absl::StatusOr<v1::CreateApiKeyResponse> r =
      (*client)->CreateApiKey(request, Call());
  if (!r.ok()) return ServerFailure(r.status());
  auto fields = ApiKeyFields(r->api_key());
  fields.push_back({"Secret", r->secret()});
  std::string human = RenderFields(fields);
  absl::StrAppend(&human,
                  "\nThe secret is shown only now: store it (e.g. in a file "
                  "for --api-key-file).\n");
  return Emit(ProtoToJson(*r), human);
}

int Ctl::KeyList() {
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  v1::ListApiKeysRequest request;
  request.set_organization_id(org_);
  request.set_include_revoked(include_revoked_);
  absl::StatusOr<v1::ListApiKeysResponse> r =
      (*client)->ListApiKeys(request, Call());
  if (!r.ok()) return ServerFailure(r.status());
  Table table(
      {"KEY ID", "ORGANISATION", "ROLE", "CREATED", "REVOKED", "LAST USED"});
  for (const v1::ApiKey& k : r->api_keys()) {
    table.AddRow(
        {k.id(), k.organization_id().empty() ? "(all)" : k.organization_id(),
         ApiKeyRoleText(k.role()), TimeText(k.created_at(), k.has_created_at()),
         TimeText(k.revoked_at(), k.has_revoked_at()),
         TimeText(k.last_used_at(), k.has_last_used_at())});
  }
  return Emit(ProtoToJson(*r),
              table.empty() ? "No API keys.\n" : table.Render());
}

int Ctl::KeyRevoke() {
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  v1::RevokeApiKeyRequest request;
  request.set_api_key_id(key_id_);
  absl::StatusOr<v1::ApiKey> k = (*client)->RevokeApiKey(request, Call());
  if (!k.ok()) return ServerFailure(k.status());
  return Emit(ProtoToJson(*k), RenderFields(ApiKeyFields(*k)));
}

int Ctl::Dialog() {
  absl::StatusOr<PageLocation> location = ParsePagePath(path_);
  if (!location.ok()) return Usage(location.status().message());
  const InlineDialog dialog = DialogForPage(*location);
  if (!create_ && !dialog_flags_.AnyGiven(dialog_app_)) {
    // Show the dialog as the page opens it.
    nlohmann::json doc = {
        {"page", PagePath(*location)},
        {"page_title", std::string(PageTitle(location->page))},
        {"stream_id", location->stream_id},
        {"title", dialog.title},
        {"target_options", nlohmann::json::array()}};
    Table choices({"CHOICE", "LABEL", "FLAG"});
    for (const TargetOption& o : dialog.target_options) {
      doc["target_options"].push_back({{"value", o.value}, {"label", o.label}});
      const char* flag = o.choice == TargetChoice::kStreamGroup ? "--group"
                         : o.choice == TargetChoice::kStreamNames
                             ? "--streams a,b,c"
                             : "--org-wide";
      choices.AddRow({o.value, o.label, flag});
    }
    const DialogForm& f = dialog.defaults;
    doc["defaults"] = {{"target", f.target},
                       {"stream_group_id", f.stream_group_id},
                       {"stream_names", f.stream_names},
                       {"lifetime", f.lifetime},
                       {"expires", f.expires},
                       {"not_before", f.not_before},
                       {"client_ip", f.client_ip},
                       {"domain", f.domain},
                       {"user_id", f.user_id},
                       {"tag", f.tag}};
    std::string human = absl::StrCat(dialog.title, "\n\nTarget choices\n",
                                     choices.Render(), "\nDefaults\n");
    absl::StrAppend(
        &human,
        RenderFields({{"Target",
                       absl::StrCat("entire stream group ", f.stream_group_id)},
                      {"Lifetime", f.lifetime},
                      {"Expiry", f.expires},
                      {"Not before", f.not_before},
                      {"IP address", f.client_ip},
                      {"Domain", f.domain},
                      {"User ID", f.user_id},
                      {"Tag", f.tag}}),
        "\nCreate the token with: tokenctl dialog ", PagePath(*location),
        " --create (or give --streams, --org-wide, --lifetime, --expires, "
        "--not-before, --ip, --domain, --user, --tag)\n");
    return Emit(doc, human);
  }
  DialogForm form = dialog.defaults;
  dialog_flags_.ApplyTo(&form);
  const FormCheck check = ValidateForm(form, clock_.Now());
  if (!check.ok()) return EmitProblems(check.problems, "nothing was created");
  auto client = Client();
  if (!client.ok()) return Failure(client.status());
  absl::StatusOr<DialogOutcome> outcome =
      CreateTokenFromForm(**client, form, clock_);
  if (!outcome.ok()) return ServerFailure(outcome.status());
  if (!outcome->problems.empty()) {
    return EmitProblems(outcome->problems, "the server refused the token");
  }
  nlohmann::json doc =
      nlohmann::json::parse(OverviewToJson(*outcome->overview, -1));
  doc["page"] = PagePath(*location);
  return Emit(doc, FormatOverview(*outcome->overview));
}

// ---------------------------------------------------------------------------
// The command line.

int Ctl::Main() {
  CLI::App app{
      "tokenctl: issue, inspect, verify and revoke secure playback tokens of "
      "the token authority.\nExit codes: 0 ok, 1 server failure, 2 usage "
      "error, 3 token denied (verify).",
      "tokenctl"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_help_all_flag("--help-all", "Show the help of every command");

  app.add_option("--server", globals_.server,
                 "The token authority's address (host:port; default: "
                 "$TOKENCTL_SERVER, else 127.0.0.1:50051)");
  app.add_option("--api-key-file", globals_.api_key_file,
                 "A file holding the API key (default: $TOKENCTL_API_KEY)");
  app.add_flag("--tls", globals_.tls,
               "Use TLS, trusting the system's CA certificates");
  app.add_option("--tls-ca", globals_.tls_ca,
                 "Use TLS, trusting this CA certificate (PEM file)");
  app.add_option("--tls-cert", globals_.tls_cert,
                 "Client certificate for mTLS (PEM file)");
  app.add_option("--tls-key", globals_.tls_key,
                 "Client private key for mTLS (PEM file)");
  app.add_option("--tls-server-name", globals_.tls_server_name,
                 "Expect this name in the server's certificate");
  app.add_option("--as-org", globals_.as_org,
                 "Admin keys: act for this organisation (x-organization-id)");
  app.add_option("--timeout", globals_.timeout,
                 "Deadline of each call, e.g. 10s, 2m")
      ->capture_default_str();
  app.add_flag("--json", globals_.json,
               "Print one JSON document on stdout (for scripts)");

  std::vector<std::pair<CLI::App*, int (Ctl::*)()>> leaves;
  auto leaf = [&](CLI::App* parent, const char* name, const char* help,
                  int (Ctl::*run)()) {
    CLI::App* sub = parent->add_subcommand(name, help);
    leaves.push_back({sub, run});
    return sub;
  };

  CLI::App* issue = leaf(&app, "issue", "Issue a token", &Ctl::Issue);
  issue_flags_.Add(issue);
  issue->add_option("--request-id", request_id_,
                    "Idempotency key (default: a fresh one per run)");

  CLI::App* get = leaf(&app, "get", "Show one token's record", &Ctl::Get);
  get->add_option("TOKEN_ID", token_id_, "The token ID (jti)")->required();

  CLI::App* list = leaf(&app, "list", "List tokens, newest first", &Ctl::List);
  list_flags_.Add(list);
  list->add_option("--limit", limit_, "At most this many per page (1-1000)");
  list->add_option("--page-token", page_token_, "Continue a previous listing");
  list->add_flag("--all", all_pages_, "Follow every page");

  CLI::App* decode =
      leaf(&app, "decode", "Show the Secure Token Overview of any JWT",
           &Ctl::Decode);
  decode->add_option("JWT", jwt_arg_, "The token, or - to read stdin")
      ->required();
  decode->add_option("--jwks", jwks_file_,
                     "Decode offline, checking the signature with this JWK "
                     "Set file (from `tokenctl keys jwks`)");
  decode->add_option("--org", org_,
                     "With --jwks: the organisation the JWK Set belongs to "
                     "(default: the token's)");

  CLI::App* verify = leaf(&app, "verify",
                          "Decide whether a token allows a playback (exit 3 "
                          "when denied)",
                          &Ctl::Verify);
  verify->add_option("JWT", jwt_arg_, "The token, or - to read stdin")
      ->required();
  verify
      ->add_option("--org", org_,
                   "The organisation that owns the stream (required: a "
                   "token is only valid for its own organisation's streams, "
                   "never taken from the token itself)")
      ->required();
  verify->add_option("--group", verify_group_, "The stream group played");
  verify->add_option("--stream", verify_stream_, "The stream name played");
  verify->add_option("--ip", verify_ip_, "The viewer's IP address");
  verify->add_option("--domain", verify_domain_,
                     "The embedding page's host name");
  verify->add_option("--jwks", jwks_file_,
                     "Verify offline with this JWK Set file (revocations "
                     "unknown)");

  CLI::App* revoke = leaf(&app, "revoke", "Revoke one token", &Ctl::Revoke);
  revoke->add_option("TOKEN_ID", token_id_, "The token ID (jti)")->required();
  revoke->add_option("--reason", reason_, "Why (kept in the audit log)");

  CLI::App* bulk = leaf(&app, "revoke-bulk",
                        "Revoke every token matching the filters (asks "
                        "first)",
                        &Ctl::RevokeBulk);
  bulk_flags_.Add(bulk, /*with_state=*/true,
                  "Only tokens in this state: active or not-yet-valid");
  bulk->add_option("--reason", reason_, "Why (kept in the audit log)");
  bulk->add_flag("--yes,-y", yes_, "Do not ask for confirmation");

  CLI::App* keys = app.add_subcommand("keys", "Signing keys");
  keys->require_subcommand(1);
  CLI::App* keys_list =
      leaf(keys, "list", "List the signing keys", &Ctl::KeysList);
  keys_list->add_flag("--include-retired", include_retired_,
                      "Also list retired keys");
  CLI::App* rotate =
      leaf(keys, "rotate", "Make a new primary signing key", &Ctl::KeysRotate);
  rotate->add_option("--algorithm", algorithm_,
                     "ES256 (default), RS256, EdDSA or HS256");
  CLI::App* jwks =
      leaf(keys, "jwks", "Print the public JWK Set", &Ctl::KeysJwks);
  jwks->add_option("--org", org_,
                   "The organisation (required for verifier and admin keys)");

  CLI::App* audit =
      leaf(&app, "audit", "List audit events, newest first", &Ctl::Audit);
  list_flags_.Add(audit, /*with_state=*/false);
  audit->add_option("--token", audit_token_, "Only events about this token");
  audit->add_option("--action", audit_action_,
                    "Only this action, e.g. token.revoked");
  audit->add_option("--since", audit_since_,
                    "Only events at or after (RFC 3339)");
  audit->add_option("--until", audit_until_, "Only events before (RFC 3339)");
  audit->add_option("--limit", limit_, "At most this many per page (1-1000)");
  audit->add_option("--page-token", page_token_, "Continue a previous listing");
  audit->add_flag("--all", all_pages_, "Follow every page");

  CLI::App* admin = app.add_subcommand("admin", "Organisations and API keys");
  admin->require_subcommand(1);
  CLI::App* org = admin->add_subcommand("org", "Organisations");
  org->require_subcommand(1);
  CLI::App* org_create =
      leaf(org, "create", "Create an organisation", &Ctl::OrgCreate);
  org_create->add_option("NAME", name_, "Its name")->required();
  org_create->add_flag("--no-secure", secure_flag_,
                       "Create it without secure playback");
  CLI::App* org_update =
      leaf(org, "update", "Change an organisation", &Ctl::OrgUpdate);
  org_update->add_option("ORG_ID", org_, "The organisation")->required();
  org_update->add_option("--secure", secure_text_,
                         "Enable (true) or disable (false) secure playback");
  org_update->add_option("--name", name_, "A new name");
  leaf(org, "list", "List organisations", &Ctl::OrgList);
  CLI::App* key = admin->add_subcommand("key", "API keys");
  key->require_subcommand(1);
  CLI::App* key_create = leaf(key, "create",
                              "Create an API key (the secret "
                              "is shown once)",
                              &Ctl::KeyCreate);
  key_create->add_option("--org", org_,
                         "The organisation (required for issuer and auditor "
                         "keys)");
  key_create->add_option("--role", role_, "admin, issuer, verifier or auditor")
      ->required();
  CLI::App* key_list = leaf(key, "list", "List API keys", &Ctl::KeyList);
  key_list->add_option("--org", org_, "Only keys of this organisation");
  key_list->add_flag("--include-revoked", include_revoked_,
                     "Also list revoked keys");
  CLI::App* key_revoke =
      leaf(key, "revoke", "Revoke an API key", &Ctl::KeyRevoke);
  key_revoke->add_option("KEY_ID", key_id_, "The API key's ID")->required();

  dialog_app_ = leaf(&app, "dialog",
                     "Run the inline token dialog of a dashboard page: show "
                     "its defaults, or create the token from the given form "
                     "flags",
                     &Ctl::Dialog);
  dialog_app_
      ->add_option("PAGE_PATH", path_,
                   "playout/<stream-id>, stream/<stream-id>, "
                   "stream/<stream-id>/code-snippets, stream/new/<stream-id> "
                   "or webcaster/<stream-id>")
      ->required();
  dialog_flags_.Add(dialog_app_);
  dialog_app_->add_flag("--create", create_,
                        "Create the token with the defaults and the given "
                        "flags");

  std::vector<const char*> argv = {"tokenctl"};
  for (const std::string& a : args_) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp& e) {
    app.exit(e, out_, err_);
    return kExitOk;
  } catch (const CLI::CallForAllHelp& e) {
    app.exit(e, out_, err_);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    // Name the deepest command that was reached, for the hint.
    std::string where = "tokenctl";
    const CLI::App* at = &app;
    while (true) {
      auto subs = at->get_subcommands();
      if (subs.empty()) break;
      at = subs.front();
      absl::StrAppend(&where, " ", at->get_name());
    }
    std::string what = e.what();
    if (what.empty()) what = "bad command line";
    err_ << where << ": " << what << "; run '" << where
         << " --help' for usage\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    err_ << "tokenctl: " << e.what() << "\n";
    return kExitUsage;
  }
  if (app.count("--server") == 0 && env_.getenv) {
    std::optional<std::string> server = env_.getenv("TOKENCTL_SERVER");
    if (server.has_value() && !server->empty()) globals_.server = *server;
  }
  for (const auto& [sub, run] : leaves) {
    if (!sub->parsed()) continue;
    std::vector<std::string> names;
    for (const CLI::App* a = sub; a != nullptr && a != &app;
         a = a->get_parent()) {
      names.insert(names.begin(), a->get_name());
    }
    command_ = absl::StrJoin(names, " ");
    return (this->*run)();
  }
  err_ << "tokenctl: no command given; run 'tokenctl --help'\n";
  return kExitUsage;
}

}  // namespace

ClientFactory DefaultClientFactory() {
  return [](const ConnectionOptions& c)
             -> absl::StatusOr<std::unique_ptr<TokenAuthorityClient>> {
    ClientOptions options;
    options.api_key = c.api_key;
    options.organization_id = c.as_organization;
    options.insecure = !c.tls;
    options.tls_root_ca_pem = c.tls_ca_pem;
    options.tls_client_cert_pem = c.tls_cert_pem;
    options.tls_client_key_pem = c.tls_key_pem;
    options.tls_server_name = c.tls_server_name;
    options.default_deadline = c.timeout;
    return TokenAuthorityClient::Create(c.server, options);
  };
}

int Run(const std::vector<std::string>& args, Environment& env) {
  try {
    Ctl ctl(env, args);
    return ctl.Main();
  } catch (const std::exception& e) {
    *env.err << "tokenctl: internal error: " << e.what() << "\n";
    return kExitServerFailure;
  }
}

}  // namespace token_authority::client::tokenctl
