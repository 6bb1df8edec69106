// The key-encryption key (KEK): 32 random bytes in a file of their own
// (mode 0600), used to encrypt signing keys at rest with AES-256-GCM.
#ifndef STORAGE_KEY_ENCRYPTION_KEY_H_
#define STORAGE_KEY_ENCRYPTION_KEY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/random.h"

namespace token_authority::storage {

// An immutable 256-bit AES-GCM key. Copyable; thread-safe (const methods).
class KeyEncryptionKey {
 public:
  static constexpr size_t kKeyLength = 32;
  static constexpr size_t kNonceLength = 12;
  static constexpr size_t kTagLength = 16;

  // Reads the key from `path`. NotFound if the file does not exist;
  // FailedPrecondition (naming the path) if it cannot be read or does not
  // hold exactly 32 bytes.
  static absl::StatusOr<KeyEncryptionKey> Load(const std::string& path);

  // Load(path) if the file exists; otherwise creates it (O_EXCL, mode 0600,
  // fsynced, together with its directory entry) with 32 bytes from `random`.
  // Never replaces an existing file. `created()` tells which happened.
  static absl::StatusOr<KeyEncryptionKey> LoadOrCreate(const std::string& path,
                                                       RandomSource& random);

  // A key from raw bytes (tests, tools). InvalidArgument unless 32 bytes.
  static absl::StatusOr<KeyEncryptionKey> FromBytes(absl::string_view bytes);

  // True if LoadOrCreate created the file.
  bool created() const { return created_; }

  // A short public identifier: hex of the first 8 bytes of
  // SHA-256("token-authority kek id" || key). Safe to log and store.
  std::string Fingerprint() const;

  // nonce(12) || ciphertext || tag(16), with `associated_data` authenticated.
  // Internal on an OpenSSL failure.
  absl::StatusOr<std::string> Seal(absl::string_view plaintext,
                                   absl::string_view associated_data,
                                   RandomSource& random) const;
  // Inverse of Seal. DataLoss if the input is too short or the GCM tag does
  // not verify (wrong key, wrong associated data, or tampering).
  absl::StatusOr<std::string> Open(absl::string_view sealed,
                                   absl::string_view associated_data) const;

 private:
  KeyEncryptionKey(std::string key, bool created)
      : key_(std::move(key)), created_(created) {}

  std::string key_;
  bool created_ = false;
};

}  // namespace token_authority::storage

#endif  // STORAGE_KEY_ENCRYPTION_KEY_H_
