#include "storage/key_encryption_key.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace token_authority::storage {
namespace {

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

std::string ErrnoText(int err) { return std::strerror(err); }

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Reads at most `max` bytes.
absl::StatusOr<std::string> ReadSmallFile(int fd, const std::string& path,
                                          size_t max) {
  std::string data;
  char buf[64];
  while (data.size() <= max) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::FailedPreconditionError(
          absl::StrCat("key-encryption key file ", path,
                       ": cannot read: ", ErrnoText(errno)));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::FailedPreconditionError(
          absl::StrCat("key-encryption key file ", path,
                       ": cannot write: ", ErrnoText(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<KeyEncryptionKey> KeyEncryptionKey::Load(
    const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("key-encryption key file ", path, " does not exist"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "key-encryption key file ", path, ": cannot open: ", ErrnoText(err)));
  }
  TA_ASSIGN_OR_RETURN(std::string data,
                      ReadSmallFile(fd.get(), path, kKeyLength));
  if (data.size() != kKeyLength) {
    return absl::FailedPreconditionError(
        absl::StrCat("key-encryption key file ", path, ": holds ",
                     data.size() > kKeyLength ? "more than " : "",
                     data.size() > kKeyLength ? kKeyLength : data.size(),
                     " bytes, expected exactly ", kKeyLength));
  }
  return KeyEncryptionKey(std::move(data), /*created=*/false);
}

absl::StatusOr<KeyEncryptionKey> KeyEncryptionKey::LoadOrCreate(
    const std::string& path, RandomSource& random) {
  absl::StatusOr<KeyEncryptionKey> loaded = Load(path);
  if (loaded.ok() || !absl::IsNotFound(loaded.status())) return loaded;

  std::string key(kKeyLength, '\0');
  TA_RETURN_IF_ERROR(random.Fill(
      absl::MakeSpan(reinterpret_cast<uint8_t*>(key.data()), key.size())));
  // Write to a temporary name, fsync, then link into place: the final name
  // never holds a partial key, and an existing file is never replaced
  // (link fails with EEXIST).
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  ::unlink(tmp.c_str());
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("key-encryption key file ", path,
                       ": cannot create: ", ErrnoText(errno)));
    }
    absl::Status st = WriteAll(fd.get(), key, path);
    if (st.ok() && ::fsync(fd.get()) != 0) {
      st = absl::FailedPreconditionError(absl::StrCat(
          "key-encryption key file ", path, ": fsync: ", ErrnoText(errno)));
    }
    if (!st.ok()) {
      ::unlink(tmp.c_str());
      return st;
    }
  }
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST) return Load(path);  // lost a race: use the winner's
    return absl::FailedPreconditionError(absl::StrCat(
        "key-encryption key file ", path, ": cannot create: ", ErrnoText(err)));
  }
  ::unlink(tmp.c_str());
  Fd dir(::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
  return KeyEncryptionKey(std::move(key), /*created=*/true);
}

absl::StatusOr<KeyEncryptionKey> KeyEncryptionKey::FromBytes(
    absl::string_view bytes) {
  if (bytes.size() != kKeyLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("key_encryption_key: must be exactly ", kKeyLength,
                     " bytes, got ", bytes.size()));
  }
  return KeyEncryptionKey(std::string(bytes), /*created=*/false);
}

std::string KeyEncryptionKey::Fingerprint() const {
  static constexpr absl::string_view kLabel = "token-authority kek id";
  unsigned char digest[EVP_MAX_MD_SIZE];
  std::string input = absl::StrCat(kLabel, key_);
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha256(), nullptr);
  OPENSSL_cleanse(input.data(), input.size());
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), 8));
}

absl::StatusOr<std::string> KeyEncryptionKey::Seal(
    absl::string_view plaintext, absl::string_view associated_data,
    RandomSource& random) const {
  std::string out(kNonceLength + plaintext.size() + kTagLength, '\0');
  auto* nonce = reinterpret_cast<uint8_t*>(out.data());
  TA_RETURN_IF_ERROR(random.Fill(absl::MakeSpan(nonce, kNonceLength)));
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceLength,
                          nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr,
                         reinterpret_cast<const uint8_t*>(key_.data()),
                         nonce) != 1 ||
      EVP_EncryptUpdate(
          ctx.get(), nullptr, &len,
          reinterpret_cast<const uint8_t*>(associated_data.data()),
          static_cast<int>(associated_data.size())) != 1 ||
      EVP_EncryptUpdate(
          ctx.get(), reinterpret_cast<uint8_t*>(out.data()) + kNonceLength,
          &len, reinterpret_cast<const uint8_t*>(plaintext.data()),
          static_cast<int>(plaintext.size())) != 1 ||
      static_cast<size_t>(len) != plaintext.size() ||
      EVP_EncryptFinal_ex(
          ctx.get(),
          reinterpret_cast<uint8_t*>(out.data()) + kNonceLength + len,
          &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagLength,
                          out.data() + kNonceLength + plaintext.size()) != 1) {
    return absl::InternalError("AES-256-GCM encryption failed");
  }
  return out;
}

absl::StatusOr<std::string> KeyEncryptionKey::Open(
    absl::string_view sealed, absl::string_view associated_data) const {
  if (sealed.size() < kNonceLength + kTagLength) {
    return absl::DataLossError("sealed key: too short");
  }
  const size_t n = sealed.size() - kNonceLength - kTagLength;
  std::string out(n, '\0');
  std::string tag(sealed.substr(kNonceLength + n));
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceLength,
                          nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr,
                         reinterpret_cast<const uint8_t*>(key_.data()),
                         reinterpret_cast<const uint8_t*>(sealed.data())) !=
          1 ||
      EVP_DecryptUpdate(
          ctx.get(), nullptr, &len,
          reinterpret_cast<const uint8_t*>(associated_data.data()),
          static_cast<int>(associated_data.size())) != 1 ||
      EVP_DecryptUpdate(
          ctx.get(), reinterpret_cast<uint8_t*>(out.data()), &len,
          reinterpret_cast<const uint8_t*>(sealed.data()) + kNonceLength,
          static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagLength,
                          tag.data()) != 1) {
    return absl::InternalError("AES-256-GCM decryption failed");
  }
  if (EVP_DecryptFinal_ex(
          ctx.get(), reinterpret_cast<uint8_t*>(out.data()) + len, &len) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return absl::DataLossError(
        "sealed key: authentication failed (wrong key-encryption key or "
        "tampered data)");
  }
  return out;
}

}  // namespace token_authority::storage
