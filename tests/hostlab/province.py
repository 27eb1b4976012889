"""A small province on lab hosts: inventory for the playbooks, a frozen app source, ansible-playbook runs.

Shared by tests/test_playbooks.py and tests/perf/bench_converge.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .lab import Lab

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
# Run on a host as the service user: an issued outgoing document of an agency, with a one-page PDF, queued in
# the outbox for another agency (what issuing does once the clerk has signed; the UI is tested elsewhere).
# argv: agency code, recipient code, number, subject, user name of the clerk.
ISSUE_OUTGOING = r'''
import sys
from fpdf import FPDF
from vanban.clock import SystemClock
from vanban.core.blobs import BlobStore
from vanban.models import database, init_database, write_transaction
from vanban.models.outgoing import Outbox
from vanban.models.schema import Agency, Attachment, Blob, Document, Register, User
from vanban.settings import load_settings

agency_code, to, number, subject, username = sys.argv[1:6]
settings = load_settings()
init_database(settings.db_path)
database.connect(reuse_if_open=True)
pdf = FPDF()
pdf.add_page()
pdf.set_font("helvetica", size=12)
pdf.cell(text=f"Van ban so {number}")
data = bytes(pdf.output())
now = SystemClock().local().replace(microsecond=0)
blobs = BlobStore(settings.data_path / "blobs")
staged = blobs.stage_bytes(data)
with write_transaction():
    agency = Agency.get(Agency.code == agency_code)
    user = User.get(User.username == username)
    reg = Register.get((Register.agency == agency) & (Register.kind == "outgoing") & (Register.confidential == False))
    doc = Document.create(agency=agency, direction="out", register=reg, year=now.year, issuer_name=agency.name,
                          issuer_code=agency.code, number=number, notation="UBND-VP", doc_date=now.date(),
                          doc_type="CV", subject=subject, medium="electronic", status="issued", created_by=user,
                          created_at=now)
    blobs.commit(staged)
    Blob.insert(sha256=staged.sha256, size=staged.size, created_at=now).on_conflict_ignore().execute()
    Attachment.create(document=doc, blob=staged.sha256, filename=f"{number}-UBND-VP.pdf",
                      content_type="application/pdf", size=staged.size, uploaded_by=user, created_at=now)
    Outbox.create(agency=agency, document=doc, organ_id=to, kind="issue", status="pending", attempts=0,
                  next_attempt_at=now, created_at=now, last_error="")
print(doc.id)
'''
_RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass
class Run:
    rc: int
    output: str
    seconds: float
    recap: dict = field(default_factory=dict)  # host -> {"ok", "changed", "unreachable", "failed"}

    def changed(self) -> dict:
        return {host: r["changed"] for host, r in self.recap.items()}

    def report(self, tail: int = 2500) -> str:
        """What an assertion shows: every failed task with its header (a failure early in the run scrolls out
        of any tail), then the end of the output with the recap."""
        failures, task = [], ""
        for line in self.output.splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                task = line
            elif line.startswith(("fatal:", "failed:")) or "[ERROR]" in line:
                failures += [task, line[:3000]]
        head = "\n".join(dict.fromkeys(failures)) if failures else "(no failed task in the output)"
        return f"failed tasks:\n{head}\n...\n{self.output[-tail:]}"


def snapshot_source(dest: Path, ref: str = "HEAD") -> Path:
    """The committed app (pyproject, its constraints, app/) at `ref`, so runs are not disturbed by edits in
    progress."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref, "pyproject.toml",
                              "constraints.txt", "app"], capture_output=True, check=True).stdout
    tar_path = dest.with_suffix(".tar")
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(dest, filter="data")
    tar_path.unlink()
    return dest


def set_version(source: Path, version: str) -> None:
    pyproject = source / "pyproject.toml"
    text = re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text(), count=1)
    pyproject.write_text(text)


def ansible_bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class Province:
    """Hub + nodes on a Lab, an inventory describing them, and helpers to run the playbooks."""

    def __init__(self, lab: Lab, workdir: Path, hub: str, nodes: list[str], agency_lans: dict[str, str]):
        self.lab, self.workdir, self.hub, self.nodes = lab, workdir, hub, nodes
        self.runs = 0
        self.build_dir = workdir / "build"
        self.source = snapshot_source(workdir / "src")
        host_vars = {}
        for index, node in enumerate(nodes):
            code = f"H29.3{index + 1}.01"
            host_vars[node] = {"vanban_agencies": [
                {"code": code, "name": f"UBND huyện thử {index + 1}", "lan": agency_lans[node]}]}
        self.all_vars = {
            "vanban_admin_networks": [f"{lab.subnet.gateway}/32"],
            "vanban_hub_address": lab[hub].address,
            "vanban_base__ssh_permit_root_login": "prohibit-password",
            "vanban_base__admins": [],
            "vanban_preflight__resolve_names": [hub],
            # The harness and Ansible open many SSH connections from the controller in a burst.
            "vanban_firewall__ssh_rate": "600/minute",
            "vanban_firewall__ssh_burst": 200,
            "vanban_antivirus__test_signatures": True,
            # Monitoring labels and alert mail: recipients make the role render real e-mail receivers (nothing
            # listens on the hub's port 25, so nothing is sent); no dead-man service in the lab.
            "vanban_province": "lab",
            "vanban_monitoring__smtp_smarthost": f"{lab[hub].address}:25",
            "vanban_monitoring__smtp_require_tls": False,
            "vanban_monitoring__email_to": ["giam-sat@lab.invalid"],
            "vanban_antivirus__freshclam_enabled": False,
            "vanban_build_dir": str(self.build_dir),
            "vanban_release_source": str(self.source),
        }
        self.host_vars = host_vars
        self.inventory = self.write_inventory("hosts.yml")

    def write_inventory(self, name: str, *, all_vars: dict | None = None, host_vars: dict | None = None,
                        groups: dict | None = None) -> Path:
        merged_hosts = {h: {**self.host_vars.get(h, {}), **(host_vars or {}).get(h, {})}
                        for h in {*self.host_vars, *(host_vars or {})}}
        return self.lab.write_inventory(
            self.workdir / name, groups or {"hub": [self.hub], "nodes": self.nodes},
            host_vars=merged_hosts,
            group_vars={"hub": {"vanban_app__role": "hub"}, "nodes": {"vanban_app__role": "node"}},
            all_vars={**self.all_vars, **(all_vars or {})})

    def play(self, playbook: str, *args: str, inventory: Path | None = None, timeout: float = 1500) -> Run:
        env = {**os.environ, "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_FORCE_COLOR": "0", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        started = time.monotonic()
        result = subprocess.run([ansible_bin("ansible-playbook"), "-i", str(inventory or self.inventory),
                                 str(PLAYBOOKS / playbook), *args], cwd=PLAYBOOKS, env=env,
                                capture_output=True, text=True, timeout=timeout)
        output = result.stdout + result.stderr
        # Keep every run's full output next to the inventory for a post-mortem.
        self.runs += 1
        (self.workdir / f"{self.runs:02d}-{Path(playbook).stem}.log").write_text(output)
        recap = {m[0]: {"ok": int(m[1]), "changed": int(m[2]), "unreachable": int(m[3]), "failed": int(m[4])}
                 for m in _RECAP.findall(output)}
        return Run(result.returncode, output, time.monotonic() - started, recap)

    @property
    def ca_cert(self) -> Path:
        return self.build_dir / "pki" / "ca.crt"

    def vanban(self, host: str, command: str, **kw):
        """Run the vanban CLI on a host as its service user."""
        return self.lab[host].run(
            f"runuser -u vanban -- /opt/vanban/current/bin/vanban --config /etc/vanban/vanban.toml {command}", **kw)

    def sql(self, host: str, query: str) -> list[list[str]]:
        """Rows of a read-only query on a host's database (sqlite3 shell as root)."""
        out = self.lab[host].run(f"sqlite3 -separator '|' /var/lib/vanban/vanban.db {json.dumps(query)}").stdout
        return [line.split("|") for line in out.splitlines() if line]

    def issue_outgoing(self, host: str, agency: str, to: str, number: str, subject: str,
                       username: str = "vanthu") -> None:
        """An issued document of `agency` on `host` queued for `to` (ISSUE_OUTGOING; `username` must exist)."""
        # written each time: a rebuilt host's disk no longer has an earlier copy
        self.lab[host].write_file("/usr/local/share/vanban-issue.py", ISSUE_OUTGOING)
        self.lab[host].run(
            "runuser -u vanban -- env VANBAN_CONFIG=/etc/vanban/vanban.toml /opt/vanban/current/bin/python "
            f"/usr/local/share/vanban-issue.py {agency} {to} {shlex.quote(number)} {shlex.quote(subject)} {username}")

    def exchange_inbox(self, host: str) -> dict[str, int]:
        """Packages in a host's exchange inbox: subject -> number of rows (1 = exactly once)."""
        rows = self.sql(host, "select subject, count(*) from exchange_inbox where kind = 'package' group by subject")
        return {subject: int(n) for subject, n in rows}
