"""What makes a node a package-mode node: checked by both package-mode test modules."""

from __future__ import annotations

from lab.backend import LabNodes
from tests.lab.runtime_support import NODES


def assert_nodes_run_the_package(lab: LabNodes) -> None:
    for node in NODES:
        installed = lab.exec(node, ["dpkg-query", "-W", "-f=${Status} ${Version}", "s2s-sd"])
        assert installed.stdout.startswith("install ok installed"), installed.stdout
        assert lab.exec(node, ["sh", "-c", "command -v s2s-sd"]).stdout.strip() == \
            "/usr/bin/s2s-sd"
        assert not lab.exec(node, ["test", "-e", "/usr/local/bin/s2s-sd"], check=False).ok
        # Debian 12's own pystemd, which s2s-sd must work with
        version = lab.exec(node, ["python3", "-c", "import pystemd; print(pystemd.__version__)"])
        assert version.stdout.strip().startswith("0.11"), version.stdout
        for path in ("/usr/lib/s2s-sd/s2s-mount", "/usr/lib/ocf/resource.d/s2s/script",
                     "/usr/lib/ocf/resource.d/s2s/hook", "/usr/lib/ocf/resource.d/s2s/kits"):
            assert lab.exec(node, ["test", "-x", path], check=False).ok, f"{node}: {path}"
        # apply/sync left the package's files as dpkg installed them
        verify = lab.exec(node, ["dpkg", "--verify", "s2s-sd"], check=False)
        assert verify.ok and not verify.stdout.strip(), verify.stdout
