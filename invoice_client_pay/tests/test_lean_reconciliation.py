import gc
from unittest.mock import patch

from odoo import Command
from odoo.tests import tagged

from odoo.addons.account.models.account_move import AccountMove as OdooAccountMove
from odoo.addons.account.models.account_move_line import (
    AccountMoveLine as OdooAccountMoveLine,
)
from odoo.addons.account.models.account_partial_reconcile import (
    AccountPartialReconcile as OdooPartialReconcile,
)
from odoo.addons.account.models.account_payment import AccountPayment as OdooPayment

from ..utils import (
    MATCHING_GROUPS,
    PROPAGATION_SEARCHES,
    _related_records_found,
    fetch_one2many_in_full,
    matching_groups_remembered,
    merged_trigger_tree,
    propagation_searches_remembered,
    remember_matching_groups,
    remembered_matching_groups,
)
from .common import ClientCreditCommon


@tagged("post_install", "-at_install")
class TestLeanReconciliation(ClientCreditCommon):
    """Credit paying an invoice in the company's currency takes the lean path of
    Odoo's reconciliation (no re-synchronisation of every line of the moves
    involved), and ends exactly where Odoo's own "Add" link on the invoice form
    ends: same matchings, residual amounts, full reconciliations, matching
    numbers, and payment states of the invoice and the payment."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.twin_client = cls.env["res.partner"].create(
            {"name": "Twin Client", "email": "twin@example.com"}
        )

    def _ledger_outcome(self, invoice, credit_line):
        """What a matching leaves on the ledger, in a form that compares between
        two clients."""
        self.env.invalidate_all()
        debit = invoice.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        )
        partials = debit.matched_credit_ids
        lines = debit + credit_line
        numbers = lines.mapped("matching_number")
        return {
            "invoice": (invoice.payment_state, invoice.amount_residual),
            "payment": credit_line.payment_id.state,
            "partials": sorted(
                (p.amount, p.debit_amount_currency, p.credit_amount_currency)
                for p in partials
            ),
            "residuals": [(line.amount_residual, line.reconciled) for line in lines],
            "fully reconciled": [bool(line.full_reconcile_id) for line in lines],
            # A full reconciliation's number is shared; a partial one is "P...".
            "numbers": [
                (bool(number), (number or "").startswith("P"), number == numbers[0])
                for number in numbers
            ],
        }

    def _pay_both_ways(self, credit, amount):
        """The client's invoice paid automatically when posted (the lean path:
        Odoo's generic ``_reconcile_plan`` must not run), and the twin's the
        way an accountant does it without this module."""
        credit_line = self._credit_line(credit, self.client)
        twin_credit_line = self._credit_line(credit, self.twin_client)
        invoice = self._invoice(amount, post=False)
        with patch.object(
            type(self.env["account.move.line"]),
            "_reconcile_plan",
            side_effect=AssertionError("the generic reconciliation ran"),
        ):
            invoice.action_post()
        self.company.auto_mark_invoices_paid = False
        twin_invoice = self._invoice(amount, partner=self.twin_client)
        twin_invoice.js_assign_outstanding_line(twin_credit_line.id)
        self.company.auto_mark_invoices_paid = True
        return (
            self._ledger_outcome(invoice, credit_line),
            self._ledger_outcome(twin_invoice, twin_credit_line),
        )

    def test_credit_larger_than_invoice_as_odoo_add(self):
        ours, odoos = self._pay_both_ways(credit=500.0, amount=300.0)
        self.assertEqual(ours, odoos)
        self.assertEqual(ours["partials"], [(300.0, 300.0, 300.0)])

    def test_exact_credit_fully_reconciles_as_odoo_add(self):
        ours, odoos = self._pay_both_ways(credit=300.0, amount=300.0)
        self.assertEqual(ours, odoos)
        self.assertEqual(ours["fully reconciled"], [True, True])
        self.assertEqual(ours["payment"], "paid")

    def test_short_credit_partial_as_odoo_add(self):
        ours, odoos = self._pay_both_ways(credit=120.0, amount=300.0)
        self.assertEqual(ours, odoos)
        self.assertEqual(ours["invoice"], ("partial", 180.0))

    def test_other_currency_takes_the_whole_reconciliation(self):
        """An invoice in another currency than the credit's may need an
        exchange difference entry: Odoo's whole ``_reconcile_plan`` runs."""
        other_currency = self.setup_other_currency("EUR", rates=[("2000-01-01", 2.0)])
        self._credit_line(500.0, self.client)
        invoice = self._invoice(200.0, post=False, currency_id=other_currency.id)
        line_class = type(self.env["account.move.line"])
        with patch.object(
            line_class,
            "_reconcile_plan",
            autospec=True,
            side_effect=line_class._reconcile_plan,
        ) as reconcile_plan:
            invoice.action_post()
        self.assertEqual(reconcile_plan.call_count, 1)
        self.assertEqual(invoice.payment_state, self._paid_state())
        self.assertEqual(self._balance(), 400.0)
        self.assertLedgerConsistent()

    def test_reconciled_payments_as_odoo_finds_them(self):
        """The module reads an invoice's reconciled payments table by table;
        the result is what Odoo's own single query gives, for invoices paid from
        credit, by a payment registered on them, in part, by a refund, and for
        bills."""
        self._credit_line(500.0, self.client)
        paid_from_credit = self._invoice(300.0)
        self.company.auto_mark_invoices_paid = False
        registered = self._invoice(80.0, partner=self.twin_client)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=registered.ids
        ).create({"amount": 50.0})._create_payments()
        refund = self._invoice(40.0, move_type="out_refund")
        refund_payment = self._customer_payment(40.0, payment_type="outbound")
        (refund.line_ids + refund_payment.move_id.line_ids).filtered(
            lambda line: line.account_type == "asset_receivable"
        ).reconcile()
        bill = self._create_invoice(
            move_type="in_invoice",
            partner_id=self.partner_a.id,
            invoice_line_ids=[Command.create({"name": "Goods", "price_unit": 70.0})],
            post=True,
        )
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=bill.ids
        ).create({})._create_payments()
        unpaid = self._invoice(10.0, partner=self.other_client)
        moves = paid_from_credit + registered + refund + bill + unpaid
        self.env.invalidate_all()
        ours = [move.reconciled_payment_ids for move in moves]
        self.env.invalidate_all()
        OdooAccountMove._compute_reconciled_payment_ids(moves)
        odoos = [move.reconciled_payment_ids for move in moves]
        self.assertEqual(ours, odoos)
        self.assertEqual([len(payments) for payments in ours], [1, 1, 1, 1, 0])

    def test_payments_reconciled_documents_as_odoo_finds_them(self):
        """The module reads what a payment is matched with (its invoices,
        bills, credit notes and bank statement lines, for the payment's stat
        buttons and state) through the matchings; the result is what Odoo's
        two queries give, field for field, for every kind of payment, alone
        and in one batch, and Odoo's queries never run."""
        self.company.auto_mark_invoices_paid = False
        receivable = lambda move: move.line_ids.filtered(  # noqa: E731
            lambda line: line.account_type == "asset_receivable"
        )
        # Credit that pays an invoice when posted.
        paid_from_credit = self._credit_line(500.0, self.client).payment_id
        self.company.auto_mark_invoices_paid = True
        self._invoice(300.0)
        self.company.auto_mark_invoices_paid = False
        # A refund paid out, matched with its credit note: a credit note alone.
        refund = self._invoice(40.0, move_type="out_refund")
        refund_payment = self._customer_payment(40.0, payment_type="outbound")
        (receivable(refund) + receivable(refund_payment.move_id)).reconcile()
        # A payment matched with an invoice (that a credit note pays in part),
        # and with its bank statement line (reconciled without the enterprise
        # widget, as Odoo's own tests do).
        mixed_invoice = self._invoice(80.0)
        mixed_refund = self._invoice(20.0, move_type="out_refund")
        mixed = self._customer_payment(60.0)
        (
            receivable(mixed_invoice)
            + receivable(mixed_refund)
            + receivable(mixed.move_id)
        ).reconcile()
        statement_line = self._match_payment_with_bank(mixed, "Mixed")
        # A vendor bill paid by a registered payment.
        bill = self._create_invoice(
            move_type="in_invoice",
            partner_id=self.partner_a.id,
            invoice_line_ids=[Command.create({"name": "Goods", "price_unit": 70.0})],
            post=True,
        )
        bill_payment = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=bill.ids)
            .create({})
            ._create_payments()
        )
        # Matched with nothing; and a draft (no entry yet) linked to invoices.
        unmatched = self._customer_payment(15.0)
        draft = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.client.id,
                "amount": 10.0,
                "journal_id": self.bank_journal.id,
                "invoice_ids": [Command.set((mixed_invoice | mixed_refund).ids)],
            }
        )
        payments = (
            paid_from_credit + refund_payment + mixed + bill_payment + unmatched + draft
        )
        names = [
            "reconciled_invoice_ids",
            "reconciled_invoices_count",
            "reconciled_invoices_type",
            "reconciled_bill_ids",
            "reconciled_bills_count",
            "reconciled_statement_line_ids",
            "reconciled_statement_lines_count",
        ]

        def values(records, compute):
            self.env.invalidate_all()
            compute(records)
            return [{name: record[name] for name in names} for record in records]

        def ours(records):
            records._compute_stat_buttons_from_reconciliation()

        batch, queries = self._queries_run(values, payments, ours)
        self.assertFalse(
            [query for query in queries if "FROM account_payment payment" in query],
            "Odoo's queries over the matchings ran.",
        )
        odoos = OdooPayment._compute_stat_buttons_from_reconciliation
        self.assertEqual(batch, values(payments, odoos))
        for payment in payments:
            self.assertEqual(values(payment, ours), values(payment, odoos))
        by_payment = dict(zip(payments, batch))
        self.assertEqual(by_payment[paid_from_credit]["reconciled_invoices_count"], 1)
        self.assertEqual(
            by_payment[refund_payment]["reconciled_invoices_type"], "credit_note"
        )
        # The credit note pays part of the invoice itself, not the payment.
        self.assertEqual(by_payment[mixed]["reconciled_invoice_ids"], mixed_invoice)
        self.assertEqual(
            by_payment[mixed]["reconciled_statement_line_ids"], statement_line
        )
        self.assertEqual(by_payment[bill_payment]["reconciled_bill_ids"], bill)
        self.assertFalse(by_payment[unmatched]["reconciled_invoice_ids"])
        self.assertEqual(
            by_payment[draft]["reconciled_invoice_ids"], mixed_invoice | mixed_refund
        )
        # Payments being created (not stored yet): nothing, as Odoo says.
        new = self.env["account.payment"].new(
            {"amount": 5.0, "invoice_ids": [Command.set(mixed_invoice.ids)]}
        )
        ours(new)
        new_values = {name: new[name] for name in names}
        odoos(new)
        self.assertEqual(new_values, {name: new[name] for name in names})

    def _computed(self, records, compute, names):
        """The stored fields ``names`` of ``records`` as ``compute(records)``
        sets them, from an empty cache, one tuple per record (the fields
        protected, so that nothing recomputes them behind ``compute``)."""
        self.env.invalidate_all()
        fields = [records._fields[name] for name in names]
        with self.env.protecting(fields, records):
            compute(records)
        return [tuple(record[name] for name in names) for record in records]

    def _statement_suspense(self, amount, label):
        """The suspense item of a new bank statement line of the client, to
        match by hand (without the enterprise widget, as Odoo's own tests do)."""
        statement_line = self.env["account.bank.statement.line"].create(
            {
                "payment_ref": label,
                "journal_id": self.bank_journal.id,
                "partner_id": self.client.id,
                "amount": amount,
            }
        )
        _liquidity, suspense, _other = statement_line.with_context(
            skip_account_move_synchronization=True
        )._seek_for_lines()
        return suspense

    def _match_payment_with_bank(self, payment, label):
        """Match ``payment`` with a bank statement line of its amount."""
        liquidity, _counterpart, _writeoff = payment._seek_for_lines()
        suspense = self._statement_suspense(payment.amount, label)
        suspense.account_id = liquidity.account_id
        (suspense + liquidity).reconcile()
        return suspense.statement_line_id

    def _receivable(self, move):
        return move.line_ids.filtered(
            lambda line: line.account_type in ("asset_receivable", "liability_payable")
        )

    def _entry(self, amount, receivable_side):
        """A posted miscellaneous entry moving ``amount`` on the client's
        receivable account (``receivable_side``: "debit" or "credit")."""
        sign = 1 if receivable_side == "debit" else -1
        entry = self.env["account.move"].create(
            {
                "move_type": "entry",
                "journal_id": self.company_data["default_journal_misc"].id,
                "line_ids": [
                    Command.create(
                        {
                            "account_id": self.receivable.id,
                            "partner_id": self.client.id,
                            "balance": sign * amount,
                        }
                    ),
                    Command.create(
                        {
                            "account_id": self.company_data[
                                "default_account_revenue"
                            ].id,
                            "balance": -sign * amount,
                        }
                    ),
                ],
            }
        )
        entry.action_post()
        return entry

    def _payment_state_documents(self):
        """One document of each kind Odoo's payment state tells apart."""
        self.company.auto_mark_invoices_paid = False
        receivable = self._receivable
        docs = {"unpaid": self._invoice(100.0)}
        docs["partial by payment"] = self._invoice(100.0)
        (
            receivable(docs["partial by payment"])
            + receivable(self._customer_payment(40.0).move_id)
        ).reconcile()
        docs["paid by payment"] = self._invoice(60.0)
        (
            receivable(docs["paid by payment"])
            + receivable(self._customer_payment(60.0).move_id)
        ).reconcile()
        # Paid by a payment that its bank statement line matched.
        docs["paid by matched payment"] = self._invoice(70.0)
        matched = self._customer_payment(70.0)
        (
            receivable(docs["paid by matched payment"]) + receivable(matched.move_id)
        ).reconcile()
        self._match_payment_with_bank(matched, "Matched")
        self.assertTrue(matched.is_matched)
        # Paid by its bank statement line directly.
        docs["paid by statement line"] = self._invoice(30.0)
        suspense = self._statement_suspense(30.0, "Direct")
        suspense.account_id = self.receivable
        (suspense + receivable(docs["paid by statement line"])).reconcile()
        # A credit note refunded through the bank: paid, not reversed.
        docs["refunded by statement line"] = self._invoice(35.0, move_type="out_refund")
        suspense = self._statement_suspense(-35.0, "Refund")
        suspense.account_id = self.receivable
        (suspense + receivable(docs["refunded by statement line"])).reconcile()
        # Reversed by a credit note, and its credit note; a credit note and
        # an entry together.
        docs["reversed"] = self._invoice(50.0)
        docs["credit note"] = self._invoice(50.0, move_type="out_refund")
        (receivable(docs["reversed"]) + receivable(docs["credit note"])).reconcile()
        docs["reversed with entry"] = self._invoice(50.0)
        (
            receivable(docs["reversed with entry"])
            + receivable(self._invoice(20.0, move_type="out_refund"))
            + receivable(self._entry(30.0, "credit"))
        ).reconcile()
        # Paid by a miscellaneous entry; a credit note refunded by one; and
        # the entry itself.
        docs["paid by entry"] = self._invoice(45.0)
        docs["entry"] = self._entry(45.0, "credit")
        (receivable(docs["paid by entry"]) + receivable(docs["entry"])).reconcile()
        docs["refunded by entry"] = self._invoice(25.0, move_type="out_refund")
        (
            receivable(docs["refunded by entry"])
            + receivable(self._entry(25.0, "debit"))
        ).reconcile()
        # A vendor bill paid, and one reversed by its refund.
        docs["bill paid"] = self._create_invoice(
            move_type="in_invoice",
            partner_id=self.partner_a.id,
            invoice_line_ids=[Command.create({"name": "Goods", "price_unit": 70.0})],
            post=True,
        )
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=docs["bill paid"].ids
        ).create({})._create_payments()
        docs["bill reversed"] = self._create_invoice(
            move_type="in_invoice",
            partner_id=self.partner_a.id,
            invoice_line_ids=[Command.create({"name": "Goods", "price_unit": 15.0})],
            post=True,
        )
        refund = docs["bill reversed"]._reverse_moves(
            [{"invoice_date": docs["bill reversed"].invoice_date}]
        )
        # Posting a reversal matches it with what it reverses.
        refund.action_post()
        # Paid from credit (of a client with no other open invoice, which the
        # credit arriving would pay).
        self.company.auto_mark_invoices_paid = True
        self._credit_line(90.0, self.other_client)
        docs["paid from credit"] = self._invoice(90.0, partner=self.other_client)
        self.company.auto_mark_invoices_paid = False
        # Blocked, legacy, draft, and free.
        docs["blocked"] = self._invoice(10.0)
        docs["blocked"].payment_state = "blocked"
        docs["legacy"] = self._invoice(10.0)
        docs["legacy"].payment_state = "invoicing_legacy"
        docs["draft"] = self._invoice(10.0, post=False)
        docs["free"] = self._invoice(0.0)
        return docs

    def test_payment_states_as_odoo_computes_them(self):
        """In the credit application the module reads the payment state's
        matchings through the ORM; the state is Odoo's for every kind of
        document, alone and in one batch, also where Odoo's accounting app
        has invoices "in payment", and Odoo's query never runs."""
        docs = self._payment_state_documents()
        moves = self.env["account.move"].union(*docs.values())

        def states(records, compute):
            return [
                state
                for (state,) in self._computed(records, compute, ["payment_state"])
            ]

        def ours(records):
            records.with_context(client_credit_apply=True)._compute_payment_state()

        def odoos(records):
            OdooAccountMove._compute_payment_state(records)

        batch, queries = self._queries_run(states, moves, ours)
        self.assertFalse(
            [query for query in queries if "source_line_account_type" in query],
            "Odoo's payment-state query ran.",
        )
        self.assertEqual(batch, states(moves, odoos))
        for move in moves:
            self.assertEqual(states(move, ours), states(move, odoos))
        by_name = dict(zip(docs, batch))
        self.assertEqual(
            by_name,
            {
                "unpaid": "not_paid",
                "partial by payment": "partial",
                "paid by payment": "paid",
                "paid by matched payment": "paid",
                "paid by statement line": "paid",
                "refunded by statement line": "paid",
                "reversed": "reversed",
                "credit note": "paid",
                "reversed with entry": "reversed",
                "paid by entry": "paid",
                "entry": "not_paid",
                "refunded by entry": "reversed",
                "bill paid": "paid",
                "bill reversed": "reversed",
                "paid from credit": "paid",
                "blocked": "blocked",
                "legacy": "invoicing_legacy",
                "draft": "not_paid",
                "free": "paid",
            },
        )
        # Where the accounting app is installed, a payment not yet matched
        # with the bank leaves its invoice "in payment".
        move_class = type(self.env["account.move"])
        with patch.object(
            move_class, "_get_invoice_in_payment_state", return_value="in_payment"
        ):
            in_payment = states(moves, ours)
            self.assertEqual(in_payment, states(moves, odoos))
        self.assertEqual(dict(zip(docs, in_payment))["paid by payment"], "in_payment")
        self.assertEqual(dict(zip(docs, in_payment))["paid by matched payment"], "paid")

    def test_credit_application_decides_payment_state_from_the_cache(self):
        """An invoice paid from credit as it is posted gets its payment state
        from the matchings the reconciliation has just made: Odoo's query
        does not run then."""
        self._credit_line(300.0, self.client)
        invoice = self._invoice(200.0, post=False)
        move_class = type(self.env["account.move"])
        apply_credit = move_class._apply_client_credit_on_post
        queries = []

        def applying(moves):
            queries.extend(self._queries_run(apply_credit, moves)[1])

        with patch.object(move_class, "_apply_client_credit_on_post", applying):
            invoice.action_post()
        self.assertEqual(invoice.payment_state, self._paid_state())
        self.assertTrue(
            [query for query in queries if "account_partial_reconcile" in query],
            "The credit was applied.",
        )
        self.assertFalse(
            [query for query in queries if "source_line_account_type" in query],
            "Odoo's payment-state query ran.",
        )

    def test_payment_states_of_payments_without_entry_as_odoo(self):
        """Where the accounting app is installed, a payment may have no entry
        of its own, only the invoices it pays: in the credit application those
        invoices' states are Odoo's too."""
        self.company.auto_mark_invoices_paid = False
        move_class = type(self.env["account.move"])
        with patch.object(
            move_class, "_get_invoice_in_payment_state", return_value="in_payment"
        ):
            method_line = self.bank_journal.inbound_payment_method_line_ids[:1]
            method_line.payment_account_id = False
            invoices = self._invoice(80.0) + self._invoice(90.0)
            payments = self.env["account.payment"]
            for invoice in invoices:
                payments |= (
                    self.env["account.payment.register"]
                    .with_context(active_model="account.move", active_ids=invoice.ids)
                    .create({"payment_method_line_id": method_line.id})
                    ._create_payments()
                )
            self.assertFalse(payments.move_id)
            payments[1:].action_validate()
            self.assertEqual(payments.mapped("state"), ["in_process", "paid"])

            def states(compute):
                return [
                    state
                    for (state,) in self._computed(invoices, compute, ["payment_state"])
                ]

            ours = states(
                lambda records: records.with_context(
                    client_credit_apply=True
                )._compute_payment_state()
            )
            self.assertEqual(ours, states(OdooAccountMove._compute_payment_state))
            self.assertEqual(ours, ["in_payment", "in_payment"])

    def _multi_currency_items(self):
        """Items in another currency than the company's, matched in part: an
        invoice in that currency paid in part by a payment in the company's,
        and its payment."""
        other_currency = self.setup_other_currency("EUR", rates=[("2000-01-01", 3.0)])
        invoice = self._invoice(
            90.0, partner=self.other_client, currency_id=other_currency.id
        )
        payment = self._customer_payment(10.0, partner_id=self.other_client.id)
        (self._receivable(invoice) + self._receivable(payment.move_id)).reconcile()
        self.assertEqual(invoice.payment_state, "partial")
        return invoice.line_ids + payment.move_id.line_ids

    def test_residual_amounts_as_odoo_computes_them(self):
        """In the credit application the module sums the items' matchings
        through the ORM; the residual amounts and the "reconciled" flag are
        Odoo's for every kind of item (receivable and payable, matched or not,
        in part, in another currency, not reconcilable at all, not yet
        stored), alone and in one batch, and Odoo's query never runs."""
        docs = self._payment_state_documents()
        lines = (
            self.env["account.move"].union(*docs.values()).line_ids
            + self._multi_currency_items()
        )
        residual_fields = ["amount_residual", "amount_residual_currency", "reconciled"]

        def residuals(records, compute):
            return self._computed(records, compute, residual_fields)

        def ours(records):
            records.with_context(client_credit_apply=True)._compute_amount_residual()

        def odoos(records):
            OdooAccountMoveLine._compute_amount_residual(records)

        batch, queries = self._queries_run(residuals, lines, ours)
        self.assertFalse(
            [query for query in queries if "part.debit_move_id AS line_id" in query],
            "Odoo's residual query ran.",
        )
        self.assertEqual(batch, residuals(lines, odoos))
        for line in lines:
            self.assertEqual(residuals(line, ours), residuals(line, odoos))
        # What the comparison covers: open, in part, reconciled, in another
        # currency, and lines of no reconcilable account.
        kinds = {
            "open": any(not r and a for a, _c, r in batch),
            "reconciled": any(r for _a, _c, r in batch),
            "other currency": any(a != c for a, c, _r in batch),
            "not reconcilable": any(not a and not c and not r for a, c, r in batch),
        }
        self.assertEqual(set(kinds.values()), {True}, kinds)
        # A line being edited (not stored yet) has no matchings.
        new_line = self.env["account.move.line"].new(
            {"account_id": self.receivable.id, "balance": 25.0}
        )
        self.assertEqual(residuals(new_line, ours), residuals(new_line, odoos))

    def test_credit_used_up_over_invoices_fully_reconciles_as_odoo_add(self):
        """Credit used by a first invoice in part and by a second to its end:
        the full reconciliation holds the three items, as Odoo's "Add" makes
        it."""
        credit_line = self._credit_line(300.0, self.client)
        twin_credit_line = self._credit_line(300.0, self.twin_client)
        invoices = self._invoice(100.0) + self._invoice(200.0)
        self.company.auto_mark_invoices_paid = False
        twin_invoices = self._invoice(100.0, partner=self.twin_client) + self._invoice(
            200.0, partner=self.twin_client
        )
        for twin_invoice in twin_invoices:
            twin_invoice.js_assign_outstanding_line(twin_credit_line.id)
        self.assertEqual(
            [self._ledger_outcome(invoice, credit_line) for invoice in invoices],
            [
                self._ledger_outcome(invoice, twin_credit_line)
                for invoice in twin_invoices
            ],
        )
        lines = self._receivable(invoices) + credit_line
        self.assertEqual(len(lines.full_reconcile_id), 1)
        self.assertEqual(lines.full_reconcile_id.reconciled_line_ids, lines)
        self.assertEqual(len(set(lines.mapped("matching_number"))), 1)

    def test_matching_number_of_a_group_reaching_past_the_credit(self):
        """Credit already matched with an invoice that a payment also pays:
        a new invoice paid from that credit joins the whole group, whose items
        all keep one matching number, that of its first matching."""
        self.company.auto_mark_invoices_paid = False
        first = self._invoice(100.0)
        payment = self._customer_payment(30.0)
        (self._receivable(first) + self._receivable(payment.move_id)).reconcile()
        credit_line = self._credit_line(300.0, self.client)
        (self._receivable(first) + credit_line).reconcile()
        self.company.auto_mark_invoices_paid = True
        second = self._invoice(50.0)
        self.assertEqual(second.payment_state, self._paid_state())
        group = self._receivable(first + second + payment.move_id) + credit_line
        first_matching = min(group.matched_debit_ids.ids + group.matched_credit_ids.ids)
        self.assertEqual(
            group.mapped("matching_number"), [f"P{first_matching}"] * len(group)
        )

    def _group_reaching_past_the_credit(self, partner):
        """Credit of ``partner`` already matched with an invoice that a payment
        also pays in part: 300 of credit, 230 left. The items of the group."""
        self.company.auto_mark_invoices_paid = False
        first = self._invoice(100.0, partner=partner)
        payment = self._customer_payment(30.0, partner_id=partner.id)
        (self._receivable(first) + self._receivable(payment.move_id)).reconcile()
        credit_line = self._credit_line(300.0, partner)
        (self._receivable(first) + credit_line).reconcile()
        self.company.auto_mark_invoices_paid = True
        return self._receivable(first + payment.move_id) + credit_line

    def _post_counting_number_queries(self, invoice):
        """Post ``invoice``; count the queries about journal items' matching
        numbers: Odoo's statement writing them, reads of them (not of whole
        items), and searches of items by number."""
        queries = [
            " ".join(query.split())
            for query in self._queries_run(invoice.action_post)[1]
        ]
        number_column = '"account_move_line"."matching_number"'
        return {
            "statement": sum(
                "SET matching_number = CASE" in query for query in queries
            ),
            # Reads of the numbers themselves, not of whole items.
            "reads": sum(
                query.startswith("SQL('SELECT")
                and number_column in query.split(" FROM ")[0]
                and query.split(" FROM ")[0].count('"account_move_line".') < 5
                and "GROUP BY" not in query
                for query in queries
            ),
            "searches": sum(
                "GROUP BY" in query and number_column in query for query in queries
            ),
        }

    def test_matching_numbers_written_with_the_items(self):
        """The matching numbers a credit application gives are those of Odoo's
        own method, and are written with the items' other changes: no
        statement of their own, no read of them back, no search of the items
        by number but for the group the credit was in already. Fresh credit
        paying an invoice, then, in a group reaching past the credit, an
        invoice paid in part ("P" and the group's number) and one using the
        credit up (the full reconciliation's)."""
        fresh_clients = self.env["res.partner"].create(
            [{"name": "Fresh Client"}, {"name": "Fresh Twin Client"}]
        )
        for fresh_client in fresh_clients:
            self._credit_line(300.0, fresh_client)
        _invoices, ours, odoos = self._post_both_counting_number_queries(
            80.0, *fresh_clients
        )
        self.assertEqual(ours, {"statement": 0, "reads": 0, "searches": 0})
        self.assertEqual(odoos, {"statement": 1, "reads": 1, "searches": 1})
        group, twin_group = (
            self._group_reaching_past_the_credit(partner)
            for partner in (self.client, self.twin_client)
        )
        credit_line, twin_credit_line = group[-1], twin_group[-1]
        for amount in (50.0, 180.0):
            (invoice, twin_invoice), ours, odoos = (
                self._post_both_counting_number_queries(
                    amount, self.client, self.twin_client
                )
            )
            self.assertEqual(ours["statement"], 0)
            for kind, count in ours.items():
                self.assertLess(count, odoos[kind], kind)
            group |= self._receivable(invoice)
            twin_group |= self._receivable(twin_invoice)
            self.assertEqual(
                self._ledger_outcome(invoice, credit_line),
                self._ledger_outcome(twin_invoice, twin_credit_line),
            )
            self.assertEqual(
                self._matching_numbers_told(group),
                self._matching_numbers_told(twin_group),
            )
        self.assertEqual(len(group.full_reconcile_id), 1)
        self.assertEqual(
            group.mapped("matching_number"),
            [str(group.full_reconcile_id.id)] * len(group),
        )

    def test_matching_numbers_of_items_read_from_the_database(self):
        """Items found by their number in a new transaction are numbered as
        Odoo's statement numbers them: "P" and the group's number in part,
        the full reconciliation's in full; so are items whose full
        reconciliation the cache lacks."""
        partial_group = self._group_reaching_past_the_credit(self.client)
        self.company.auto_mark_invoices_paid = False
        invoice = self._invoice(100.0)
        full_group = self._receivable(invoice) + self._credit_line(100.0, self.client)
        full_group.reconcile()
        lines = partial_group + full_group
        self.env.invalidate_all()
        odoos = lines.mapped("matching_number")
        self.assertEqual(len(set(odoos)), 2)
        self.assertTrue(all(full_group.mapped("full_reconcile_id")))
        partial_reconcile = self.env["account.partial.reconcile"].with_context(
            client_credit_apply=True
        )
        # Both groups under one wrong number, which only a new numbering
        # mends: all their items are found by it.
        self._scramble_matching_numbers(lines)
        partial_reconcile._update_matching_number(
            self.env["account.move.line"].browse(lines[0].id)
        )
        self.env.invalidate_all()
        self.assertEqual(lines.mapped("matching_number"), odoos)
        number2lines = {
            min(group.matched_debit_ids.ids + group.matched_credit_ids.ids): group.ids
            for group in (partial_group, full_group)
        }
        self._scramble_matching_numbers(lines)
        partial_reconcile._write_matching_numbers(number2lines)
        self.env.invalidate_all()
        self.assertEqual(lines.mapped("matching_number"), odoos)

    def _scramble_matching_numbers(self, lines):
        """One wrong number on all ``lines``, written behind the ORM's back."""
        self.env.cr.execute(
            "UPDATE account_move_line SET matching_number = 'P0' WHERE id IN %s",
            [tuple(lines.ids)],
        )
        self.env.invalidate_all()

    def test_matching_groups_remembered_within_their_block(self):
        """The groups a credit application numbers answer only within its
        run, only when every number asked was given in it, and forget the
        groups their items left."""
        cr = self.env.cr
        remember_matching_groups(cr, [1, 2], {"P1": [1, 2]})
        self.assertIsNone(remembered_matching_groups(cr, {"P1"}))
        with matching_groups_remembered(cr):
            remember_matching_groups(cr, [1, 2], {"P1": [1, 2]})
            remember_matching_groups(cr, [3, 4], {"P3": [3, 4]})
            self.assertEqual(
                remembered_matching_groups(cr, {"P1", "P3"}),
                {"P1": (1, 2), "P3": (3, 4)},
            )
            self.assertIsNone(remembered_matching_groups(cr, {"P1", "P9"}))
            # Item 2 joins group P3, which keeps the smaller number; item 1,
            # renumbered with it, has lost its number.
            remember_matching_groups(cr, [1, 2, 3, 4], {"P3": [2, 3, 4]})
            self.assertIsNone(remembered_matching_groups(cr, {"P1"}))
            self.assertEqual(remembered_matching_groups(cr, {"P3"}), {"P3": (2, 3, 4)})
            with matching_groups_remembered(cr):
                self.assertEqual(
                    remembered_matching_groups(cr, {"P3"}), {"P3": (2, 3, 4)}
                )
        self.assertNotIn(MATCHING_GROUPS, cr.cache)

    def _post_both_counting_number_queries(self, amount, client, twin_client):
        """Post an invoice of ``amount`` for ``client``, paid from credit as
        the module does, and one for ``twin_client`` with Odoo's numbering:
        the two invoices, and the queries about matching numbers of each
        posting."""
        invoice = self._invoice(amount, partner=client, post=False)
        twin_invoice = self._invoice(amount, partner=twin_client, post=False)
        # As in a new transaction: the items of the credit's group unread.
        self.env.invalidate_all()
        ours = self._post_counting_number_queries(invoice)
        self.env.invalidate_all()
        with (
            patch.object(
                type(self.env["account.partial.reconcile"]),
                "_update_matching_number",
                OdooPartialReconcile._update_matching_number,
            ),
            patch.object(
                type(self.env["account.move.line"]),
                "_reconciled_by_number",
                OdooAccountMoveLine._reconciled_by_number,
            ),
        ):
            odoos = self._post_counting_number_queries(twin_invoice)
        return (invoice, twin_invoice), ours, odoos

    def _matching_numbers_told(self, lines):
        """The matching numbers of ``lines`` as the database holds them, in a
        form that compares between two clients: a full reconciliation's, or
        the rank of the group's matching a "P" number names."""
        self.env.invalidate_all()
        partial_ids = sorted((lines.matched_debit_ids | lines.matched_credit_ids).ids)
        told = []
        for line in lines:
            number = line.matching_number
            if line.full_reconcile_id:
                told.append(("full", number == str(line.full_reconcile_id.id)))
            elif number and number.startswith("P"):
                told.append(("P", partial_ids.index(int(number[1:]))))
            else:
                told.append(("other", number))
        return told

    def test_items_written_once_when_posting_one_after_another(self):
        """Invoices paid from credit as they are posted, one after another in
        one transaction: after its payment, each item of an invoice is written
        once (its state and its date, which posting set, together), not once
        per field."""
        self._credit_line(1000.0, self.client)
        # Without a date: posting dates them, as for most invoices.
        first, second = self.env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": self.client.id,
                    "invoice_line_ids": [
                        Command.create({"name": "Service", "price_unit": 100.0})
                    ],
                }
            ]
            * 2
        )
        self.env.flush_all()
        first.action_post()
        self.assertEqual(first.payment_state, self._paid_state())
        line_class = type(self.env["account.move.line"])
        write_multi = line_class._write_multi
        written = []

        def recording_writes(lines, vals_list):
            written.extend(lines.ids)
            return write_multi(lines, vals_list)

        with patch.object(line_class, "_write_multi", recording_writes):
            second.action_post()
            self.env.flush_all()
        self.assertEqual(second.payment_state, self._paid_state())
        self.assertEqual(
            {line.id: written.count(line.id) for line in first.invoice_line_ids},
            dict.fromkeys(first.invoice_line_ids.ids, 1),
        )

    def _paid_state(self):
        return self.env["account.move"]._get_invoice_in_payment_state()


@tagged("post_install", "-at_install")
class TestPropagationSearches(ClientCreditCommon):
    """A new matching paid from credit propagates to the same fields and records
    as Odoo's own propagation, asking each of its inverse searches once."""

    def _walk(self, partial, **context):
        """The fields and records a matching's creation marks to compute, and
        the SQL queries the walk took, from an empty cache."""
        env = self.env
        env.invalidate_all()
        tocompute = env.transaction.tocompute
        tocompute.clear()
        queries = env.cr.sql_log_count
        partial.with_context(**context).modified(list(partial._fields), create=True)
        queries = env.cr.sql_log_count - queries
        marked = {
            (field.model_name, field.name): set(ids)
            for field, ids in tocompute.items()
            if ids
        }
        # The stored values are current (flushed): nothing is left to compute.
        tocompute.clear()
        return marked, queries

    def test_walk_marks_what_odoos_marks_with_fewer_queries(self):
        # The payment already paid another invoice: its state, which the new
        # matching changes, makes the walk reach that invoice too.
        credit_line = self._credit_line(300.0, self.client)
        earlier = self._invoice(100.0)
        invoice = self._invoice(200.0)
        self.assertEqual(credit_line.payment_id.state, "paid")
        partial = invoice.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        ).matched_credit_ids
        self.assertEqual(len(partial), 1)
        self.env.flush_all()
        ours, our_queries = self._walk(partial, client_credit_apply=True)
        self.assertNotIn(PROPAGATION_SEARCHES, self.env.cr.cache)
        odoos, odoo_queries = self._walk(partial)
        self.assertEqual(ours, odoos)
        self.assertLessEqual(
            {earlier.id, invoice.id}, ours[("account.move", "payment_state")]
        )
        self.assertIn(credit_line.payment_id.id, ours[("account.payment", "state")])
        self.assertLess(our_queries, odoo_queries)

    def test_payments_searched_by_invoices_they_can_hold(self):
        """While credit pays an invoice, a search of payments by their
        reconciled invoices finds the payments whose reconciled invoices hold
        the moves searched, which are customer invoices, credit notes and
        receipts: not the payment's own entry, which Odoo's search answers
        with that entry's reconciled payments (here a refund of the credit)."""
        credit_line = self._credit_line(300.0, self.client)
        invoice = self._invoice(100.0)
        refund = self._customer_payment(50.0, payment_type="outbound")
        refund_line = refund.move_id.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        )
        if not refund_line.reconciled:
            (refund_line + credit_line).reconcile()
        payment, entry = credit_line.payment_id, credit_line.move_id
        self.assertIn(invoice, payment.reconciled_invoice_ids)
        self.assertNotIn(entry, (payment + refund).reconciled_invoice_ids)
        payments = self.env["account.payment"].sudo().with_context(active_test=False)
        self.assertEqual(
            payments.search([("reconciled_invoice_ids", "in", entry.ids)]), refund
        )
        applying = payments.with_context(client_credit_apply=True)
        self.assertFalse(applying.search([("reconciled_invoice_ids", "in", entry.ids)]))
        self.assertEqual(
            applying.search([("reconciled_invoice_ids", "in", (entry + invoice).ids)]),
            payment,
        )

    def test_one2many_fetched_whole_as_the_orm_reads_it(self):
        """The items and payments of entries, and the matchings of both sides
        of their items, read with their records in one query per comodel: the
        same records in the same order as the ORM's reads, with their fields,
        and records whose fields are cached already left alone."""
        credit_line = self._credit_line(300.0, self.client)
        invoice = self._invoice(100.0)
        self._invoice(50.0)
        moves = invoice + credit_line.move_id
        matched = ("matched_debit_ids", "matched_credit_ids")

        def read():
            lines = moves.line_ids
            return {
                "line_ids": [move.line_ids for move in moves],
                "payment_ids": [move.payment_ids for move in moves],
                **{name: [line[name] for line in lines] for name in matched},
            }

        self.env.invalidate_all()
        odoos = read()
        self.assertEqual(len(credit_line.matched_debit_ids), 2)
        self.env.invalidate_all()
        cursor_class = type(self.env.cr)
        with patch.object(
            cursor_class, "execute", side_effect=cursor_class.execute, autospec=True
        ) as execute:
            fetch_one2many_in_full(moves, "line_ids")
            fetch_one2many_in_full(moves, "payment_ids")
            fetch_one2many_in_full(moves.line_ids, *matched)
            queries = execute.call_count
            ours = read()
            accounts = moves.line_ids.mapped("account_id.id")
            payment_entries = moves.payment_ids.move_id
            amounts = moves.line_ids.matched_debit_ids.mapped("amount")
            fetch_one2many_in_full(moves, "line_ids")
            fetch_one2many_in_full(moves.line_ids, *matched)
            self.assertEqual(execute.call_count, queries)
        self.assertEqual(queries, 3)
        self.assertEqual(ours, odoos)
        self.assertTrue(all(accounts))
        self.assertEqual(payment_entries, credit_line.move_id)
        self.assertEqual(sorted(amounts), [50.0, 100.0])

    def test_one2many_fetched_whole_keeps_pending_values(self):
        """A value not written yet stays as it is when its record is fetched
        with its entry's items."""
        credit_line = self._credit_line(300.0, self.client)
        credit_line.with_context(skip_account_move_synchronization=True).name = "New"
        entry = credit_line.move_id
        entry.invalidate_recordset(["line_ids"], flush=False)
        fetch_one2many_in_full(entry, "line_ids")
        self.assertIn(credit_line, entry.line_ids)
        self.assertEqual(credit_line.name, "New")
        self.env.flush_all()
        self.env.invalidate_all()
        self.assertEqual(credit_line.name, "New")

    def test_matching_cached_without_reading_its_currencies(self):
        """A matching paid from credit is created with its currencies cached
        before its amounts: the ORM never reads them back from its row."""
        self._credit_line(300.0, self.client)
        invoice = self._invoice(200.0, post=False)
        cursor_class = type(self.env.cr)
        with patch.object(
            cursor_class, "execute", side_effect=cursor_class.execute, autospec=True
        ) as execute:
            invoice.action_post()
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertFalse(
            [
                call
                for call in execute.call_args_list
                if str(call.args[1]).startswith(
                    'SQL(\'SELECT "account_partial_reconcile"'
                )
                and "currency_id" in str(call.args[1])
            ],
            "A currency of the new matching was read back.",
        )

    def test_related_search_answered_as_odoo(self):
        """While a matching paid from credit propagates, a search on a stored
        related many2one (a journal item's payment: its entry's originating
        payment) is answered through that definition, with the records
        Odoo's own search finds; any other search is left to Odoo."""
        payments = (
            self._credit_line(300.0, self.client).payment_id
            + self._credit_line(50.0, self.other_client).payment_id
        )
        lines = self.env["account.move.line"].sudo().with_context(active_test=False)
        odoos = lines.search([("payment_id", "in", payments.ids)], order="id")
        self.assertEqual(len(odoos), 4)
        with propagation_searches_remembered(self.env.cr):
            self.assertEqual(
                _related_records_found(lines, ("payment_id", "in", payments.ids)),
                tuple(odoos.ids),
            )
            self.assertIsNone(
                _related_records_found(lines, ("move_id", "in", payments.move_id.ids))
            )

    def test_merged_tree_as_odoo_merges_it(self):
        """The trigger tree a matching paid from credit walks is the one the
        ORM merges, whatever the cache holds, and is merged once per such
        state of the cache."""
        credit_line = self._credit_line(300.0, self.client)
        invoice = self._invoice(200.0)
        partial = invoice.line_ids.matched_credit_ids
        self.assertEqual(len(partial), 1)
        pool = self.env.registry
        fields = list(partial._fields.values())

        def shape(tree):
            return (
                frozenset(tree.root),
                {label: shape(subtree) for label, subtree in tree.items()},
            )

        def odoos():
            def select(field):
                return (field.compute and field.store) or bool(
                    field._get_all_cache_ids(self.env)
                )

            return shape(pool.get_trigger_tree(fields, select=select))

        shapes = []
        self.env.invalidate_all()
        for read in (
            lambda: None,
            lambda: invoice.reconciled_payment_ids,
            lambda: credit_line.payment_id.reconciled_invoice_ids,
            lambda: invoice.needed_terms,
        ):
            read()
            tree = merged_trigger_tree(partial, fields)
            self.assertIs(merged_trigger_tree(partial, fields), tree)
            self.assertEqual(shape(tree), odoos())
            shapes.append(shape(tree))
        # The cache states differ, and so do the trees: they are told apart.
        for index, earlier in enumerate(shapes):
            for later in shapes[index + 1 :]:
                self.assertNotEqual(earlier, later)


@tagged("post_install", "-at_install")
class TestBatchPostingScales(ClientCreditCommon):
    """Posting invoices in one batch with credit does the same work per invoice
    for 500 invoices as for 50: no more SQL queries per invoice, and Odoo's
    payment-link computation (``reconciled_payment_ids``) runs for the whole
    batch a fixed number of times, never once per invoice."""

    def _batch(self, size):
        """``size`` clients, each with credit (an advance booked on their
        receivable account in one entry, posted at once) and a draft invoice."""
        partners = self.env["res.partner"].create(
            [{"name": f"Batch client {i}"} for i in range(size)]
        )
        advances = self.env["account.move"].create(
            {
                "move_type": "entry",
                "journal_id": self.company_data["default_journal_misc"].id,
                "line_ids": [
                    Command.create(
                        {
                            "name": "Advance",
                            "account_id": self.receivable.id,
                            "partner_id": partner.id,
                            "credit": 150.0,
                        }
                    )
                    for partner in partners
                ]
                + [
                    Command.create(
                        {
                            "name": "Advances received",
                            "account_id": self.bank_journal.default_account_id.id,
                            "debit": 150.0 * size,
                        }
                    )
                ],
            }
        )
        advances.action_post()
        invoices = self.env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": partner.id,
                    "invoice_line_ids": [
                        Command.create(
                            {"name": "Service", "price_unit": 100.0, "tax_ids": []}
                        )
                    ],
                }
                for partner in partners
            ]
        )
        self.env.flush_all()
        return invoices

    def _post_counting(self, invoices):
        """Post in one batch: SQL queries per invoice, and how many times the
        payment-link computation ran."""
        calls = []
        move_class = type(self.env["account.move"])
        compute = move_class._compute_reconciled_payment_ids

        def counted(records):
            calls.append(len(records))
            return compute(records)

        cr = self.env.cr
        self.env.flush_all()
        with patch.object(move_class, "_compute_reconciled_payment_ids", counted):
            queries = cr.sql_log_count
            invoices.action_post()
            self.env.flush_all()
            queries = cr.sql_log_count - queries
        return queries / len(invoices), len(calls)

    def _added_by_module(self, size):
        """What posting ``size`` invoices for clients with credit costs with the
        setting on, beyond what the same native posting costs (the setting off,
        on a twin batch): SQL queries per invoice, and payment-link
        computations."""
        twin, invoices = self._batch(size), self._batch(size)
        self.company.auto_mark_invoices_paid = False
        native_queries, native_calls = self._post_counting(twin)
        self.company.auto_mark_invoices_paid = True
        queries, calls = self._post_counting(invoices)
        self.assertEqual(set(invoices.mapped("amount_residual")), {0.0})
        self.assertEqual(invoices.mapped("amount_paid_from_credit"), [100.0] * size)
        return queries - native_queries, calls - native_calls

    def test_500_invoices_cost_what_50_do(self):
        # Statistics as autovacuum keeps them in a live database: in a fresh
        # test database they say the accounting tables are empty, and Odoo's
        # own payment-state query over the draft batch (creating the fixtures,
        # before this module does anything) then runs for minutes.
        self.env.cr.execute(
            "ANALYZE account_move, account_move_line, account_partial_reconcile, "
            "account_payment, account_account, res_partner"
        )
        small_queries, small_calls = self._added_by_module(50)
        large_queries, large_calls = self._added_by_module(500)
        self.assertLessEqual(large_queries, small_queries)
        self.assertLessEqual(large_calls, small_calls)
        self.assertLessEqual(large_calls, 4)

    def _live_environments_after_posting(self, size):
        """Environments of this transaction still alive once ``size`` invoices
        are posted in one batch (garbage collected first: only those something
        still holds, such as a commit hook)."""
        # With tracking on, as outside tests (the test classes turn it off), and
        # read from the database, as in any request after the one creating them.
        invoices = self._batch(size).with_env(self.env(context={}))
        self.env.invalidate_all()
        invoices.action_post()
        self.env.flush_all()
        gc.collect()
        return len(self.env.transaction.envs)

    def test_batch_posting_keeps_environments_few(self):
        # Before the fix, each invoice's tracking kept the environment of one
        # journal-item search alive until the commit: about one per invoice,
        # which every later environment lookup scanned.
        self.company.auto_mark_invoices_paid = True
        few = self._live_environments_after_posting(5)
        many = self._live_environments_after_posting(60)
        self.assertLess(many - few, 10)


@tagged("post_install", "-at_install")
class TestTrackingFromJournalItems(ClientCreditCommon):
    """Invoices reached through journal items (which carry their search in the
    context) are tracked as any other: the module registers their tracking
    without that context, and the chatter gets the same values."""

    def _tracked_fields_on_post(self, invoice):
        invoice.action_post()
        self.env.flush_all()
        self.env.cr.precommit.run()
        invoice.invalidate_recordset(["message_ids"])
        return sorted(invoice.message_ids.tracking_value_ids.field_id.mapped("name"))

    def test_tracking_of_invoice_reached_through_items(self):
        # With tracking on, as outside tests (the test classes turn it off, and
        # leave the commit hooks of their fixtures' tracking pending).
        self.env.cr.precommit.clear()
        env = self.env(context={})
        direct, through_items = env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": self.client.id,
                    "invoice_line_ids": [
                        Command.create({"name": "Service", "price_unit": 100.0})
                    ],
                }
            ]
            * 2
        )
        # Odoo tracks no change in the transaction that created the record.
        env.flush_all()
        self.env.cr.precommit.run()
        item = env["account.move.line"].search(
            [("move_id", "=", through_items.id)], limit=1
        )
        self.assertIn("domain_cumulated_balance", item.move_id.env.context)
        direct_fields = self._tracked_fields_on_post(direct)
        self.assertTrue(direct_fields)
        self.assertEqual(self._tracked_fields_on_post(item.move_id), direct_fields)
