"""Property-based test of the client ledger: random sequences of what
accountants and clients do, the ledger's invariants checked after each step.

``ICP_HYPOTHESIS_EXAMPLES`` sets how many sequences are tried (default 25, a
fixed seed: the same sequences on every run)."""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import ClientCreditCommon

EXAMPLES = int(os.environ.get("ICP_HYPOTHESIS_EXAMPLES", "25"))

# Amounts in cents: 1.00 to 500.00.
cents = st.integers(min_value=100, max_value=50000)
# Percent of what may be taken; beyond 100 the add-on must refuse.
fractions = st.integers(min_value=1, max_value=150)
picks = st.integers(min_value=0, max_value=20)

steps = st.one_of(
    st.tuples(st.just("post_invoice"), cents),
    st.tuples(st.just("pay_credit_request"), cents),
    st.tuples(st.just("pay_from_credit"), picks, fractions),
    st.tuples(st.just("overpay"), picks, cents),
    st.tuples(st.just("refund"), picks, fractions, st.booleans()),
    st.tuples(st.just("unreconcile"), picks),
    st.tuples(st.just("reset_to_draft"), picks, st.booleans()),
    st.tuples(st.just("cancel_payment"), picks),
)


class _Rollback(Exception):
    """Ends an example: everything it did is rolled back."""


@tagged("post_install", "-at_install")
class TestLedgerInvariants(ClientCreditCommon):
    """After every step of a random sequence:

    - the client's balance is the sum of their unmatched credit items, computed
      here from the journal items and their matches;
    - no invoice is paid beyond its total;
    - no credit item is used beyond its amount (no credit used twice);
    - the client's net position (credit less what they owe besides invoices)
      is negative only if an accountant confirmed a negative balance.
    """

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(steps, min_size=1, max_size=8))
    def test_ledger_invariants(self, sequence):
        self._run_sequence(sequence)

    def test_every_step_in_one_sequence(self):
        """One fixed sequence through every step (the random ones found no
        broken invariant: 300 and 400 sequences tried locally)."""
        self._run_sequence(
            [
                ("pay_credit_request", 10000),
                ("post_invoice", 15000),
                ("overpay", 0, 2000),
                ("refund", 0, 100, False),
                ("reset_to_draft", 0, True),
                ("unreconcile", 0),
                ("cancel_payment", 0),
            ]
        )

    # ------------------------------------------------------------
    # Running a sequence
    # ------------------------------------------------------------

    def _run_sequence(self, sequence):
        """Run ``sequence`` in a savepoint rolled back at the end, so that every
        example starts from the same ledger."""
        with self.assertRaises(_Rollback), self.env.cr.savepoint():
            self.negative_confirmed = False
            self._check_invariants([])
            for index, step in enumerate(sequence):
                getattr(self, f"_step_{step[0]}")(*step[1:])
                self._check_invariants(sequence[: index + 1])
            raise _Rollback()

    def _invoices(self):
        return self.env["account.move"].search(
            [
                ("partner_id", "=", self.client.id),
                ("move_type", "=", "out_invoice"),
                ("company_id", "=", self.company.id),
            ],
            order="id",
        )

    def _requests(self):
        return self.env["account.credit.request"].search(
            [("partner_id", "=", self.client.id)], order="id"
        )

    @staticmethod
    def _pick(records, index):
        return records[index % len(records)] if records else records

    def _amount(self, cents_amount):
        return self.currency.round(cents_amount / 100)

    # ------------------------------------------------------------
    # Steps
    # ------------------------------------------------------------

    def _step_post_invoice(self, amount):
        self._invoice(self._amount(amount))

    def _step_pay_credit_request(self, amount):
        self._add_credit(self._amount(amount))

    def _step_pay_from_credit(self, pick, percent):
        invoices = self._invoices().filtered(
            lambda inv: inv.state == "posted" and inv.amount_residual > 0
        )
        invoice = self._pick(invoices, pick)
        available = self._balance()
        if not invoice or available <= 0:
            return
        amount = self.currency.round(
            min(available, invoice.amount_residual) * percent / 100
        )
        if amount <= 0:
            return
        try:
            with self.env.cr.savepoint():
                invoice._pay_from_client_credit(amount)
        except UserError:
            self.assertGreater(percent, 100, "Refused a payable amount.")

    def _step_overpay(self, pick, extra):
        invoices = self._invoices().filtered(
            lambda inv: inv.state == "posted" and inv.amount_residual > 0
        )
        invoice = self._pick(invoices, pick)
        if not invoice:
            return
        wizard = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create(
                {
                    "journal_id": self.bank_journal.id,
                    "amount": invoice.amount_residual + self._amount(extra),
                    "payment_difference_handling": "open",
                }
            )
        )
        wizard._create_payments()

    def _step_refund(self, pick, percent, confirm_negative):
        requests = self._requests().filtered(lambda r: r.amount_paid > 0)
        request = self._pick(requests, pick)
        if not request:
            return
        refundable = request.amount_paid - request._get_amount_refunded()
        amount = self.currency.round(refundable * percent / 100)
        if amount <= 0:
            return
        action = request.action_refund_offline()
        wizard = (
            self.env[action["res_model"]]
            .with_context(**action["context"])
            .create(
                {
                    "journal_id": self.bank_journal.id,
                    "amount": amount,
                    "allow_negative_credit": confirm_negative,
                }
            )
        )
        try:
            with self.env.cr.savepoint():
                wizard.action_refund()
        except UserError:
            return  # Refused (more than paid, or than the credit left).
        if confirm_negative:
            self.negative_confirmed = True

    def _step_unreconcile(self, pick):
        partials = self.env["account.partial.reconcile"].search(
            [("debit_move_id.partner_id", "=", self.client.id)], order="id"
        )
        partial = self._pick(partials, pick)
        if partial:
            # An accountant unmatching a line: the credit it used comes back.
            partial.credit_move_id.remove_move_reconcile()

    def _step_reset_to_draft(self, pick, repost):
        invoices = self._invoices().filtered(lambda inv: inv.state == "posted")
        invoice = self._pick(invoices, pick)
        if not invoice:
            return
        invoice.button_draft()
        if repost:
            invoice.action_post()

    def _step_cancel_payment(self, pick):
        payments = self.env["account.payment"].search(
            [
                ("partner_id", "=", self.client.id),
                ("payment_type", "=", "inbound"),
                ("state", "not in", ("draft", "canceled", "rejected")),
            ],
            order="id",
        )
        payment = self._pick(payments, pick)
        if not payment:
            return
        # Cancelling money that was refunded leaves the refund uncovered: that
        # is an accountant deciding the client owes it.
        refunded = payment.credit_request_id and (
            payment.credit_request_id._get_amount_refunded() > 0
        )
        payment.action_draft()
        payment.action_cancel()
        if refunded:
            self.negative_confirmed = True

    # ------------------------------------------------------------
    # Invariants
    # ------------------------------------------------------------

    def _check_invariants(self, done):
        self.env.flush_all()
        self.env.invalidate_all()
        msg = f"after {done}"
        lines = self.env["account.move.line"].search(
            [
                ("company_id", "=", self.company.id),
                ("partner_id", "child_of", self.client.id),
                ("account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
            ]
        )
        round_ = self.currency.round
        # Credit: each credit item less what its matches used, never below zero.
        unmatched_credit = 0.0
        for line in lines.filtered(lambda aml: aml.balance < 0):
            used = round_(sum(line.matched_debit_ids.mapped("amount")))
            self.assertLessEqual(
                used, round_(-line.balance), f"credit used twice {msg}"
            )
            unmatched_credit += -line.balance - used
        self.assertAlmostEqual(
            self._balance(), round_(unmatched_credit), places=2, msg=f"balance {msg}"
        )
        # Debts: nothing paid beyond its amount.
        owed_besides_invoices = 0.0
        for line in lines.filtered(lambda aml: aml.balance > 0):
            matched = round_(sum(line.matched_credit_ids.mapped("amount")))
            self.assertLessEqual(matched, round_(line.balance), f"overpaid {msg}")
            if line.move_id.move_type != "out_invoice":
                owed_besides_invoices += line.balance - matched
        for invoice in self._invoices().filtered(lambda inv: inv.state == "posted"):
            self.assertGreaterEqual(
                round_(invoice.amount_residual), 0.0, f"{invoice.name} {msg}"
            )
            self.assertLessEqual(
                round_(invoice.amount_total - invoice.amount_residual),
                round_(invoice.amount_total),
                f"{invoice.name} {msg}",
            )
        if not self.negative_confirmed:
            self.assertGreaterEqual(
                round_(unmatched_credit - owed_besides_invoices),
                0.0,
                f"negative balance nobody confirmed {msg}",
            )
