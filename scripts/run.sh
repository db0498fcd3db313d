#!/bin/sh
# run.sh - what `make run` does after building: prepare var/ on first start
# (self-signed certificate, default config, demo user and mailbox), then
# start smtpsd in the foreground on loopback.  Extra arguments go to smtpsd.
set -e
cd "$(dirname "$0")/.."
BIN=build/smtpsd
VAR=var

mkdir -p "$VAR/tls"
if [ ! -f "$VAR/tls/cert.pem" ] || [ ! -f "$VAR/tls/key.pem" ]; then
	echo "smtpsd: creating a self-signed certificate in $VAR/tls/"
	umask 077
	openssl req -x509 -newkey rsa:2048 -nodes -days 825 \
		-keyout "$VAR/tls/key.pem" -out "$VAR/tls/cert.pem" \
		-subj "/CN=mx.example.test" \
		-addext "subjectAltName=DNS:mx.example.test,DNS:localhost,IP:127.0.0.1" \
		2>/dev/null
	umask 022
fi
if [ ! -f "$VAR/smtpsd.conf" ]; then
	echo "smtpsd: writing the default configuration to $VAR/smtpsd.conf"
	"$BIN" --print-default-config > "$VAR/smtpsd.conf"
fi
if [ ! -f "$VAR/demo-password" ]; then
	(umask 077; head -c 15 /dev/urandom | base64 | tr -d '/+=' \
		> "$VAR/demo-password")
fi
if [ ! -f "$VAR/passwd" ]; then
	(umask 077; printf 'demo@example.test:%s\n' \
		"$("$BIN" --hash-password < "$VAR/demo-password")" > "$VAR/passwd")
fi
mkdir -p "$VAR/mail/example.test/demo/cur" "$VAR/mail/example.test/demo/new" \
	"$VAR/mail/example.test/demo/tmp"

cat <<BANNER
smtpsd: working directory $(pwd)/$VAR
  mx          127.0.0.1:10025  STARTTLS, mail for localhost and example.test
  submissions 127.0.0.1:10465  implicit TLS, AUTH required
  submission  127.0.0.1:10587  STARTTLS, AUTH required (also 127.0.0.1:2525)
  demo user   demo@example.test, password in $VAR/demo-password
  mailbox     $VAR/mail/example.test/demo/new/

Send a test message over STARTTLS (paste into another terminal):
  swaks --server 127.0.0.1:10025 --tls --from someone@localhost --to demo@example.test
Or submit one as the demo user:
  swaks --server 127.0.0.1:10587 --tls --auth PLAIN --auth-user demo@example.test --auth-password "\$(cat $(pwd)/$VAR/demo-password)" --from demo@example.test --to demo@example.test

BANNER
exec "$BIN" -c "$VAR/smtpsd.conf" --foreground "$@"
