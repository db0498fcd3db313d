# bench/lib.sh - shell functions the bench scripts share (sourced from the
# repository root: `. bench/lib.sh`).

# smtpsd_bench_conf DIR PORT CERT KEY - the smtpsd configuration every
# bench run starts from: spool and Maildir under DIR, 2 workers, one mx
# listener on 127.0.0.1:PORT, demo@example.test, no per-IP or total
# connection limit in the way of the load.  The caller appends its own
# inbound-checks (and resolver) lines.
smtpsd_bench_conf() {
	printf '%s\n' \
	    "hostname mx.example.test" \
	    "spool-dir $1/spool" \
	    "mail-dir $1/mail" \
	    "workers 2" \
	    "listen 127.0.0.1:$2 mx" \
	    "certificate $3 $4" \
	    "local-domain example.test" \
	    "mailbox demo@example.test" \
	    "max-connections-per-ip 20000" \
	    "max-connections 20000"
}

# bench_cert DIR - a self-signed RSA-2048 certificate for mx.example.test
# made for this run: DIR/cert.pem (0644) and DIR/key.pem (0600)
bench_cert() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
	    -subj /CN=mx.example.test \
	    -addext "subjectAltName=DNS:mx.example.test" \
	    -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
	chmod 644 "$1/cert.pem"
	chmod 600 "$1/key.pem"
}

# wait_port PORT - true once something listens on TCP PORT (10 s)
wait_port() {
	i=0
	while [ $i -lt 100 ]; do
		ss -ltnH "sport = :$1" 2>/dev/null | grep -q . && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# sched_tree -b|-o PID - every thread of PID and of its children to
# SCHED_BATCH (-b) or SCHED_OTHER (-o); children forked later inherit it
sched_tree() {
	for p in $2 $(pgrep -P "$2"); do
		chrt "$1" -a -p 0 "$p" >/dev/null
	done
}
