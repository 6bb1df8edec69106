#!/usr/bin/python3
"""Interoperability of the token core with PyJWT (Debian's python3-jwt).

Run by ctest with Debian's /usr/bin/python3:  pyjwt_interop.py TOKEN_INTEROP_BINARY

1. The core signs ES256, RS256, EdDSA and HS256 tokens; PyJWT verifies each one
   with the key it finds (by kid) in the core's exported JWK Set (HS256 with the
   secret handed over privately) and checks the claims.
2. PyJWT signs tokens with keys made here by `cryptography`, publishes their
   JWK Set (and the HS256 secret privately); the core verifies each one.
"""
import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

try:
    import jwt  # PyJWT
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
except ImportError as e:  # pragma: no cover
    sys.exit(f"pyjwt_interop: needs Debian's python3-jwt and python3-cryptography "
             f"(run with /usr/bin/python3): {e}")

ORG = "interop-org"
FAILURES = []
# How long one run of the core's binary may take before it counts as hung:
# 60 s times TA_TEST_TIME_SCALE (3 in sanitizer builds; ctest sets it from
# cmake/TaTargets.cmake). On expiry the binary is killed and the check fails.
TIME_SCALE = int(os.environ.get("TA_TEST_TIME_SCALE") or "1")
BINARY_TIMEOUT = 60 * TIME_SCALE


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)


def run_core(args):
    """Runs the core's binary; its CompletedProcess, or None if it hung."""
    try:
        return subprocess.run(args, timeout=BINARY_TIMEOUT)
    except subprocess.TimeoutExpired:  # subprocess.run killed it
        check(False, f"{' '.join(args)} did not exit within {BINARY_TIMEOUT} s")
        return None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def core_to_pyjwt(binary, workdir):
    signed = run_core([binary, "sign", workdir])
    if signed is None or signed.returncode != 0:
        check(False, f"{binary} sign exited with "
                     f"{'a timeout' if signed is None else signed.returncode}")
        return
    with open(os.path.join(workdir, "core_jwks.json")) as f:
        jwks = json.load(f)
    with open(os.path.join(workdir, "core_tokens.json")) as f:
        tokens = json.load(f)
    with open(os.path.join(workdir, "core_hs256.jwk")) as f:
        oct_jwk = json.load(f)
    check(oct_jwk["kid"] not in json.dumps(jwks), "HS256 key absent from the core's JWKS")
    check(all("d" not in k for k in jwks["keys"]), "no private members in the core's JWKS")
    check(len(jwks["keys"]) == 3, "core JWKS has ES256, RS256 and EdDSA keys")
    jwk_set = jwt.PyJWKSet.from_dict(jwks)
    by_kid = {k.key_id: k for k in jwk_set.keys}
    for alg, entry in sorted(tokens.items()):
        token = entry["jwt"]
        header = jwt.get_unverified_header(token)
        check(header.get("alg") == alg and header.get("typ") == "JWT"
              and header.get("kid") == entry["kid"], f"core {alg} header {header}")
        if alg == "HS256":
            key = base64.urlsafe_b64decode(oct_jwk["k"] + "=" * (-len(oct_jwk["k"]) % 4))
        else:
            if header["kid"] not in by_kid:
                check(False, f"core {alg}: kid {header['kid']} not in JWKS")
                continue
            key = by_kid[header["kid"]].key
        try:
            claims = jwt.decode(token, key=key, algorithms=[alg],
                                options={"require": ["exp", "iat", "nbf", "jti", "iss"]},
                                issuer="token-authority")
        except jwt.PyJWTError as e:
            check(False, f"PyJWT verifies core {alg}: {e!r}")
            continue
        check(claims == entry["claims"], f"PyJWT verifies core {alg}; claims equal")
        check(claims["org"] == ORG and len(base64.urlsafe_b64decode(claims["jti"] + "==")) == 16,
              f"core {alg}: org and 128-bit jti")
        # PyJWT refuses a tampered core token too.
        parts = token.split(".")
        forged = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        forged["org"] = "other-org"
        tampered = ".".join([parts[0], b64url(json.dumps(forged).encode()), parts[2]])
        try:
            jwt.decode(tampered, key=key, algorithms=[alg])
            check(False, f"PyJWT refuses tampered core {alg}")
        except jwt.InvalidSignatureError:
            check(True, f"PyJWT refuses tampered core {alg}")


def pyjwt_to_core(binary, workdir):
    now = int(time.time())
    keys = {
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }
    to_jwk = {"ES256": ECAlgorithm.to_jwk, "RS256": RSAAlgorithm.to_jwk,
              "EdDSA": OKPAlgorithm.to_jwk}
    jwks = {"keys": []}
    tokens = {}
    streams = {"ES256": "cam-1", "RS256": "cam-2", "EdDSA": "cam-3", "HS256": "cam-4"}
    for i, (alg, private_key) in enumerate(sorted(keys.items())):
        jwk = json.loads(to_jwk[alg](private_key.public_key()))
        jwk.update({"kid": f"py-{alg.lower()}-{i}", "alg": alg, "use": "sig"})
        jwks["keys"].append(jwk)
    hs_secret = secrets.token_bytes(32)
    oct_jwk = {"kty": "oct", "kid": "py-hs256", "alg": "HS256", "k": b64url(hs_secret)}
    signing = dict(keys)
    signing["HS256"] = hs_secret
    kids = {k["alg"]: k["kid"] for k in jwks["keys"]}
    kids["HS256"] = "py-hs256"
    for alg, key in signing.items():
        payload = {
            "iss": "pyjwt",
            "jti": b64url(secrets.token_bytes(16)),
            "iat": now,
            "nbf": now - 5,
            "exp": now + 600,
            "org": ORG,
            "streams": [streams[alg], "other"],
            "ip": "198.51.100.0/24",
            "domain": "*.example.com",
            "user": "viewer",
            "aud": "ignored-by-the-core",
        }
        token = jwt.encode(payload, key, algorithm=alg,
                           headers={"kid": kids[alg], "typ": "JWT"})
        tokens[alg] = {"jwt": token, "stream": streams[alg]}
    with open(os.path.join(workdir, "py_jwks.json"), "w") as f:
        json.dump(jwks, f)
    fd = os.open(os.path.join(workdir, "py_hs256.jwk"), os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(oct_jwk, f)
    with open(os.path.join(workdir, "py_tokens.json"), "w") as f:
        json.dump(tokens, f)
    result = run_core([binary, "verify", workdir])
    check(result is not None and result.returncode == 0,
          "core verifies PyJWT ES256, RS256, EdDSA, HS256 tokens "
          "(and refuses tampered copies)")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: pyjwt_interop.py TOKEN_INTEROP_BINARY")
    print(f"PyJWT {jwt.__version__}")
    with tempfile.TemporaryDirectory(prefix="ta-interop-") as workdir:
        core_to_pyjwt(sys.argv[1], workdir)
        pyjwt_to_core(sys.argv[1], workdir)
    if FAILURES:
        print(f"{len(FAILURES)} interop check(s) failed")
        return 1
    print("all interop checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
