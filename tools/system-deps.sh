#!/usr/bin/env bash
# Debian packages the test bed needs, installed only when missing (so a warm run is instant):
#   prometheus      - the real server the autoscaler and dashboards are tested against
#   libpython3.11   - Triton's Python-backend stub links libpython3.11.so.1.0
#   python3.11      - Debian's interpreter: the stub must import the stdlib that matches that libpython
#                     (testbed/triton.py:stub_python_env)
#   containerd, runc, containernetworking-plugins, iptables, conntrack, iproute2
#                   - the test bed's real node: its container runtime, pod network and kube-proxy
#                     (testbed/realnode/prereqs.py names each one when it is missing)
# and with the argument `images` (make images), what builds the container images without Docker:
#   buildah         - builds the Dockerfiles (and runc, which it runs them with)
#   mmdebstrap      - makes the Debian bookworm base image from the apt sources
#   skopeo          - copies the built archives to a registry (make images-push; its real-node test)
set -euo pipefail
need=()
if [[ ${1:-} == images ]]; then
  command -v buildah >/dev/null 2>&1 || need+=(buildah)
  command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
  command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
fi
command -v prometheus >/dev/null 2>&1 || [[ -x /usr/bin/prometheus ]] || need+=(prometheus)
for tool in containerd:containerd runc:runc iptables:iptables conntrack:conntrack ip:iproute2; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || [[ -x /usr/sbin/${tool%%:*} ]] || need+=("${tool#*:}")
done
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
[[ -e /usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0 ]] || need+=(libpython3.11)
[[ -x /usr/bin/python3.11 ]] || need+=(python3.11)
command -v promtool >/dev/null 2>&1 || [[ " ${need[*]} " == *" prometheus "* ]] || need+=(prometheus)
if ((${#need[@]})); then
  echo "installing Debian packages: ${need[*]}" >&2
  sudo_=""; [[ $(id -u) == 0 ]] || sudo_=sudo
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
