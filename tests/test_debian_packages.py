"""scripts/debian_packages.sh installs PostgreSQL and nginx for the tests without starting a machine-wide
service (Debian would start nginx on :80 and make and start a "main" cluster on 5432), and leaves the
machine's own settings as they were. Run against stand-ins for apt-get and dpkg that record what they saw."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

APT_GET = """#!/bin/sh
echo "apt-get $*" >> "$LOG"
case "$*" in *install*postgresql-common*)
  printf '#create_main_cluster = true\\nssl = on\\n' > "$CREATECLUSTER_CONF";; esac
case "$*" in *install*)
  "$POLICY_RC_D" nginx start; echo "  services may start: $([ $? = 101 ] && echo no || echo yes)" >> "$LOG"
  echo "  $(grep create_main_cluster "$CREATECLUSTER_CONF" 2>/dev/null)" >> "$LOG";;
esac
"""
RECORD = '#!/bin/sh\necho "$(basename "$0") $*" >> "$LOG"\nexit {code}\n'
DPKG = '#!/bin/sh\necho "dpkg $*" >> "$LOG"\ncase " $INSTALLED " in *" $2 "*) exit 0;; esac\nexit 1\n'


def _run(tmp_path: Path, *packages: str, installed: str = "") -> list[str]:
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    scripts = {"apt-get": APT_GET, "apt-cache": RECORD.format(code=0), "dpkg": DPKG,
               "deb-systemd-helper": RECORD.format(code=0), "update-rc.d": RECORD.format(code=0)}
    for name, text in scripts.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    log = tmp_path / "log"
    log.write_text("")
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "LOG": str(log), "INSTALLED": installed,
           "POLICY_RC_D": str(tmp_path / "policy-rc.d"), "CREATECLUSTER_CONF": str(tmp_path / "createcluster.conf")}
    subprocess.run([str(ROOT / "scripts/debian_packages.sh"), *packages], env=env, check=True, timeout=60)
    return log.read_text().splitlines()


def test_nothing_starts_while_installing_and_the_machine_is_left_as_it_was(tmp_path: Path) -> None:
    log = _run(tmp_path, "chromium", "postgresql", "nginx")
    assert log == [
        "apt-get update -qq",
        "apt-cache show postgresql-15",
        "dpkg -s postgresql-common",
        "apt-get install -y -qq --no-install-recommends postgresql-common",
        "  services may start: no",
        "  #create_main_cluster = true",
        "dpkg -s nginx",
        "apt-get install -y -qq --no-install-recommends chromium postgresql-15 nginx",
        "  services may start: no",
        "  create_main_cluster = false",  # no "main" cluster on 5432
        "deb-systemd-helper disable nginx.service",  # nor nginx on :80 at the next boot
        "update-rc.d nginx disable",
    ]
    assert not (tmp_path / "policy-rc.d").exists()  # it was ours
    assert (tmp_path / "createcluster.conf").read_text() == "#create_main_cluster = true\nssl = on\n"


def test_a_policy_and_cluster_settings_already_there_stay(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# the machine's own\nexit 101\n")
    policy.chmod(0o755)
    settings = tmp_path / "createcluster.conf"
    settings.write_text("create_main_cluster = true\nssl = off\n")
    log = _run(tmp_path, "postgresql", "nginx", installed="postgresql-common nginx")
    assert log == [
        "apt-get update -qq",
        "apt-cache show postgresql-15",
        "dpkg -s postgresql-common",
        "dpkg -s nginx",
        "apt-get install -y -qq --no-install-recommends postgresql-15 nginx",
        "  services may start: no",
        "  create_main_cluster = false",
    ]  # the machine's own nginx keeps its boot-time start
    assert policy.read_text() == "#!/bin/sh\n# the machine's own\nexit 101\n"
    assert settings.read_text() == "create_main_cluster = true\nssl = off\n"


def test_only_what_is_missing_is_installed_and_nothing_when_all_is_there(tmp_path: Path) -> None:
    """`--missing`, as scripts/test.sh and scripts/bench.sh call it (as root here, where these tests run)."""
    present = "chromium postgresql nginx"  # on this machine: scripts/test.sh put them there
    assert _run(tmp_path, "--missing", "the tests", *present.split()) == []  # not even apt-get update
    log = _run(tmp_path, "--missing", "the tests", "nginx", "roombot-test-absent")
    assert log[0] == "dpkg -s roombot-test-absent"  # nginx is on the machine: not looked up in dpkg
    assert "apt-get install -y -qq --no-install-recommends roombot-test-absent" in log  # alone
