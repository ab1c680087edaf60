"""The README's demo command runs the four steps, reruns them with no change, verifies, and stops what it started."""

from __future__ import annotations

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_converges_reruns_unchanged_and_prints_the_probe_result(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    completed = subprocess.run(
        [os.path.join(ROOT, "scripts", "demo.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-8000:]
    assert "changed=0 on the second run" in output
    assert re.search(
        r"PushNotificationsEnterpriseConnectivityProbe on ex2013\.contoso\.com: ResultType Succeeded", output
    )
    # The simulators were stopped and their directory removed (trap EXIT).
    assert not [name for name in os.listdir(tmp_path) if name.startswith("exchange-hybrid-demo.")]
