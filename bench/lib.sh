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
