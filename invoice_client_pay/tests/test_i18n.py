import ast
from pathlib import Path

import polib

from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import TranslationModuleReader

MODULE = "invoice_client_pay"
MODULE_PATH = Path(__file__).resolve().parent.parent
POT_PATH = MODULE_PATH / "i18n" / f"{MODULE}.pot"
FIX_COMMAND = (
    "Regenerate the template from a database with the module installed and "
    "updated to this code:\n"
    "  printf '[options]\\naddons_path = <this repository>\\n' > /tmp/icp.conf\n"
    f"  odoo i18n export -c /tmp/icp.conf -d <database> {MODULE}\n"
    f"(it writes {MODULE}/i18n/{MODULE}.pot), then commit the .pot."
)
# Exceptions whose message a user reads.
USER_ERRORS = {"UserError", "ValidationError", "AccessError", "RedirectWarning"}


@tagged("post_install", "-at_install")
class TestI18n(TransactionCase):
    """Every user-facing string is translatable, and the committed .pot holds
    every term Odoo's exporter finds in the module."""

    def _exported_terms(self):
        """The terms Odoo's own exporter (``odoo i18n export``) collects for the
        module: python ``_()``/``env._()``, views, templates, data."""
        reader = TranslationModuleReader(self.env.cr, modules=[MODULE])
        return {
            source for module, __, __, __, source, *__ in reader if module == MODULE
        }

    def test_pot_holds_every_term(self):
        self.assertTrue(POT_PATH.exists(), f"{POT_PATH} is missing.\n{FIX_COMMAND}")
        committed = {
            entry.msgid for entry in polib.pofile(str(POT_PATH)) if not entry.obsolete
        }
        terms = self._exported_terms()
        self.assertGreater(len(terms), 50, "the exporter found no terms")
        missing = sorted(terms - committed)
        if missing:
            self.fail(
                f"{len(missing)} translatable terms are not in {POT_PATH.name}:\n"
                + "\n".join(f"  {self._shorten(term)}" for term in missing[:40])
                + f"\n{FIX_COMMAND}"
            )

    @staticmethod
    def _shorten(term, size=100):
        term = " ".join(term.split())
        return repr(term if len(term) <= size else f"{term[:size]}...")

    def test_user_errors_and_messages_are_translatable(self):
        """No exception message or chatter message is a bare literal: it goes
        through ``_()`` / ``self.env._()`` (which the exporter finds)."""
        bare = []
        for path in sorted(MODULE_PATH.rglob("*.py")):
            if "tests" in path.relative_to(MODULE_PATH).parts:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = getattr(func, "id", None) or getattr(func, "attr", None)
                args = []
                if name in USER_ERRORS:
                    args = node.args[:1]
                elif name == "message_post":
                    args = [kw.value for kw in node.keywords if kw.arg == "body"]
                for arg in args:
                    if isinstance(arg, ast.JoinedStr) or (
                        isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                    ):
                        bare.append(f"{path.relative_to(MODULE_PATH)}:{node.lineno}")
        self.assertFalse(
            bare,
            "Untranslatable user-facing strings (wrap them in self.env._()):\n"
            + "\n".join(bare),
        )
