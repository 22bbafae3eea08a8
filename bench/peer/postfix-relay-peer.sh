#!/usr/bin/env bash
# postfix-relay-peer.sh: the like-for-like peer of carepost's delivery
# benchmark. A private Postfix instance on loopback relays N messages, signed
# by OpenDKIM (RSA-2048, relaxed/relaxed) as a milter, over verified STARTTLS
# to a loopback capture sink; Postfix's smtp-source injects them.
#
#   bench/peer/postfix-relay-peer.sh [N [CONCURRENCY [SIZE]]]   (500 20 5120)
#
#   smtp-source --SMTP--> postfix smtpd 127.0.0.1:$PEER_PORT (+ OpenDKIM milter)
#               -> queue (fsync per message) -> postfix smtp client
#               --STARTTLS, certificate verified for "localhost"-->
#               tests/support/smtp_sink.py 127.0.0.1:$SINK_PORT (stores N.eml)
#
# rate = N / (time from the start of injection to the N-th message stored by
# the sink). After the run it checks that every message came over TLS and
# that the first few DKIM signatures verify (python3-dkim), so a fast but
# wrong run cannot pass. Prints one line; exit 0 only if all N arrived.
#
# Environment: PEER_PORT [12625] SINK_PORT [12626] DKIM_PORT [12691]
#   DKIM=0  no milter     TLS=0  plain relay     TIMEOUT [300] s, at most 1800
#   WORK_DIR [/tmp/carepost-relay-peer]  (emptied at start, kept for reading;
#   the OpenDKIM key and config go to /run/carepost-relay-peer-$DKIM_PORT)
# Postfix keeps its stock tuning (in_flow_delay 1s, concurrency 20, no TLS
# connection reuse): the peer is what an operator gets. Runs as root; needs
# postfix, opendkim, opendkim-tools, openssl, /usr/bin/python3 with dkim.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SUPPORT=$REPO/tests/support
N=${1:-500}
CONCURRENCY=${2:-20}
SIZE=${3:-5120}
PEER_PORT=${PEER_PORT:-12625}
SINK_PORT=${SINK_PORT:-12626}
DKIM_PORT=${DKIM_PORT:-12691}
DKIM=${DKIM:-1}
TLS=${TLS:-1}
TIMEOUT=${TIMEOUT:-300}
WORK_DIR=${WORK_DIR:-/tmp/carepost-relay-peer}
DKIM_DIR=/run/carepost-relay-peer-$DKIM_PORT
SENDER=bench@carepost.test
RECIPIENT=patient@clinic.test
DKIM_CHECK_COUNT=5

SINK_PID=""
OPENDKIM_PID=""
POSTFIX_STARTED=0

die() {
    echo "postfix-relay-peer: $*" >&2
    exit 1
}

cleanup() {
    local status=$?
    set +e
    if [ "$POSTFIX_STARTED" = 1 ]; then
        postfix -c "$WORK_DIR/etc" stop >/dev/null 2>&1
        local pid
        pid=$(tr -d ' ' <"$WORK_DIR/spool/pid/master.pid" 2>/dev/null)
        for _ in $(seq 100); do
            if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
                break
            fi
            sleep 0.1
        done
    fi
    for pid in "$SINK_PID" "$OPENDKIM_PID"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            wait "$pid" 2>/dev/null
        fi
    done
    exit "$status"
}

port_accepts() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for_port() {
    local i
    for ((i = 0; i < 150; i++)); do
        port_accepts "$1" && return 0
        sleep 0.1
    done
    return 1
}

now() { date +%s.%N; }

check_arguments() {
    [[ "$N$CONCURRENCY$SIZE" =~ ^[0-9]+$ ]] || die "N, CONCURRENCY and SIZE are numbers"
    if [ "$N" -lt 1 ] || [ "$N" -gt 100000 ]; then
        die "N must be 1..100000"
    fi
    [ "$TIMEOUT" -le 1800 ] || die "TIMEOUT must be at most 1800 s"
    [ "$(id -u)" -eq 0 ] || die "run as root"
    local tool
    for tool in postfix smtp-source opendkim opendkim-genkey openssl; do
        command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh)"
    done
    local port
    for port in "$PEER_PORT" "$SINK_PORT" "$DKIM_PORT"; do
        port_accepts "$port" && die "127.0.0.1:$port is in use"
    done
    return 0
}

start_opendkim() {
    # OpenDKIM refuses a config or key on a path that others may write, as
    # /tmp is: its files live in a root-owned folder under /run.
    local dir=$DKIM_DIR
    rm -rf "$dir"
    mkdir -p "$dir"
    ln -sfn "$dir" "$WORK_DIR/dkim"
    opendkim-genkey -b 2048 -d carepost.test -s peer -D "$dir"
    # OpenDKIM refuses a key that others can read; it runs as user opendkim.
    chown -R opendkim:opendkim "$dir"
    chmod 700 "$dir"
    chmod 600 "$dir/peer.private"
    cat >"$dir/opendkim.conf" <<EOF
Syslog no
Mode s
Domain carepost.test
Selector peer
KeyFile $dir/peer.private
Canonicalization relaxed/relaxed
SignatureAlgorithm rsa-sha256
InternalHosts 127.0.0.1
Socket inet:$DKIM_PORT@127.0.0.1
UserID opendkim
EOF
    opendkim -f -x "$dir/opendkim.conf" >"$WORK_DIR/opendkim.out" 2>&1 &
    OPENDKIM_PID=$!
    wait_for_port "$DKIM_PORT" || die "opendkim did not listen: $(tail -3 "$WORK_DIR/opendkim.out")"
}

start_sink() {
    local tls_options=()
    if [ "$TLS" = 1 ]; then
        "$SUPPORT/make-ca.sh" "$WORK_DIR/ca" issue sink DNS:localhost IP:127.0.0.1 >/dev/null
        tls_options=(--tls-cert "$WORK_DIR/ca/sink.crt" --tls-key "$WORK_DIR/ca/sink.key")
    fi
    /usr/bin/python3 "$SUPPORT/smtp_sink.py" --port "$SINK_PORT" --dir "$WORK_DIR/sink" \
        --max-messages "$N" --max-seconds "$TIMEOUT" "${tls_options[@]}" \
        >"$WORK_DIR/sink.out" 2>&1 &
    SINK_PID=$!
    wait_for_port "$SINK_PORT" || die "sink did not listen: $(tail -3 "$WORK_DIR/sink.out")"
}

write_postfix_config() {
    local etc=$WORK_DIR/etc
    mkdir -p "$etc" "$WORK_DIR/spool" "$WORK_DIR/data" "$WORK_DIR/log"
    chown postfix "$WORK_DIR/data"
    chmod 755 "$WORK_DIR" "$etc" "$WORK_DIR/log"
    cat >"$etc/main.cf" <<EOF
# Benchmark relay peer (written by postfix-relay-peer.sh)
compatibility_level = 3.6
queue_directory = $WORK_DIR/spool
data_directory = $WORK_DIR/data
maillog_file = $WORK_DIR/log/maillog
maillog_file_prefixes = $WORK_DIR/log
syslog_name = relay-peer
myhostname = peer.carepost.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
relayhost = [localhost]:$SINK_PORT
smtputf8_enable = no
biff = no
milter_default_action = tempfail
smtpd_milters = $([ "$DKIM" = 1 ] && echo "inet:127.0.0.1:$DKIM_PORT")
EOF
    if [ "$TLS" = 1 ]; then
        # "secure" = encrypted and the certificate must name the next hop,
        # as carepost's tls_policy = "verified" demands.
        cat >>"$etc/main.cf" <<EOF
smtp_tls_security_level = secure
smtp_tls_secure_cert_match = nexthop
smtp_tls_CAfile = $WORK_DIR/ca/ca.crt
smtp_tls_session_cache_database = btree:\${data_directory}/smtp_scache
EOF
    else
        echo "smtp_tls_security_level = none" >>"$etc/main.cf"
    fi
    cat >"$etc/master.cf" <<EOF
127.0.0.1:$PEER_PORT inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
}

start_postfix() {
    write_postfix_config
    postfix -c "$WORK_DIR/etc" check >"$WORK_DIR/postfix.out" 2>&1 ||
        die "postfix check: $(tail -3 "$WORK_DIR/postfix.out")"
    postfix -c "$WORK_DIR/etc" start >>"$WORK_DIR/postfix.out" 2>&1 ||
        die "postfix start: $(tail -3 "$WORK_DIR/postfix.out")"
    POSTFIX_STARTED=1
    wait_for_port "$PEER_PORT" || die "postfix did not listen on $PEER_PORT"
}

# The time of the N-th stored message, from the sink's session log.
last_message_time() {
    /usr/bin/python3 - "$WORK_DIR/sink/sessions.log" "$N" <<'EOF'
import json, sys
times = [e["time"] for e in map(json.loads, open(sys.argv[1])) if e["event"] == "message"]
print(times[int(sys.argv[2]) - 1] if len(times) >= int(sys.argv[2]) else "")
EOF
}

# "tls=K/M dkim=V/C": TLS sessions among stored messages, DKIM checks passed.
verify_sample() {
    /usr/bin/python3 - "$WORK_DIR" "$DKIM" "$DKIM_CHECK_COUNT" <<'EOF'
import glob, json, os, re, sys
work, with_dkim, count = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
events = [e for e in map(json.loads, open(os.path.join(work, "sink/sessions.log")))
          if e["event"] == "message"]
tls = sum(1 for e in events if e.get("tls") in ("TLSv1.2", "TLSv1.3"))
result = "tls=%d/%d" % (tls, len(events))
if with_dkim:
    import dkim
    raw = open(os.path.join(work, "dkim/peer.txt")).read()
    txt = "".join(re.findall(r'"([^"]*)"', raw)).encode()
    files = sorted(glob.glob(os.path.join(work, "sink/*.eml")))[:count]
    good = sum(1 for f in files
               if dkim.verify(open(f, "rb").read(), dnsfunc=lambda name, timeout=5: txt))
    result += " dkim=%d/%d" % (good, len(files))
print(result)
EOF
}

main() {
    check_arguments
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    if [ -e "$WORK_DIR" ] && [ ! -e "$WORK_DIR/.relay-peer" ]; then
        die "$WORK_DIR exists and was not made by this script"
    fi
    rm -rf "${WORK_DIR:?}"
    mkdir -p "$WORK_DIR"
    touch "$WORK_DIR/.relay-peer"

    [ "$DKIM" = 1 ] && start_opendkim
    start_sink
    start_postfix
    sleep 0.5

    local t0 source_status=0
    t0=$(now)
    timeout "$TIMEOUT" smtp-source -s "$CONCURRENCY" -m "$N" -l "$SIZE" \
        -M client.carepost.test -f "$SENDER" -t "$RECIPIENT" "127.0.0.1:$PEER_PORT" \
        >/dev/null 2>"$WORK_DIR/smtp-source.err" || source_status=$?
    # The sink exits by itself after N messages or at TIMEOUT.
    wait "$SINK_PID" || true
    SINK_PID=""

    local stored t_last rate wall sample
    stored=$(find "$WORK_DIR/sink" -name '*.eml' | wc -l)
    t_last=$(last_message_time)
    sample=$(verify_sample)
    if [ -n "$t_last" ]; then
        wall=$(awk -v a="$t0" -v b="$t_last" 'BEGIN { printf "%.2f", b - a }')
        rate=$(awk -v n="$N" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
    else
        wall=timeout
        rate=0
    fi
    printf 'postfix-relay-peer n=%d conc=%d size=%d tls=%s dkim=%s: %s msg/s, wall %s s ' \
        "$N" "$CONCURRENCY" "$SIZE" "$([ "$TLS" = 1 ] && echo verified || echo off)" \
        "$([ "$DKIM" = 1 ] && echo rsa-2048 || echo off)" "$rate" "$wall"
    printf '(sink stored %d; %s; smtp-source exit %d)\n' "$stored" "$sample" "$source_status"
    [ "$stored" -ge "$N" ] && [ -n "$t_last" ]
}

main "$@"
