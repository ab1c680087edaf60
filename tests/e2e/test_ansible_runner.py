# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shipped playbooks through ansible-runner, the engine AWX/AAP runs on its execution nodes.

Each job is laid out the way AWX lays out a job: a private data directory with a project holding the wrapper
playbooks the AWX guide recommends (`import_playbook: exchange.hybrid.<playbook>`), an inventory with Kerberos psrp
connection variables but no credentials, the Machine credential as `-u <user@REALM> --ask-pass` answered through
ansible-runner's password prompts (pexpect) and turned into a Kerberos ticket inside the job (no kinit, no ticket
cache, no keytab; KRB5_CONFIG names the test realm's krb5.conf as AWX's job environment would), and the Microsoft
Graph credential rendered from the collection's credential type (extensions/credential_types/microsoft_graph.yml)
exactly as AWX injects it: env variables, and the certificate written to a private file under env/. The tests read the job events and scan every file under
the artifacts directory for secret canaries.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

ansible_runner = pytest.importorskip("ansible_runner")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from hybrid_sim.simulation import is_read_call  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD_CANARY = "Canary-WinRM-pw-5e8c1d7b3a!"
SECRET_CANARY = "canary~GraphSecret-0b9d4f2e6c"
ORG_WIDE_ACTIONS = (
    "exchange.hybrid.exchange_oauth_cert",
    "exchange.hybrid.exchange_auth_server",
    "exchange.hybrid.msol_sp_credential",
    "exchange.hybrid.push_proxy",
)
PLAYBOOKS = ("configure_push_notifications", "verify_push_notifications", "audit_push_notifications")
# What AWX answers the ansible-playbook connection password prompt with (awx/main/tasks/jobs.py password prompts).
SSH_PASSWORD_PROMPT = r"SSH password:\s*?$"


def _load_credential_type_helpers():
    path = ROOT / "tests" / "quality" / "test_credential_types.py"
    spec = importlib.util.spec_from_file_location("exchange_hybrid_credential_types", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CREDENTIAL_TYPES = _load_credential_type_helpers()


def _require(*paths: str) -> None:
    missing = [p for p in paths if not (ROOT / p).exists()]
    if missing:
        pytest.skip("not in the collection yet: " + ", ".join(missing))


@pytest.fixture(scope="module")
def client_certificate() -> dict[str, str]:
    """The Graph application's certificate: PEM (key + certificate) as pasted into the AWX credential."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exchange-hybrid-awx-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_lines = key_pem.strip().splitlines()[1:-1]
    return {
        "pem": key_pem + cert_pem,
        "certificate": cert_pem,
        # canaries: lines of the private key's body (any of them in a file means the key leaked)
        "key_lines": [line for line in key_lines if len(line) == 64][2:6],
    }


@pytest.fixture(name="awx_sim")
def fixture_awx_sim(make_simulation, client_certificate):
    _require(*(f"playbooks/{name}.yml" for name in PLAYBOOKS[:2]))
    _require("plugins/modules/tenant_info.py", "plugins/modules/msol_sp_credential.py", "plugins/module_utils/_graph.py")
    return make_simulation(
        password=PASSWORD_CANARY,
        entra_options={"client_secret": SECRET_CANARY, "client_certificate_pem": client_certificate["certificate"]},
    )


class Job:
    """One AWX-like job: private data directory, ansible_runner.run(), events, stats."""

    def __init__(self, sim, base: Path, name: str):
        self.sim = sim
        self.dir = base / name
        (self.dir / "project").mkdir(parents=True)
        (self.dir / "inventory").mkdir()
        (self.dir / "env").mkdir(mode=0o700)
        self.ccache = self.dir / "env" / "krb5cc_job"
        self.runner: Any = None

    def inventory(self) -> Path:
        endpoints = self.sim.endpoints()
        entra = endpoints["entra"]
        # A Kerberos psrp host as the AWX guide writes it: no user, no password (they come from the Machine
        # credential); the simulated FQDN reaches 127.0.0.1 through the SPN hostname override.
        hosts = {
            name: {
                "ansible_host": "127.0.0.1",
                "ansible_port": server["https_port"],
                "ansible_connection": "psrp",
                "ansible_psrp_protocol": "https",
                "ansible_psrp_auth": "kerberos",
                "ansible_psrp_ca_cert": endpoints["ca_path"],
                "ansible_psrp_negotiate_hostname_override": server["fqdn"],
                "exchange_connection_uri": server["exchange_uri"],
            }
            for name, server in endpoints["servers"].items()
        }
        # organization group: the tenant and, as a proxy/sovereign set-up would, where Graph is
        group_vars = {
            "push_notifications_tenant_domain": endpoints["tenant_domain"],
            "push_notifications_graph_authority_host": entra["authority_host"],
            "push_notifications_graph_endpoint": entra["graph_endpoint"],
            "push_notifications_graph_ca_path": endpoints["ca_path"],
            "push_notifications_probe_poll_interval": 1,
        }
        path = self.dir / "inventory" / "hosts.json"
        path.write_text(json.dumps({"exchange": {"children": {"org_contoso": {"hosts": hosts, "vars": group_vars}}}}))
        return path

    def run(self, playbook: str, graph_inputs: dict[str, str], job_type: str = "run", extravars=None) -> "Job":
        (self.dir / "project" / f"{playbook}.yml").write_text(
            f"- name: {playbook} (AWX project wrapper)\n"
            f"  ansible.builtin.import_playbook: exchange.hybrid.{playbook}\n"
        )
        (graph_type,) = CREDENTIAL_TYPES.load_types(CREDENTIAL_TYPES.GRAPH_TYPE)
        env = CREDENTIAL_TYPES.awx_inject(graph_type, graph_inputs, self.dir)
        env.update(
            {
                "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
                "ANSIBLE_COLLECTIONS_PATH": os.environ.get(
                    "ANSIBLE_COLLECTIONS_PATH", str(ROOT / ".venv" / "collections")
                ),
                "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
                "ANSIBLE_LOCAL_TEMP": str(self.dir / "tmp"),
                "EXCHANGE_HYBRID_TOKEN_CACHE_DIR": str(self.dir / "token-cache"),
                # The realm's krb5.conf, as AWX's Extra Environment Variables name a mounted one.
                "KRB5_CONFIG": self.sim.endpoints()["krb5_config"],
                # No kinit and no keytab in the job: a ticket cache nobody fills, keytabs that do not exist. The
                # Kerberos ticket can only come from the Machine credential's password.
                "KRB5CCNAME": "FILE:" + str(self.ccache),
                "KRB5_KTNAME": "FILE:" + str(self.dir / "env" / "none.keytab"),
                "KRB5_CLIENT_KTNAME": "FILE:" + str(self.dir / "env" / "none-client.keytab"),
            }
        )
        # The Machine credential: the user as a Kerberos principal (UPN, exadmin@CONTOSO.COM), the password prompted.
        cmdline = ["-u", self.sim.kerberos_username, "--ask-pass"]
        if job_type == "check":
            cmdline += ["--check", "--diff"]
        self.runner = ansible_runner.run(
            private_data_dir=str(self.dir),
            project_dir=str(self.dir / "project"),
            playbook=f"{playbook}.yml",
            inventory=str(self.inventory()),
            envvars=env,
            extravars=extravars or {},
            cmdline=" ".join(shlex.quote(arg) for arg in cmdline),
            passwords={SSH_PASSWORD_PROMPT: self.sim.password},
            suppress_env_files=True,
            quiet=True,
            timeout=900,
        )
        return self

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self.runner.events)

    def report(self) -> str:
        stdout = (Path(self.runner.config.artifact_dir) / "stdout").read_text(errors="replace")
        return f"status={self.runner.status} rc={self.runner.rc}\n{stdout[-15000:]}"

    @property
    def changed(self) -> int:
        return sum((self.runner.stats or {}).get("changed", {}).values())

    def changed_actions(self) -> list[str]:
        return [
            e["event_data"].get("resolved_action") or e["event_data"].get("task_action")
            for e in self.events
            if e["event"] == "runner_on_ok" and e["event_data"].get("res", {}).get("changed")
        ]

    def results(self, action: str) -> list[dict[str, Any]]:
        return [
            e["event_data"]["res"]
            for e in self.events
            if e["event"] in ("runner_on_ok", "runner_on_failed")
            and action in (e["event_data"].get("resolved_action"), e["event_data"].get("task_action"))
        ]

    def artifact_files(self) -> list[Path]:
        return [p for p in (self.dir / "artifacts").rglob("*") if p.is_file()]


def _leaks(job: Job, canaries: list[str], skip_runner_env_record: bool = False) -> list[str]:
    """Where a canary appears: in an event, or in a file under artifacts/. With skip_runner_env_record, the env
    section of ansible-runner's own `command` record is left out (see test_graph_secret_from_env_...)."""
    found = []
    events = json.dumps(job.events)
    found += [f"job events: {c[:12]}..." for c in canaries if c in events]
    for path in job.artifact_files():
        text = path.read_bytes().decode("utf-8", errors="replace")
        if skip_runner_env_record and path.name == "command":
            text = json.dumps({k: v for k, v in json.loads(text).items() if k != "env"})
        found += [f"{path.relative_to(job.dir)}: {c[:12]}..." for c in canaries if c in text]
    return found


def _endpoint_inputs(sim) -> dict[str, str]:
    entra = sim.endpoints()["entra"]
    return {"tenant": entra["tenant_id"], "client_id": entra["client_id"]}


def _state(sim) -> bytes:
    return Path(sim.state_path).read_bytes()


def test_configure_job_with_machine_and_graph_certificate_credentials(awx_sim, tmp_path, client_certificate):
    """AWX's usual job: Machine credential (Kerberos from its user and password), Graph application with a
    certificate. Converges, the probe succeeds, a second job changes nothing, no ticket cache was written, and
    neither the password nor the key is in any event or artifact."""
    inputs = dict(_endpoint_inputs(awx_sim), client_certificate=client_certificate["pem"])
    first = Job(awx_sim, tmp_path, "job-1").run("configure_push_notifications", inputs)
    assert first.runner.status == "successful" and first.runner.rc == 0, first.report()
    changed = first.changed_actions()
    for action in ORG_WIDE_ACTIONS:
        assert changed.count(action) == 1, f"{action} changed {changed.count(action)} times: {changed}"
    probes = [r for r in first.results("exchange.hybrid.exchange_monitoring_probe") if "result_type" in r]
    assert probes and all(r["result_type"] == "Succeeded" for r in probes), probes

    second = Job(awx_sim, tmp_path, "job-2").run("configure_push_notifications", inputs)
    assert second.runner.status == "successful", second.report()
    assert second.changed == 0, second.changed_actions()
    # The ticket came from the password into memory (pyspnego), never from or into the job's ticket cache.
    assert not first.ccache.exists() and not second.ccache.exists()

    canaries = [PASSWORD_CANARY, *client_certificate["key_lines"]]
    assert _leaks(first, canaries) == []
    assert _leaks(second, canaries) == []
    # AWX's certificate file stays in the job's private env/ directory, outside the artifacts
    assert not any("BEGIN PRIVATE KEY" in p.read_text(errors="replace") for p in first.artifact_files())


def test_check_job_is_an_audit_that_writes_nothing(awx_sim, tmp_path, client_certificate):
    """Job type Check on a fresh organization: every organization-wide step reports a change, nothing is written."""
    before = _state(awx_sim)
    inputs = dict(_endpoint_inputs(awx_sim), client_certificate=client_certificate["pem"])
    job = Job(awx_sim, tmp_path, "check").run("configure_push_notifications", inputs, job_type="check")
    assert job.runner.status == "successful", job.report()
    assert _state(awx_sim) == before
    changed = job.changed_actions()
    for action in ORG_WIDE_ACTIONS[:2] + ORG_WIDE_ACTIONS[3:]:
        assert action in changed, f"check mode should report {action} as a change: {changed}"
    assert not awx_sim.writes()
    assert _leaks(job, [PASSWORD_CANARY, *client_certificate["key_lines"]]) == []


def test_graph_secret_from_env_with_survey_answers(awx_sim, tmp_path):
    """Graph application with a client secret (env AZURE_CLIENT_SECRET, as AWX injects it) and the survey's answers,
    which AWX passes as strings. The secret is in no job event and no artifact; ansible-runner itself records the
    process environment in artifacts/<job>/command (as it does for any credential AWX injects as env), which is why
    AWX keeps the private data directory only for the job's life."""
    inputs = dict(_endpoint_inputs(awx_sim), client_secret=SECRET_CANARY)
    survey = {
        "push_notifications_tenant_domain": awx_sim.tenant_domain,
        "push_notifications_cloud": "global",
        "push_notifications_entra_target": "shared_service_principal",
        "push_notifications_verify": "true",
    }
    job = Job(awx_sim, tmp_path, "secret").run("configure_push_notifications", inputs, extravars=survey)
    assert job.runner.status == "successful", job.report()
    assert job.changed > 0
    probes = [r for r in job.results("exchange.hybrid.exchange_monitoring_probe") if "result_type" in r]
    assert probes and all(r["result_type"] == "Succeeded" for r in probes), probes
    assert _leaks(job, [SECRET_CANARY, PASSWORD_CANARY], skip_runner_env_record=True) == []
    command = json.loads((Path(job.runner.config.artifact_dir) / "command").read_text())
    assert PASSWORD_CANARY not in json.dumps(command)  # the Machine password went through the prompt, not env


def test_verify_and_audit_jobs(awx_sim, tmp_path, client_certificate):
    """After configuration: the verify job succeeds, and the audit playbook (when shipped) runs changing nothing."""
    inputs = dict(_endpoint_inputs(awx_sim), client_certificate=client_certificate["pem"])
    configure = Job(awx_sim, tmp_path, "configure").run("configure_push_notifications", inputs)
    assert configure.runner.status == "successful", configure.report()
    verify = Job(awx_sim, tmp_path, "verify").run("verify_push_notifications", inputs)
    assert verify.runner.status == "successful", verify.report()
    probes = [r for r in verify.results("exchange.hybrid.exchange_monitoring_probe") if "result_type" in r]
    assert probes and all(r["result_type"] == "Succeeded" for r in probes), probes
    canaries = [PASSWORD_CANARY, *client_certificate["key_lines"]]
    assert _leaks(verify, canaries) == []
    configure_calls = awx_sim.calls()

    if not (ROOT / "playbooks" / "audit_push_notifications.yml").exists():
        pytest.skip("playbooks/audit_push_notifications.yml is not shipped yet (issue 6): audit job not run")
    before = _state(awx_sim)
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    audit = Job(awx_sim, tmp_path, "audit").run(
        "audit_push_notifications",
        inputs,
        extravars={"audit_report_dir": str(report_dir), "audit_fail_on_failure": True},
    )
    assert audit.runner.status == "successful", audit.report()
    assert _state(awx_sim) == before
    assert not [c for c in awx_sim.calls()[len(configure_calls):] if not is_read_call(c)]
    reports = sorted(p.name for p in report_dir.iterdir())
    assert reports == ["push-notifications-audit.html", "push-notifications-audit.json"], reports
    assert _leaks(audit, canaries) == []
    for path in report_dir.iterdir():
        assert not [c for c in canaries if c in path.read_text(errors="replace")], path


def test_leak_scan_can_fail(tmp_path):
    """The artifact scan finds a canary planted in an artifact file and in an event."""

    class FakeRunner:
        events = [{"event": "runner_on_ok", "event_data": {"res": {"msg": "pw " + PASSWORD_CANARY}}}]

    job = Job.__new__(Job)
    job.dir = tmp_path
    job.runner = FakeRunner()
    (tmp_path / "artifacts" / "1").mkdir(parents=True)
    (tmp_path / "artifacts" / "1" / "stdout").write_text("... " + SECRET_CANARY + " ...")
    (tmp_path / "artifacts" / "1" / "command").write_text(json.dumps({"command": [], "env": {"X": SECRET_CANARY}}))
    leaks = _leaks(job, [PASSWORD_CANARY, SECRET_CANARY])
    assert any(leak.startswith("job events") for leak in leaks)
    assert any("artifacts/1/stdout" in leak for leak in leaks)
    assert any("artifacts/1/command" in leak for leak in leaks)
    assert not any("command" in leak for leak in _leaks(job, [SECRET_CANARY], skip_runner_env_record=True))
    assert re.search("stdout", " ".join(_leaks(job, [SECRET_CANARY], skip_runner_env_record=True)))
