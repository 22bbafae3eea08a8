#!/usr/bin/env bash
# main-job.sh: carepost's main job, end to end on one machine, loopback only.
#
#   scripts/main-job.sh            (after scripts/install-deps.sh and the build)
#
# 1. Makes a test CA and starts two private Postfix instances as receiving
#    MTAs: clinic.test with STARTTLS (certificate from that CA), notls.test
#    without STARTTLS.
# 2. Writes a carepost config into the run folder and starts
#    `carepost serve`; creates an organisation, an API key and the DKIM key
#    of carepost.test with the admin commands.
# 3. send_reminders.py sends one appointment reminder per synthetic patient
#    and two messages to notls.test through the REST API.
# 4. check_delivery.py checks statuses, DKIM, MIME content, attachments, TLS
#    in Postfix's log, the held notls.test mail and `carepost audit verify`,
#    and prints the summary table. Its exit status is this script's.
# Everything started here is stopped on exit, by pid or by its own stop
# command. Every wait is bounded.
#
# Environment (defaults in brackets):
#   CAREPOST_BIN         [build/src/app/carepost]  the binary to run
#   CAREPOST_SHARED_DIR  [<repo>/../shared]        the shared corpus
#   RUN_DIR              [<repo>/run/main-job]     emptied at start; kept after
#   API_PORT [8080]  CLINIC_PORT [2525]  NOTLS_PORT [2526]
#   CHECK_TIMEOUT        [120]  seconds to wait for deliveries to settle
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SUPPORT=$REPO/tests/support
PYTHON=/usr/bin/python3
CAREPOST_BIN=${CAREPOST_BIN:-$REPO/build/src/app/carepost}
export CAREPOST_SHARED_DIR=${CAREPOST_SHARED_DIR:-$REPO/../shared}
RUN_DIR=${RUN_DIR:-$REPO/run/main-job}
API_PORT=${API_PORT:-8080}
CLINIC_PORT=${CLINIC_PORT:-2525}
NOTLS_PORT=${NOTLS_PORT:-2526}
CHECK_TIMEOUT=${CHECK_TIMEOUT:-120}
HEALTH_TIMEOUT_SECONDS=30
API=http://127.0.0.1:$API_PORT

CONFIG=$RUN_DIR/carepost.toml
CAREPOST_PID=""

step() { printf '\n== %s\n' "$*"; }
die() {
    echo "main-job: $*" >&2
    exit 1
}

cleanup() {
    local status=$?
    set +e
    if [ -n "$CAREPOST_PID" ] && kill -0 "$CAREPOST_PID" 2>/dev/null; then
        kill -TERM "$CAREPOST_PID"
        for _ in $(seq 100); do
            kill -0 "$CAREPOST_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$CAREPOST_PID" 2>/dev/null && kill -KILL "$CAREPOST_PID"
        wait "$CAREPOST_PID" 2>/dev/null
    fi
    for sink in clinic notls; do
        if [ -d "$RUN_DIR/$sink/etc" ]; then
            "$SUPPORT/postfix-sink.sh" stop "$RUN_DIR/$sink" >/dev/null 2>&1
        fi
    done
    echo "main-job: stopped everything it started; files kept in $RUN_DIR"
    exit "$status"
}

# Runs one admin command of carepost; its output goes to the run folder too.
carepost_admin() {
    local name=$1
    shift
    "$CAREPOST_BIN" "$@" --config "$CONFIG" >"$RUN_DIR/$name.out" 2>"$RUN_DIR/$name.err" ||
        die "carepost $* failed: $(tail -3 "$RUN_DIR/$name.err")"
    cat "$RUN_DIR/$name.out"
}

# The last word of the last non-empty line: what an admin command "prints".
last_word() {
    awk 'NF { word = $NF } END { print word }'
}

port_accepts() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Postfix's daemons run as user postfix and must reach their queue. When the
# checkout sits in a private folder (a 700 home, say), the two instances live
# in a fresh world-readable folder under /tmp, linked from the run folder.
place_sinks() {
    chmod 755 "$RUN_DIR"
    if runuser -u postfix -- test -x "$RUN_DIR"; then
        return 0
    fi
    local base
    base=$(mktemp -d /tmp/carepost-main-job.XXXXXX)
    chmod 755 "$base"
    mkdir "$base/clinic" "$base/notls"
    ln -s "$base/clinic" "$RUN_DIR/clinic"
    ln -s "$base/notls" "$RUN_DIR/notls"
    echo "main-job: the Postfix instances live in $base (run folder is private)"
}

write_config() {
    cat >"$CONFIG" <<EOF
# carepost configuration for the main job (written by scripts/main-job.sh)
[server]
listen = "127.0.0.1:$API_PORT"

[storage]
data_dir = "$RUN_DIR/data"

[security]
master_key_file = "$RUN_DIR/master.key"

[delivery]
ca_file = "$RUN_DIR/ca/ca.crt"
tls_policy = "verified"

[routes]
"clinic.test" = "localhost:$CLINIC_PORT"
"notls.test" = "localhost:$NOTLS_PORT"
EOF
}

start_carepost() {
    "$CAREPOST_BIN" serve --config "$CONFIG" >"$RUN_DIR/carepost.log" 2>&1 &
    CAREPOST_PID=$!
    local i
    for ((i = 0; i < HEALTH_TIMEOUT_SECONDS * 10; i++)); do
        kill -0 "$CAREPOST_PID" 2>/dev/null ||
            die "carepost serve exited: $(tail -5 "$RUN_DIR/carepost.log")"
        if curl -fsS -o /dev/null --max-time 2 "$API/v1/health" 2>/dev/null; then
            echo "carepost serve pid $CAREPOST_PID healthy on $API"
            return 0
        fi
        sleep 0.1
    done
    die "carepost did not answer $API/v1/health within ${HEALTH_TIMEOUT_SECONDS}s"
}

main() {
    [ "$(id -u)" -eq 0 ] || die "run as root (Postfix instances need it)"
    [ -x "$CAREPOST_BIN" ] || die "no carepost binary at $CAREPOST_BIN (build first)"
    [ -d "$CAREPOST_SHARED_DIR/corpus" ] || die "no shared corpus at $CAREPOST_SHARED_DIR"
    for port in "$API_PORT" "$CLINIC_PORT" "$NOTLS_PORT"; do
        port_accepts "$port" && die "port $port on 127.0.0.1 is already in use"
    done
    trap cleanup EXIT
    trap 'exit 130' INT TERM

    if [ -e "$RUN_DIR" ] && [ ! -e "$RUN_DIR/.main-job" ]; then
        die "$RUN_DIR exists and was not made by main-job.sh"
    fi
    rm -rf "${RUN_DIR:?}"
    mkdir -p "$RUN_DIR/data"
    touch "$RUN_DIR/.main-job"
    chmod 700 "$RUN_DIR/data"

    step "1. receiving MTAs"
    "$SUPPORT/make-ca.sh" "$RUN_DIR/ca" >/dev/null
    place_sinks
    "$SUPPORT/postfix-sink.sh" start "$RUN_DIR/clinic" "$CLINIC_PORT" \
        --tls "$RUN_DIR/ca" --domains clinic.test
    "$SUPPORT/postfix-sink.sh" start "$RUN_DIR/notls" "$NOTLS_PORT" --domains notls.test

    step "2. carepost"
    # 32 random octets, hex-encoded: the master key that wraps the org keys.
    (umask 077 && openssl rand -hex 32 >"$RUN_DIR/master.key")
    write_config
    start_carepost
    local org key_out
    org=$(carepost_admin org-create org create "Main Job Clinic" | last_word)
    [ -n "$org" ] || die "org create printed no id"
    key_out=$(carepost_admin key-create key create --org "$org" \
        --scope messages:send --scope messages:read --scope templates:write)
    (umask 077 && printf '%s\n' "$key_out" | last_word >"$RUN_DIR/api.key")
    [ -s "$RUN_DIR/api.key" ] || die "key create printed no key"
    carepost_admin domain-add domain add --org "$org" carepost.test |
        grep '_domainkey' >"$RUN_DIR/dkim.txt" || die "domain add printed no DKIM record"
    echo "organisation $org; API key in $RUN_DIR/api.key; DKIM record:"
    cut -c1-100 "$RUN_DIR/dkim.txt"

    step "3. send reminders"
    "$PYTHON" "$REPO/scripts/send_reminders.py" --api "$API" --key-file "$RUN_DIR/api.key" \
        --manifest "$RUN_DIR/manifest.json" || die "sending failed (see above)"

    step "4. check deliveries"
    "$PYTHON" "$REPO/scripts/check_delivery.py" --manifest "$RUN_DIR/manifest.json" \
        --api "$API" --key-file "$RUN_DIR/api.key" \
        --clinic-dir "$RUN_DIR/clinic" --notls-dir "$RUN_DIR/notls" \
        --dkim-records "$RUN_DIR/dkim.txt" --config "$CONFIG" \
        --carepost-bin "$CAREPOST_BIN" --timeout "$CHECK_TIMEOUT"
}

main "$@"
