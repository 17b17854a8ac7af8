"""Posting invoices with "Automatically mark Invoices paid" on, against native posting.

For N clients that each have credit, post one invoice per client on the same data,
each run from the same savepoint, in one process:

- native: the setting off (plain Odoo posting);
- native + Add: the setting off, then the invoice form's "Add" link on the client's
  credit (``js_assign_outstanding_line``), what native Odoo needs for the same result;
- auto: the setting on (posting plus paying from credit);
- Odoo (in one batch): native posting as Odoo ships it, without the module's
  fix of its batch posting (see ``account.move._track_prepare``): each invoice's
  tracking kept an environment alive, and every environment lookup scanned them all;
- Odoo + Add (one at a time): native posting and "Add" as Odoo ships them, with
  none of the module's replacements of Odoo's own computations (that tracking fix,
  and the reads of an invoice's reconciled payments and of a payment's matched
  documents through the ORM, see the README's "What changes in Odoo's own
  behaviour"), which make "native + Add" faster than it is without the module.

So the ratios are what the feature costs on this machine today, against the same
installation with the setting off (``native``) and against Odoo's own posting. The
variants take turns, run after run (``--repeat``, best run of each), so that the
machine's slow and fast spells fall on all of them alike.

    ODOO_PYTHON benchmarks/bench_auto_mark_paid.py -d DB [-c odoo.conf]
        [--addons-path P] [--sizes 300,1000] [--mode single|batch|both]

Also run by ``scripts/bench auto_mark_paid``, which prints the ``BENCH`` lines as a
table.

The database must have invoice_client_pay installed. The fixtures (clients, their
credit, draft invoices) are committed and the tables analyzed, as a live database's
autovacuum would, so use a scratch database; each posting measured is rolled back, and
the tables vacuumed before the next.
"""

import gc
import time
from contextlib import contextmanager, nullcontext
from unittest.mock import patch

import psycopg2
from bench_common import bench_line, database_argument_parser, load_odoo_config

import odoo
from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.sql_db import connection_info_for

# The tables the measured postings write, and leave dead rows in when rolled back.
POSTING_TABLES = (
    "account_move, account_move_line, account_partial_reconcile, "
    "account_full_reconcile, account_payment, res_partner"
)


def build_fixtures(env, size, tag, lines):
    """N clients, each with credit and one draft invoice of ``lines`` lines (with
    the company's default sales tax) that the credit covers."""
    company = env.company
    company.auto_mark_invoices_paid = False
    journal = env["account.journal"].search(
        [("type", "=", "bank"), ("company_id", "=", company.id)], limit=1
    )
    tax = company.account_sale_tax_id
    partners = env["res.partner"].create(
        [{"name": f"Bench {tag} client {i}"} for i in range(size)]
    )
    payments = env["account.payment"].create(
        [
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": partner.id,
                "amount": 150.0 * lines,
                "journal_id": journal.id,
            }
            for partner in partners
        ]
    )
    payments.action_post()
    credit_lines = {
        payment.partner_id.id: payment.move_id.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        for payment in payments
    }
    invoices = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "name": f"Service {line}",
                            "price_unit": 100.0,
                            "tax_ids": tax.ids,
                        }
                    )
                    for line in range(lines)
                ],
            }
            for partner in partners
        ]
    )
    env.flush_all()
    env.cr.commit()
    # Fresh rows without statistics make PostgreSQL pick nested loops for Odoo's
    # own payment queries; a live database's autovacuum would have analyzed them.
    env.cr.execute(f"ANALYZE {POSTING_TABLES}")
    # The credit each invoice's client has: what the "Add" link would assign.
    credit_line_ids = {
        invoice.id: credit_lines[invoice.partner_id.id].id for invoice in invoices
    }
    return invoices, credit_line_ids


def odoo_tracking(env):
    """Odoo's own tracking registration on invoices, the module's fix left out."""
    from odoo.addons.mail.models.mail_thread import MailThread  # noqa: PLC0415

    return patch.object(
        type(env["account.move"]), "_track_prepare", MailThread._track_prepare
    )


@contextmanager
def odoo_as_shipped(env):
    """Odoo's own computations wherever the module replaces them for every
    posting (its payment-state computation only runs while credit pays)."""
    from odoo.addons.account.models.account_move import (  # noqa: PLC0415
        AccountMove,
    )
    from odoo.addons.account.models.account_payment import (  # noqa: PLC0415
        AccountPayment,
    )

    with (
        odoo_tracking(env),
        patch.object(
            type(env["account.move"]),
            "_compute_reconciled_payment_ids",
            AccountMove._compute_reconciled_payment_ids,
        ),
        patch.object(
            type(env["account.payment"]),
            "_compute_stat_buttons_from_reconciliation",
            AccountPayment._compute_stat_buttons_from_reconciliation,
        ),
    ):
        yield


def post(env, invoices, variant, batch, credit_line_ids):
    """Posts ``invoices`` as ``variant`` says: "native", "native + Add", "auto",
    "Odoo" or "Odoo + Add"."""
    env.company.auto_mark_invoices_paid = variant == "auto"
    env.flush_all()
    cr = env.cr
    queries_before = cr.sql_log_count
    start = time.perf_counter()
    if batch:
        with odoo_tracking(env) if variant == "Odoo" else nullcontext():
            invoices.action_post()
    else:
        with odoo_as_shipped(env) if variant == "Odoo + Add" else nullcontext():
            for invoice in invoices:
                invoice.action_post()
                if variant in ("native + Add", "Odoo + Add"):
                    invoice.js_assign_outstanding_line(credit_line_ids[invoice.id])
    env.flush_all()
    elapsed = time.perf_counter() - start
    return elapsed, cr.sql_log_count - queries_before


def measure(env, invoices, variants, repeat, batch, credit_line_ids):
    """Best of ``repeat`` runs of each variant, each run from the same savepoint
    and on vacuumed tables. The variants take turns run by run, so that the
    machine's slower and faster spells fall on all of them alike.

    :return: {variant: (seconds, queries)}
    """
    cr = env.cr
    best = {}
    for _ in range(repeat):
        for variant in variants:
            cr.execute("SAVEPOINT bench_post")
            elapsed, queries = post(env, invoices, variant, batch, credit_line_ids)
            if variant not in ("native", "Odoo"):
                paid = sum(1 for inv in invoices if inv.payment_state != "not_paid")
                assert paid == len(invoices), f"{variant}: only {paid} invoices paid"
            cr.execute("ROLLBACK TO SAVEPOINT bench_post")
            # What a rollback does besides: the commit hooks of the undone
            # posting (its tracking) go too. Left pending, they would keep that
            # posting's environments alive into the next variant measured, and
            # slow it.
            cr.precommit.clear()
            env.invalidate_all()
            gc.collect()
            vacuum(cr)
            if variant not in best or elapsed < best[variant][0]:
                best[variant] = (elapsed, queries)
    return best


def vacuum(cr):
    """End the transaction and vacuum what the measured postings wrote, as
    autovacuum does on a live database: each rolled-back posting leaves its rows
    dead in the tables and their indexes, which every later lookup through those
    indexes walks past, so that the variants measured last paid for the ones
    before them."""
    cr.commit()
    _dsn, params = connection_info_for(cr.dbname)
    connection = psycopg2.connect(**params)
    try:
        connection.autocommit = True
        with connection.cursor() as vacuum_cr:
            vacuum_cr.execute(f"VACUUM ANALYZE {POSTING_TABLES}")
    finally:
        connection.close()


def main():
    parser = database_argument_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        help="N for every mode (default: 300,1000 in one batch, 150,300 one at a time)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help="runs of each variant, the best kept (default: 3 in one batch, 5 one "
        "at a time, whose runs are short and so the most at the machine's mercy)",
    )
    parser.add_argument(
        "--mode",
        choices=("batch", "single", "both"),
        default="both",
        help="single: one action_post() per invoice, as accountants post them; "
        "batch: one action_post() on all",
    )
    parser.add_argument(
        "--lines",
        type=int,
        default=3,
        help="invoice lines per invoice (each with the default sales tax)",
    )
    args = parser.parse_args()
    load_odoo_config(args)
    registry = Registry(args.database)
    print(f"Odoo {odoo.release.version}, {args.lines} line(s) per invoice")
    print(
        f"{'mode':>6} {'N':>5} {'variant':>12} {'seconds':>8} {'ratio':>6} {'q/inv':>6}"
    )
    modes = ("batch", "single") if args.mode == "both" else (args.mode,)
    goals = {"batch": 1.3, "single": 1.5}
    default_sizes = {"batch": (300, 1000), "single": (150, 300)}
    sizes_by_mode = {
        mode: (
            tuple(int(size) for size in args.sizes.split(","))
            if args.sizes
            else default_sizes[mode]
        )
        for mode in modes
    }
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        for size in sorted(set().union(*sizes_by_mode.values())):
            invoices, credit = build_fixtures(env, size, tag=size, lines=args.lines)
            # Warm caches (views, sequences, prefetch) outside the measurement.
            measure(env, invoices[:5], ("auto",), 1, True, credit)
            for mode in (mode for mode in modes if size in sizes_by_mode[mode]):
                batch = mode == "batch"
                variants = (
                    ("native", "Odoo", "auto")
                    if batch
                    else ("native", "native + Add", "Odoo + Add", "auto")
                )
                repeat = args.repeat or (3 if batch else 5)
                results = measure(env, invoices, variants, repeat, batch, credit)
                times = {variant: seconds for variant, (seconds, _q) in results.items()}
                for variant, (seconds, queries) in results.items():
                    print(
                        f"{mode:>6} {size:>5} {variant:>12} {seconds:>8.2f} "
                        f"{seconds / times['native']:>6.2f} {queries / size:>6.1f}",
                        flush=True,
                    )
                bench_line(
                    f"auto_mark_paid.{mode}.N{size}",
                    times["auto"] / times["native"],
                    goals[mode],
                    f"{mode} posting with the setting on / native {mode} posting",
                )
                if batch:
                    bench_line(
                        f"auto_mark_paid.batch_vs_odoo.N{size}",
                        times["auto"] / times["Odoo"],
                        goals[mode],
                        "batch posting with the setting on / Odoo's own batch posting",
                    )
                else:
                    bench_line(
                        f"auto_mark_paid.single_vs_add.N{size}",
                        times["auto"] / times["native + Add"],
                        0.8,
                        "single posting with the setting on / native post + Add",
                    )
                    bench_line(
                        f"auto_mark_paid.single_vs_odoo_add.N{size}",
                        times["auto"] / times["Odoo + Add"],
                        0.8,
                        "single posting with the setting on / Odoo's own post + Add",
                    )


if __name__ == "__main__":
    main()
