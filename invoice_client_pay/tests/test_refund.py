from odoo.exceptions import UserError
from odoo.tests import tagged

from .common_stripe import StripeClientCommon


@tagged("post_install", "-at_install")
class TestRefund(StripeClientCommon):
    def _paid_by_card(self, amount):
        request = self._credit_request(amount)
        request.action_send()
        self._take_payment(request, token_id=self.card_token.id)
        self.assertEqual(request.state, "paid")
        return request

    def _refund_through_stripe(self, request, amount, allow_negative=False):
        payment = request.payment_ids
        wizard = (
            self.env["payment.refund.wizard"]
            .with_context(active_model="account.payment", active_id=payment.id)
            .create(
                {"amount_to_refund": amount, "allow_negative_credit": allow_negative}
            )
        )
        wizard.action_refund()
        refund_tx = request.transaction_ids.child_transaction_ids.filtered(
            lambda tx: tx.operation == "refund"
        ).sorted("id")[-1:]
        refund_tx._post_process()  # What the payment cron does next.
        return refund_tx

    def _refund_offline(self, request, amount, allow_negative=False):
        action = request.action_refund_offline()
        wizard = (
            self.env[action["res_model"]]
            .with_context(**action["context"])
            .create(
                {
                    "journal_id": self.bank_journal.id,
                    "amount": amount,
                    "allow_negative_credit": allow_negative,
                }
            )
        )
        return wizard.action_refund()

    # ------------------------------------------------------------
    # Through the provider
    # ------------------------------------------------------------

    def test_refund_through_stripe_lowers_credit(self):
        request = self._paid_by_card(100.0)
        self.assertEqual(self._balance(), 100.0)
        refund_tx = self._refund_through_stripe(request, 40.0)
        self.assertEqual(refund_tx.state, "done")
        self.assertEqual(len(self.fake_stripe.refunds), 1)
        self.assertEqual(next(iter(self.fake_stripe.refunds.values()))["amount"], 4000)
        self.assertEqual(self._balance(), 60.0)
        # Post-processing again changes nothing.
        refund_tx._post_process()
        self.assertEqual(self._balance(), 60.0)
        self.assertLedgerConsistent()

    def test_refund_failed_after_acceptance_gives_credit_back(self):
        request = self._paid_by_card(100.0)
        refund_tx = self._refund_through_stripe(request, 40.0)
        self.assertEqual(self._balance(), 60.0)
        # Stripe: charge.refund.updated, the refund failed (processed as
        # payment_stripe's webhook does).
        refund = dict(self.fake_stripe.refunds[refund_tx.provider_reference])
        refund["status"] = "failed"
        refund_tx._process("stripe", {"refund": refund})
        self.assertEqual(refund_tx.state, "error")
        refund_tx._post_process()
        self.assertEqual(self._balance(), 100.0, "The credit is back.")
        self.assertEqual(refund_tx.payment_id.state, "canceled")
        refund_tx._post_process()  # Again: nothing more.
        self.assertEqual(self._balance(), 100.0)
        self.assertLedgerConsistent()

    def test_refund_through_stripe_more_than_credit_left(self):
        request = self._paid_by_card(100.0)
        self._invoice(70.0)  # Paid from the credit: 30 left.
        self.assertEqual(self._balance(), 30.0)
        with self.assertRaisesRegex(UserError, "only has .*30.00.* of credit left"):
            self._refund_through_stripe(request, 50.0)
        self.assertFalse(self.fake_stripe.refunds, "Refused before Stripe is called.")
        refund_tx = self._refund_through_stripe(request, 50.0, allow_negative=True)
        self.assertEqual(refund_tx.state, "done")
        self.assertEqual(self._balance(), 0.0)
        # The 20 not covered by credit: the client owes them.
        open_debit = self.env["account.move.line"].search(
            [
                ("partner_id", "=", self.client.id),
                ("account_type", "=", "asset_receivable"),
                ("reconciled", "=", False),
                ("amount_residual", ">", 0),
                ("parent_state", "=", "posted"),
            ]
        )
        self.assertAlmostEqual(sum(open_debit.mapped("amount_residual")), 20.0)

    # ------------------------------------------------------------
    # Offline
    # ------------------------------------------------------------

    def test_refund_offline(self):
        request = self._add_credit(100.0)
        self._refund_offline(request, 40.0)
        self.assertEqual(self._balance(), 60.0)
        self._invoice(30.0)  # Paid from the credit: 30 left, 60 refundable.
        with self.assertRaisesRegex(UserError, "only has .*30.00.* of credit left"):
            self._refund_offline(request, 50.0)
        self._refund_offline(request, 30.0)
        self.assertEqual(self._balance(), 0.0)
        self.assertLedgerConsistent()

    def test_refund_offline_beyond_the_refunded_payment_locks_once(self):
        """A refund larger than what is left of the refunded payment's credit
        takes that first, then the client's other credit; the items are
        locked once for both matchings."""
        request = self._add_credit(100.0)
        other_request = self._add_credit(100.0)
        self._invoice(80.0)  # Paid from the oldest credit: 20 left of it.
        refunded_credit = request.payment_ids.move_id.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        )
        other_credit = other_request.payment_ids.move_id.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        )
        self.assertEqual(refunded_credit.amount_residual, -20.0)
        _payment, queries = self._queries_run(self._refund_offline, request, 50.0)
        item_locks = [
            query
            for query in queries
            if "FOR UPDATE" in query and "account_move_line" in query
        ]
        self.assertEqual(len(item_locks), 1, item_locks)
        self.assertTrue(refunded_credit.reconciled)
        self.assertEqual(other_credit.amount_residual, -70.0)
        self.assertEqual(self._balance(), 70.0)
        self.assertLedgerConsistent()

    def test_refund_offline_negative_balance_confirmed(self):
        request = self._add_credit(100.0)
        self._invoice(80.0)
        self.assertEqual(self._balance(), 20.0)
        with self.assertRaises(UserError):
            self._refund_offline(request, 50.0)
        self._refund_offline(request, 50.0, allow_negative=True)
        self.assertEqual(self._balance(), 0.0)
        with self.assertRaisesRegex(UserError, "only .*50.00.* is not refunded yet"):
            self._refund_offline(request, 60.0, allow_negative=True)
        self._refund_offline(request, 50.0, allow_negative=True)
        with self.assertRaisesRegex(UserError, "only .*0.00.* is not refunded yet"):
            self._refund_offline(request, 1.0, allow_negative=True)

    def test_refund_offline_counts_stripe_refunds(self):
        request = self._paid_by_card(100.0)
        self._refund_through_stripe(request, 70.0)
        with self.assertRaisesRegex(UserError, "only .*30.00.* is not refunded yet"):
            self._refund_offline(request, 40.0, allow_negative=True)
        self._refund_offline(request, 30.0)
        self.assertEqual(self._balance(), 0.0)
        self.assertLedgerConsistent()

    def test_refund_accounting_users_only(self):
        request = self._add_credit(10.0)
        with self.assertRaises(UserError):
            request.with_user(self.billing_user).action_refund_offline()
