#!/usr/bin/env bash
# postfix-sink.sh: a private Postfix instance on loopback that receives mail for
# a few test domains and stores one file per message. It is the real receiving
# MTA of the end-to-end tests and the main job.
#
#   postfix-sink.sh start DIR PORT [--tls CA_DIR] [--domains d1,d2]
#                   [--access FILE] [--fail-later d1,d2] [--route DOMAIN=HOST:PORT]...
#   postfix-sink.sh stop DIR
#   postfix-sink.sh status DIR      exit 0 while its master process runs
#
# Layout under DIR (created by start; DIR must be empty or an earlier run's):
#   DIR/etc/            config_directory (main.cf, master.cf, recipient map)
#   DIR/spool/          queue_directory (its own; the system's is not touched)
#   DIR/data/           data_directory
#   DIR/log/maillog     maillog_file: every daemon's log lines, TLS lines too
#   DIR/mail/DOMAIN/new/FILE   one Maildir file per delivered message; its
#                       Delivered-To header names the recipient
#   DIR/tls/            server key and certificate (with --tls)
#   DIR/port            the port it listens on
#
# Listens on 127.0.0.1:PORT only. Accepts RCPT for the given domains (default
# clinic.test), any local part; refuses all relaying.
# Without --tls no STARTTLS is offered (smtpd_tls_security_level=none), so a
# client that insists on TLS must give up: that is the "bad" destination.
#
# With --tls CA_DIR: STARTTLS is offered with a leaf issued by make-ca.sh from
# CA_DIR. The leaf's subjectAltName holds DNS:localhost, IP:127.0.0.1 and, per
# domain D, DNS:D and DNS:mx.D, so a client verifying the name of any of
# "localhost:PORT", "127.0.0.1:PORT" or "mx.D" succeeds. smtpd_tls_loglevel=1
# logs one "TLS connection established from ..." line per TLS session, and
# smtpd_tls_received_header=yes records the TLS version in Received:.
#
# Optional flags for bounce scenarios (without them nothing above changes):
#   --access FILE     a check_recipient_access map (texthash syntax, copied
#                     to DIR/etc/recipient_access): lines such as
#                     "gone@clinic.test 550 5.1.1 User unknown" or
#                     "busy@clinic.test 450 4.2.1 Mailbox busy" refuse or
#                     defer those recipients at RCPT.
#   --fail-later DOMAINS   relay domains accepted at RCPT and then bounced by
#                     the error transport ("5.1.1 user unknown"), so this
#                     instance sends a real RFC 3464 DSN to the envelope
#                     sender a moment after taking the message. Also sets
#                     smtpd_reject_unlisted_recipient = no (else smtpd
#                     refuses, at RCPT, addresses routed to the error service).
#   --route DOMAIN=HOST:PORT   (repeatable) mail for DOMAIN, such as those
#                     DSNs to a VERP bounce domain, goes by SMTP without TLS
#                     to [HOST]:PORT. Not a relay domain: only mail this
#                     instance makes itself (its DSNs) takes the route.
#   The transport map, when needed, is DIR/etc/transport (texthash).
#
# Several instances may run at once (distinct DIR and PORT). Needs root and
# the Debian postfix package; the system instance need not run and is left
# alone. No systemd. start waits (at most 20 s) until the port accepts.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
START_TIMEOUT_SECONDS=20
STOP_TIMEOUT_SECONDS=20

die() {
    echo "postfix-sink: $*" >&2
    exit 1
}

usage() {
    echo "usage: postfix-sink.sh start DIR PORT [--tls CA_DIR] [--domains d1,d2]" >&2
    echo "                 [--access FILE] [--fail-later d1,d2] [--route DOMAIN=HOST:PORT]..." >&2
    echo "       postfix-sink.sh stop DIR | status DIR" >&2
    exit 2
}

master_pid() {
    local pid_file=$1/spool/pid/master.pid
    [ -s "$pid_file" ] || return 1
    local pid
    pid=$(tr -d ' \n' <"$pid_file")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # A recycled pid must not make us signal a stranger.
    grep -q master "/proc/$pid/comm" 2>/dev/null || return 1
    echo "$pid"
}

port_accepts() {
    # Bash's /dev/tcp: no extra tool, loopback only.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_main_cf() {
    local dir=$1 port=$2 domains=$3 tls=$4
    local first_domain=${domains%%,*}

    # compatibility_level=3.6 keeps the modern defaults without warnings.
    # Lookups of the peer name are off: loopback has no useful PTR.
    cat >"$dir/etc/main.cf" <<EOF
# Written by postfix-sink.sh for a loopback test instance. Do not edit.
compatibility_level = 3.6
config_directory = $dir/etc
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-sink-$port
maillog_file = $dir/log/maillog
maillog_file_prefixes = /var, /dev/stdout, $dir/log
myhostname = mx.$first_domain
mydomain = $first_domain
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
biff = no
delay_warning_time = 0
message_size_limit = 52428800

# Every listed domain is delivered to Maildirs under $dir/mail.
virtual_mailbox_domains = $domains
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = regexp:$dir/etc/recipients.regexp
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_mailbox_limit = 0

# Nothing leaves this instance: any non-local mail is refused at RCPT.
default_transport = error:this test instance does not relay
relay_transport = error:this test instance does not relay
EOF

    if [ "$tls" = yes ]; then
        cat >>"$dir/etc/main.cf" <<EOF

smtpd_tls_security_level = may
smtpd_tls_cert_file = $dir/tls/server.crt
smtpd_tls_key_file = $dir/tls/server.key
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_session_cache_database = btree:\${data_directory}/smtpd_scache
EOF
    else
        cat >>"$dir/etc/main.cf" <<EOF

# No STARTTLS at all: the destination that cannot meet a TLS policy.
smtpd_tls_security_level = none
smtpd_tls_loglevel = 1
EOF
    fi
}

# The optional bounce-scenario settings, added (postconf -e, so each key is
# set once) only when a flag asks; runs after write_master_cf.
write_bounce_cf() {
    local dir=$1 access=$2 fail_later=$3
    shift 3
    local routes=("$@")
    if [ -n "$access" ]; then
        install -m 644 "$access" "$dir/etc/recipient_access"
        postconf -c "$dir/etc" -e \
            "smtpd_recipient_restrictions = check_recipient_access texthash:$dir/etc/recipient_access"
    fi
    [ -n "$fail_later" ] || [ ${#routes[@]} -gt 0 ] || return 0
    : >"$dir/etc/transport"
    local d r host
    if [ -n "$fail_later" ]; then
        # smtpd would refuse at RCPT an address that resolves to the error
        # service (reject_unlisted_recipient); here it must take it first.
        postconf -c "$dir/etc" -e "smtpd_reject_unlisted_recipient = no"
        IFS=, read -r -a list <<<"$fail_later"
        for d in "${list[@]}"; do
            printf '%s error:5.1.1 user unknown\n' "$d" >>"$dir/etc/transport"
        done
    fi
    for r in ${routes[@]+"${routes[@]}"}; do
        host=${r#*=}
        printf '%s smtp:[%s]:%s\n' "${r%%=*}" "${host%:*}" "${r##*:}" >>"$dir/etc/transport"
    done
    chmod 644 "$dir/etc/transport"
    # A DSN that cannot reach its route is not kept for days.
    postconf -c "$dir/etc" -e \
        "relay_domains = ${fail_later//,/, }" \
        "transport_maps = texthash:$dir/etc/transport" \
        "smtp_tls_security_level = none" \
        "bounce_queue_lifetime = 5m" \
        "maximal_queue_lifetime = 5m"
}

write_master_cf() {
    local dir=$1 port=$2 domains=$3

    # Only the services this instance needs, none chrooted (the private
    # queue has no etc/ copy), and no listener on port 25.
    cat >"$dir/etc/master.cf" <<EOF
# Written by postfix-sink.sh. service type private unpriv chroot wakeup maxproc command
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

    # One Maildir per domain: the virtual agent refuses $1 substitutions
    # in its maps (they could name any path), and the Delivered-To header
    # it adds tells the recipient of each file.
    local d
    : >"$dir/etc/recipients.regexp"
    IFS=, read -r -a list <<<"$domains"
    for d in "${list[@]}"; do
        printf '/^[^@]+@%s$/ %s/\n' "${d//./\\.}" "$d" >>"$dir/etc/recipients.regexp"
    done
}

issue_certificate() {
    local dir=$1 ca_dir=$2 domains=$3
    local sans=(DNS:localhost IP:127.0.0.1)
    local d
    IFS=, read -r -a list <<<"$domains"
    for d in "${list[@]}"; do
        sans+=("DNS:$d" "DNS:mx.$d")
    done

    local name
    name=sink-$(basename "$dir")-$$
    "$HERE/make-ca.sh" "$ca_dir" issue "$name" "${sans[@]}" >/dev/null
    install -m 644 "$ca_dir/$name.crt" "$dir/tls/server.crt"
    install -m 600 "$ca_dir/$name.key" "$dir/tls/server.key"
    rm -f "$ca_dir/$name.crt" "$ca_dir/$name.key"
}

start_instance() {
    local dir=$1 port=$2
    shift 2
    local ca_dir="" domains=clinic.test access="" fail_later=""
    local routes=()
    while [ $# -gt 0 ]; do
        case $1 in
        --tls) ca_dir=${2:?--tls needs CA_DIR}; shift 2 ;;
        --domains) domains=${2:?--domains needs a list}; shift 2 ;;
        --access) access=${2:?--access needs FILE}; shift 2 ;;
        --fail-later) fail_later=${2:?--fail-later needs a list}; shift 2 ;;
        --route) routes+=("${2:?--route needs DOMAIN=HOST:PORT}"); shift 2 ;;
        *) usage ;;
        esac
    done
    if [ -n "$access" ]; then
        [ -f "$access" ] || die "no access map $access"
    fi
    if [ -n "$fail_later" ]; then
        [[ "$fail_later" =~ ^[A-Za-z0-9.-]+(,[A-Za-z0-9.-]+)*$ ]] || die "bad --fail-later"
    fi
    local r
    for r in ${routes[@]+"${routes[@]}"}; do
        [[ "$r" =~ ^[A-Za-z0-9.-]+=[A-Za-z0-9.-]+:[0-9]+$ ]] || die "bad --route $r"
    done
    if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
        die "bad PORT"
    fi
    [[ "$domains" =~ ^[A-Za-z0-9.-]+(,[A-Za-z0-9.-]+)*$ ]] || die "bad --domains"
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    command -v postfix >/dev/null || die "postfix is not installed"

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    if master_pid "$dir" >/dev/null; then
        die "an instance already runs in $dir"
    fi
    port_accepts "$port" && die "127.0.0.1:$port is already in use"

    # A fresh instance each time: an old queue would re-deliver old mail.
    # Only a folder that is empty or was ours before is cleared.
    if [ -n "$(ls -A "$dir")" ] && [ ! -e "$dir/.postfix-sink" ]; then
        die "$dir is not empty and was not made by postfix-sink.sh"
    fi
    rm -rf "${dir:?}/etc" "$dir/spool" "$dir/data" "$dir/log" "$dir/mail" "$dir/tls"
    touch "$dir/.postfix-sink"
    mkdir -p "$dir/etc" "$dir/spool" "$dir/data" "$dir/log" "$dir/mail" "$dir/tls"
    # Postfix daemons run as the postfix user and must reach these folders.
    chmod 755 "$dir" "$dir/etc" "$dir/log"
    chmod 700 "$dir/tls"
    chown postfix "$dir/data"
    chown 65534:65534 "$dir/mail"
    echo "$port" >"$dir/port"
    # A private parent folder (mktemp -d makes mode 700) hides the queue.
    runuser -u postfix -- test -x "$dir/spool" ||
        die "the postfix user cannot reach $dir: open its parent folders (chmod o+x)"

    local tls=no
    if [ -n "$ca_dir" ]; then
        tls=yes
        issue_certificate "$dir" "$ca_dir" "$domains"
    fi
    write_main_cf "$dir" "$port" "$domains" "$tls"
    write_master_cf "$dir" "$port" "$domains"
    write_bounce_cf "$dir" "$access" "$fail_later" ${routes[@]+"${routes[@]}"}
    : >"$dir/log/maillog"

    # "postfix check" creates the queue folders with their owners and modes.
    postfix -c "$dir/etc" check >"$dir/log/start.out" 2>&1 ||
        die "postfix check failed: $(tail -5 "$dir/log/start.out")"
    postfix -c "$dir/etc" start >>"$dir/log/start.out" 2>&1 ||
        die "postfix start failed: $(tail -5 "$dir/log/start.out" "$dir/log/maillog")"

    local i
    for ((i = 0; i < START_TIMEOUT_SECONDS * 10; i++)); do
        if port_accepts "$port"; then
            echo "postfix-sink: 127.0.0.1:$port up (dir=$dir tls=$tls domains=$domains)"
            return 0
        fi
        sleep 0.1
    done
    stop_instance "$dir" || true
    die "127.0.0.1:$port did not accept within ${START_TIMEOUT_SECONDS}s"
}

stop_instance() {
    local dir=$1
    [ -d "$dir/etc" ] || die "no instance in $dir"
    local pid
    pid=$(master_pid "$dir") || {
        echo "postfix-sink: not running ($dir)"
        return 0
    }

    postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
    local i
    for ((i = 0; i < STOP_TIMEOUT_SECONDS * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    # The master ignored a graceful stop: end it and its children hard.
    if kill -0 "$pid" 2>/dev/null; then
        postfix -c "$dir/etc" abort >/dev/null 2>&1 || kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    kill -0 "$pid" 2>/dev/null && die "master $pid still runs"
    echo "postfix-sink: stopped ($dir)"
}

[ $# -ge 2 ] || usage
command=$1
dir=$2
shift 2
case $command in
start)
    [ $# -ge 1 ] || usage
    start_instance "$dir" "$@"
    ;;
stop) stop_instance "$dir" ;;
status) master_pid "$dir" >/dev/null ;;
*) usage ;;
esac
