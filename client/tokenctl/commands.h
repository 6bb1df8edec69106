// The command groups of tokenctl (internal to tokenctl). Each adds its
// subcommands, with flags of its own, to the root command and `commands`;
// tokenctl.cc calls them in this order, which is the order of --help.
#ifndef CLIENT_TOKENCTL_COMMANDS_H_
#define CLIENT_TOKENCTL_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "client/tokenctl/command.h"

namespace token_authority::client::tokenctl {

// issue, get, list, decode, verify, revoke, revoke-bulk (tokens.cc; list
// and revoke-bulk through the two below).
void AddTokenCommands(CLI::App& app, CommandList& commands);

// list (token_lists.cc).
void AddListCommand(CLI::App& app, CommandList& commands);

// revoke-bulk (token_lists.cc).
void AddRevokeBulkCommand(CLI::App& app, CommandList& commands);

// keys list|rotate|jwks (keys.cc).
void AddKeyCommands(CLI::App& app, CommandList& commands);

// audit (audit.cc).
void AddAuditCommand(CLI::App& app, CommandList& commands);

// admin org create|update|list, admin key create|list|revoke (admin.cc).
void AddAdminCommands(CLI::App& app, CommandList& commands);

// dialog PAGE_PATH (dialog_command.cc).
void AddDialogCommand(CLI::App& app, CommandList& commands);

}  // namespace token_authority::client::tokenctl

#endif  // CLIENT_TOKENCTL_COMMANDS_H_
