#!/bin/sh
# Regenerates the PKCS#12/PFX fixtures of tests/it/credentials.rs (test keys, valid 100 years).
# Run once by hand with OpenSSL 3 (`sh make.sh` in this directory); CI reads the committed files.
set -eu
PW=entrasync-test
openssl req -x509 -newkey rsa:2048 -nodes -keyout app.key -out app.crt -days 36500 -subj "/CN=entrasync-pfx-test"
# Modern (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC), with and without (empty) password.
openssl pkcs12 -export -inkey app.key -in app.crt -out app-aes.pfx -passout "pass:$PW"
openssl pkcs12 -export -inkey app.key -in app.crt -out app-empty-password.pfx -passout pass:
# Legacy 3DES (what Windows and older tools export).
openssl pkcs12 -export -inkey app.key -in app.crt -out app-3des.pfx -passout "pass:$PW" \
  -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1
# OpenSSL's -legacy: certificates under RC2-40, the key under 3DES.
openssl pkcs12 -export -legacy -inkey app.key -in app.crt -out app-rc2.pfx -passout "pass:$PW"
# No encryption and no MAC at all.
openssl pkcs12 -export -inkey app.key -in app.crt -out app-unencrypted.pfx -passout pass: \
  -keypbe NONE -certpbe NONE -nomac
# Errors: an MD5-based scheme (unsupported), no private key, an EC key.
openssl pkcs12 -export -legacy -inkey app.key -in app.crt -out app-md5-des.pfx -passout "pass:$PW" \
  -keypbe PBE-MD5-DES -certpbe PBE-MD5-DES
openssl pkcs12 -export -nokeys -in app.crt -out cert-only.pfx -passout "pass:$PW"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key -out ec.crt \
  -days 36500 -subj "/CN=entrasync-ec-test"
openssl pkcs12 -export -inkey ec.key -in ec.crt -out ec.pfx -passout "pass:$PW"
# A leaf issued by a CA, the bundle carrying both (subject name + issuer authentication).
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 36500 \
  -subj "/CN=Entrasync Test CA/O=Entrasync Tests" -addext "basicConstraints=critical,CA:TRUE"
openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj "/CN=sni.entrasync.test"
openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out leaf.crt -days 36500
openssl pkcs12 -export -inkey leaf.key -in leaf.crt -certfile ca.crt -out chain.pfx -passout "pass:$PW"
rm -f app.key ec.key ec.crt ca.key ca.srl leaf.key leaf.csr
