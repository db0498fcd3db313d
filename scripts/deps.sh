#!/bin/sh
# deps.sh - install the Debian 12 packages smtpsd needs to build, run and test.
# As root, missing packages are installed; otherwise the exact apt-get line is
# printed and the script fails.
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev libssl-dev openssl \
libevent-dev libunbound-dev libpsl-dev publicsuffix libsqlite3-dev sqlite3 \
libcrypt-dev libcurl4-openssl-dev libidn2-dev libgnutls28-dev \
python3 python3-pytest python3-yaml python3-dkim python3-spf python3-authres python3-dnspython python3-cryptography \
swaks libnet-ssleay-perl postfix nsd opendkim opendkim-tools opendmarc postfix-policyd-spf-python \
procps iproute2 strace libopendkim-dev libspf2-dev"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "smtpsd: missing Debian packages. Run as root:" >&2
	echo "  apt-get install -y$missing" >&2
	exit 1
fi
echo "smtpsd: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Postfix is only a test peer and benchmark partner: it must not take port 25
# or start on its own at install time.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends $missing >/dev/null
