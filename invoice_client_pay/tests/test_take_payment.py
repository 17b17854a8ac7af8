from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common_stripe import PM_CARD_DECLINED, StripeClientCommon


@tagged("post_install", "-at_install")
class TestTakePayment(StripeClientCommon):
    # ------------------------------------------------------------
    # Offline
    # ------------------------------------------------------------

    def test_offline_full_invoice(self):
        invoice = self._invoice(100.0)
        wizard, __ = self._take_payment(
            invoice, payment_mode="offline", journal_id=self.bank_journal.id
        )
        self.assertEqual(wizard.amount, 100.0)
        self.assertTrue(invoice.currency_id.is_zero(invoice.amount_residual))
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertFalse(self.fake_stripe.requests, "Offline: Stripe is not called.")
        self.assertLedgerConsistent()

    def test_offline_partial_invoice_with_date_and_memo(self):
        invoice = self._invoice(100.0)
        self._take_payment(
            invoice,
            payment_mode="offline",
            journal_id=self.bank_journal.id,
            amount=40.0,
            payment_date="2026-01-15",
            memo="Cheque 123",
        )
        self.assertAlmostEqual(invoice.amount_residual, 60.0)
        self.assertEqual(invoice.payment_state, "partial")
        payment = invoice.matched_payment_ids or self.env["account.payment"].search(
            [("memo", "=", "Cheque 123")]
        )
        self.assertEqual(payment.memo, "Cheque 123")
        self.assertEqual(str(payment.date), "2026-01-15")
        self.assertEqual(payment.amount, 40.0)

    def test_offline_credit_request_partial_then_rest(self):
        request = self._credit_request(250.0)
        self._take_payment(
            request,
            payment_mode="offline",
            journal_id=self.bank_journal.id,
            amount=100.0,
        )
        self.assertEqual(request.amount_residual, 150.0)
        self.assertEqual(self._balance(), 100.0)
        wizard, __ = self._take_payment(
            request, payment_mode="offline", journal_id=self.bank_journal.id
        )
        self.assertEqual(wizard.amount, 150.0, "Defaults to what is still to pay.")
        self.assertEqual(request.state, "paid")
        self.assertEqual(self._balance(), 250.0)
        self.assertLedgerConsistent()

    # ------------------------------------------------------------
    # Online
    # ------------------------------------------------------------

    def test_online_card_credit_request(self):
        request = self._credit_request(120.0)
        request.action_send()
        wizard, result = self._take_payment(request, token_id=self.card_token.id)
        self.assertEqual(wizard.payment_mode, "online", "Saved methods: online first.")
        tx = request.transaction_ids
        self.assertEqual(tx.state, "done")
        self.assertEqual(tx.operation, "offline", "Charged off-session.")
        self.assertEqual(request.state, "paid")
        self.assertEqual(self._balance(), 120.0)
        self.assertEqual(len(self.fake_stripe.charges), 1)
        self.assertEqual(self.fake_stripe.charges[0]["amount"], 12000)
        self.assertEqual(self._idempotency_keys(), [self._expected_key(tx)])
        self.assertEqual(result["params"]["type"], "success")
        self.assertLedgerConsistent()

    def test_online_card_partial_invoice(self):
        invoice = self._invoice(200.0)
        self._take_payment(invoice, token_id=self.card_token.id, amount=75.5)
        tx = invoice.transaction_ids
        self.assertEqual(tx.state, "done")
        self.assertEqual(self.fake_stripe.charges[0]["amount"], 7550)
        self.assertAlmostEqual(invoice.amount_residual, 124.5)
        self.assertLedgerConsistent()

    def test_online_sepa_pending_counts_as_on_its_way(self):
        invoice = self._invoice(100.0)
        __, result = self._take_payment(
            invoice, token_id=self.sepa_token.id, amount=60.0
        )
        tx = invoice.transaction_ids
        self.assertEqual(tx.state, "pending", "A SEPA debit clears later.")
        self.assertEqual(result["params"]["type"], "info")
        self.assertAlmostEqual(
            invoice.amount_residual, 100.0, msg="Nothing booked yet."
        )
        # The 60 on their way are not asked again: only 40 can be taken.
        with self.assertRaisesRegex(UserError, "only .*40.00.* is still to pay"):
            self._take_payment(
                invoice,
                payment_mode="offline",
                journal_id=self.bank_journal.id,
                amount=41.0,
            )
        self._take_payment(
            invoice,
            payment_mode="offline",
            journal_id=self.bank_journal.id,
            amount=40.0,
        )
        self.assertAlmostEqual(invoice.amount_residual, 60.0)

    def test_online_declined(self):
        declined = self._make_token(self.client, PM_CARD_DECLINED, self.pm_card, "0002")
        request = self._credit_request(80.0)
        request.action_send()
        __, result = self._take_payment(request, token_id=declined.id)
        self.assertEqual(request.transaction_ids.state, "error")
        self.assertIn("declined", request.transaction_ids.state_message)
        self.assertEqual(result["params"]["type"], "danger")
        self.assertEqual(request.state, "sent")
        self.assertEqual(request.amount_residual, 80.0)
        self.assertEqual(self._balance(), 0.0)

    # ------------------------------------------------------------
    # Refusals
    # ------------------------------------------------------------

    def test_refuse_more_than_due_and_non_positive(self):
        invoice = self._invoice(50.0)
        with self.assertRaisesRegex(UserError, "only .* is still to pay"):
            self._take_payment(invoice, token_id=self.card_token.id, amount=50.01)
        with self.assertRaises(UserError):
            self._take_payment(invoice, token_id=self.card_token.id, amount=0.0)
        self.assertFalse(self.fake_stripe.requests)

    def test_refuse_other_clients_method(self):
        other_token = self._make_token(
            self.other_client, "pm_card_other", self.pm_card, "1111"
        )
        invoice = self._invoice(50.0)
        with self.assertRaisesRegex(UserError, "cannot be charged"):
            self._take_payment(invoice, token_id=other_token.id)
        self.assertFalse(self.fake_stripe.requests)

    def test_refuse_paid_documents(self):
        request = self._add_credit(30.0)
        with self.assertRaises(UserError):
            request.action_take_payment()
        invoice = self._invoice(20.0)  # Paid from the credit at once.
        with self.assertRaises(UserError):
            invoice.action_take_payment()

    def test_billing_and_accounting_users_only(self):
        employee = new_test_user(self.env, login="icp_take_payment_employee")
        invoice = self._invoice(50.0)
        with self.assertRaises(AccessError):
            invoice.with_user(employee).action_take_payment()
        with self.assertRaises(AccessError):
            self._credit_request(10.0).with_user(employee).action_take_payment()
        # Billing users, as for Odoo's Register Payment (tests/test_rights.py).
        self.assertTrue(invoice.with_user(self.billing_user).action_take_payment())
