#!/usr/bin/env bash
# Certificates for a TLS cluster (docs/security.md): one CA, one certificate per node name, one .pfx password.
#
#   deploy/make-certs.sh OUT_DIR [--node NAME[=SAN,SAN...]]... [--owner UID] [--days N]
#
# Writes, in OUT_DIR (created with mode 700):
#   ca.pem                the cluster CA's certificate (every node gets it: --tls-ca)
#   NAME.pfx              each node's certificate and private key, PKCS#12 (--tls-cert), for server and client use
#   password.txt          the .pfx password, one line (--tls-password-file)
#   ca-private/ca.key     the CA's private key: keep it OFF the cluster's machines (it can mint members)
# Default nodes: "coordinator" and "peer" (the names compose and Kubernetes use; peers that scale share "peer"),
# each with its name as DNS SAN. --node NAME=DNS:host,IP:10.0.0.3 sets the SANs (they matter only with
# --tls-validate-hostname). --owner UID: chown what the nodes read to UID, e.g. 1654, the images' "app" user, so a
# container can read its bind-mounted files (mode 600 stays). Existing files are never overwritten: an existing CA is
# reused to sign new node names; remove OUT_DIR to start over.
#
# Exit status 0, or 2 on a usage error or a missing openssl.
set -euo pipefail
say() { echo "[make-certs] $*"; }
die() { echo "[make-certs] error: $*" >&2; exit 2; }

out=
nodes=()
owner=
days=365
while [ $# -gt 0 ]; do
  case "$1" in
    --node) [ $# -ge 2 ] || die "--node needs NAME[=SANS]"; nodes+=("$2"); shift 2 ;;
    --owner) [ $# -ge 2 ] || die "--owner needs a UID"; owner="$2"; shift 2 ;;
    --days) [ $# -ge 2 ] || die "--days needs a number"; days="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$out" ] || die "one OUT_DIR only (got '$out' and '$1')"; out="$1"; shift ;;
  esac
done
[ -n "$out" ] || die "give the output directory: deploy/make-certs.sh OUT_DIR"
command -v openssl >/dev/null 2>&1 || die "openssl is missing (apt-get install openssl)"
case "$days" in ''|*[!0-9]*) die "--days takes a whole number of days, got '$days'" ;; esac
case "$owner" in *[!0-9]*) die "--owner takes a numeric UID, got '$owner'" ;; esac
[ "${#nodes[@]}" -gt 0 ] || nodes=(coordinator peer)

umask 077
mkdir -p "$out/ca-private"
chmod 700 "$out" "$out/ca-private"
[ -s "$out/password.txt" ] || openssl rand -base64 24 > "$out/password.txt"

if [ ! -s "$out/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$out/ca-private/ca.key" \
    -out "$out/ca.pem" -days 3650 -subj "/CN=P2PDistill cluster CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  chmod 644 "$out/ca.pem"
  say "made the cluster CA: $out/ca.pem (its key: $out/ca-private/ca.key — keep it off the cluster)"
fi
[ -s "$out/ca-private/ca.key" ] || die "$out/ca.pem exists but its key $out/ca-private/ca.key does not: remove $out to start over"

for spec in "${nodes[@]}"; do
  name="${spec%%=*}"
  sans="DNS:$name"
  [ "$spec" = "$name" ] || sans="${spec#*=}"
  case "$name" in ''|*[!A-Za-z0-9._-]*) die "node name '$name' may hold letters, digits, '.', '_' and '-' only" ;; esac
  if [ -s "$out/$name.pfx" ]; then say "$out/$name.pfx exists: kept"; continue; fi
  tmp="$(mktemp -d)"
  printf "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n" "$sans" > "$tmp/ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key" -out "$tmp/csr" -subj "/CN=$name" 2>/dev/null
  openssl x509 -req -in "$tmp/csr" -CA "$out/ca.pem" -CAkey "$out/ca-private/ca.key" -CAserial "$out/ca-private/ca.srl" \
    -CAcreateserial -days "$days" -out "$tmp/crt" -extfile "$tmp/ext" 2>/dev/null
  openssl pkcs12 -export -in "$tmp/crt" -inkey "$tmp/key" -out "$out/$name.pfx" -passout "file:$out/password.txt"
  rm -rf "$tmp"
  say "made $out/$name.pfx ($sans, $days days)"
done

if [ -n "$owner" ]; then
  chown "$owner" "$out" "$out/password.txt" "$out/ca.pem" "$out"/*.pfx
  say "the node files belong to UID $owner (ca-private/ stays with $(id -un))"
fi
