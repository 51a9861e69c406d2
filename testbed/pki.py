"""Certificates for the test bed: one CA, the API server's serving cert, an admin client cert, and
the real node's own identities.

The API server runs with client-certificate authentication and RBAC on, like a real cluster, so
later tests can prove that the operator's ServiceAccount is denied what it does not need. The admin
certificate carries ``O=system:masters``; the operator and tests authenticate with ServiceAccount
tokens. The real node's kubelet is ``system:node:<name>`` in ``system:nodes`` (so the Node
authorizer and NodeRestriction confine it to its own node and pods, as on a real cluster),
kube-proxy is ``system:kube-proxy`` (bound to ``system:node-proxier`` by the default RBAC), and the
API server talks to the kubelet (logs, exec) with a client cert of its own.

The aggregation layer has its own CA, as on a kubeadm cluster: the API server proxies requests for
aggregated APIs (``custom.metrics.k8s.io`` from the metrics adapter) with the front-proxy client
certificate, and the extension server trusts the ``X-Remote-User`` headers only from a certificate
that this separate CA signed, so no ordinary client certificate can impersonate a user there.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class Pki:
    """File paths of every key and certificate the control plane needs."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path
    kubelet_client_cert: Path
    kubelet_client_key: Path
    node_cert: Path
    node_key: Path
    proxy_cert: Path
    proxy_key: Path
    front_proxy_ca_cert: Path
    front_proxy_ca_key: Path
    front_proxy_client_cert: Path
    front_proxy_client_key: Path


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _sign(
    subject: x509.Name,
    public_key: rsa.RSAPublicKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool = False,
    usage: list[x509.ObjectIdentifier] | None = None,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


#: The real node's name: its kubelet's certificate names it, so it is fixed when the PKI is made.
REAL_NODE_NAME = "real-0"
#: Addresses the API server is reached at besides loopback: the real node's bridge gateway (where
#: its pods reach the API server) and the ``kubernetes`` Service's ClusterIP (what in-cluster
#: clients dial). Both must be in the serving certificate.
APISERVER_EXTRA_IPS = ("10.250.0.1", "10.96.0.1")
#: The common name of the API server's front-proxy client cert (``--requestheader-allowed-names``).
FRONT_PROXY_CLIENT = "front-proxy-client"


def _client(
    common_name: str, org: str | None, ca_name: x509.Name, ca_key: rsa.RSAPrivateKey
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _key()
    cert = _sign(_name(common_name, org), key.public_key(), ca_name, ca_key, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    return key, cert


def _write_pair(key: rsa.RSAPrivateKey, cert: x509.Certificate, key_path: Path, cert_path: Path) -> None:
    _write_key(key, key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _ensure_front_proxy(pki: Pki) -> None:
    """The front-proxy CA and client cert, made on their own so that a state directory from before
    they existed keeps its other keys (and a running cluster its kubeconfigs)."""
    files = (pki.front_proxy_ca_cert, pki.front_proxy_ca_key, pki.front_proxy_client_cert, pki.front_proxy_client_key)
    if all(p.exists() for p in files):
        return
    ca_key = _key()
    ca_name = _name("diffusion-testbed-front-proxy-ca")
    ca_cert = _sign(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True)
    _write_pair(ca_key, ca_cert, pki.front_proxy_ca_key, pki.front_proxy_ca_cert)
    _write_pair(*_client(FRONT_PROXY_CLIENT, None, ca_name, ca_key), pki.front_proxy_client_key,
                pki.front_proxy_client_cert)


def issue_serving_cert(pki: Pki, directory: Path, name: str, *, dns: Sequence[str] = (),
                       ips: Sequence[str] = ()) -> tuple[Path, Path]:
    """A serving certificate signed by the test bed's CA (for a host process that the API server
    dials, such as the metrics adapter); returns ``(cert, key)`` paths under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    ca_name = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()).subject
    key = _key()
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = _sign(_name(name), key.public_key(), ca_name, ca_key, usage=[ExtendedKeyUsageOID.SERVER_AUTH], sans=sans)
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    _write_pair(key, cert, key_path, cert_path)
    return cert_path, key_path


def ensure_pki(directory: Path) -> Pki:
    """Create the test bed's keys once; later calls reuse them so kubeconfigs stay valid."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
        kubelet_client_cert=directory / "apiserver-kubelet-client.crt",
        kubelet_client_key=directory / "apiserver-kubelet-client.key",
        node_cert=directory / "node.crt",
        node_key=directory / "node.key",
        proxy_cert=directory / "kube-proxy.crt",
        proxy_key=directory / "kube-proxy.key",
        front_proxy_ca_cert=directory / "front-proxy-ca.crt",
        front_proxy_ca_key=directory / "front-proxy-ca.key",
        front_proxy_client_cert=directory / "front-proxy-client.crt",
        front_proxy_client_key=directory / "front-proxy-client.key",
    )
    _ensure_front_proxy(pki)
    if all(p.exists() for p in vars(pki).values()):
        return pki

    ca_key = _key()
    ca_name = _name("diffusion-testbed-ca")
    ca_cert = _sign(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True)

    serving_key = _key()
    serving = _sign(
        _name("kube-apiserver"),
        serving_key.public_key(),
        ca_name,
        ca_key,
        usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        sans=[
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default.svc"),
            x509.DNSName("kubernetes.default.svc.cluster.local"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in APISERVER_EXTRA_IPS),
        ],
    )
    admin_key = _key()
    admin = _sign(
        _name("testbed-admin", "system:masters"),
        admin_key.public_key(),
        ca_name,
        ca_key,
        usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    sa_key = _key()
    for (common_name, org), (key_path, cert_path) in {
        ("kube-apiserver-kubelet-client", "system:masters"): (pki.kubelet_client_key, pki.kubelet_client_cert),
        (f"system:node:{REAL_NODE_NAME}", "system:nodes"): (pki.node_key, pki.node_cert),
        ("system:kube-proxy", None): (pki.proxy_key, pki.proxy_cert),
    }.items():
        _write_pair(*_client(common_name, org, ca_name, ca_key), key_path, cert_path)

    _write_key(ca_key, pki.ca_key)
    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(serving_key, pki.serving_key)
    pki.serving_cert.write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    _write_key(admin_key, pki.admin_key)
    pki.admin_cert.write_bytes(admin.public_bytes(serialization.Encoding.PEM))
    _write_key(sa_key, pki.sa_key)
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki
