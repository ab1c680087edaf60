"""Nothing lost (issue 8): a hypothesis property over random sequences of add, rerun, absent, prune and injected
faults, on the shared service principal and on a dedicated application, each starting with random foreign keys
(some expired). msol_sp_credential runs in-process against the Entra simulator. After every step:

- no foreign key is lost (key data intact); an expired foreign key goes only with prune_expired;
- each of our certificates is present exactly when the last successful step says so (after a failed step: as
  before or as intended, never something else);
- the certificate Exchange signs with (rolled over by ``rollover``: add the next, switch, remove the old) always
  has its key in Entra.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.exchange.hybrid.plugins.module_utils import _graph
from ansible_collections.exchange.hybrid.plugins.modules import msol_sp_credential
from defects import dropping_graph_client
from safety_harness import drive, graph_args

FAMILY = "nothing lost"
EXO_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
OURS = 4  # certificates of ours in play (0 starts as the signing one)
FAULTS = [None, "drop_before", "drop_after", "500", "429", "503"]


@pytest.fixture(name="world", scope="module")
def fixture_world(tmp_path_factory):
    """A tenant with a dedicated application created once; the state snapshot each example starts from."""
    from hybrid_sim.entra import make_certificate
    from hybrid_sim.simulation import Simulation

    from hybrid_sim.simulation import DEFAULT_SERVERS

    sim = Simulation(str(tmp_path_factory.mktemp("nothing-lost") / "sim"), servers=DEFAULT_SERVERS[2:]).start()
    ours = [make_certificate("Exchange Auth %d" % i, key_index=0) for i in range(OURS)]
    app = drive(
        msol_sp_credential,
        graph_args(
            sim,
            certificate=ours[0].base64_der,
            target="hybrid_application",
            create_application=True,
            application_display_name="SafetyHybridApp",
        ),
        sim,
    )
    assert not app.failed, app
    drive(
        msol_sp_credential,
        graph_args(
            sim,
            certificate=ours[0].base64_der,
            target="hybrid_application",
            application_display_name="SafetyHybridApp",
            state="absent",
        ),
        sim,
    )
    sim.safety = {"ours": ours, "snapshot": sim.read_state()}
    yield sim
    sim.stop()


def _objects(state):
    tenant = next(iter(state["entra"]["tenants"].values()))
    sp = next(s for s in tenant["servicePrincipals"] if s["appId"] == EXO_APP_ID)
    app = next(a for a in tenant["applications"] if a["displayName"] == "SafetyHybridApp")
    return {"sp": sp, "app": app}


def _foreign(seed: int, expired: bool):
    from hybrid_sim.entra import make_certificate
    from hybrid_sim.entra.seed import key_credential

    now = dt.datetime.now(dt.timezone.utc)
    start = now - dt.timedelta(days=400 if expired else 10)
    cert = make_certificate("Foreign %d" % seed, days=100 if expired else 700, start=start, key_index=1)
    return key_credential(cert, "Foreign %d" % seed, "00000000-0000-4000-8000-%012d" % seed)


def _keys(sim, target):
    return {k["customKeyIdentifier"]: k for k in _objects(sim.read_state())[target]["keyCredentials"]}


def _args(sim, target, cert, **extra):
    args = graph_args(sim, certificate=cert.base64_der)
    if target == "app":
        args.update(target="hybrid_application", application_display_name="SafetyHybridApp")
    args.update(extra)
    return args


def _inject(sim, fault):
    if fault is None:
        return
    if fault.startswith("drop"):
        sim.entra.inject("PATCH", r"servicePrincipals|applications", action=fault)
    else:
        sim.entra.inject(
            "PATCH",
            r"servicePrincipals|applications",
            status=int(fault),
            count=1 if fault != "500" else 1,
            retry_after=1 if fault == "429" else None,
        )


step = st.tuples(
    st.sampled_from(["add", "rerun", "absent", "prune", "rollover"]),
    st.integers(min_value=1, max_value=OURS - 1),
    st.sampled_from(FAULTS),
)
scenario = st.fixed_dictionaries(
    {
        "target": st.sampled_from(["sp", "app"]),
        "foreign": st.lists(st.booleans(), min_size=0, max_size=4),  # True = expired
        "steps": st.lists(step, min_size=1, max_size=6),
    }
)


def run_scenario(sim, data, check_each=None):
    ours = sim.safety["ours"]
    target = data["target"]
    state = sim.safety["snapshot"]
    import copy

    state = copy.deepcopy(state)
    objects = _objects(state)
    foreign = [_foreign(i + 1, expired) for i, expired in enumerate(data["foreign"])]
    objects[target]["keyCredentials"] = list(objects[target]["keyCredentials"]) + foreign
    sim.store.write(state)
    sim.entra.clear_faults()
    foreign_live = {k["customKeyIdentifier"]: k["key"] for k, exp in zip(foreign, data["foreign"]) if not exp}
    foreign_expired = {k["customKeyIdentifier"]: k["key"] for k, exp in zip(foreign, data["foreign"]) if exp}
    original = {k: v["key"] for k, v in _keys(sim, target).items()}  # keys already there (seeded foreign ones)
    ours_thumbs = {c.thumbprint for c in ours}
    # the signing certificate is in Entra from the start (the documented step 3 done once)
    signing = 0
    assert not drive(msol_sp_credential, _args(sim, target, ours[0]), sim).failed
    expected = {ours[0].thumbprint: True}
    last_op, last_cert = None, None
    pruned: set = set()
    for op, index, fault in data["steps"]:
        cert = ours[index]
        if op == "rerun":
            if last_op is None:
                continue
            op, cert = last_op, last_cert
        _inject(sim, fault)
        before = {t for t in _keys(sim, target) if t in ours_thumbs}
        if op == "rollover":
            outcome = drive(msol_sp_credential, _args(sim, target, cert), sim)
            sim.entra.clear_faults()
            if not outcome.failed and cert.thumbprint != ours[signing].thumbprint:
                old = ours[signing]
                signing = ours.index(cert)  # Exchange signs with the new one only once Entra has its key
                expected[cert.thumbprint] = True
                gone = drive(msol_sp_credential, _args(sim, target, old, state="absent"), sim)
                if not gone.failed:
                    expected[old.thumbprint] = False
            elif not outcome.failed:
                expected[cert.thumbprint] = True
            intended = before | {cert.thumbprint}
        else:
            if op == "absent" and cert.thumbprint == ours[signing].thumbprint:
                continue  # the role never removes the key Exchange signs with
            extra = {"state": "absent"} if op == "absent" else ({"prune_expired": True} if op == "prune" else {})
            outcome = drive(msol_sp_credential, _args(sim, target, cert, **extra), sim)
            sim.entra.clear_faults()
            present = op != "absent"
            intended = (before | {cert.thumbprint}) if present else (before - {cert.thumbprint})
            if not outcome.failed:
                expected[cert.thumbprint] = present
            last_op, last_cert = op, cert
        keys = _keys(sim, target)
        now_ours = {t for t in keys if t in ours_thumbs}
        # 1. no foreign key lost, key data intact; expired foreign ones only by prune
        for thumb, data_key in list(foreign_live.items()) + [
            (t, k) for t, k in original.items() if t not in ours_thumbs
        ]:
            if thumb in foreign_expired:
                continue
            assert thumb in keys, "foreign key %s lost after %s (fault %s)" % (thumb[:8], op, fault)
            assert keys[thumb].get("key") == data_key, "foreign key %s lost its key data" % thumb[:8]
        for thumb, data_key in foreign_expired.items():
            if thumb in keys:
                assert keys[thumb].get("key") == data_key, "expired foreign key %s lost its key data" % thumb[:8]
            elif thumb not in pruned:
                assert op == "prune", "expired foreign key %s removed by %s (only prune_expired may)" % (thumb[:8], op)
                pruned.add(thumb)
        # 2. ours exactly as it should be
        if outcome.failed:
            assert now_ours in (before, intended), "after a failed %s: %s, neither before nor intended" % (op, now_ours)
            for thumb in ours_thumbs:
                expected[thumb] = thumb in now_ours
        else:
            for thumb, present in expected.items():
                assert (thumb in now_ours) == present, "our key %s: present=%s, expected %s after %s" % (
                    thumb[:8],
                    thumb in now_ours,
                    present,
                    op,
                )
        # 3. the signing certificate's key is in Entra
        assert ours[signing].thumbprint in keys and keys[ours[signing].thumbprint].get("key"), "signing key missing"
        if check_each:
            check_each()


@pytest.fixture(name="no_sleep")
def fixture_no_sleep(monkeypatch):
    defaults = list(_graph.GraphClient.__init__.__defaults__)
    defaults[0] = lambda _seconds: None
    monkeypatch.setattr(_graph.GraphClient.__init__, "__defaults__", tuple(defaults))


def test_nothing_lost_property(world, cases, no_sleep):
    examples = []

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=scenario)
    def prop(data):
        examples.append(data)
        run_scenario(world, data)

    with cases.case("hypothesis: random add/rerun/absent/prune/rollover/fault sequences (30 examples)"):
        prop()
    for data in examples[:30]:
        cases._record(
            "example: %s, %d foreign, %s"
            % (
                data["target"],
                len(data["foreign"]),  # pylint: disable=protected-access
                "/".join("%s%s" % (o, "+" + f if f else "") for o, _i, f in data["steps"]),
            ),
            True,
        )


def test_planted_key_dropping_client_is_caught(world, cases, no_sleep):
    data = {"target": "sp", "foreign": [False, True, False], "steps": [("add", 1, None), ("rerun", 1, None)]}
    with cases.defect("Graph client dropping foreign keys on PATCH"):
        with dropping_graph_client.planted():
            run_scenario(world, data)
    with cases.case("the same sequence without the defect"):
        run_scenario(world, data)
