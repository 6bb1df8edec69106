// The HTTP side of token-dialogs (gateway.h): routing, the security headers,
// the same-origin and CSRF checks, body limits and JSON parsing. What each
// call answers is DialogApi's (dialog_api.h); what each page is, pages.h's.
#include "client/web/gateway.h"

#include <httplib.h>

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/dialog_web.h"
#include "client/web/api_error.h"
#include "client/web/csrf.h"
#include "client/web/dialog_api.h"
#include "client/web/http_policy.h"
#include "client/web/pages.h"

namespace token_authority::client::web {
namespace {

constexpr char kJson[] = "application/json; charset=utf-8";

void Send(httplib::Response& res, const ApiReply& reply) {
  res.status = reply.status;
  // Invalid UTF-8 (a pasted foreign token) is replaced, never an exception.
  res.set_content(
      reply.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      kJson);
}

ApiReply Error(int status, const std::string& code,
               const std::string& message) {
  ApiError e;
  e.status = status;
  e.code = code;
  e.message = message;
  return ErrorReply(e);
}

// The request's JSON body, or the error to answer.
std::optional<ApiReply> ParseBody(const httplib::Request& req,
                                  nlohmann::json* body) {
  if (!absl::StartsWithIgnoreCase(req.get_header_value("Content-Type"),
                                  "application/json")) {
    return Error(415, "unsupported_media_type",
                 "send the body as JSON (Content-Type: application/json)");
  }
  *body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body->is_discarded()) {
    return Error(400, "bad_json", "the request body is not valid JSON");
  }
  return std::nullopt;
}

// The error to answer when `req` is not a same-origin call with a valid
// CSRF cookie and header.
std::optional<ApiReply> CheckStateChanging(const httplib::Request& req,
                                           const CsrfGuard& csrf,
                                           const char* scheme) {
  const OriginHeaders origin{req.get_header_value("Origin"),
                             req.get_header_value("Sec-Fetch-Site"),
                             req.get_header_value("Host")};
  if (absl::Status st = CheckSameOrigin(origin, scheme); !st.ok()) {
    return Error(403, "cross_origin", std::string(st.message()));
  }
  const std::string nonce =
      CookieValue(req.get_header_value("Cookie"), std::string(kCsrfCookie));
  if (!csrf.Check(nonce, req.get_header_value(std::string(kCsrfHeader)))) {
    return Error(403, "csrf",
                 "missing or stale CSRF token: reload the page and try again");
  }
  return std::nullopt;
}

void SendStatic(httplib::Response& res, const char* body, const char* type) {
  res.set_header("Cache-Control", "no-cache");
  res.set_content(body, type);
}

// The settings every response shares, and the answers of errors no handler
// wrote (413 from the body limit, unknown paths).
void SetUpServer(httplib::Server& s) {
  httplib::Headers headers;
  for (auto& [name, value] : SecurityHeaders()) headers.emplace(name, value);
  s.set_default_headers(headers);
  s.set_payload_max_length(kMaxBodyBytes);
  // Headers and body are separate writes: without TCP_NODELAY, Nagle's
  // algorithm and the peer's delayed ACK hold the body back ~40 ms.
  s.set_tcp_nodelay(true);
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      Send(res, Error(413, "body_too_large",
                      absl::StrCat("the request body is larger than ",
                                   kMaxBodyBytes, " bytes")));
    } else if (absl::StartsWith(req.path, "/api/")) {
      Send(res,
           Error(res.status, res.status == 404 ? "not_found" : "bad_request",
                 absl::StrCat("no such call: ", req.method, " ", req.path)));
    } else {
      res.set_content(NotFoundHtml("This page does not exist."),
                      "text/html; charset=utf-8");
    }
  });
}

// GET /api/form: the page's dialog, and the CSRF token of the cookie's
// nonce (a new nonce and cookie when the request has none).
void ServeForm(const DialogApi& api, const CsrfGuard& csrf,
               RandomSource& random, bool tls, const httplib::Request& req,
               httplib::Response& res) {
  ApiReply reply = api.Form(req.get_param_value("page"));
  if (reply.status == 200) {
    std::string nonce =
        CookieValue(req.get_header_value("Cookie"), std::string(kCsrfCookie));
    if (nonce.empty() || nonce.size() > 64) {
      absl::StatusOr<CsrfGuard::Pair> pair = csrf.Issue(random);
      if (!pair.ok()) {
        return Send(res, ErrorReply(ApiErrorFromStatus(pair.status())));
      }
      nonce = pair->nonce;
      res.set_header("Set-Cookie",
                     absl::StrCat(kCsrfCookie, "=", nonce,
                                  "; Path=/; HttpOnly; SameSite=Strict",
                                  tls ? "; Secure" : ""));
    }
    reply.body["csrf_token"] = csrf.TokenFor(nonce);
  }
  Send(res, reply);
}

// The component's files, the index and the pages with a dialog.
void RouteFilesAndPages(httplib::Server& s) {
  s.Get(std::string(kDialogJsPath),
        [](const httplib::Request&, httplib::Response& res) {
          SendStatic(res, kDialogJs, "text/javascript; charset=utf-8");
        });
  s.Get(std::string(kDialogCssPath),
        [](const httplib::Request&, httplib::Response& res) {
          SendStatic(res, kDialogCss, "text/css; charset=utf-8");
        });
  s.Get(std::string(kFaviconPath),
        [](const httplib::Request&, httplib::Response& res) {
          SendStatic(res, kFaviconSvg, "image/svg+xml");
        });
  s.Get("/", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(IndexHtml(req.get_param_value("stream")),
                    "text/html; charset=utf-8");
  });
  // Every other GET: one of the pages with a dialog, from the raw target
  // (ParsePagePath decodes the stream id itself).
  s.Get("/.*", [](const httplib::Request& req, httplib::Response& res) {
    if (absl::StartsWith(req.path, "/api/")) {
      return Send(res, Error(404, "not_found",
                             absl::StrCat("no such call: GET ", req.path)));
    }
    absl::StatusOr<InlineDialog> dialog = DialogForWebPath(req.target);
    if (!dialog.ok()) {
      res.status = 404;
      res.set_content(NotFoundHtml(dialog.status().message()),
                      "text/html; charset=utf-8");
      return;
    }
    res.set_content(PageHtml(*dialog), "text/html; charset=utf-8");
  });
}

}  // namespace

absl::Status ParseListen(const std::string& listen, std::string* host,
                         int* port) {
  const size_t colon = listen.rfind(':');
  int p = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen: \"", listen, "\" is not host:port (e.g. 127.0.0.1:8080)"));
  }
  std::string h = listen.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  *host = std::move(h);
  *port = p;
  return absl::OkStatus();
}

DialogGateway::DialogGateway(GatewayOptions options,
                             std::unique_ptr<TokenAuthorityClient> client)
    : options_(std::move(options)),
      tls_(!options_.tls_cert_file.empty()),
      client_(std::move(client)) {}

absl::StatusOr<std::unique_ptr<DialogGateway>> DialogGateway::Start(
    GatewayOptions options, std::unique_ptr<TokenAuthorityClient> client) {
  if (client == nullptr) {
    return absl::InvalidArgumentError("no client of the authority");
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together (both or neither)");
  }
  std::string host;
  int port = 0;
  if (absl::Status st = ParseListen(options.listen, &host, &port); !st.ok()) {
    return st;
  }
  RandomSource& random =
      options.random != nullptr ? *options.random : RandomSource::Secure();
  absl::StatusOr<std::unique_ptr<CsrfGuard>> csrf = CsrfGuard::Create(random);
  if (!csrf.ok()) return csrf.status();
  std::unique_ptr<DialogGateway> g(
      new DialogGateway(std::move(options), std::move(client)));
  g->csrf_ = *std::move(csrf);
  const Clock& clock =
      g->options_.clock != nullptr ? *g->options_.clock : Clock::Real();
  g->api_ = std::make_unique<DialogApi>(*g->client_, clock, g->options_.limits,
                                        g->options_.state_timeout);
  if (g->tls_) {
    g->http_ = std::make_unique<httplib::SSLServer>(
        g->options_.tls_cert_file.c_str(), g->options_.tls_key_file.c_str());
  } else {
    g->http_ = std::make_unique<httplib::Server>();
  }
  if (!g->http_->is_valid()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--tls-cert/--tls-key: cannot load ", g->options_.tls_cert_file,
        " and ", g->options_.tls_key_file, " as a PEM certificate and key"));
  }
  g->Route();
  g->host_ = host;
  g->port_ = port == 0 ? g->http_->bind_to_any_port(host)
                       : (g->http_->bind_to_port(host, port) ? port : -1);
  if (g->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("--listen: cannot listen on ", g->options_.listen));
  }
  httplib::Server* http = g->http_.get();
  g->thread_ = std::thread([http] { http->listen_after_bind(); });
  return g;
}

DialogGateway::~DialogGateway() { Stop(); }

void DialogGateway::Stop() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string DialogGateway::address() const {
  return absl::StrContains(host_, ':') ? absl::StrCat("[", host_, "]:", port_)
                                       : absl::StrCat(host_, ":", port_);
}

void DialogGateway::Route() {
  httplib::Server& s = *http_;
  SetUpServer(s);
  const DialogApi& api = *api_;
  const CsrfGuard& csrf = *csrf_;
  const char* scheme = this->scheme();
  RandomSource& random =
      options_.random != nullptr ? *options_.random : RandomSource::Secure();
  const bool tls = tls_;
  s.Get("/api/form", [&api, &csrf, &random, tls](const httplib::Request& req,
                                                 httplib::Response& res) {
    ServeForm(api, csrf, random, tls, req, res);
  });
  s.Get("/api/tokens", [&api](const httplib::Request& req,
                              httplib::Response& res) {
    Send(res, api.ListTokens(
                  {req.get_param_value("page"), req.get_param_value("tag"),
                   req.get_param_value("user_id"), req.get_param_value("state"),
                   req.get_param_value("page_size"),
                   req.get_param_value("page_token")}));
  });
  // The state-changing (and token-carrying) calls.
  using Call = ApiReply (DialogApi::*)(const nlohmann::json&) const;
  auto post = [&s, &api, &csrf, scheme](const char* path, Call call) {
    s.Post(path, [&api, &csrf, scheme, call](const httplib::Request& req,
                                             httplib::Response& res) {
      if (auto refused = CheckStateChanging(req, csrf, scheme)) {
        return Send(res, *refused);
      }
      nlohmann::json body;
      if (auto bad = ParseBody(req, &body)) return Send(res, *bad);
      Send(res, (api.*call)(body));
    });
  };
  post("/api/validate", &DialogApi::Validate);
  post("/api/tokens", &DialogApi::Create);
  post("/api/decode", &DialogApi::Decode);
  post("/api/revoke", &DialogApi::Revoke);
  RouteFilesAndPages(s);
}

}  // namespace token_authority::client::web
