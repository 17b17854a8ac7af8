"""Money that is only promised: a transaction the client started and never
confirmed (draft) promises nothing, and a pending one (a bank transfer the
client announced, a direct debit clearing) holds back Take Payment and the
auto-charge only within the company's pending payment window."""

from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tests import Form, HttpCase, tagged

from .common_stripe import StripeClientCommon


@tagged("post_install", "-at_install")
class TestPromisedMoney(StripeClientCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pm_wire = cls.env.ref("payment_custom.payment_method_wire_transfer")
        cls.wire_provider = (
            cls.env["payment.provider"]
            .sudo()
            .create(
                {
                    "name": "Bank Transfer (ICP tests)",
                    "code": "custom",
                    "custom_mode": "wire_transfer",
                    "state": "enabled",
                    "is_published": True,
                    "company_id": cls.company.id,
                    "payment_method_ids": [Command.set(cls.pm_wire.ids)],
                    "journal_id": cls.bank_journal.id,
                }
            )
        )
        cls.pm_wire.active = True
        cls.company.pending_payment_validity_days = 10

    # ------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------

    def _wire_tx(self, document, amount, state="pending"):
        """A bank transfer the client started on ``document``."""
        Tx = self.env["payment.transaction"].sudo()
        field = (
            "invoice_ids"
            if document._name == "account.move"
            else ("credit_request_ids")
        )
        link = {field: [Command.set(document.ids)]}
        tx = Tx.create(
            {
                "provider_id": self.wire_provider.id,
                "payment_method_id": self.pm_wire.id,
                "reference": Tx._compute_reference("custom", **link),
                "amount": amount,
                "currency_id": document.currency_id.id,
                "partner_id": document.partner_id.id,
                "operation": "online_redirect",
                **link,
            }
        )
        if state == "pending":
            tx._set_pending()
        return tx

    def _age(self, tx, days):
        """``tx`` changed state ``days`` ago."""
        tx.sudo().last_state_change = fields.Datetime.now() - timedelta(days=days)

    def _amount_due(self, document):
        action = document.action_take_payment()
        return (
            self.env[action["res_model"]]
            .with_context(**action["context"])
            .create({})
            .amount_due
        )

    def _lapsed_notes(self, document):
        return document.message_ids.filtered(
            lambda m: "no longer holds back collection" in (m.body or "")
        )

    # ------------------------------------------------------------
    # Draft: promised nothing
    # ------------------------------------------------------------

    def test_draft_transaction_does_not_reduce_take_payment(self):
        invoice = self._invoice(100.0)
        self._wire_tx(invoice, 100.0, state="draft")
        self.assertAlmostEqual(self._amount_due(invoice), 100.0)
        self._take_payment(
            invoice,
            payment_mode="offline",
            journal_id=self.bank_journal.id,
            amount=100.0,
        )
        self.assertTrue(invoice.currency_id.is_zero(invoice.amount_residual))

    def test_draft_transaction_does_not_stop_auto_charge(self):
        request = self._credit_request(80.0)
        request.action_send()  # No auto-charge yet.
        self._wire_tx(request, 80.0, state="draft")  # Started, never confirmed.
        self.client.write(
            {
                "auto_charge_credit_requests": True,
                "auto_charge_token_id": self.card_token.id,
            }
        )
        request.auto_charge_next_date = fields.Datetime.now()
        self._run_auto_charge_cron()
        self.assertEqual(len(self.fake_stripe.charges), 1)
        self.assertEqual(self.fake_stripe.charges[0]["amount"], 8000)
        self.assertEqual(request.state, "paid")

    # ------------------------------------------------------------
    # Pending: on its way for a bounded time
    # ------------------------------------------------------------

    def test_pending_transfer_holds_back_only_within_the_window(self):
        invoice = self._invoice(100.0)
        tx = self._wire_tx(invoice, 60.0)
        self._age(tx, 9)
        self.assertAlmostEqual(self._amount_due(invoice), 40.0)
        with self.assertRaisesRegex(UserError, "only .*40.00.* is still to pay"):
            self._take_payment(
                invoice,
                payment_mode="offline",
                journal_id=self.bank_journal.id,
                amount=100.0,
            )
        self.assertFalse(self._lapsed_notes(invoice))
        self._age(tx, 11)
        self.assertAlmostEqual(self._amount_due(invoice), 100.0)
        self._take_payment(
            invoice,
            payment_mode="offline",
            journal_id=self.bank_journal.id,
            amount=100.0,
        )
        self.assertTrue(invoice.currency_id.is_zero(invoice.amount_residual))
        notes = self._lapsed_notes(invoice)
        self.assertEqual(len(notes), 1)
        self.assertIn(tx.reference, notes.body)
        self.assertIn("bank transfer", notes.body)
        self.assertIn("10 days", notes.body)
        # Said once, however often it is looked at again.
        self.env["payment.transaction"]._cron_release_lapsed_pending()
        tx._release_lapsed_pending()
        self.assertEqual(len(self._lapsed_notes(invoice)), 1)

    def test_window_is_a_company_setting(self):
        with Form(self.env["res.config.settings"]) as settings:
            self.assertEqual(settings.pending_payment_validity_days, 10)
            settings.pending_payment_validity_days = 3
        settings.record.execute()
        self.assertEqual(self.company.pending_payment_validity_days, 3)
        invoice = self._invoice(100.0)
        # A SEPA debit taken from the back office: it clears later.
        self._take_payment(invoice, token_id=self.sepa_token.id, amount=100.0)
        tx = invoice.transaction_ids
        self.assertEqual(tx.state, "pending")
        self._age(tx, 2)
        self.assertAlmostEqual(self._amount_due(invoice), 0.0)
        self._age(tx, 4)
        self.assertAlmostEqual(self._amount_due(invoice), 100.0)
        self.env["payment.transaction"]._cron_release_lapsed_pending()
        notes = self._lapsed_notes(invoice)
        self.assertEqual(len(notes), 1)
        self.assertIn("3 days", notes.body)

    def test_anonymous_link_cannot_freeze_collection(self):
        """Anyone holding the link announces a bank transfer that never comes:
        within the window the request waits for it; after it, Take Payment
        offers the full amount and the auto-charge charges it."""
        request = self._credit_request(300.0)
        request.action_send()  # The client chooses automatic charges later.
        token = request._get_payment_link_token()
        values = self.make_jsonrpc_request(
            f"/credit_request/transaction/{request.id}",
            {
                "access_token": token,
                "provider_id": self.wire_provider.id,
                "payment_method_id": self.pm_wire.id,
                "token_id": None,
                "amount": 300.0,
                "flow": "redirect",
                "tokenization_requested": False,
                "landing_route": "/my",
                "is_validation": False,
            },
        )
        response = self.url_open(
            "/payment/custom/process",
            data={"reference": values["reference"]},
            allow_redirects=False,
        )
        self.assertEqual(response.status_code, 303)
        tx = request.transaction_ids
        self.assertEqual(tx.state, "pending")
        self.assertEqual(request.state, "pending")
        self.client.write(
            {
                "auto_charge_credit_requests": True,
                "auto_charge_token_id": self.card_token.id,
            }
        )
        request.auto_charge_next_date = fields.Datetime.now()
        self._age(tx, 5)
        self._run_auto_charge_cron()
        self.assertFalse(self.fake_stripe.charges, "Within the window: it waits.")
        self.assertAlmostEqual(self._amount_due(request), 0.0)

        self._age(tx, 11)
        self.assertAlmostEqual(self._amount_due(request), 300.0)
        self._run_auto_charge_cron()
        self.assertEqual(len(self.fake_stripe.charges), 1)
        self.assertEqual(self.fake_stripe.charges[0]["amount"], 30000)
        self.assertEqual(request.state, "paid")
        notes = self._lapsed_notes(request)
        self.assertEqual(len(notes), 1)
        self.assertIn(tx.reference, notes.body)
        self._run_auto_charge_cron()
        self.assertEqual(len(self.fake_stripe.charges), 1)
        self.assertEqual(len(self._lapsed_notes(request)), 1)
