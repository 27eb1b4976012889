"""The appliance image (issue 8): seed handling and template rendering (fast), then the built image itself
(slow, hosts): sealed file system read with debugfs, and two qemu boots (TCG) of the same image with a seed
disk, checked over SSH and HTTPS.

The slow tests use the image in $VANBAN_IMAGE (a .qcow2 built by appliance/build) or build one first
(~10 min). Boots run with 1 vCPU, 2 GiB, the qemu64 CPU model (x86-64 baseline: no SSSE3/SSE4/AVX/POPCNT).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import re
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IMAGE_DIR = REPO / "appliance/image"
FIRSTBOOT = IMAGE_DIR / "firstboot/vanban-firstboot"
sys.path.insert(0, str(IMAGE_DIR))


def _load_firstboot():
    loader = importlib.machinery.SourceFileLoader("vanban_firstboot", str(FIRSTBOOT))
    spec = importlib.util.spec_from_loader("vanban_firstboot", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


fb = _load_firstboot()

SEED = """
hostname = "node-test"
role = "node"
[network]
mode = "dhcp"
[admin]
ssh_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBGvV1q0kEPt3b1G2DLqz5rqgJ2k8d8J0bH9gkXr7cVd t@x"]
networks = ["10.0.2.2/32"]
[hub]
address = "198.18.250.1"
[[agencies]]
code = "H29.31"
name = "UBND huyện An Phú"
lan = "10.0.2.0/24"
[options]
antivirus_test_signatures = true
"""


# -- fast: the seed ----------------------------------------------------------------------------------
def test_example_seed_is_valid(tmp_path):
    seed = fb.load_seed_file(IMAGE_DIR / "seed.example.toml")
    assert seed["role"] == "node" and seed["network"]["address"] == "10.31.0.10/24"
    assert [a["code"] for a in seed["agencies"]] == ["H29.31", "H29.31.01"]
    assert seed["agencies"][0]["old_code"] == "000.00.31.H29"


@pytest.mark.parametrize("change, code", [
    ({"hostname": "Bad_Name"}, "seed_bad_hostname"),
    ({"role": "server"}, "seed_bad_role"),
    ({"network": {"mode": "static", "address": "10.0.0.5"}}, "seed_bad_address"),
    ({"network": {"mode": "static", "address": "10.0.0.5/24", "gateway": "x"}}, "seed_bad_address"),
    ({"admin": {"ssh_keys": ["not a key"], "networks": ["10.0.0.0/8"]}}, "seed_bad_admin_key"),
    ({"admin": {"ssh_keys": [], "networks": ["10.0.0.0/8"]}}, "seed_bad_admin_key"),
    ({"admin": {"name": "root", "ssh_keys": ["ssh-ed25519 AAAA x"], "networks": ["10.0.0.0/8"]}}, "seed_bad_admin"),
    ({"admin": {"ssh_keys": ["ssh-ed25519 AAAA x"], "networks": []}}, "seed_no_admin_network"),
    ({"admin": {"ssh_keys": ["ssh-ed25519 AAAA x"], "networks": ["10.0.0.300/8"]}}, "seed_bad_network"),
    ({"hub": {}}, "seed_no_hub"),
    ({"hub": {"address": "10.0.0.1", "enroll_url": "http://x"}}, "seed_bad_enroll_url"),
    ({"agencies": []}, "seed_no_agency"),
    ({"agencies": [{"code": "000.00.31.H29", "name": "x"}]}, "seed_bad_agency"),
    ({"agencies": [{"code": "H29.31", "old_code": "H29", "name": "x"}]}, "seed_bad_agency"),
    ({"province": 'an"giang'}, "seed_bad_province"),
    ({"hub": {"address": "10.0.0.1", "fleet": [{"hostname": "n1", "address": "10.0.0.2"}]}}, "seed_bad_fleet"),
    ({"role": "hub", "hub": {"fleet": [{"hostname": "Bad_Name", "address": "10.0.0.2"}]}}, "seed_bad_fleet"),
    ({"role": "hub", "hub": {"fleet": [{"hostname": "n1", "address": "10.0.0.2"},
                                       {"hostname": "n1", "address": "10.0.0.3"}]}}, "seed_bad_fleet"),
    ({"role": "hub", "hub": {"fleet": [{"hostname": "n1", "address": "10.0.0.999"}]}}, "seed_bad_address"),
    ({"role": "hub", "hub": {"fleet": [{"hostname": "n1", "address": "10.0.0.2", "agencies": ["x"]}]}},
     "seed_bad_fleet"),
])
def test_bad_seed_refused_with_code(change, code):
    import tomllib

    seed = tomllib.loads(SEED) | change
    with pytest.raises(fb.SeedError) as err:
        fb.validate(seed)
    assert err.value.code == code
    assert err.value.message  # Vietnamese text for the admin at the console


def test_check_command_hides_token(tmp_path):
    seed = tmp_path / "seed.toml"
    seed.write_text(SEED.replace('address = "198.18.250.1"',
                                 'address = "198.18.250.1"\nenroll_url = "https://h/enroll"\nenroll_token = "s3cret"'))
    out = subprocess.run([sys.executable, str(FIRSTBOOT), "check", str(seed)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "s3cret" not in out.stdout and json.loads(out.stdout)["ok"]
    seed.write_text("hostname = [")
    out = subprocess.run([sys.executable, str(FIRSTBOOT), "check", str(seed)], capture_output=True, text=True)
    assert out.returncode == 2 and json.loads(out.stdout)["code"] == "seed_not_toml"


def test_console_dialog_writes_a_valid_seed(tmp_path):
    """The whiptail screen, driven by a stand-in whiptail that answers from a script (no terminal here)."""
    answers = ["", "node-dialog", "node", "static", "10.31.0.10/24", "10.31.0.1", "10.20.0.53",
               "10.20.0.10", "tok-1", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample admin@x", "10.20.0.0/28",
               "H29.31", 'UBND huyện "An Phú"', "10.31.10.0/24", ""]
    (tmp_path / "answers").write_text("\n".join(answers) + "\n")
    fake = tmp_path / "whiptail"
    # Each call pops one answer and prints it on fd 2 (whiptail's convention with 3>&1 1>&2 2>&3).
    fake.write_text(f"#!/bin/bash\nf={tmp_path}/answers\nhead -n1 \"$f\" >&2\nsed -i 1d \"$f\"\n")
    fake.chmod(0o755)
    out = tmp_path / "seed.toml"
    result = subprocess.run([str(IMAGE_DIR / "firstboot/vanban-firstboot-dialog"), str(out)],
                            env={**os.environ, "WHIPTAIL": str(fake)}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    seed = fb.load_seed_file(out)
    assert seed["hostname"] == "node-dialog" and seed["network"]["gateway"] == "10.31.0.1"
    assert seed["agencies"][0]["name"] == 'UBND huyện "An Phú"'
    assert seed["hub"]["enroll_url"] == "https://10.20.0.10/exchange/v1/enroll" and seed["hub"]["enroll_token"] == "tok-1"


# -- fast: the roles' templates rendered as first boot does -------------------------------------------
@pytest.fixture
def firstboot_lib(tmp_path, monkeypatch):
    """The first-boot library as playbooks/image.yml lays it out, with representative role values."""
    lib = tmp_path / "lib"
    (lib / "templates").mkdir(parents=True)
    roles = REPO / "playbooks/roles"
    for src, dest in [("firewall/templates/etc/nftables.conf.j2", "nftables.conf.j2"),
                      ("base/templates/etc/chrony/chrony.conf.j2", "chrony.conf.j2"),
                      ("base/templates/etc/sudoers.d/vanban-admins.j2", "vanban-admins.j2"),
                      ("antivirus/templates/etc/clamav/freshclam.conf.j2", "freshclam.conf.j2"),
                      ("vanban/templates/etc/vanban/vanban.toml.j2", "vanban.toml.j2"),
                      ("vanban/templates/var/lib/vanban/exchange.toml.j2", "exchange.toml.j2"),
                      ("monitoring/templates/etc/default/prometheus.j2", "prometheus.j2"),
                      ("monitoring/templates/etc/default/vanban-prometheus-fleet.j2", "vanban-prometheus-fleet.j2"),
                      ("monitoring/templates/etc/prometheus/vanban/file_sd/alertmanagers.json.j2",
                       "alertmanagers.json.j2"),
                      ("monitoring/templates/etc/prometheus/vanban/file_sd/nodes.json.j2", "nodes.json.j2")]:
        (lib / "templates" / dest).write_text((roles / src).read_text())
    (lib / "vanban_net.py").write_text((REPO / "playbooks/filter_plugins/vanban_net.py").read_text())
    (lib / "role-vars.json").write_text(json.dumps({
        "vanban_firewall__ssh_port": 22, "vanban_firewall__ssh_rate": "30/minute", "vanban_firewall__ssh_burst": 20,
        "vanban_firewall__https_extra_networks": [], "vanban_firewall__metrics_ports": [9101, 9100, 9090],
        "vanban_firewall__hub_node_ports": [8443, 80, 3310, 9093], "vanban_base__ntp_allow": [],
        "vanban_antivirus__freshclam_checks": 12, "vanban_antivirus__delegate_below_mb": 1536,
        "vanban_antivirus__socket": "/run/clamav/clamd.ctl", "vanban_antivirus__tcp_port": 3310,
        "vanban_app__data_dir": "/var/lib/vanban", "vanban_app__bind": "127.0.0.1:8080",
        "vanban_app__max_upload_mb": 50, "vanban_app__settings": {},
        "vanban_app__exchange_port": 8443, "vanban_app__exchange_max_package_mb": 100,
        # The monitoring role's defaults as image.yml resolves them.
        "vanban_monitoring__dir": "/etc/prometheus/vanban", "vanban_monitoring__storage": "/var/lib/prometheus/local",
        "vanban_monitoring__retention_time": "7d", "vanban_monitoring__retention_size": "1GB",
        "vanban_monitoring__listen": ":9090", "vanban_monitoring__alertmanager_port": 9093,
        "vanban_monitoring__federate_port": 9090, "vanban_monitoring__fleet_listen": "127.0.0.1:9092",
        "vanban_monitoring__fleet_storage": "/var/lib/prometheus/fleet",
        "vanban_monitoring__fleet_retention_time": "90d", "vanban_monitoring__fleet_retention_size": "20GB",
        "vanban_monitoring__fleet_external_url": ""}))
    monkeypatch.setattr(fb, "LIB", lib)
    return lib


def test_templates_render_like_the_roles(firstboot_lib, tmp_path):
    import tomllib

    seed = fb.validate(tomllib.loads(SEED))
    values = fb.role_vars(seed, mem_mb=2000)
    nft = fb.render("nftables.conf.j2", values)
    assert "elements = { 10.0.2.2/32 }" in nft and "elements = { 10.0.2.0/24 }" in nft
    assert "elements = { 198.18.250.1/32 }" in nft and "policy drop" in nft
    if os.geteuid() == 0:  # nft -c needs CAP_NET_ADMIN
        path = tmp_path / "rules.nft"
        path.write_text(nft)
        check = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    assert "server 198.18.250.1 iburst" in fb.render("chrony.conf.j2", values)
    assert "PrivateMirror http://198.18.250.1/clamav" in fb.render("freshclam.conf.j2", values)
    assert "vanbanadmin ALL=(ALL:ALL) NOPASSWD: ALL" in fb.render("vanban-admins.j2", values)
    toml = tomllib.loads(fb.render("vanban.toml.j2", values))
    assert toml["role"] == "node" and toml["clamd_socket"] == "/run/clamav/clamd.ctl"
    # A small node scans at the hub (the antivirus role's rule), a hub always locally.
    assert tomllib.loads(fb.render("vanban.toml.j2", fb.role_vars(seed, mem_mb=1024)))["clamd_socket"] == \
        "198.18.250.1:3310"


def test_exchange_settings_render_like_the_role(firstboot_lib):
    """exchange.toml as site.yml writes it: the seed's hostname as this server's name at the hub and, on a node,
    the hub's endpoint (a hub has no upstream from the seed)."""
    import tomllib

    node = tomllib.loads(fb.render("exchange.toml.j2", fb.role_vars(fb.validate(tomllib.loads(SEED)), mem_mb=2000)))
    assert node == {"node_name": "node-test", "hub_url": "https://198.18.250.1:8443", "max_package_mb": 100}
    hub = tomllib.loads(fb.render("exchange.toml.j2", fb.role_vars(fb.validate(tomllib.loads(HUB_SEED)), mem_mb=2000)))
    assert hub["node_name"] == "hub-test" and hub["hub_url"] == ""
    from vanban.exchange.config import ExchangeConfig

    ExchangeConfig(data_dir=REPO, **node)  # the app reads it: no unknown key


HUB_SEED = SEED.replace('role = "node"', 'role = "hub"\nprovince = "an-giang"').replace(
    'hostname = "node-test"', 'hostname = "hub-test"') + """
[[hub.fleet]]
hostname = "node-test1"
address = "198.18.250.11"
agencies = ["H29.31", "H29.31.01"]
[[hub.fleet]]
hostname = "node-test2"
address = "2001:db8::2"
"""


def _env_file(text: str) -> dict:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_monitoring_identity_of_a_node(firstboot_lib):
    """/etc/default/prometheus and the Alertmanager target of a node, rendered with the role's templates."""
    import tomllib

    seed = fb.validate(tomllib.loads(SEED.replace('role = "node"', 'role = "node"\nprovince = "an-giang"')))
    values = fb.role_vars(seed, mem_mb=2000)
    env = _env_file(fb.render("prometheus.j2", values))
    assert env["VANBAN_NODE"] == '"node-test"' and env["VANBAN_PROVINCE"] == '"an-giang"'
    assert env["VANBAN_AGENCIES"] == '"H29.31"'
    assert "--storage.tsdb.path=/var/lib/prometheus/local" in env["ARGS"]
    assert json.loads(fb.render("alertmanagers.json.j2", values)) == [{"targets": ["198.18.250.1:9093"], "labels": {}}]
    # Without a province the label is the role's default, as site.yml would write it.
    assert 'VANBAN_PROVINCE="unset"' in fb.render("prometheus.j2", fb.role_vars(fb.validate(tomllib.loads(SEED)), 2000))


def test_hub_parts_render_from_the_seed(firstboot_lib):
    """A hub's fleet list (hub.fleet) becomes the role's nodes.json with each node's own identity, its
    Alertmanager is on loopback, and the fleet addresses are admitted by the firewall like hub.nodes."""
    import tomllib

    seed = fb.validate(tomllib.loads(HUB_SEED))
    values = fb.role_vars(seed, mem_mb=4000)
    nodes = json.loads(fb.render("nodes.json.j2", values))
    assert nodes == [
        {"targets": ["127.0.0.1:9090"], "labels": {"node": "hub-test", "province": "an-giang", "agencies": "H29.31"}},
        {"targets": ["198.18.250.11:9090"],
         "labels": {"node": "node-test1", "province": "an-giang", "agencies": "H29.31,H29.31.01"}},
        {"targets": ["[2001:db8::2]:9090"], "labels": {"node": "node-test2", "province": "an-giang", "agencies": ""}}]
    assert json.loads(fb.render("alertmanagers.json.j2", values))[0]["targets"] == ["127.0.0.1:9093"]
    fleet_env = _env_file(fb.render("vanban-prometheus-fleet.j2", values))
    assert fleet_env["VANBAN_PROVINCE"] == '"an-giang"' and "--web.listen-address=127.0.0.1:9092" in fleet_env["ARGS"]
    nft = fb.render("nftables.conf.j2", values)
    assert "elements = { 198.18.250.11/32 }" in nft and "elements = { 2001:db8::2/128 }" in nft
    assert "tcp dport { 8443, 80, 3310, 9093 } ip saddr @nodes_v4 accept" in nft  # mirror, Alertmanager


def test_configure_monitoring_enables_hub_units_only_on_a_hub(firstboot_lib, tmp_path, monkeypatch):
    """configure_monitoring/configure_hub_services write into a scratch tree; systemctl is recorded, not run
    (there is no systemd on the test machine)."""
    import tomllib

    root = tmp_path / "root"
    calls = []
    monkeypatch.setattr(fb, "run", lambda *argv, **kw: calls.append(argv))
    real_write = fb.write
    monkeypatch.setattr(fb, "write", lambda path, *a, **kw: real_write(
        path if str(path).startswith(str(root)) else root / str(path).lstrip("/"), *a, **kw))
    for seed_text in (SEED, HUB_SEED):
        seed = fb.validate(tomllib.loads(seed_text))
        values = fb.role_vars(seed, mem_mb=4000) | {"vanban_monitoring__dir": str(root / "etc/prometheus/vanban")}
        fb.configure_monitoring(seed, values)
    assert (root / "etc/default/prometheus").read_text().count('VANBAN_NODE="hub-test"') == 1
    assert (root / "etc/prometheus/vanban/file_sd/nodes.json").exists()
    assert calls == [("systemctl", "enable", "--no-reload", *fb.HUB_UNITS),
                     ("systemctl", "start", "--no-block", *fb.HUB_UNITS)]  # the hub's only, not the node's


# -- fast: enrolment (node client against the hub endpoint over real HTTPS on loopback) ----------------
@pytest.fixture
def hub_endpoint(tmp_path):
    """The hub's /exchange/v1/enroll in a Falcon app served over TLS on 127.0.0.1 (wsgiref, a thread per
    connection with its TLS handshake in that thread: two VMs enrol at once, and an emulated guest's slow
    handshake must not hold the other's connection until it is dropped)."""
    import threading
    from socketserver import ThreadingMixIn
    from types import SimpleNamespace
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    import falcon

    from vanban import enroll
    from vanban.errors import DomainError
    from vanban.signing.pki import Pki

    data = tmp_path / "hub"
    Pki(data / "pki", ca_key_bits=2048).init_root("CA tỉnh thử nghiệm", "root-pass")
    (tmp_path / "pass").write_text("root-pass\n")
    enroll._cmd_setup(SimpleNamespace(passphrase_file=str(tmp_path / "pass"),
                                      settings=SimpleNamespace(data_path=data)))
    app = falcon.App()

    def domain_error(req, resp, exc, params):  # the main app's web/errors.py does this mapping
        resp.status = falcon.HTTP_403 if exc.code == "enroll_token_refused" else falcon.HTTP_400
        resp.media = {"error": {"code": exc.code, "message": str(exc)}}

    app.add_error_handler(DomainError, domain_error)
    enroll.add_routes(app, SimpleNamespace(settings=SimpleNamespace(role="hub", data_path=data)))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=hub", "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem")],
                   check=True, capture_output=True)

    class Quiet(WSGIRequestHandler):
        def setup(self):
            self.request.settimeout(120)
            self.request.do_handshake()
            super().setup()

        def log_message(self, *args):
            pass

    class ThreadedServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    server = make_server("127.0.0.1", 0, app, server_class=ThreadedServer, handler_class=Quiet)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"https://127.0.0.1:{server.server_port}/exchange/v1/enroll", data=data)
    server.shutdown()
    server.server_close()


def test_node_enrols_with_a_one_time_token(hub_endpoint, tmp_path):
    import urllib.error

    from cryptography import x509

    from vanban import enroll
    from vanban.exchange.config import load_config

    token = enroll.issue_token(hub_endpoint.data, "node-an-phu")
    node = tmp_path / "node"
    result = enroll.enrol_node(hub_endpoint.url, token, name="node-an-phu", role="node", data_dir=node,
                               hosts=["10.31.0.10"])
    pki = node / "pki/exchange"
    tls = x509.load_pem_x509_certificate((pki / "tls.crt").read_bytes())
    assert result["tls_serial"] == f"{tls.serial_number:x}"
    assert "CN=node-an-phu" in tls.subject.rfc4514_string()
    assert oct((pki / "tls.key").stat().st_mode)[-3:] == "600"
    assert load_config(node).signer  # the exchange reads the enrolled identity as its own
    # The token is spent: a second use, another name, or a made-up token are all refused, and nothing is written.
    for name, tok in (("node-an-phu", token), ("node-an-phu", "made-up")):
        with pytest.raises(urllib.error.HTTPError) as err:
            enroll.enrol_node(hub_endpoint.url, tok, name=name, role="node", data_dir=tmp_path / "other")
        assert err.value.code == 403
    other = enroll.issue_token(hub_endpoint.data, "node-b")
    with pytest.raises(urllib.error.HTTPError):
        enroll.enrol_node(hub_endpoint.url, other, name="node-c", role="node", data_dir=tmp_path / "other")
    assert not (tmp_path / "other/pki/exchange/tls.crt").exists()
    tokens = json.loads((hub_endpoint.data / "pki/enroll/tokens.json").read_text())
    assert other not in json.dumps(tokens)  # only hashes are kept


def test_enrolment_refuses_bad_requests(hub_endpoint):
    from vanban import enroll
    from vanban.errors import Invalid
    from vanban.signing.pki import Pki

    token = enroll.issue_token(hub_endpoint.data, "node-x")
    with pytest.raises(Invalid) as err:
        enroll.sign_requests(hub_endpoint.data, Pki(hub_endpoint.data / "pki"), b"root-pass", token=token,
                             name="node-x", role="node", tls_csr="garbage", dsig_csr="garbage")
    assert err.value.code == "enroll_bad_csr"
    # A refused request does not spend the token.
    tokens = json.loads((hub_endpoint.data / "pki/enroll/tokens.json").read_text())
    assert all(r["used"] is None for r in tokens.values())


# -- slow: the built image ---------------------------------------------------------------------------
def _built_image() -> Path:
    """$VANBAN_IMAGE, or the image appliance/build writes to dist/image (built here when missing)."""
    if os.environ.get("VANBAN_IMAGE"):
        return Path(os.environ["VANBAN_IMAGE"])
    image = REPO / "dist/image/vanban-appliance.qcow2"
    if not image.exists():
        subprocess.run([str(REPO / "appliance/build")], check=True)
    return image


@pytest.fixture(scope="module")
def image():
    if os.geteuid() != 0:
        pytest.skip("building and reading the image needs root")
    return _built_image()


def _debugfs(raw: Path, offset: int, command: str) -> str:
    """Run a debugfs command on the root file system inside the disk image (no mount)."""
    result = subprocess.run(["debugfs", "-R", command, f"{raw}?offset={offset}"], capture_output=True, text=True)
    return result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.hosts
@pytest.mark.timeout(2400)  # includes building the image when dist/image is empty (4–7 min)
def test_image_is_sealed(image):
    import disk

    raw = image.with_suffix(".raw")
    offset = disk.ROOT_START_MIB * disk.MIB
    sums = (image.parent / f"{image.stem}.SHA256SUMS").read_text()
    assert f"  {image.name}" in sums and f"  {raw.name}" in sums
    ls = lambda path: _debugfs(raw, offset, f"ls -l {path}")  # noqa: E731
    assert "ssh_host_" not in ls("/etc/ssh") and "sshd_config" in ls("/etc/ssh")
    size = lambda path: int(re.search(r"Size: (\d+)", _debugfs(raw, offset, f"stat {path}")).group(1))  # noqa: E731
    assert size("/etc/machine-id") == 0
    for gone in ("/root/.ssh", "/root/.bash_history", "/etc/vanban/tls/server.key",
                 "/etc/apt/apt.conf.d/01vanban-lab-proxy", "/etc/systemd/network/10-lab.network",
                 "/var/lib/vanban/vanban.db", "/var/lib/vanban-firstboot/configured"):
        assert "File not found" in _debugfs(raw, offset, f"stat {gone}"), gone
    journal = ls("/var/log/journal").split()
    assert not any(len(word) == 32 for word in journal), journal  # no machine's journal directory
    for log in ("/var/log/dpkg.log", "/var/log/apt/history.log", "/var/log/wtmp", "/var/log/lastlog"):
        out = _debugfs(raw, offset, f"stat {log}")
        assert "File not found" in out or size(log) == 0, (log, out[:300])
    # The firewall of a sealed image lets nobody in: the build network is not an admin network.
    nft = _debugfs(raw, offset, "cat /etc/nftables.conf")
    assert "policy drop" in nft and "198.18." not in nft
    # What first boot needs is there: the program, its units, the roles' templates, the app release.
    assert "vanban-firstboot" in ls("/usr/local/sbin")
    templates = ls("/usr/local/lib/vanban-firstboot/templates")
    assert "nftables.conf.j2" in templates and "nodes.json.j2" in templates and "prometheus.j2" in templates
    # Hub parts are baked but off: mirror site available not enabled, no monitoring data of the build host.
    assert "vanban-mirror.conf" in ls("/etc/nginx/sites-available")
    assert "vanban-mirror.conf" not in ls("/etc/nginx/sites-enabled")
    assert "prometheus-alertmanager.service" not in ls("/etc/systemd/system/multi-user.target.wants")
    local = [w for w in ls("/var/lib/prometheus/local").split() if w not in (".", "..")]
    assert not any(w in ("wal", "chunks_head", "queries.active") for w in local), local
    # No textfile metrics of the build (its certificate is gone), but the unit that writes the server's own.
    assert ".prom" not in ls("/var/lib/prometheus/node-exporter")
    assert "vanban-textfile-metrics.timer" in ls("/etc/systemd/system/timers.target.wants")
    assert "current" in ls("/opt/vanban")
    # x86-64 baseline: nothing in the release needs newer CPU features (numpy would, for one).
    assert "numpy" not in _debugfs(raw, offset, "ls /opt/vanban/current/lib/python3.11/site-packages")


# Fetch a loopback URL inside the guest (no curl in the image), retrying while the service starts (TCG).
_GET = ("python3 -c 'import sys,time,urllib.request as u\n"
        "for i in range(90):\n"
        "  try: print(u.urlopen(sys.argv[1], timeout=10).read().decode()); break\n"
        "  except Exception as e: err = e; time.sleep(2)\n"
        "else: sys.exit(str(err))' ")


def _check_monitoring(run, name: str, role: str) -> None:
    """The seed's identity in the local Prometheus (its loaded config), alerts to the hub; on the hub, the
    fleet Prometheus's targets from hub.fleet, Alertmanager ready, the mirror serving files."""
    env = run("cat /etc/default/prometheus")
    assert f'VANBAN_NODE="{name}"' in env and 'VANBAN_PROVINCE="an-giang"' in env and 'VANBAN_AGENCIES="H29.31"' in env
    config = json.loads(run(_GET + "http://127.0.0.1:9090/api/v1/status/config"))["data"]["yaml"]
    assert f"node: {name}" in config and "province: an-giang" in config, config[:600]
    alertmanagers = run("cat /etc/prometheus/vanban/file_sd/alertmanagers.json")
    assert ("127.0.0.1:9093" if role == "hub" else "198.18.250.1:9093") in alertmanagers
    assert run(_GET + "http://127.0.0.1:9100/metrics").count("node_systemd_unit_state") > 0
    if role != "hub":
        assert run("systemctl is-enabled prometheus-alertmanager || true").strip() == "disabled"
        assert "vanban-mirror.conf" not in run("ls /etc/nginx/sites-enabled")
        return
    targets = run(_GET + "http://127.0.0.1:9092/api/v1/targets")
    assert '"node":"node-test1"' in targets and "198.18.250.11:9090" in targets, targets[:600]
    assert f'"node":"{name}"' in targets and "127.0.0.1:9090" in targets
    run(_GET + "http://127.0.0.1:9093/-/ready")  # fails unless Alertmanager answers 200
    run("echo mirror-test | sudo -n tee /srv/clamav-mirror/test.txt >/dev/null")
    assert run(_GET + "http://127.0.0.1/clamav/test.txt").strip() == "mirror-test"
    assert "198.18.250.11" in run("sudo -n nft list set inet vanban nodes_v4")


def _https_json(port: int, path: str) -> tuple[dict, dict]:
    import socket

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # self-signed until enrolment; we read the certificate instead
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with context.wrap_socket(raw) as tls:
            cert = tls.getpeercert(binary_form=True)
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    from cryptography import x509

    name = x509.load_der_x509_certificate(cert).subject.rfc4514_string()
    return json.loads(body), {"subject": name}


@pytest.mark.slow
@pytest.mark.hosts
@pytest.mark.timeout(2400)  # two TCG boots on a 2-core machine
def test_two_boots_of_one_image_become_two_servers(image, tmp_path, hub_endpoint):
    """Boot two copies with seeds, one a node and one a hub; each configures itself, enrols (with the
    endpoint on the host's loopback, which qemu's user network shows the guest as 10.0.2.2), serves,
    firewalls, monitors itself with the seed's identity, and has its own identity. The hub also runs the
    fleet Prometheus (federating the node listed in its seed), Alertmanager and the signature mirror."""
    import qemu

    from vanban import enroll

    port = hub_endpoint.url.split(":")[2].split("/")[0]
    servers = [("node-test1", "node"), ("hub-test", "hub")]

    key = tmp_path / "admin"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    vms = []
    try:
        for n, (name, role) in enumerate(servers, 1):
            token = enroll.issue_token(hub_endpoint.data, name, role=role)
            seed = (SEED if role == "node" else HUB_SEED).replace('"node-test"', f'"{name}"').replace(
                'role = "node"', 'role = "node"\nprovince = "an-giang"').replace(
                SEED.split('ssh_keys = ["')[1].split('"]')[0], (tmp_path / "admin.pub").read_text().strip()).replace(
                'address = "198.18.250.1"', f'address = "198.18.250.1"\nenroll_token = "{token}"\n'
                f'enroll_url = "https://{qemu.GUEST_PEER}:{port}/exchange/v1/enroll"')
            disk_ = qemu.seed_disk(seed, tmp_path / f"seed{n}.img")
            vms.append(qemu.VM(image, tmp_path, f"vm{n}", seed=disk_).start())
        healthy = [vm.wait_console(qemu.HEALTHY_MARK, timeout=1500) for vm in vms]
        print(f"\npower-on to healthy (TCG, 1 vCPU, two VMs at once): {[round(h) for h in healthy]} s")
        keys, ids = [], []
        for vm, (name, role) in zip(vms, servers, strict=True):
            run = lambda cmd: vm.ssh("vanbanadmin", key, cmd).stdout  # noqa: B023,E731
            assert run("hostname").strip() == name
            hub_units = ("vanban-prometheus-fleet", "prometheus-alertmanager")
            for unit in ("vanban-web", "vanban-worker", "nginx", "nftables", "ssh", "clamav-daemon",
                         "vanban-firstboot", "vanban-firstboot-finish", "prometheus", "prometheus-node-exporter",
                         *(hub_units if role == "hub" else ())):
                assert run(f"systemctl is-active {unit}").strip() == "active", unit
            _check_monitoring(run, name, role)
            ruleset = run("sudo -n nft list ruleset")
            assert "table inet vanban" in ruleset and "policy drop" in ruleset and "10.0.2.2" in ruleset
            report = json.loads(run("sudo -n cat /var/lib/vanban-firstboot/healthy"))
            assert report["enrolment"] == "done", report
            issued = run("sudo -n openssl x509 -noout -nameopt oneline,-esc_msb -subject -issuer -in /var/lib/vanban/pki/exchange/tls.crt")
            assert f"CN = {name}" in issued and "CA tỉnh thử nghiệm" in issued
            assert "enroll-token" not in run("sudo -n ls /var/lib/vanban-firstboot")  # spent, not kept
            agencies = run("sudo -n sqlite3 /var/lib/vanban/vanban.db 'select code from agency'")
            assert "H29.31" in agencies
            # exchange.toml as site.yml writes it: the server's name at the hub, a node's hub endpoint.
            exchange = run("sudo -n cat /var/lib/vanban/exchange.toml")
            hub_url = "" if role == "hub" else "https://198.18.250.1:8443"
            assert f'node_name = "{name}"' in exchange and f'hub_url = "{hub_url}"' in exchange, exchange
            # Root cannot log in, whatever key it is offered.
            assert vm.ssh("root", key, "true", check=False).returncode != 0
            body, cert = _https_json(vm.https_port, "/healthz")
            assert body["status"] == "ok" and body["role"] == role and body["db"] == "ok"
            assert f"CN={name}" in cert["subject"]
            keys.append(vm.host_key())
            ids.append(run("cat /etc/machine-id").strip())
        assert keys[0] and keys[0] != keys[1], keys
        assert len(ids[0]) == 32 and ids[0] != ids[1], ids
    finally:
        for vm in vms:
            vm.stop()
