#!/usr/bin/env bash
# make-ca.sh: a throw-away certificate authority for loopback TLS tests.
#
#   make-ca.sh CA_DIR
#       Creates CA_DIR/ca.key and CA_DIR/ca.crt (RSA-2048, 10 days) unless they
#       exist. CA_DIR/ca.crt is what a client trusts (carepost's
#       [delivery] ca_file, swaks --tls-ca-path, Python's cafile=).
#   make-ca.sh CA_DIR issue NAME [SAN ...]
#       Issues CA_DIR/NAME.crt and CA_DIR/NAME.key, a server leaf signed by
#       the CA. SAN entries are written as OpenSSL spells them
#       (DNS:localhost, IP:127.0.0.1). With no SAN given the leaf names
#       DNS:localhost and IP:127.0.0.1, which is what loopback routes use.
#       Prints the path of the certificate.
#
# The keys are unencrypted and the CA signs anything asked: for tests only.
set -euo pipefail

usage() {
    echo "usage: make-ca.sh CA_DIR | make-ca.sh CA_DIR issue NAME [SAN ...]" >&2
    exit 2
}

create_ca() {
    local dir=$1
    mkdir -p "$dir"
    chmod 755 "$dir"
    if [ -s "$dir/ca.key" ] && [ -s "$dir/ca.crt" ]; then
        return 0
    fi

    # basicConstraints CA:TRUE and keyCertSign are required by OpenSSL 3
    # verifiers; a CA without them fails with "invalid CA certificate".
    openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 10 \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" \
        -subj "/O=carepost tests/CN=carepost test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" 2>/dev/null
    chmod 600 "$dir/ca.key"
    chmod 644 "$dir/ca.crt"
}

issue_leaf() {
    local dir=$1 name=$2
    shift 2
    [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || {
        echo "make-ca: NAME must be [A-Za-z0-9._-]+" >&2
        exit 2
    }
    create_ca "$dir"

    local sans=("$@")
    if [ ${#sans[@]} -eq 0 ]; then
        sans=(DNS:localhost IP:127.0.0.1)
    fi
    local san_list
    san_list=$(IFS=,; echo "${sans[*]}")

    # The first DNS SAN (or NAME) becomes the CN; verifiers use only the SAN.
    local cn=$name
    local s
    for s in "${sans[@]}"; do
        if [[ "$s" == DNS:* ]]; then
            cn=${s#DNS:}
            break
        fi
    done

    local ext
    ext=$(mktemp)
    cat >"$ext" <<EOF
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $san_list
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
EOF
    openssl req -new -newkey rsa:2048 -nodes -sha256 \
        -keyout "$dir/$name.key" -out "$dir/$name.csr" \
        -subj "/O=carepost tests/CN=$cn" 2>/dev/null
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 10 -sha256 -extfile "$ext" \
        -out "$dir/$name.crt" 2>/dev/null
    rm -f "$ext" "$dir/$name.csr"
    chmod 600 "$dir/$name.key"
    chmod 644 "$dir/$name.crt"
    openssl verify -CAfile "$dir/ca.crt" "$dir/$name.crt" >/dev/null
    echo "$dir/$name.crt"
}

[ $# -ge 1 ] || usage
ca_dir=$1
shift
if [ $# -eq 0 ]; then
    create_ca "$ca_dir"
    echo "$ca_dir/ca.crt"
elif [ "$1" = issue ] && [ $# -ge 2 ]; then
    shift
    issue_leaf "$ca_dir" "$@"
else
    usage
fi
