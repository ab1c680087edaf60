"""msol_sp_credential and tenant_info through real ansible-playbook against the simulated Entra ID + Graph."""

from __future__ import annotations

import json
import time

import pytest

from hybrid_sim.simulation import DEFAULT_SERVERS
from hybrid_sim.entra import (
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT_ID,
    EXCHANGE_ONLINE_SP_ID,
    FULL_ACCESS_AS_APP_ROLE_ID,
    make_certificate,
)

ORG_GUID = "5e3c2a1b-0f9e-4d8c-b7a6-95f4e3d2c1b0"

PLAY = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/exchange.hybrid.graph:
      tenant: "{{ graph.tenant }}"
      client_id: "{{ graph.client_id }}"
      client_secret: "{{ graph.client_secret }}"
      authority_host: "{{ graph.base_url }}"
      graph_endpoint: "{{ graph.base_url }}"
      ca_path: "{{ graph.ca_path }}"
  tasks:
    - name: under test
      exchange.hybrid.%(module)s:
%(args)s
"""


def play(module: str, **args) -> str:
    lines = "".join(f"        {key}: {json.dumps(value)}\n" for key, value in args.items())
    return PLAY % {"module": module, "args": lines}


@pytest.fixture
def sim(make_simulation, tmp_path):
    return graph_simulation(make_simulation, tmp_path)


def graph_simulation(make_simulation, tmp_path, **entra_options):
    """One Exchange server and the tenant, with the Graph connection as the tests' plays pass it."""
    simulation = make_simulation(servers=DEFAULT_SERVERS[-1:], entra_options=entra_options or None)
    details = simulation.endpoints()["entra"]
    simulation.graph_vars = {
        "graph": {
            "tenant": "contoso.onmicrosoft.com",
            "client_id": details["client_id"],
            "client_secret": details["client_secret"],
            "base_url": details["base_url"],
            "ca_path": simulation.pki.ca_path,
        }
    }
    simulation.graph_env = {"EXCHANGE_HYBRID_TOKEN_CACHE_DIR": str(tmp_path / "token-cache")}
    return simulation


def run(run_playbook, sim, text, graph=None, **kwargs):
    extra = json.loads(json.dumps(sim.graph_vars))
    extra["graph"].update(graph or {})
    env = dict(sim.graph_env)
    env.update(kwargs.pop("env", {}))
    return run_playbook(sim, text, extra_vars=extra, env=env, **kwargs)


def tenant(sim) -> dict:
    return sim.store.read()["entra"]["tenants"][DEFAULT_TENANT_ID]


def exo_keys(sim) -> list[dict]:
    return next(sp for sp in tenant(sim)["servicePrincipals"] if sp["id"] == EXCHANGE_ONLINE_SP_ID)["keyCredentials"]


@pytest.fixture(scope="module")
def auth_cert():
    return make_certificate()


# --- shared service principal ---------------------------------------------------------------------------------


def test_shared_sp_add_keeps_foreign_keys_rerun_and_check_mode(sim, run_playbook, auth_cert):
    foreign = {k["keyId"]: k["key"] for k in exo_keys(sim)}
    assert len(foreign) == 2
    text = play("msol_sp_credential", certificate=auth_cert.cert_pem)

    checked = run(run_playbook, sim, text, check=True, diff=True)
    assert checked.ok, checked
    assert checked.result("under test")["changed"] is True
    assert {k["keyId"] for k in exo_keys(sim)} == set(foreign)  # check mode wrote nothing
    assert sim.entra.counters["graph_PATCH"] == 0

    first = run(run_playbook, sim, text, diff=True)
    assert first.ok, first
    result = first.result("under test")
    assert result["changed"] is True
    assert result["key"]["thumbprint"] == auth_cert.thumbprint
    assert result["target"]["object_id"] == EXCHANGE_ONLINE_SP_ID
    after = {k["keyId"]: k for k in exo_keys(sim)}
    assert len(after) == 3
    for key_id, data in foreign.items():
        assert after[key_id]["key"] == data  # both foreign keys keep their key data
    ours = after[result["key"]["key_id"]]
    assert ours["key"] == auth_cert.base64_der and ours["usage"] == "Verify" and ours["type"] == "AsymmetricX509Cert"
    assert [k["thumbprint"] for k in result["diff"]["after"]["keys"]][-1] == auth_cert.thumbprint
    assert len(result["diff"]["before"]["keys"]) == 2

    again = run(run_playbook, sim, text)
    assert again.ok and again.changed == 0, again
    assert sim.entra.counters["graph_PATCH"] == 1
    # one token for the three runs: the cache file serves later plays too
    assert sim.entra.counters["token_requests"] == 1

    removed = run(run_playbook, sim, play("msol_sp_credential", state="absent", thumbprint=auth_cert.thumbprint.lower()))
    assert removed.ok, removed
    assert removed.result("under test")["changed"] is True
    assert {k["keyId"]: k["key"] for k in exo_keys(sim)} == foreign
    gone = run(run_playbook, sim, play("msol_sp_credential", state="absent", certificate=auth_cert.base64_der))
    assert gone.ok and gone.changed == 0


def test_429_on_patch_is_waited_out(sim, run_playbook, auth_cert):
    sim.entra.inject("PATCH", "servicePrincipals", status=429, retry_after=1, count=1)
    done = run(run_playbook, sim, play("msol_sp_credential", certificate=auth_cert.cert_pem))
    assert done.ok, done
    assert sim.entra.counters["graph_PATCH"] == 2
    assert auth_cert.base64_der in [k["key"] for k in exo_keys(sim)]


@pytest.mark.parametrize("action, applied", [("drop_after", True), ("drop_before", False)])
def test_dropped_connection_during_patch(sim, run_playbook, auth_cert, action, applied):
    sim.entra.inject("PATCH", "servicePrincipals", action=action)
    done = run(run_playbook, sim, play("msol_sp_credential", certificate=auth_cert.cert_pem))
    keys = [k["key"] for k in exo_keys(sim)]
    assert (auth_cert.base64_der in keys) is applied
    assert len(keys) == (3 if applied else 2)
    if applied:
        assert done.ok, done
        assert "re-reading shows Graph applied it" in done.stdout + done.stderr
    else:
        assert not done.ok
        msg = done.result("under test")["msg"]
        assert "was not applied (nothing was changed); rerun the task" in msg
    assert sim.entra.counters["graph_PATCH"] == 1  # never resent blindly


def test_prune_expired_removes_only_expired(sim, run_playbook, auth_cert):
    import datetime as dt

    old = make_certificate("old", days=30, start=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    with sim.store.transaction() as state:
        sp = next(s for s in state["entra"]["tenants"][DEFAULT_TENANT_ID]["servicePrincipals"] if s["id"] == EXCHANGE_ONLINE_SP_ID)
        sp["keyCredentials"].append(
            {"customKeyIdentifier": old.thumbprint, "displayName": "old", "endDateTime": "2020-01-31T00:00:00Z", "key": old.base64_der,
             "keyId": "11111111-1111-4111-8111-111111111111", "startDateTime": "2020-01-01T00:00:00Z", "type": "AsymmetricX509Cert", "usage": "Verify"}
        )
    done = run(run_playbook, sim, play("msol_sp_credential", certificate=auth_cert.cert_pem, prune_expired=True))
    assert done.ok, done
    thumbs = [k["customKeyIdentifier"] for k in exo_keys(sim)]
    assert old.thumbprint not in thumbs and auth_cert.thumbprint in thumbs and len(thumbs) == 3


def test_only_if_expired_at_removes_the_previous_key_only_once_expired_by_the_given_clock(sim, run_playbook):
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    previous = make_certificate("previous", days=40, start=now - dt.timedelta(days=30))  # ends in 10 days
    with sim.store.transaction() as state:
        sp = next(s for s in state["entra"]["tenants"][DEFAULT_TENANT_ID]["servicePrincipals"] if s["id"] == EXCHANGE_ONLINE_SP_ID)
        sp["keyCredentials"].append(
            {"customKeyIdentifier": previous.thumbprint, "displayName": "previous",
             "endDateTime": previous.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"), "key": previous.base64_der,
             "keyId": "11111111-1111-4111-8111-111111111112",
             "startDateTime": previous.not_before.strftime("%Y-%m-%dT%H:%M:%SZ"), "type": "AsymmetricX509Cert", "usage": "Verify"}
        )
    foreign = {k["keyId"]: k["key"] for k in exo_keys(sim) if k["customKeyIdentifier"] != previous.thumbprint}

    def remove(at, **kwargs):
        return run(run_playbook, sim, play("msol_sp_credential", state="absent", thumbprint=previous.thumbprint,
                                           only_if_expired_at=at.strftime("%Y-%m-%dT%H:%M:%SZ")), **kwargs)

    kept = remove(now + dt.timedelta(days=10, hours=12))  # expired by less than a day: may still be valid
    assert kept.ok and kept.changed == 0, kept
    assert "is kept" in kept.result("under test")["reason"]
    assert sim.entra.counters["graph_PATCH"] == 0

    predicted = remove(now + dt.timedelta(days=12), check=True)
    assert predicted.ok and predicted.result("under test")["changed"] is True
    assert sim.entra.counters["graph_PATCH"] == 0

    removed = remove(now + dt.timedelta(days=12))
    assert removed.ok and removed.result("under test")["changed"] is True, removed
    assert [k["thumbprint"] for k in removed.result("under test")["removed"]] == [previous.thumbprint]
    assert {k["keyId"]: k["key"] for k in exo_keys(sim)} == foreign  # every key not ours kept, with its data


# --- dedicated hybrid application -----------------------------------------------------------------------------


def test_hybrid_application_created_from_nothing_then_unchanged(sim, run_playbook, auth_cert):
    text = play(
        "msol_sp_credential", target="hybrid_application", exchange_organization_guid=ORG_GUID, create_application=True,
        certificate=auth_cert.cert_pem,
    )
    checked = run(run_playbook, sim, text, check=True)
    assert checked.ok and checked.result("under test")["changed"] is True, checked
    assert tenant(sim)["applications"] == []

    first = run(run_playbook, sim, text)
    assert first.ok, first
    result = first.result("under test")
    assert result["application"]["created"] is True
    apps = tenant(sim)["applications"]
    assert [a["displayName"] for a in apps] == [f"ExchangeServerApp-{ORG_GUID}"]
    app = apps[0]
    assert app["signInAudience"] == "AzureADMyOrg"
    assert app["requiredResourceAccess"] == [
        {"resourceAppId": "00000002-0000-0ff1-ce00-000000000000", "resourceAccess": [{"id": FULL_ACCESS_AS_APP_ROLE_ID, "type": "Role"}]}
    ]
    assert [k["key"] for k in app["keyCredentials"]] == [auth_cert.base64_der]
    sp = next(s for s in tenant(sim)["servicePrincipals"] if s["appId"] == app["appId"])
    assert [(a["principalId"], a["resourceId"], a["appRoleId"]) for a in tenant(sim)["appRoleAssignments"]] == [
        (sp["id"], EXCHANGE_ONLINE_SP_ID, FULL_ACCESS_AS_APP_ROLE_ID)
    ]
    assert len(exo_keys(sim)) == 2  # the shared service principal is untouched
    assert result["target"] == {"type": "hybrid_application", "object_type": "application", "object_id": app["id"],
                                "app_id": app["appId"], "display_name": app["displayName"]}

    again = run(run_playbook, sim, text)
    assert again.ok and again.changed == 0, again
    assert len(tenant(sim)["applications"]) == 1


def test_existing_application_without_create_gets_only_keys(sim, run_playbook, auth_cert):
    missing = run(
        run_playbook,
        sim,
        play(
            "msol_sp_credential",
            target="hybrid_application",
            exchange_organization_guid=ORG_GUID,
            certificate=auth_cert.cert_pem,
        ),
    )
    assert not missing.ok
    assert "Set create_application: true" in missing.result("under test")["msg"]


# --- errors ---------------------------------------------------------------------------------------------------


def test_wrong_secret_is_explained_and_never_shown(sim, run_playbook, auth_cert):
    wrong = "Wr0ng-S3cret-value-42"
    done = run(run_playbook, sim, play("msol_sp_credential", certificate=auth_cert.cert_pem), graph={"client_secret": wrong}, verbosity=4)
    assert not done.ok
    msg = done.result("under test")["msg"]
    assert "AADSTS7000215" in msg and "client_secret" in msg
    assert wrong not in done.stdout + done.stderr


def test_secret_never_in_output_at_vvvv(sim, run_playbook, auth_cert):
    done = run(run_playbook, sim, play("msol_sp_credential", certificate=auth_cert.cert_pem), verbosity=4, diff=True)
    assert done.ok, done
    assert DEFAULT_CLIENT_SECRET not in done.stdout + done.stderr
    with open(sim.state_path, encoding="utf-8") as handle:
        assert DEFAULT_CLIENT_SECRET not in handle.read()


def test_unknown_tenant(sim, run_playbook, auth_cert):
    done = run(run_playbook, sim, play("msol_sp_credential", certificate=auth_cert.cert_pem), graph={"tenant": "fabrikam.onmicrosoft.com"})
    assert not done.ok
    assert "AADSTS90002" in done.result("under test")["msg"]
    assert "check tenant" in done.result("under test")["msg"]


def test_missing_permission_named_before_any_write(make_simulation, run_playbook, tmp_path, auth_cert):
    simulation = make_simulation(servers=DEFAULT_SERVERS[-1:], entra_options={"permissions": ["Application.Read.All"]})
    details = simulation.endpoints()["entra"]
    graph = {"tenant": DEFAULT_TENANT_ID, "client_id": details["client_id"], "client_secret": details["client_secret"],
             "base_url": details["base_url"], "ca_path": simulation.pki.ca_path}
    env = {"EXCHANGE_HYBRID_TOKEN_CACHE_DIR": str(tmp_path / "cache")}
    done = run_playbook(simulation, play("msol_sp_credential", certificate=auth_cert.cert_pem), extra_vars={"graph": graph}, env=env)
    assert not done.ok
    assert "Application.ReadWrite.All" in done.result("under test")["msg"]
    created = run_playbook(
        simulation,
        play("msol_sp_credential", target="hybrid_application", exchange_organization_guid=ORG_GUID,
             create_application=True, certificate=auth_cert.cert_pem),
        extra_vars={"graph": graph}, env=env,
    )
    assert not created.ok
    msg = created.result("under test")["msg"]
    assert "Application.ReadWrite.All and AppRoleAssignment.ReadWrite.All" in msg
    assert simulation.entra.counters["graph_PATCH"] == simulation.entra.counters["graph_POST"] == 0
    state = simulation.store.read()["entra"]["tenants"][DEFAULT_TENANT_ID]
    assert state["applications"] == []


def test_private_key_refused_without_echo(sim, run_playbook, auth_cert):
    done = run(run_playbook, sim, play("msol_sp_credential", certificate=auth_cert.key_pem), verbosity=3)
    assert not done.ok
    assert "private key" in done.result("under test")["msg"]
    output = done.stdout + done.stderr + json.dumps(done.tasks)
    assert "module_args" in output  # -vvv shows the invocation: the key must be masked there
    for line in auth_cert.key_pem.splitlines()[1:-1]:
        assert line not in output
    assert sim.entra.counters["token_requests"] == 0  # refused before any call


def test_expired_certificate_refused(sim, run_playbook):
    import datetime as dt

    old = make_certificate("old", days=30, start=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    done = run(run_playbook, sim, play("msol_sp_credential", certificate=old.cert_pem))
    assert not done.ok and "expired on 2020-01-31" in done.result("under test")["msg"]


# --- TLS ------------------------------------------------------------------------------------------------------


def test_ca_path_wins_over_requests_ca_bundle(sim, run_playbook, auth_cert, tmp_path):
    unrelated = tmp_path / "unrelated.pem"
    unrelated.write_text(make_certificate("unrelated").cert_pem)
    env = {"REQUESTS_CA_BUNDLE": str(unrelated), "CURL_CA_BUNDLE": str(unrelated)}
    done = run(run_playbook, sim, play("tenant_info"), env=env)
    assert done.ok, done
    refused = run(run_playbook, sim, play("tenant_info"), graph={"ca_path": None}, env=env)
    assert not refused.ok
    assert "could not be verified" in refused.result("under test")["msg"]


# --- tenant_info ----------------------------------------------------------------------------------------------


def test_tenant_info_finds_the_tenant_with_and_without_credentials(sim, run_playbook):
    done = run(run_playbook, sim, play("tenant_info"))
    assert done.ok, done
    result = done.result("under test")
    assert result["tenant_id"] == DEFAULT_TENANT_ID and result["changed"] is False
    assert [d["name"] for d in result["verified_domains"]] == ["contoso.onmicrosoft.com", "contoso.com"]
    assert result["initial_domain"] == "contoso.onmicrosoft.com"
    anonymous = run(run_playbook, sim, play("tenant_info", client_secret=None))
    assert anonymous.ok, anonymous
    assert anonymous.result("under test")["tenant_id"] == DEFAULT_TENANT_ID
    assert "verified_domains" not in anonymous.result("under test")
    assert sim.entra.counters["token_requests"] == 1


def test_tenant_info_unknown_tenant(sim, run_playbook):
    done = run(run_playbook, sim, play("tenant_info"), graph={"tenant": "fabrikam.onmicrosoft.com"})
    assert not done.ok
    msg = done.result("under test")["msg"]
    assert msg.startswith("Failed to find tenant 'fabrikam.onmicrosoft.com' in cloud 'global'")
    assert "AADSTS90002" in msg


def test_no_consented_permission_is_explained(make_simulation, run_playbook, tmp_path, auth_cert):
    simulation = make_simulation(servers=DEFAULT_SERVERS[-1:], entra_options={"permissions": []})
    details = simulation.endpoints()["entra"]
    graph = {"tenant": DEFAULT_TENANT_ID, "client_id": details["client_id"], "client_secret": details["client_secret"],
             "base_url": details["base_url"], "ca_path": simulation.pki.ca_path}
    done = run_playbook(simulation, play("msol_sp_credential", certificate=auth_cert.cert_pem), extra_vars={"graph": graph},
                        env={"EXCHANGE_HYBRID_TOKEN_CACHE_DIR": str(tmp_path / "cache")})
    assert not done.ok
    msg = done.result("under test")["msg"]
    assert "Application.ReadWrite.All" in msg and "admin consent is missing" in msg
    assert simulation.entra.counters["graph_GET"] == 0


def test_expired_token_answer_gets_one_fresh_token(sim, run_playbook, auth_cert):
    first = run(run_playbook, sim, play("tenant_info"))
    assert first.ok, first
    sim.entra.inject("GET", r"/v1\.0/organization", status=401, count=1)
    again = run(run_playbook, sim, play("tenant_info"))
    assert again.ok, again
    assert sim.entra.counters["token_requests"] == 2


ENV_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: under test
      exchange.hybrid.tenant_info:
        authority_host: "{{ graph.base_url }}"
        graph_endpoint: "{{ graph.base_url }}"
        ca_path: "{{ graph.ca_path }}"
"""


def test_credentials_from_azure_environment_variables(sim, run_playbook):
    graph = sim.graph_vars["graph"]
    env = {"AZURE_TENANT_ID": DEFAULT_TENANT_ID, "AZURE_CLIENT_ID": graph["client_id"], "AZURE_CLIENT_SECRET": graph["client_secret"]}
    done = run(run_playbook, sim, ENV_PLAY, env=env, verbosity=3)
    assert done.ok, done
    assert done.result("under test")["tenant_id"] == DEFAULT_TENANT_ID
    assert done.result("under test")["default_domain"] == "contoso.com"
    assert graph["client_secret"] not in done.stdout + done.stderr


# --- Entra's replication delay (eventual consistency) ---------------------------------------------------------


def delayed_simulation(make_simulation, tmp_path, seconds):
    return graph_simulation(make_simulation, tmp_path, replication_delay_seconds=seconds)


def advance_clock(sim, seconds):
    with sim.store.transaction() as state:
        state["clock_offset_seconds"] = state.get("clock_offset_seconds", 0) + seconds


def hybrid_objects(sim):
    """(applications, their service principals, their app role assignments) in the simulated tenant."""
    apps = tenant(sim)["applications"]
    app_ids = {a["appId"] for a in apps}
    sps = [s for s in tenant(sim)["servicePrincipals"] if s["appId"] in app_ids]
    sp_ids = {s["id"] for s in sps}
    consents = [(a["principalId"], a["resourceId"], a["appRoleId"]) for a in tenant(sim)["appRoleAssignments"]
                if a["principalId"] in sp_ids]
    return apps, sps, consents


def hybrid_play(auth_cert, **extra):
    return play("msol_sp_credential", target="hybrid_application", exchange_organization_guid=ORG_GUID,
                create_application=True, certificate=auth_cert.cert_pem, **extra)


def test_create_application_under_replication_delay_converges_on_the_first_run(make_simulation, run_playbook, tmp_path,
                                                                               auth_cert):
    # 2 s of the simulator's clock: the module really has to wait, twice (service principal, then consent)
    sim = delayed_simulation(make_simulation, tmp_path, 2)
    text = hybrid_play(auth_cert)
    checked = run(run_playbook, sim, text, check=True)
    assert checked.ok and checked.result("under test")["changed"] is True, checked
    assert hybrid_objects(sim) == ([], [], [])

    first = run(run_playbook, sim, text)
    assert first.ok, first
    result = first.result("under test")
    assert result["application"]["objects"] == {"application": "created", "service_principal": "created",
                                                "admin_consent": "granted"}
    assert result["application"]["replication_waited"] > 0  # Entra did refuse, and the run waited it out
    apps, sps, consents = hybrid_objects(sim)
    assert len(apps) == 1 and len(sps) == 1
    assert consents == [(sps[0]["id"], EXCHANGE_ONLINE_SP_ID, FULL_ACCESS_AS_APP_ROLE_ID)]
    assert [k["key"] for k in apps[0]["keyCredentials"]] == [auth_cert.base64_der]
    assert result["application"]["service_principal_id"] == sps[0]["id"]

    # at once (the consent may still be replicating) and later: nothing changes, nothing is written twice
    for attempt in ("at once", "after the delay"):
        posts = sim.entra.counters["graph_POST"]
        again = run(run_playbook, sim, text)
        assert again.ok and again.changed == 0, (attempt, again)
        assert hybrid_objects(sim) == (apps, sps, consents)
        assert sim.entra.counters["graph_POST"] - posts <= 1  # at most a consent Graph answers "already exists"
        advance_clock(sim, 5)
    checked = run(run_playbook, sim, text, check=True)
    assert checked.ok and checked.changed == 0, checked


def test_interrupted_create_application_converges_on_rerun_without_a_second_application(
    make_simulation, run_playbook, tmp_path, auth_cert
):
    # 10 minutes of the simulator's clock: longer than the runs' short waits; the test moves the clock
    sim = delayed_simulation(make_simulation, tmp_path, 600)
    failed = run(run_playbook, sim, hybrid_play(auth_cert, replication_timeout=1))
    assert not failed.ok
    msg = failed.result("under test")["msg"]
    apps, sps, _consents = hybrid_objects(sim)
    assert len(apps) == 1 and sps == []
    assert "does not reference a valid application object" in msg and "Entra had not replicated" in msg
    assert f"application_id: {apps[0]['appId']}" in msg

    # the advice of the message, while Entra still does not list the application: nothing is created
    by_id = run(run_playbook, sim, play("msol_sp_credential", target="hybrid_application", application_id=apps[0]["appId"],
                                        create_application=True, certificate=auth_cert.cert_pem, replication_timeout=1))
    assert not by_id.ok
    assert "No application with application id" in by_id.result("under test")["msg"]
    assert hybrid_objects(sim)[0] == apps

    # once replicated (the clock moves past the delay; new objects now take 1 s): the same task completes it
    advance_clock(sim, 601)
    sim.entra.set_replication_delay(1)
    done = run(run_playbook, sim, hybrid_play(auth_cert))
    assert done.ok, done
    result = done.result("under test")
    assert result["application"]["objects"]["application"] == "found"
    assert result["application"]["objects"]["admin_consent"] in ("granted", "adopted")
    apps_after, sps, consents = hybrid_objects(sim)
    assert [a["id"] for a in apps_after] == [apps[0]["id"]] and len(sps) == 1
    assert consents == [(sps[0]["id"], EXCHANGE_ONLINE_SP_ID, FULL_ACCESS_AS_APP_ROLE_ID)]
    assert [k["key"] for k in apps_after[0]["keyCredentials"]] == [auth_cert.base64_der]

    advance_clock(sim, 5)
    again = run(run_playbook, sim, hybrid_play(auth_cert))
    assert again.ok and again.changed == 0, again
    assert len(hybrid_objects(sim)[0]) == 1


def test_service_principal_created_by_an_interrupted_run_is_adopted(make_simulation, run_playbook, tmp_path, auth_cert):
    sim = delayed_simulation(make_simulation, tmp_path, 600)
    # a run that created the application and (after the application replicated) its service principal, then stopped
    assert not run(run_playbook, sim, hybrid_play(auth_cert, replication_timeout=0)).ok
    advance_clock(sim, 601)
    stopped = run(run_playbook, sim, hybrid_play(auth_cert, replication_timeout=0))
    assert not stopped.ok
    assert "Not a valid reference update" in stopped.result("under test")["msg"]
    apps, sps, consents = hybrid_objects(sim)
    assert len(apps) == 1 and len(sps) == 1 and consents == []
    # the service principal is still not listed (it replicates in 12 s of the simulator's clock, time enough for
    # ansible-playbook to start even on a busy machine): Graph's "already in use" answer to the rerun's create makes
    # it wait for that one and adopt it
    sim.entra.set_replication_delay(1)
    with sim.store.transaction() as state:
        ready = time.time() + state.get("clock_offset_seconds", 0) + 12
        state["entra"]["tenants"][DEFAULT_TENANT_ID]["replication"]["pending"][sps[0]["id"]] = ready
    done = run(run_playbook, sim, hybrid_play(auth_cert))
    assert done.ok, done
    result = done.result("under test")
    assert result["application"]["objects"] == {"application": "found", "service_principal": "adopted",
                                                "admin_consent": "granted"}
    assert hybrid_objects(sim)[1] == sps
    assert hybrid_objects(sim)[2] == [(sps[0]["id"], EXCHANGE_ONLINE_SP_ID, FULL_ACCESS_AS_APP_ROLE_ID)]
