"""End to end against localstripe on 127.0.0.1: Odoo's Stripe provider sends
real HTTP requests (through its own request helper) to a local Stripe; the
client's customer and payment methods are made there with the official stripe
library. What localstripe cannot send (processing, disputes, late SEPA
failures) is covered by signed events in test_stripe_webhook.py."""

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common_stripe import StripeClientCommon
from .localstripe_common import (
    CARD_AUTHENTICATION,
    CARD_DECLINED,
    CARD_OK,
    SEPA_OK,
    create_customer_with_method,
    localstripe_adapter,
    start_localstripe,
    stop_localstripe,
)


@tagged("post_install", "-at_install")
class TestLocalstripe(StripeClientCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.localstripe, cls.localstripe_base = start_localstripe()
        cls.addClassCleanup(stop_localstripe, cls.localstripe)
        key = cls.stripe_provider.stripe_secret_key

        def token(values, method, details, mandate=None):
            customer, pm_id = create_customer_with_method(
                cls.localstripe_base, key, values
            )
            return cls._make_token(
                cls.client, pm_id, method, details, mandate=mandate, customer=customer
            )

        cls.card_token = token(CARD_OK, cls.pm_card, "4242")
        cls.declined_token = token(CARD_DECLINED, cls.pm_card, "0341")
        cls.auth_token = token(CARD_AUTHENTICATION, cls.pm_card, "3155")
        cls.sepa_token = token(SEPA_OK, cls.pm_sepa, "3000")

    def _patch_stripe(self):
        adapter = localstripe_adapter(self.localstripe_base)
        adapter.__enter__()
        self.addCleanup(adapter.__exit__, None, None, None)

    def _stripe_get(self, tx, endpoint):
        return tx.provider_id._send_api_request("GET", endpoint)

    # ------------------------------------------------------------
    # Take Payment
    # ------------------------------------------------------------

    def test_take_payment_saved_card(self):
        request = self._credit_request(120.0)
        request.action_send()
        self._take_payment(request, token_id=self.card_token.id)
        tx = request.transaction_ids
        self.assertEqual(tx.state, "done")
        self.assertTrue(tx.provider_reference.startswith("pi_"))
        intent = self._stripe_get(tx, f"payment_intents/{tx.provider_reference}")
        self.assertEqual(intent["status"], "succeeded")
        self.assertEqual(intent["amount"], 12000)
        self.assertEqual(intent["customer"], self.card_token.provider_ref)
        self.assertEqual(request.state, "paid")
        self.assertEqual(self._balance(), 120.0)
        self.assertLedgerConsistent()

    def test_take_payment_sepa_mandate(self):
        invoice = self._invoice(80.0)
        self._take_payment(invoice, token_id=self.sepa_token.id, amount=50.0)
        tx = invoice.transaction_ids
        self.assertIn(tx.state, ("done", "pending"))
        intent = self._stripe_get(tx, f"payment_intents/{tx.provider_reference}")
        self.assertEqual(intent["amount"], 5000)
        self.assertEqual(
            intent["payment_method"], self.sepa_token.stripe_payment_method
        )
        if tx.state == "done":
            self.assertAlmostEqual(invoice.amount_residual, 30.0)

    # ------------------------------------------------------------
    # Auto-charge
    # ------------------------------------------------------------

    def test_auto_charge_success(self):
        self.client.write(
            {
                "auto_charge_credit_requests": True,
                "auto_charge_token_id": self.card_token.id,
            }
        )
        request = self._credit_request(75.0)
        request.action_send()
        self.assertEqual(request.state, "paid")
        self.assertEqual(self._balance(), 75.0)

    @mute_logger("odoo.addons.payment.models.payment_provider")  # The 402.
    def test_auto_charge_decline(self):
        self.client.write(
            {
                "auto_charge_credit_requests": True,
                "auto_charge_token_id": self.declined_token.id,
            }
        )
        request = self._credit_request(75.0)
        request.action_send()
        self.assertEqual(request.state, "sent")
        self.assertEqual(request.transaction_ids.state, "error")
        self.assertEqual(request.auto_charge_attempt_count, 1)
        self.assertTrue(request.auto_charge_next_date)
        self.assertTrue(
            request.message_ids.filtered(
                lambda m: "could not charge" in (m.subject or "")
            )
        )
        self.assertEqual(self._balance(), 0.0)

    @mute_logger("odoo.addons.payment.models.payment_provider")  # The 402.
    def test_auto_charge_authentication_required(self):
        self.client.write(
            {
                "auto_charge_credit_requests": True,
                "auto_charge_token_id": self.auth_token.id,
            }
        )
        request = self._credit_request(75.0)
        request.action_send()
        tx = request.transaction_ids
        self.assertEqual(tx.state, "error", "Nothing left hanging in draft.")
        self.assertIn("authentication", request.auto_charge_last_error)
        self.assertEqual(request.state, "sent")
        self.assertTrue(request.auto_charge_next_date, "Retried later.")

    # ------------------------------------------------------------
    # Refund
    # ------------------------------------------------------------

    def test_refund_through_stripe(self):
        request = self._credit_request(100.0)
        request.action_send()
        self._take_payment(request, token_id=self.card_token.id)
        payment = request.payment_ids
        wizard = (
            self.env["payment.refund.wizard"]
            .with_context(active_model="account.payment", active_id=payment.id)
            .create({"amount_to_refund": 30.0})
        )
        wizard.action_refund()
        refund_tx = request.transaction_ids.child_transaction_ids
        self.assertEqual(refund_tx.state, "done")
        self.assertTrue(refund_tx.provider_reference.startswith("re_"))
        refund_tx._post_process()
        self.assertEqual(self._balance(), 70.0)
        intent = self._stripe_get(
            refund_tx, f"payment_intents/{request.transaction_ids.provider_reference}"
        )
        charge = intent["charges"]["data"][0]
        self.assertEqual(charge["amount_refunded"], 3000)
        self.assertLedgerConsistent()
