"""The Community guard, on throwaway addons trees (run by scripts/test's lint step)."""

import os
import subprocess
import sys

import pytest

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, SCRIPTS)

import check_community  # noqa: E402

# An Enterprise license label, as Odoo writes it in a manifest.
ENTERPRISE = f"{check_community.ENTERPRISE_LICENSE_PREFIX}-1"


def make_addons(root, modules):
    """modules: name -> manifest dict; writes root/<name>/__manifest__.py."""
    os.makedirs(root, exist_ok=True)
    for name, manifest in modules.items():
        os.makedirs(os.path.join(root, name), exist_ok=True)
        with open(os.path.join(root, name, "__manifest__.py"), "w") as f:
            f.write(repr({"name": name, "license": "LGPL-3", **manifest}))
    return str(root)


COMMUNITY = {
    "base": {},
    "web": {"depends": ["base"], "auto_install": True},
    "account": {"depends": ["base", "web"]},
    # The two Community modules mislabelled Enterprise upstream (odoo/odoo#205134).
    "certificate": {"depends": ["base"], "license": ENTERPRISE},
    "project_hr_skills": {"depends": ["base", "project"], "license": ENTERPRISE},
    "client": {"depends": ["account"]},
}


def test_genuine_community_tree_is_accepted(tmp_path):
    addons = make_addons(tmp_path / "odoo", COMMUNITY)
    assert check_community.problems([addons], ["client"]) == []
    assert check_community.loaded_modules(
        check_community.read_manifests([addons]), ["client"]
    ) == {"base", "web", "account", "client"}


def test_installed_enterprise_dependency_is_refused(tmp_path):
    addons = make_addons(
        tmp_path / "odoo",
        {
            **COMMUNITY,
            "fake_enterprise": {"depends": ["account"], "license": ENTERPRISE},
            "client": {"depends": ["fake_enterprise"]},
        },
    )
    found = check_community.problems([addons], ["client"])
    assert len(found) == 1 and found[0].startswith(f"fake_enterprise ({ENTERPRISE})")


def test_auto_installed_enterprise_module_is_refused(tmp_path):
    addons = make_addons(
        tmp_path / "odoo",
        {
            **COMMUNITY,
            "account_bridge": {
                "depends": ["account"],
                "auto_install": True,
                "license": ENTERPRISE,
            },
        },
    )
    found = check_community.problems([addons], ["client"])
    assert [line.split()[0] for line in found] == ["account_bridge"]


def test_auto_install_needs_its_trigger(tmp_path):
    """An auto_install module whose trigger is not installed stays out."""
    addons = make_addons(
        tmp_path / "odoo",
        {
            **COMMUNITY,
            "cert_bridge": {
                "depends": ["certificate"],
                "auto_install": True,
                "license": ENTERPRISE,
            },
        },
    )
    assert check_community.problems([addons], ["client"]) == []


def test_enterprise_repository_on_the_path_is_refused(tmp_path):
    community = make_addons(tmp_path / "odoo", COMMUNITY)
    enterprise = make_addons(
        tmp_path / "enterprise",
        {"web_enterprise": {"depends": ["web"], "license": ENTERPRISE}},
    )
    found = check_community.problems([community, enterprise], ["client"])
    assert len(found) == 1 and "Enterprise repository" in found[0]


@pytest.mark.parametrize("refused", [False, True])
def test_command_line(tmp_path, refused):
    modules = dict(COMMUNITY)
    if refused:
        modules["client"] = {"depends": ["certificate"]}
    addons = make_addons(tmp_path / "odoo", modules)
    run = subprocess.run(
        [sys.executable, os.path.join(SCRIPTS, "check_community.py"), addons, "client"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == (3 if refused else 0), run.stdout
    assert (f"certificate ({ENTERPRISE}) would be installed" in run.stdout) == refused
