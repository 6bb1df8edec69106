// The admin commands: admin org create|update|list, admin key
// create|list|revoke.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/proto_text.h"
#include "client/tokenctl/command.h"
#include "client/tokenctl/commands.h"
#include "client/tokenctl/output.h"

namespace token_authority::client::tokenctl {
namespace {

namespace v1 = ::tokenauthority::v1;

// Organisations ---------------------------------------------------------------

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

struct OrgCreateFlags {
  std::string name;
  bool no_secure = false;
};

int OrgCreate(Context& context, const OrgCreateFlags& flags) {
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  v1::CreateOrganizationRequest request;
  request.set_name(flags.name);
  request.set_secure_enabled(!flags.no_secure);
  absl::StatusOr<v1::Organization> o =
      (*client)->CreateOrganization(request, context.Call());
  if (!o.ok()) return context.ServerFailure(o.status());
  return context.Emit(ProtoToJson(*o), OrgText(*o));
}

// The secure flag of organisation `org` as the server has it (ListOrganizations
// page by page), or the exit code of the failure (already reported).
int CurrentSecureFlag(Context& context, TokenAuthorityClient& client,
                      const std::string& org, bool* secure) {
  v1::ListOrganizationsRequest list;
  list.set_page_size(1000);
  bool found = false;
  while (!found) {
    absl::StatusOr<v1::ListOrganizationsResponse> page =
        client.ListOrganizations(list, context.Call());
    if (!page.ok()) return context.ServerFailure(page.status());
    for (const v1::Organization& o : page->organizations()) {
      if (o.id() == org) {
        *secure = o.secure_enabled();
        found = true;
      }
    }
    if (page->next_page_token().empty()) break;
    list.set_page_token(page->next_page_token());
  }
  if (!found) {
    return context.ServerFailure(
        absl::NotFoundError(absl::StrCat("organisation ", org, " not found")));
  }
  return kExitOk;
}

struct OrgUpdateFlags {
  std::string org, secure, name;
};

int OrgUpdate(Context& context, const OrgUpdateFlags& flags) {
  if (flags.secure.empty() && flags.name.empty()) {
    return context.Usage("give --secure true|false and/or --name NAME");
  }
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  v1::UpdateOrganizationRequest request;
  request.set_organization_id(flags.org);
  request.set_name(flags.name);
  if (flags.secure.empty()) {
    // Keep the current flag: read it first (the request always carries it).
    bool secure = false;
    const int rc = CurrentSecureFlag(context, **client, flags.org, &secure);
    if (rc != kExitOk) return rc;
    request.set_secure_enabled(secure);
  } else {
    std::optional<bool> secure = ParseBool(flags.secure);
    if (!secure.has_value()) {
      return context.Usage(
          absl::StrCat("--secure \"", flags.secure, "\" is not true or false"));
    }
    request.set_secure_enabled(*secure);
  }
  absl::StatusOr<v1::Organization> o =
      (*client)->UpdateOrganization(request, context.Call());
  if (!o.ok()) return context.ServerFailure(o.status());
  return context.Emit(ProtoToJson(*o), OrgText(*o));
}

int OrgList(Context& context) {
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  v1::ListOrganizationsRequest request;
  request.set_page_size(1000);
  v1::ListOrganizationsResponse all;
  while (true) {
    absl::StatusOr<v1::ListOrganizationsResponse> page =
        (*client)->ListOrganizations(request, context.Call());
    if (!page.ok()) return context.ServerFailure(page.status());
    for (const v1::Organization& o : page->organizations()) {
      *all.add_organizations() = o;
    }
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  Table table({"ID", "NAME", "SECURE", "CREATED (UTC)"});
  for (const v1::Organization& o : all.organizations()) {
    table.AddRow({o.id(), o.name(), o.secure_enabled() ? "enabled" : "disabled",
                  TimeText(o.created_at(), o.has_created_at())});
  }
  return context.Emit(ProtoToJson(all),
                      table.empty() ? "No organisations.\n" : table.Render());
}

// API keys --------------------------------------------------------------------

std::optional<v1::ApiKeyRole> ParseRole(std::string text) {
  text = absl::AsciiStrToLower(text);
  if (text == "admin") return v1::API_KEY_ROLE_ADMIN;
  if (text == "issuer") return v1::API_KEY_ROLE_ISSUER;
  if (text == "verifier") return v1::API_KEY_ROLE_VERIFIER;
  if (text == "auditor") return v1::API_KEY_ROLE_AUDITOR;
  return std::nullopt;
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

struct KeyCreateFlags {
  std::string org, role;
};

int KeyCreate(Context& context, const KeyCreateFlags& flags) {
  std::optional<v1::ApiKeyRole> role = ParseRole(flags.role);
  if (!role.has_value()) {
    return context.Usage(absl::StrCat("--role \"", flags.role,
                                      "\" is not a role: use admin, issuer, "
                                      "verifier or auditor"));
  }
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  v1::CreateApiKeyRequest request;
  request.set_organization_id(flags.org);
  request.set_role(*role);
  absl::StatusOr<v1::CreateApiKeyResponse> r =
      (*client)->CreateApiKey(request, context.Call());
  if (!r.ok()) return context.ServerFailure(r.status());
  auto fields = ApiKeyFields(r->api_key());
  fields.push_back({"Secret", r->secret()});
  const int result = context.Emit(ProtoToJson(*r), RenderFields(fields));
  context.Hint(
      "the secret is shown only now: store it (e.g. in a file for "
      "--api-key-file)");
  return result;
}

struct KeyListFlags {
  std::string org;
  bool include_revoked = false;
};

int KeyList(Context& context, const KeyListFlags& flags) {
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  v1::ListApiKeysRequest request;
  request.set_organization_id(flags.org);
  request.set_include_revoked(flags.include_revoked);
  absl::StatusOr<v1::ListApiKeysResponse> r =
      (*client)->ListApiKeys(request, context.Call());
  if (!r.ok()) return context.ServerFailure(r.status());
  Table table({"KEY ID", "ORGANISATION", "ROLE", "CREATED (UTC)",
               "REVOKED (UTC)", "LAST USED (UTC)"});
  for (const v1::ApiKey& k : r->api_keys()) {
    table.AddRow(
        {k.id(), k.organization_id().empty() ? "(all)" : k.organization_id(),
         ApiKeyRoleText(k.role()), TimeText(k.created_at(), k.has_created_at()),
         TimeText(k.revoked_at(), k.has_revoked_at()),
         TimeText(k.last_used_at(), k.has_last_used_at())});
  }
  return context.Emit(ProtoToJson(*r),
                      table.empty() ? "No API keys.\n" : table.Render());
}

struct KeyRevokeFlags {
  std::string key_id;
};

int KeyRevoke(Context& context, const KeyRevokeFlags& flags) {
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  v1::RevokeApiKeyRequest request;
  request.set_api_key_id(flags.key_id);
  absl::StatusOr<v1::ApiKey> k =
      (*client)->RevokeApiKey(request, context.Call());
  if (!k.ok()) return context.ServerFailure(k.status());
  return context.Emit(ProtoToJson(*k), RenderFields(ApiKeyFields(*k)));
}

// Registration ----------------------------------------------------------------

void AddOrgCommands(CLI::App* admin, CommandList& commands) {
  CLI::App* org = admin->add_subcommand("org", "Organisations");
  org->require_subcommand(1);

  auto create_flags = std::make_shared<OrgCreateFlags>();
  CLI::App* create = commands.Add(
      org, "create", "Create an organisation",
      [create_flags](Context& c) { return OrgCreate(c, *create_flags); });
  create->add_option("NAME", create_flags->name, "Its name")->required();
  create->add_flag("--no-secure", create_flags->no_secure,
                   "Create it without secure playback");

  auto update_flags = std::make_shared<OrgUpdateFlags>();
  CLI::App* update = commands.Add(
      org, "update", "Change an organisation",
      [update_flags](Context& c) { return OrgUpdate(c, *update_flags); });
  update->add_option("ORG_ID", update_flags->org, "The organisation")
      ->required();
  update->add_option("--secure", update_flags->secure,
                     "Enable (true) or disable (false) secure playback");
  update->add_option("--name", update_flags->name, "A new name");

  commands.Add(org, "list", "List organisations",
               [](Context& c) { return OrgList(c); });
}

void AddApiKeyCommands(CLI::App* admin, CommandList& commands) {
  CLI::App* key = admin->add_subcommand("key", "API keys");
  key->require_subcommand(1);

  auto create_flags = std::make_shared<KeyCreateFlags>();
  CLI::App* create = commands.Add(
      key, "create", "Create an API key (the secret is shown once)",
      [create_flags](Context& c) { return KeyCreate(c, *create_flags); });
  create->add_option("--org", create_flags->org,
                     "The organisation (required for issuer and auditor "
                     "keys)");
  create
      ->add_option("--role", create_flags->role,
                   "admin, issuer, verifier or auditor")
      ->required();

  auto list_flags = std::make_shared<KeyListFlags>();
  CLI::App* list = commands.Add(
      key, "list", "List API keys",
      [list_flags](Context& c) { return KeyList(c, *list_flags); });
  list->add_option("--org", list_flags->org, "Only keys of this organisation");
  list->add_flag("--include-revoked", list_flags->include_revoked,
                 "Also list revoked keys");

  auto revoke_flags = std::make_shared<KeyRevokeFlags>();
  CLI::App* revoke = commands.Add(
      key, "revoke", "Revoke an API key",
      [revoke_flags](Context& c) { return KeyRevoke(c, *revoke_flags); });
  revoke->add_option("KEY_ID", revoke_flags->key_id, "The API key's ID")
      ->required();
}

}  // namespace

void AddAdminCommands(CLI::App& app, CommandList& commands) {
  CLI::App* admin = app.add_subcommand("admin", "Organisations and API keys");
  admin->require_subcommand(1);
  AddOrgCommands(admin, commands);
  AddApiKeyCommands(admin, commands);
}

}  // namespace token_authority::client::tokenctl
