"""Posting invoices from the invoice form, over HTTP, against native Odoo.

What an accountant waits for, click by click, on a running server (one request
per click, each its own transaction, committed): "Confirm" on the invoice form
(the button's call, then the form reloading the invoice), and for native Odoo's
same result the "Add" link on the client's credit afterwards (its call, then the
reload). For N clients with credit, three sets of N draft invoices:

- native: the setting off, Confirm;
- native + Add: the setting off, Confirm, then Add;
- auto: "Automatically mark Invoices paid" on, Confirm (paid from credit).

The three variants take turns invoice by invoice (the order rotating), so that
a slower moment of the machine falls on all of them; each ratio compares the
medians of the time per invoice. The fixtures are committed and stay: use a
scratch database (``scripts/bench`` creates and drops its own).

    ODOO_PYTHON benchmarks/bench_invoice_form.py -d DB [-c odoo.conf]
        [--addons-path P] [--odoo-bin BIN] [-n 100]

The form's reload reads the fields of account.move's form view (its x2many
lists with their columns), as the web client asks for them.
"""

import os
import statistics
import subprocess
import tempfile
import time

import requests
from bench_auto_mark_paid import build_fixtures
from bench_common import bench_line, database_argument_parser, load_odoo_config
from load_two_servers import Client, Stats, free_port, stop_servers
from lxml import etree

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry

VARIANTS = ("native", "native + Add", "auto")


def form_specification(env, model_name="account.move"):
    """The web client's ``web_read`` specification for the form view: every
    field of the form, many2one fields with their name, x2many fields with the
    columns of their embedded list."""
    model = env[model_name]
    arch = etree.fromstring(model.get_views([(False, "form")])["views"]["form"]["arch"])

    def spec_of(field_node, comodel):
        field = comodel._fields.get(field_node.get("name"))
        if field is None:
            return None
        if field.type == "many2one":
            return {"fields": {"display_name": {}}}
        if field.type in ("one2many", "many2many"):
            columns = {}
            for list_node in field_node.iterchildren("list"):
                for sub in list_node.iter("field"):
                    sub_spec = spec_of(sub, env[field.comodel_name])
                    if sub_spec is not None:
                        columns[sub.get("name")] = sub_spec
            return {"fields": columns or {"display_name": {}}}
        return {}

    specification = {}
    for node in arch.iter("field"):
        if any(parent.tag == "field" for parent in node.iterancestors()):
            continue
        spec = spec_of(node, model)
        if spec is not None:
            specification[node.get("name")] = spec
    return specification


def start_server(args, log):
    """One threaded server on the database, loopback only."""
    port = free_port()
    server = subprocess.Popen(
        [args.odoo_bin, "-d", args.database, "--workers=0", "--max-cron-threads=0"]
        + (["--config", args.config] if args.config else [])
        + ([f"--addons-path={args.addons_path}"] if args.addons_path else [])
        + ["--http-interface=127.0.0.1", f"--http-port={port}"]
        + [f"--gevent-port={free_port()}", f"--logfile={log}", "--log-level=warn"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/web/health", timeout=5).ok:
                return server, base
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    stop_servers([server])
    raise TimeoutError("the server did not start")


class FormUser:
    """The accountant's clicks on the invoice form."""

    def __init__(self, base, company_id, specification):
        self.base = base
        self.company_id = company_id
        self.specification = specification
        self.client = Client(Stats(), login="admin", password="admin", base=base)
        self.context = {
            "lang": "en_US",
            "tz": "UTC",
            "allowed_company_ids": [company_id],
        }

    def _checked(self, body):
        if "error" in body:
            raise RuntimeError(body["error"].get("data", {}).get("message"))
        return body.get("result")

    def set_auto_mark_paid(self, value):
        self._checked(
            self.client.call_kw(
                self.base,
                "res.company",
                "write",
                [[self.company_id], {"auto_mark_invoices_paid": value}],
            )
        )

    def _reload(self, invoice_id):
        return self._checked(
            self.client.call_kw(
                self.base,
                "account.move",
                "web_read",
                [[invoice_id]],
                {"specification": self.specification, "context": self.context},
            )
        )[0]

    def confirm(self, invoice_id):
        self._checked(
            self.client.rpc(
                "button",
                f"{self.base}/web/dataset/call_button/account.move/action_post",
                {
                    "model": "account.move",
                    "method": "action_post",
                    "args": [[invoice_id]],
                    "kwargs": {"context": self.context},
                },
            )
        )
        return self._reload(invoice_id)

    def add_credit(self, invoice_id, credit_line_id):
        self._checked(
            self.client.call_kw(
                self.base,
                "account.move",
                "js_assign_outstanding_line",
                [invoice_id, credit_line_id],
                {"context": self.context},
            )
        )
        return self._reload(invoice_id)


def main():
    parser = database_argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--odoo-bin", default=os.environ.get("ODOO_BIN"))
    parser.add_argument("-n", type=int, default=100, help="invoices per variant")
    args = parser.parse_args()
    if not args.odoo_bin or not os.access(args.odoo_bin, os.X_OK):
        parser.error(
            "no Odoo launcher: set ODOO_BIN or --odoo-bin (or use scripts/bench)"
        )
    load_odoo_config(args)
    with Registry(args.database).cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        fixtures = {
            variant: build_fixtures(env, args.n, tag=f"form {variant}", lines=3)
            for variant in VARIANTS
        }
        fixtures = {
            variant: (invoices.ids, credit)
            for variant, (invoices, credit) in fixtures.items()
        }
        company_id = env.company.id
        specification = form_specification(env)
        cr.commit()
    log = os.path.join(tempfile.gettempdir(), f"bench_invoice_form_{os.getpid()}.log")
    server, base = start_server(args, log)
    try:
        user = FormUser(base, company_id, specification)
        seconds = {variant: [] for variant in VARIANTS}
        # Warm the server (views, sequences, caches) on one invoice of each.
        for variant in VARIANTS:
            invoice_ids, credit = fixtures[variant]
            user.set_auto_mark_paid(variant == "auto")
            user.confirm(invoice_ids.pop())
        for index in range(len(fixtures["native"][0])):
            shift = index % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                invoice_id = fixtures[variant][0][index]
                credit = fixtures[variant][1]
                user.set_auto_mark_paid(variant == "auto")
                start = time.perf_counter()
                values = user.confirm(invoice_id)
                if variant == "native + Add":
                    values = user.add_credit(invoice_id, credit[invoice_id])
                seconds[variant].append(time.perf_counter() - start)
                paid = values["payment_state"] != "not_paid"
                assert paid == (variant != "native"), (variant, values["payment_state"])
    finally:
        stop_servers([server])
    medians = {
        variant: statistics.median(values) for variant, values in seconds.items()
    }
    print(
        f"{'variant':>12} {'median ms':>10} {'ratio':>6}"
        f"  (per invoice, {args.n - 1} each)"
    )
    for variant in VARIANTS:
        print(
            f"{variant:>12} {medians[variant] * 1000:>10.1f} "
            f"{medians[variant] / medians['native']:>6.2f}"
        )
    bench_line(
        "invoice_form.confirm",
        medians["auto"] / medians["native"],
        1.5,
        "Confirm on the form with the setting on / native Confirm (HTTP, per invoice)",
    )
    bench_line(
        "invoice_form.confirm_vs_add",
        medians["auto"] / medians["native + Add"],
        0.8,
        "Confirm on the form with the setting on / native Confirm, then Add",
    )


if __name__ == "__main__":
    main()
