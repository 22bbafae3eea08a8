#!/usr/bin/env bash
# postfix-relay-peer.sh: the like-for-like peer of carepost's delivery
# benchmark. A private Postfix instance on loopback relays N messages, signed
# by OpenDKIM (RSA-2048, relaxed/relaxed) as a milter, over verified STARTTLS
# to loopback capture sinks (tests/support/smtp_sink.py).
#
#   bench/peer/postfix-relay-peer.sh [N [CONCURRENCY [SIZE]]]   (500 20 5120)
#
#   injector --SMTP--> postfix smtpd 127.0.0.1:$PEER_PORT (+ OpenDKIM milter)
#               -> queue (fsync per message) -> postfix smtp client
#               --STARTTLS, certificate verified for "localhost"-->
#               smtp_sink.py 127.0.0.1:$SINK_PORT.. (one per sink, N.eml)
#
# MODE=relay (default): Postfix's smtp-source injects N synthetic messages of
#   SIZE octets (one smtp-source per domain, CONCURRENCY sessions in all);
#   rate = N / (start of injection .. N-th message stored by the sinks).
# MODE=drain: the N messages are first injected and put on hold (after the
#   milter signed them), then released at once (postsuper -H, postqueue -f);
#   rate = N / (release .. N-th message stored). This is the queue-to-sink
#   rate, the figure to set beside carepost's "accepted to delivered"; it
#   leaves DKIM signing out of the timed part (it happened at injection).
#   With REPLAY_DIRS (colon-separated smtp_sink.py output folders) the
#   messages replayed are exactly those, with their envelopes and without
#   their DKIM-Signature fields (bench/peer/replay.py); else smtp-source.
#
# DOMAINS=D spreads recipients over d0.test .. d(D-1).test (the names
# carepost's benchmark uses); DOMAINS=1 sends to patient@clinic.test. SINKS=K
# runs K sinks on SINK_PORT .. SINK_PORT+K-1; domain i goes to sink i % K
# through a transport map, so Postfix sees one next hop per sink.
# SINK_PROGRAM: another sink taking smtp_sink.py's options (the benchmark
# passes build-bench/bench_sink); default tests/support/smtp_sink.py.
#
# After the run it checks that every message came over TLS and that the
# first few DKIM signatures verify (python3-dkim), so a fast but wrong run
# cannot pass. Prints one line; exit 0 only if all N arrived.
#
# Environment: PEER_PORT [12625] SINK_PORT [12626] DKIM_PORT [12691]
#   DKIM=0  no milter     TLS=0  plain relay     TIMEOUT [300] s, at most 1800
#   DKIM_DOMAIN [carepost.test] the From domain OpenDKIM signs for
#   WORK_DIR [/tmp/carepost-relay-peer]  (emptied at start, kept for reading;
#   the OpenDKIM key and config go to /run/carepost-relay-peer-$DKIM_PORT,
#   removed at exit; the public record is kept as WORK_DIR/dkim-peer.txt)
# Postfix keeps its stock tuning (in_flow_delay 1s, concurrency 20, no TLS
# connection reuse): the peer is what an operator gets. Only MODE=drain sets
# in_flow_delay = 0, so that the untimed injection is not throttled by a
# queue manager that has nothing to deliver yet. Runs as root; needs
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
MODE=${MODE:-relay}
DOMAINS=${DOMAINS:-1}
SINKS=${SINKS:-1}
REPLAY_DIRS=${REPLAY_DIRS:-}
DKIM_DOMAIN=${DKIM_DOMAIN:-carepost.test}
SENDER=bench@$DKIM_DOMAIN
WORK_DIR=${WORK_DIR:-/tmp/carepost-relay-peer}
SINK_PROGRAM=${SINK_PROGRAM:-}
DKIM_DIR=/run/carepost-relay-peer-$DKIM_PORT
DKIM_CHECK_COUNT=5
POLL_SECONDS=0.2

SINK_PIDS=()
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
    for pid in "${SINK_PIDS[@]}" "$OPENDKIM_PID"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            wait "$pid" 2>/dev/null
        fi
    done
    [ -z "$OPENDKIM_PID" ] || rm -rf "$DKIM_DIR"
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

# Busy jiffies and all jiffies of the machine, from /proc/stat.
machine_ticks() {
    awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' \
        /proc/stat
}

# CPU seconds (user + system) the sinks used so far.
sinks_cpu_seconds() {
    local pid ticks=0
    for pid in "${SINK_PIDS[@]}"; do
        ticks=$((ticks + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
    done
    awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }'
}

# Recipient domain number I (0-based): the names carepost's benchmark uses.
domain_name() {
    if [ "$DOMAINS" = 1 ]; then
        echo clinic.test
    else
        echo "d$1.test"
    fi
}

check_arguments() {
    [[ "$N$CONCURRENCY$SIZE$DOMAINS$SINKS" =~ ^[0-9]+$ ]] ||
        die "N, CONCURRENCY, SIZE, DOMAINS and SINKS are numbers"
    if [ "$N" -lt 1 ] || [ "$N" -gt 100000 ]; then
        die "N must be 1..100000"
    fi
    if [ "$DOMAINS" -lt 1 ] || [ "$DOMAINS" -gt 100 ] || [ "$SINKS" -lt 1 ] ||
        [ "$SINKS" -gt 16 ]; then
        die "DOMAINS must be 1..100 and SINKS 1..16"
    fi
    [ "$CONCURRENCY" -ge "$DOMAINS" ] || die "CONCURRENCY must be at least DOMAINS"
    [ "$MODE" = relay ] || [ "$MODE" = drain ] || die "MODE is relay or drain"
    [ -z "$REPLAY_DIRS" ] || [ "$MODE" = drain ] || die "REPLAY_DIRS needs MODE=drain"
    [ "$TIMEOUT" -le 1800 ] || die "TIMEOUT must be at most 1800 s"
    [ "$(id -u)" -eq 0 ] || die "run as root"
    local tool
    for tool in postfix postsuper postqueue smtp-source opendkim opendkim-genkey openssl; do
        command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh)"
    done
    local port
    for port in "$PEER_PORT" "$DKIM_PORT" $(seq "$SINK_PORT" $((SINK_PORT + SINKS - 1))); do
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
    opendkim-genkey -b 2048 -d "$DKIM_DOMAIN" -s peer -D "$dir"
    cp "$dir/peer.txt" "$WORK_DIR/dkim-peer.txt"
    # OpenDKIM refuses a key that others can read; it runs as user opendkim.
    chown -R opendkim:opendkim "$dir"
    chmod 700 "$dir"
    chmod 600 "$dir/peer.private"
    cat >"$dir/opendkim.conf" <<CONF
Syslog no
Mode s
Domain $DKIM_DOMAIN
Selector peer
KeyFile $dir/peer.private
Canonicalization relaxed/relaxed
SignatureAlgorithm rsa-sha256
InternalHosts 127.0.0.1
Socket inet:$DKIM_PORT@127.0.0.1
UserID opendkim
CONF
    opendkim -f -x "$dir/opendkim.conf" >"$WORK_DIR/opendkim.out" 2>&1 &
    OPENDKIM_PID=$!
    wait_for_port "$DKIM_PORT" || die "opendkim did not listen: $(tail -3 "$WORK_DIR/opendkim.out")"
}

start_sinks() {
    local tls_options=()
    if [ "$TLS" = 1 ]; then
        "$SUPPORT/make-ca.sh" "$WORK_DIR/ca" issue sink DNS:localhost IP:127.0.0.1 >/dev/null
        tls_options=(--tls-cert "$WORK_DIR/ca/sink.crt" --tls-key "$WORK_DIR/ca/sink.key")
    fi
    local k program=(/usr/bin/python3 "$SUPPORT/smtp_sink.py")
    [ -z "$SINK_PROGRAM" ] || program=("$SINK_PROGRAM")
    for ((k = 0; k < SINKS; k++)); do
        "${program[@]}" --port $((SINK_PORT + k)) \
            --dir "$WORK_DIR/sink$k" --max-seconds "$TIMEOUT" "${tls_options[@]}" \
            >"$WORK_DIR/sink$k.out" 2>&1 &
        SINK_PIDS+=($!)
    done
    for ((k = 0; k < SINKS; k++)); do
        wait_for_port $((SINK_PORT + k)) ||
            die "sink $k did not listen: $(tail -3 "$WORK_DIR/sink$k.out")"
    done
}

# Domain i goes to sink i % SINKS; the recipient domains of a replay too.
write_transport_map() {
    local i
    for ((i = 0; i < DOMAINS; i++)); do
        echo "$(domain_name "$i") relay:[localhost]:$((SINK_PORT + i % SINKS))"
    done >"$WORK_DIR/etc/transport"
}

write_postfix_config() {
    local etc=$WORK_DIR/etc
    mkdir -p "$etc" "$WORK_DIR/spool" "$WORK_DIR/data" "$WORK_DIR/log"
    chown postfix "$WORK_DIR/data"
    chmod 755 "$WORK_DIR" "$etc" "$WORK_DIR/log"
    write_transport_map
    cat >"$etc/main.cf" <<CONF
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
transport_maps = texthash:$etc/transport
relayhost = [localhost]:$SINK_PORT
smtputf8_enable = no
biff = no
milter_default_action = tempfail
smtpd_milters = $([ "$DKIM" = 1 ] && echo "inet:127.0.0.1:$DKIM_PORT")
CONF
    if [ "$MODE" = drain ]; then
        cat >>"$etc/main.cf" <<CONF
# Drain mode: every message waits on hold until the timed release.
smtpd_recipient_restrictions = check_client_access static:HOLD
in_flow_delay = 0
CONF
    fi
    if [ "$TLS" = 1 ]; then
        # "secure" = encrypted and the certificate must name the next hop,
        # as carepost's tls_policy = "verified" demands.
        cat >>"$etc/main.cf" <<CONF
smtp_tls_security_level = secure
smtp_tls_secure_cert_match = nexthop
smtp_tls_CAfile = $WORK_DIR/ca/ca.crt
smtp_tls_session_cache_database = btree:\${data_directory}/smtp_scache
CONF
    else
        echo "smtp_tls_security_level = none" >>"$etc/main.cf"
    fi
    cat >"$etc/master.cf" <<CONF
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
CONF
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

# Injects N messages: one smtp-source per domain, the sessions shared out.
inject_synthetic() {
    local i count sessions pids=() status=0
    for ((i = 0; i < DOMAINS; i++)); do
        count=$((N / DOMAINS + (i < N % DOMAINS ? 1 : 0)))
        sessions=$((CONCURRENCY / DOMAINS + (i < CONCURRENCY % DOMAINS ? 1 : 0)))
        [ "$count" -gt 0 ] || continue
        timeout "$TIMEOUT" smtp-source -s "$sessions" -m "$count" -l "$SIZE" \
            -M client.carepost.test -f "$SENDER" -t "patient@$(domain_name "$i")" \
            "127.0.0.1:$PEER_PORT" >/dev/null 2>>"$WORK_DIR/smtp-source.err" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || status=$?
    done
    return "$status"
}

inject_replay() {
    timeout "$TIMEOUT" /usr/bin/python3 "$HERE/replay.py" --port "$PEER_PORT" \
        --connections "$CONCURRENCY" --count "$N" --dirs "$REPLAY_DIRS" \
        >"$WORK_DIR/replay.out" 2>&1
}

stored_count() {
    local total=0 k
    for ((k = 0; k < SINKS; k++)); do
        total=$((total + $(grep -c '"event": "message"' "$WORK_DIR/sink$k/sessions.log" || true)))
    done
    echo "$total"
}

# Polls the sinks until N messages are stored or TIMEOUT passes.
wait_for_sinks() {
    local deadline
    deadline=$(awk -v t="$(now)" -v s="$TIMEOUT" 'BEGIN { printf "%d", t + s }')
    while [ "$(stored_count)" -lt "$N" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || return 0
        sleep "$POLL_SECONDS"
    done
}

held_count() {
    find "$WORK_DIR/spool/hold" -type f 2>/dev/null | wc -l
}

# Drain mode: waits (untimed) until all N are signed and on hold.
wait_for_hold() {
    local i
    for ((i = 0; i < 600; i++)); do
        [ "$(held_count)" -ge "$N" ] && return 0
        sleep 0.5
    done
    die "only $(held_count) of $N messages reached the hold queue"
}

# The time of the N-th stored message over all sinks, from their session logs.
last_message_time() {
    /usr/bin/python3 - "$WORK_DIR" "$SINKS" "$N" <<'PY'
import json, os, sys
work, sinks, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
times = sorted(e["time"] for k in range(sinks)
               for e in map(json.loads, open(os.path.join(work, "sink%d/sessions.log" % k)))
               if e["event"] == "message")
print(times[n - 1] if len(times) >= n else "")
PY
}

# "tls=K/M dkim=V/C connections=S": TLS among stored messages, DKIM checks
# passed, SMTP connections the sinks saw.
verify_sample() {
    /usr/bin/python3 - "$WORK_DIR" "$SINKS" "$DKIM" "$DKIM_CHECK_COUNT" <<'PY'
import glob, json, os, re, sys
work, sinks, with_dkim, count = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
events = [e for k in range(sinks)
          for e in map(json.loads, open(os.path.join(work, "sink%d/sessions.log" % k)))]
messages = [e for e in events if e["event"] == "message"]
tls = sum(1 for e in messages if e.get("tls") in ("TLSv1.2", "TLSv1.3"))
result = "tls=%d/%d" % (tls, len(messages))
if with_dkim:
    import dkim
    raw = open(os.path.join(work, "dkim-peer.txt")).read()
    txt = "".join(re.findall(r'"([^"]*)"', raw)).encode()
    files = sorted(glob.glob(os.path.join(work, "sink*/*.eml")))[:count]
    good = sum(1 for f in files
               if dkim.verify(open(f, "rb").read(), dnsfunc=lambda name, timeout=5: txt))
    result += " dkim=%d/%d" % (good, len(files))
result += " connections=%d" % sum(1 for e in events if e["event"] == "connect")
print(result)
PY
}

# True when every stored message came over TLS and every DKIM check passed.
sample_is_good() {
    [[ "$1" =~ tls=([0-9]+)/([0-9]+) ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] ||
        return 1
    if [ "$DKIM" = 1 ]; then
        [[ "$1" =~ dkim=([0-9]+)/([0-9]+) ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] &&
            [ "${BASH_REMATCH[1]}" -gt 0 ] || return 1
    fi
    return 0
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

    if [ "$DKIM" = 1 ]; then
        start_opendkim
    fi
    start_sinks
    start_postfix
    sleep 0.5

    local t0 source_status=0 ticks0 sink_cpu0
    if [ "$MODE" = drain ]; then
        if [ -n "$REPLAY_DIRS" ]; then
            inject_replay || source_status=$?
        else
            inject_synthetic || source_status=$?
        fi
        [ "$source_status" = 0 ] || die "injection failed ($source_status)"
        wait_for_hold
        ticks0=$(machine_ticks)
        sink_cpu0=$(sinks_cpu_seconds)
        t0=$(now)
        postsuper -c "$WORK_DIR/etc" -H ALL >>"$WORK_DIR/postfix.out" 2>&1
        postqueue -c "$WORK_DIR/etc" -f
    else
        ticks0=$(machine_ticks)
        sink_cpu0=$(sinks_cpu_seconds)
        t0=$(now)
        inject_synthetic || source_status=$?
    fi
    wait_for_sinks

    # Cores busy (all processes) and sink CPU over the timed window.
    local busy sink_cpu
    busy=$(echo "$ticks0 $(machine_ticks) $(nproc)" |
        awk '{ printf "%.2f", $5 * ($3 - $1) / ($4 - $2) }')
    sink_cpu=$(awk -v a="$sink_cpu0" -v b="$(sinks_cpu_seconds)" 'BEGIN { printf "%.1f", b - a }')

    local stored t_last rate wall sample
    stored=$(stored_count)
    t_last=$(last_message_time)
    sample=$(verify_sample)
    if [ -n "$t_last" ]; then
        wall=$(awk -v a="$t0" -v b="$t_last" 'BEGIN { printf "%.2f", b - a }')
        rate=$(awk -v n="$N" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
    else
        wall=timeout
        rate=0
    fi
    printf 'postfix-relay-peer mode=%s n=%d conc=%d size=%d domains=%d sinks=%d ' \
        "$MODE" "$N" "$CONCURRENCY" "$SIZE" "$DOMAINS" "$SINKS"
    printf 'tls=%s dkim=%s: %s msg/s, wall %s s ' \
        "$([ "$TLS" = 1 ] && echo verified || echo off)" \
        "$([ "$DKIM" = 1 ] && echo rsa-2048 || echo off)" "$rate" "$wall"
    printf '(sinks stored %d; %s; cores_busy=%s sink_cpu=%s; injection exit %d)\n' \
        "$stored" "$sample" "$busy" "$sink_cpu" "$source_status"
    [ "$stored" -ge "$N" ] && [ -n "$t_last" ] && sample_is_good "$sample"
}

main "$@"
