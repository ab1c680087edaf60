"""The role's second proof of step 3 (push_notifications_oauth_test_mailbox: Test-OAuthConnectivity through
exchange_oauth_connectivity) through ansible-playbook: Success after configure, in check mode too without a
write; with the Auth certificate's key removed from Entra ID, verify fails at the test with the failure explained."""

from __future__ import annotations

from test_role_support import CONFIGURE, VERIFY, role_vars, shared_sp, state_bytes

TEST_TASK = "Step 3 - prove OAuth to Exchange Online with Test-OAuthConnectivity"
MAILBOX = "administrator@contoso.com"


def oauth_tests(run):
    return [t for t in run.results(TEST_TASK) if t["status"] != "skipped"]


def test_oauth_test_succeeds_after_configure_and_in_check_mode(simulation, run_playbook):
    values = role_vars(restart_health_service=False, oauth_test_mailbox=MAILBOX)
    first = run_playbook(simulation, CONFIGURE, extra_vars=values)
    assert first.ok, first
    [test] = oauth_tests(first)
    assert test["status"] == "ok" and test["result"]["result_type"] == "Success", test
    assert test["result"]["target_uri"] == "https://outlook.office365.com/EWS/Exchange.asmx"
    assert "Step 3 - Test-OAuthConnectivity for %s" % MAILBOX in first.stdout
    sent = [c for c in simulation.calls() if c["cmdlet"] == "Test-OAuthConnectivity"]
    assert [c["parameters"]["Mailbox"] for c in sent] == [MAILBOX]

    before = state_bytes(simulation)
    check = run_playbook(simulation, VERIFY, extra_vars=values, check=True)
    assert check.ok, check
    [test] = oauth_tests(check)
    assert test["result"]["result_type"] == "Success" and test["result"]["changed"] is False
    assert state_bytes(simulation) == before


def test_oauth_test_skipped_without_a_mailbox(simulation, run_playbook):
    run = run_playbook(simulation, CONFIGURE, extra_vars=role_vars(restart_health_service=False))
    assert run.ok, run
    assert not oauth_tests(run)
    assert not [c for c in simulation.calls() if c["cmdlet"] == "Test-OAuthConnectivity"]


def test_key_removed_from_entra_fails_the_test_with_the_explanation(simulation, run_playbook):
    values = role_vars(restart_health_service=False, oauth_test_mailbox=MAILBOX)
    assert run_playbook(simulation, CONFIGURE, extra_vars=values).ok
    sp_id = shared_sp(simulation)["id"]
    with simulation.store.transaction() as state:
        for tenant in state["entra"]["tenants"].values():
            for sp in tenant["servicePrincipals"]:
                if sp["id"] == sp_id:
                    sp["keyCredentials"] = []

    verify = run_playbook(simulation, VERIFY, extra_vars=values)
    assert not verify.ok
    [failed] = [t for t in verify.tasks if t["status"] == "failed"]
    assert failed["task"].endswith(TEST_TASK)
    result = failed["result"]
    assert result["result_type"] == "Error" and "AADSTS700027" in result["detail"]
    assert "not on the Entra target" in result["msg"] and "entra_key_credential_info" in result["msg"]


def test_unknown_mailbox_fails_with_exchanges_error(simulation, run_playbook):
    values = role_vars(restart_health_service=False, oauth_test_mailbox="nobody@contoso.com")
    run = run_playbook(simulation, CONFIGURE, extra_vars=values)
    assert not run.ok
    [failed] = [t for t in run.tasks if t["status"] == "failed"]
    assert "couldn't be found" in failed["result"]["msg"]
