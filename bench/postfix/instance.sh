#!/bin/sh
# bench/postfix/instance.sh - a private Postfix instance for the benchmark.
#
#   instance.sh setup DIR PORT CERT KEY   write DIR/etc/{main,master}.cf,
#                                         the queue, data and Maildir trees
#   instance.sh start DIR                 start it (postfix -c DIR/etc start)
#   instance.sh pid DIR                   print the master's pid
#   instance.sh stop DIR                  stop it (and make sure it is gone)
#
# The instance has its own config_directory, queue_directory and
# data_directory under DIR, listens only on 127.0.0.1:PORT, does no DNS and
# delivers demo@example.test to DIR/mail/example.test/demo/ (Maildir), so it
# never touches a system Postfix or port 25.  Needs root (Postfix's master
# runs as root and drops to the postfix user the Debian package created).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
	echo "usage: $0 setup|start|pid|stop DIR [PORT CERT KEY]" >&2
	exit 2
}

# The delivery user: nobody, which Postfix's virtual agent accepts
# (uid >= virtual_minimum_uid) and which owns nothing else we care about.
vuid=$(id -u nobody)
vgid=$(id -g nobody)

case "$cmd" in
setup)
	port=$3 cert=$4 key=$5
	mkdir -p "$dir/etc" "$dir/queue" "$dir/data" \
	    "$dir/mail/example.test/demo/tmp" "$dir/mail/example.test/demo/new" \
	    "$dir/mail/example.test/demo/cur"
	chmod 755 "$dir" "$dir/etc" "$dir/mail"
	chown -R "$vuid:$vgid" "$dir/mail"
	chown postfix "$dir/data"
	sed -e "s|@DIR@|$dir|g" -e "s|@UID@|$vuid|g" -e "s|@GID@|$vgid|g" \
	    -e "s|@CERT@|$cert|g" -e "s|@KEY@|$key|g" \
	    "$here/main.cf.in" >"$dir/etc/main.cf"
	sed -e "s|@PORT@|$port|g" "$here/master.cf.in" >"$dir/etc/master.cf"
	printf 'demo@example.test example.test/demo/\n' >"$dir/etc/vmailbox"
	# Postfix reads the key as root before dropping privileges.
	chmod 644 "$cert"
	chmod 600 "$key"
	# Creates the queue directories with Postfix's owners and modes.
	postfix -c "$dir/etc" check
	;;
start)
	postfix -c "$dir/etc" start
	# Wait (bounded) until the master has written its pid.
	i=0
	while [ $i -lt 100 ]; do
		[ -s "$dir/queue/pid/master.pid" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$dir/queue/pid/master.pid" ]
	;;
pid)
	tr -d ' \n' <"$dir/queue/pid/master.pid"
	echo
	;;
stop)
	pid=$(tr -d ' \n' <"$dir/queue/pid/master.pid" 2>/dev/null || true)
	postfix -c "$dir/etc" stop 2>/dev/null || true
	# postfix stop returns before the master has gone; wait, bounded.
	i=0
	while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null || true
	fi
	;;
*)
	echo "$0: unknown command $cmd" >&2
	exit 2
	;;
esac
