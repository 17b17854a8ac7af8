"""Refuse to run this project on Odoo Enterprise code.

What matters is what a run actually loads, not a license label somewhere on disk:

* an addons directory that *is* Odoo's Enterprise repository (it carries
  ``web_enterprise``) is refused outright;
* otherwise the modules a fresh database ends up with are computed - the modules
  asked for, their dependency closure, ``base``, and every ``auto_install`` module
  that this set triggers - and any of them under an Odoo Enterprise license
  (``OEEL-*``) is refused. (scripts/test also checks the licenses of what the test
  database really installed, country-bound modules included.)

A genuine Community tree therefore passes even though it holds ``certificate`` and
``project_hr_skills``, two Community modules labelled with the Enterprise license by
an upstream mistake (odoo/odoo#205134): nothing this project installs depends on them.

Usage: check_community.py ADDONS_DIR[,ADDONS_DIR...] MODULE [MODULE...]
Exit status: 0 accepted, 3 refused (reasons on stdout), 2 bad usage.
"""

import ast
import os
import sys

ENTERPRISE_MARKER = "web_enterprise"
# Odoo Enterprise licenses are "OEEL-<version>".
ENTERPRISE_LICENSE_PREFIX = "OEEL"


def read_manifests(addons_dirs):
    """Map module name -> manifest dict; the first directory holding a module wins,
    as on Odoo's addons path."""
    manifests = {}
    for directory in addons_dirs:
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name, "__manifest__.py")
            if name in manifests or not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8", errors="replace") as manifest_file:
                try:
                    manifest = ast.literal_eval(manifest_file.read())
                except (SyntaxError, ValueError):
                    manifest = {}
            manifest["__path__"] = path
            manifests[name] = manifest
    return manifests


def loaded_modules(manifests, wanted):
    """The modules a fresh database gets when `wanted` are installed: their
    dependency closure plus the auto_install modules it triggers (fixpoint)."""
    loaded = set()
    todo = ["base", *wanted]
    while True:
        while todo:
            name = todo.pop()
            if name in loaded or name not in manifests:
                continue
            loaded.add(name)
            todo.extend(manifests[name].get("depends", []))
        for name, manifest in manifests.items():
            auto = manifest.get("auto_install", False)
            # Country-bound modules (l10n_*, account_peppol...) install only for a
            # company of their countries: the post-install check sees those.
            if name in loaded or not auto or manifest.get("countries"):
                continue
            if not manifest.get("installable", True):
                continue
            depends = set(manifest.get("depends", []))
            trigger = depends if auto is True else set(auto)
            if trigger <= loaded and depends <= set(manifests):
                todo.append(name)
        if not todo:
            return loaded


def problems(addons_dirs, wanted):
    found = []
    for directory in addons_dirs:
        marker = os.path.join(directory, ENTERPRISE_MARKER, "__manifest__.py")
        if os.path.isfile(marker):
            found.append(f"{directory} is the Odoo Enterprise repository ({marker})")
    manifests = read_manifests(addons_dirs)
    found += [
        f"module {name} is not on the addons path"
        for name in wanted
        if name not in manifests
    ]
    for name in sorted(loaded_modules(manifests, wanted)):
        license_ = str(manifests[name].get("license", ""))
        if license_.strip().upper().startswith(ENTERPRISE_LICENSE_PREFIX):
            found.append(
                f"{name} ({license_}) would be installed: {manifests[name]['__path__']}"
            )
    return found


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[-2])
        return 2
    addons_dirs = [os.path.realpath(d) for d in argv[1].split(",") if d]
    found = problems(addons_dirs, argv[2:])
    for line in found:
        print(line)
    return 3 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
