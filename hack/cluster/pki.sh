#!/usr/bin/env bash
# Generates the test cluster's certificates and kubeconfigs with openssl into $PKI and
# $CLUSTER_ROOT (once: an existing CA is kept, so a second `up` reuses everything).
# One CA signs every serving and client certificate; all of them name 127.0.0.1 only.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$PKI" && chmod 700 "$PKI"
cd "$PKI"
DAYS=3650

if [ ! -s ca.crt ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days "$DAYS" \
    -subj "/CN=csi-jfs-test-ca" 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
fi

# issue NAME SUBJECT EXTENSIONS: a key and a CA-signed certificate NAME.{key,crt}.
issue() {
  local name=$1 subj=$2 ext=$3
  [ -s "$name.crt" ] && return 0
  openssl req -new -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj" 2>/dev/null
  printf '%s\n' "$ext" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$DAYS" \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
server_sans="subjectAltName=IP:127.0.0.1,DNS:localhost"
server="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth"

issue apiserver "/CN=kube-apiserver" "$server
$server_sans,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
issue kubelet "/CN=$NODE_NAME" "$server
$server_sans"
issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
issue admin "/O=system:masters/CN=kubernetes-admin" "$client"
issue controller-manager "/CN=system:kube-controller-manager" "$client"
issue scheduler "/CN=system:kube-scheduler" "$client"
issue kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" "$client"

# kubeconfig NAME CERT: $CLUSTER_ROOT/NAME.kubeconfig using PKI/CERT.{crt,key}.
kubeconfig() {
  local name=$1 cert=$2 file="$CLUSTER_ROOT/$1.kubeconfig"
  [ -s "$file" ] && return 0
  cat >"$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: csi-jfs-test
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $name
  user:
    client-certificate: $PKI/$cert.crt
    client-key: $PKI/$cert.key
contexts:
- name: $name@csi-jfs-test
  context: {cluster: csi-jfs-test, user: $name}
current-context: $name@csi-jfs-test
KC
  chmod 600 "$file"
}
kubeconfig admin admin
kubeconfig controller-manager controller-manager
kubeconfig scheduler scheduler
kubeconfig kubelet kubelet-client
