"""Secrets (issue 8): canary values for password, client_secret, client_certificate_password, access_token and a
private key passed as ``certificate`` never show in output, errors, logs, the simulators' records (calls.jsonl, the
PSRP commands either endpoint decoded, the Graph log, state.json) or files left on disk (Ansible's temp dirs, the
token cache, the Kerberos realm's directory); the token cache is private (0700 directory, 0600 files) and holds no
secret but the token. The Exchange password travels to the KDC (Kerberos pre-authentication, the default), or to
the endpoint in an NTLM or Basic exchange, never as a PSRP value.

In-process runs see results *before* Ansible's no_log masking (stricter than the playbook); one real
ansible-playbook run at -vvvv covers what a user sees, the callback's records and Ansible's temp files.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.exchange.hybrid.plugins.modules import (
    exchange_auth_server,
    exchange_monitoring_probe,
    exchange_oauth_cert,
    exchange_server_info,
    exchange_setting_override,
    msol_sp_credential,
    push_proxy,
    tenant_info,
)
from defects import leaky_clients
from safety_harness import drive, exchange_args, files_containing, graph_args, pipelines_seen

FAMILY = "secrets"

PASSWORD = "Canary-Kerberos-Pw-7c1e9a"
CLIENT_SECRET = "Canary-Graph-Secret-4b8d2f"
CERT_PASSWORD = "Canary-Pfx-Pw-93a6c0"
ACCESS_TOKEN = "eyJ0eXAiOiJKV1QifQ.Canary-Access-Token-5e2a71.c2lnbmF0dXJl"
WRONG_PASSWORD = "Canary-Wrong-Pw-0d4e83"


@pytest.fixture(name="canary_sim", scope="module")
def fixture_canary_sim(tmp_path_factory):
    from hybrid_sim.entra import make_certificate
    from hybrid_sim.simulation import Simulation
    from safety_harness import capture_commands

    client_cert = make_certificate("Safety Graph Client", key_index=2)
    directory = tmp_path_factory.mktemp("secrets")
    sim = Simulation(
        str(directory / "sim"),
        password=PASSWORD,
        entra_options={"client_secret": CLIENT_SECRET, "client_certificate_pem": client_cert.cert_pem},
    ).start()
    capture_commands(sim)
    key = serialization.load_pem_private_key(client_cert.key_pem.encode(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(CERT_PASSWORD.encode()),
    ).decode()
    pem_path = directory / "client.pem"
    pem_path.write_text(client_cert.cert_pem + encrypted)
    leaked_key = make_certificate("Safety Leaked Key", key_index=3).key_pem
    sim.safety = {"client_pem": str(pem_path), "leaked_key": leaked_key}
    yield sim
    shells = sim.open_shells()
    sim.stop()
    assert not shells, shells


def key_canaries(key_pem: str) -> list[str]:
    """Pieces of the private key that must never show (each base64 line of its body)."""
    return [line for line in key_pem.splitlines() if line and not line.startswith("-----")]


def all_canaries(sim) -> list[str]:
    return [PASSWORD, CLIENT_SECRET, CERT_PASSWORD, ACCESS_TOKEN, WRONG_PASSWORD] + key_canaries(
        sim.safety["leaked_key"]
    )


def leaks(outcome, canaries) -> list[str]:
    channels = {
        "result/failure message": json.dumps(outcome.result, default=str),
        "stderr and logging": outcome.stderr,
        "calls.jsonl": json.dumps(outcome.calls),
        "Graph simulator log": json.dumps(outcome.graph_requests, default=str),
        "PSRP commands (both endpoints)": psrp_text(outcome.pipelines),
    }
    return ["%s in %s" % (c[:12], name) for name, text in channels.items() for c in canaries if c in text]


def psrp_text(pipelines) -> str:
    """Every command name, script text and parameter value the endpoints decoded, as one text."""
    return json.dumps(
        [[(c.name, c.is_script, c.parameters) for c in p.commands] for p in pipelines], default=str, ensure_ascii=False
    )


def token_cache_problems(canaries) -> list[str]:
    directory = os.environ["EXCHANGE_HYBRID_TOKEN_CACHE_DIR"]
    problems = []
    mode = stat.S_IMODE(os.stat(directory).st_mode)
    if mode & 0o077:
        problems.append("token cache directory mode %o" % mode)
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        file_mode = stat.S_IMODE(os.stat(path).st_mode)
        if file_mode & 0o077:
            problems.append("%s mode %o" % (name, file_mode))
    problems += ["secret in %s" % os.path.basename(p) for p in files_containing(directory, canaries)]
    return problems


def _exchange(sim, **extra):
    return exchange_args(sim, **dict({"password": PASSWORD}, **extra))


def module_runs(sim):
    """(case name, module, params): every module, successful and failing paths, with canaries in place."""
    from hybrid_sim.entra import make_certificate

    cert = make_certificate("Safety Secrets").base64_der
    return [
        ("exchange_server_info (Kerberos from the password)", exchange_server_info, _exchange(sim)),
        (
            "exchange_server_info wrong password (KDC pre-authentication failed)",
            exchange_server_info,
            _exchange(sim, password=WRONG_PASSWORD),
        ),
        (
            "exchange_server_info basic over http refused",
            exchange_server_info,
            _exchange(sim, auth="basic", username=sim.username),
        ),
        (
            "exchange_server_info NTLM refused by the Exchange endpoint",
            exchange_server_info,
            _exchange(sim, auth="ntlm", username=sim.username),
        ),
        ("exchange_oauth_cert", exchange_oauth_cert, _exchange(sim)),
        ("exchange_auth_server", exchange_auth_server, _exchange(sim, tenant_domain="contoso.onmicrosoft.com")),
        ("push_proxy", push_proxy, _exchange(sim, organization="contoso.onmicrosoft.com")),
        (
            "exchange_setting_override",
            exchange_setting_override,
            _exchange(
                sim,
                name="S",
                component="Global",
                section="ExchangeOnpremAsThirdPartyAppId",
                parameters=["Enabled=true"],
                reason="safety",
            ),
        ),
        (
            "exchange_monitoring_probe",
            exchange_monitoring_probe,
            _exchange(sim, restart_health_service=False, timeout=1, poll_interval=1, fail_on_failure=True),
        ),
        ("tenant_info client_secret", tenant_info, graph_args(sim, client_secret=CLIENT_SECRET)),
        ("tenant_info wrong client_secret", tenant_info, graph_args(sim, client_secret=CLIENT_SECRET + "x")),
        (
            "tenant_info client certificate with password",
            tenant_info,
            dict(
                graph_args(
                    sim, client_certificate_path=sim.safety["client_pem"], client_certificate_password=CERT_PASSWORD
                ),
                client_secret=None,
            ),
        ),
        (
            "tenant_info wrong client_certificate_password",
            tenant_info,
            dict(
                graph_args(
                    sim,
                    client_certificate_path=sim.safety["client_pem"],
                    client_certificate_password=CERT_PASSWORD + "x",
                ),
                client_secret=None,
            ),
        ),
        (
            "msol_sp_credential client_secret",
            msol_sp_credential,
            graph_args(sim, client_secret=CLIENT_SECRET, certificate=cert),
        ),
        (
            "msol_sp_credential access_token (rejected)",
            msol_sp_credential,
            dict(graph_args(sim, access_token=ACCESS_TOKEN, certificate=cert), client_secret=None, client_id=None),
        ),
        (
            "msol_sp_credential private key as certificate",
            msol_sp_credential,
            graph_args(sim, client_secret=CLIENT_SECRET, certificate=sim.safety["leaked_key"]),
        ),
        (
            "msol_sp_credential private key (one line) as certificate",
            msol_sp_credential,
            graph_args(sim, client_secret=CLIENT_SECRET, certificate="".join(key_canaries(sim.safety["leaked_key"]))),
        ),
    ]


def test_no_canary_in_process(canary_sim, cases):
    canaries = all_canaries(canary_sim)
    for name, module, params in module_runs(canary_sim):
        with cases.soft(name):
            params = {k: v for k, v in params.items() if v is not None}
            outcome = drive(module, params, canary_sim)
            found = leaks(outcome, canaries)
            assert not found, "canary leaked: %s (%r)" % (found, outcome)
            assert not token_cache_problems(canaries), token_cache_problems(canaries)
            if "private key" in name:
                assert outcome.failed and not outcome.graph_requests, "a private key was not refused before Graph"
    with cases.soft("token cache: private and holds a token"):
        directory = os.environ["EXCHANGE_HYBRID_TOKEN_CACHE_DIR"]
        caches = [n for n in os.listdir(directory) if n.endswith(".json")]
        assert caches, "no token cache file was written"
        assert any("AccessToken" in open(os.path.join(directory, n), encoding="utf-8").read() for n in caches)


def test_planted_leaks_are_caught(canary_sim, cases):
    canaries = all_canaries(canary_sim)
    with cases.defect("PSRP client logging its WSMan connection arguments"):
        with leaky_clients.logging_psrp_client():
            outcome = drive(exchange_server_info, _exchange(canary_sim), canary_sim)
        assert not leaks(outcome, canaries), leaks(outcome, canaries)
    with cases.defect("Graph client keeping the secret in the token cache"):
        with leaky_clients.secret_in_token_cache():
            drive(tenant_info, graph_args(canary_sim, client_secret=CLIENT_SECRET), canary_sim)
        assert not token_cache_problems(canaries), token_cache_problems(canaries)


PLAYBOOK = """
- name: every module with canaries (-vvvv)
  hosts: EX2019
  gather_facts: false
  vars:
    graph: &graph
      tenant: "{{ hybrid_tenant_id }}"
      client_id: "{{ hybrid_graph_client_id }}"
      client_secret: "%(secret)s"
      authority_host: "{{ hybrid_graph_authority_host }}"
      graph_endpoint: "{{ hybrid_graph_endpoint }}"
      ca_path: "{{ exchange_sim_ca_path }}"
  tasks:
    - exchange.hybrid.exchange_server_info:
    - exchange.hybrid.exchange_oauth_cert:
      register: cert
    - exchange.hybrid.exchange_auth_server:
        tenant_domain: contoso.onmicrosoft.com
    - exchange.hybrid.push_proxy:
        organization: contoso.onmicrosoft.com
    - exchange.hybrid.exchange_setting_override:
        name: Safety
        component: Global
        section: ExchangeOnpremAsThirdPartyAppId
        parameters: [Enabled=true]
        reason: safety suite
    - exchange.hybrid.exchange_monitoring_probe:
        restart_health_service: false
        timeout: 1
        poll_interval: 1
        fail_on_failure: false
    - name: wrong password
      exchange.hybrid.exchange_server_info:
        password: "%(wrong)s"
      ignore_errors: true
    - exchange.hybrid.tenant_info: *graph
      delegate_to: localhost
    - exchange.hybrid.msol_sp_credential:
        <<: *graph
        certificate: "{{ cert.certificate }}"
      delegate_to: localhost
    - name: client certificate with a password
      exchange.hybrid.tenant_info:
        tenant: "{{ hybrid_tenant_id }}"
        client_id: "{{ hybrid_graph_client_id }}"
        client_certificate_path: "%(client_pem)s"
        client_certificate_password: "%(cert_password)s"
        authority_host: "{{ hybrid_graph_authority_host }}"
        graph_endpoint: "{{ hybrid_graph_endpoint }}"
        ca_path: "{{ exchange_sim_ca_path }}"
      delegate_to: localhost
    - name: access token (rejected)
      exchange.hybrid.msol_sp_credential:
        tenant: "{{ hybrid_tenant_id }}"
        access_token: "%(token)s"
        graph_endpoint: "{{ hybrid_graph_endpoint }}"
        authority_host: "{{ hybrid_graph_authority_host }}"
        ca_path: "{{ exchange_sim_ca_path }}"
        certificate: "{{ cert.certificate }}"
      delegate_to: localhost
      ignore_errors: true
    - name: private key as certificate
      exchange.hybrid.msol_sp_credential:
        <<: *graph
        certificate: "{{ leaked_key }}"
      delegate_to: localhost
      ignore_errors: true
"""


def test_no_canary_through_ansible_playbook_vvvv(canary_sim, run_playbook, cases, tmp_path):
    remote_tmp = tmp_path / "remote-tmp"
    text = PLAYBOOK % {
        "secret": CLIENT_SECRET,
        "wrong": WRONG_PASSWORD,
        "client_pem": canary_sim.safety["client_pem"],
        "cert_password": CERT_PASSWORD,
        "token": ACCESS_TOKEN,
    }
    run = run_playbook(
        canary_sim,
        text,
        extra_vars={"leaked_key": canary_sim.safety["leaked_key"]},
        verbosity=4,
        env={"ANSIBLE_REMOTE_TEMP": str(remote_tmp), "ANSIBLE_KEEP_REMOTE_FILES": "0"},
    )
    canaries = all_canaries(canary_sim)
    with cases.case("playbook ran every module"):
        assert run.rc == 0, run
        statuses = [t["status"] for t in run.tasks]
        assert statuses.count("ignored") == 3, statuses
    for channel, text in (("stdout", run.stdout), ("stderr", run.stderr)):
        with cases.soft("-vvvv %s" % channel):
            found = [c[:12] for c in canaries if c in text]
            assert not found, "canary in %s: %s" % (channel, found)
    with cases.soft("task results (callback records)"):
        found = [c[:12] for c in canaries if c in json.dumps(run.tasks)]
        assert not found, found
    with cases.soft("simulators' records (calls.jsonl, PSRP commands, Graph log, state.json)"):
        records = json.dumps(canary_sim.calls()) + json.dumps(canary_sim.entra.log, default=str)
        records += psrp_text(pipelines_seen(canary_sim))
        records += open(canary_sim.state_path, encoding="utf-8").read()
        found = [c[:12] for c in canaries if c in records]
        assert not found, found
    with cases.soft("files left on disk (Ansible temp dirs, e2e work dir, token cache, Kerberos realm)"):
        work = os.path.join(canary_sim.directory, "e2e")
        # the playbook and extra-vars files hold the canaries because the test wrote them there
        mine = {"playbook-", "extra-vars-"}
        found = [
            p
            for p in files_containing(work, canaries)
            + files_containing(str(tmp_path), canaries)
            + files_containing(canary_sim.realm.directory, canaries)
            if not any(os.path.basename(p).startswith(m) for m in mine)
        ]
        assert not found, found
        assert not token_cache_problems(canaries), token_cache_problems(canaries)
