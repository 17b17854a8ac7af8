"""Stripe card and SEPA Direct Debit payments of the client portal, end to end,
against localstripe.

localstripe (a local fake of Stripe's API, pip package in the Odoo venv) runs in
its own process bound to 127.0.0.1 only (``localstripe_common``, shared with the
back-office tests). Odoo's payment_stripe talks to it through its real API
client; the test plays the browser's part: Stripe.js attaching the client's
payment method and confirming the PaymentIntent, then Stripe's redirect to
Odoo's return route.
"""

import time

import requests

from odoo import Command
from odoo.tests import tagged

from .common_portal import ClientPayHttpCommon
from .localstripe_common import localstripe_adapter, start_localstripe, stop_localstripe

SECRET_KEY = "sk_test_localstripe"
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000341"  # localstripe: declined when charged
IBAN_OK = "DE89370400440532013000"
IBAN_FAILS_LATER = "DE62370400440532013001"  # localstripe: fails after clearing


class LocalStripeClient:
    """The browser's side (Stripe.js) of the payment, on localstripe."""

    def __init__(self, base):
        self.base = base

    def api(self, method, endpoint, **data):
        response = requests.request(
            method,
            self.base + endpoint,
            data=data,
            auth=(SECRET_KEY, ""),
            timeout=10,
        )
        response.raise_for_status()
        return response.json()


@tagged("post_install", "-at_install")
class TestStripeLocalstripe(ClientPayHttpCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        process, base = start_localstripe()
        cls.addClassCleanup(stop_localstripe, process)
        cls.localstripe = LocalStripeClient(base)
        cls.enterClassContext(localstripe_adapter(base))

        cls.eur = cls.setup_other_currency("EUR")
        cls.card = cls.env.ref("payment.payment_method_card")
        cls.sepa = cls.env.ref("payment.payment_method_sepa_direct_debit")
        cls.stripe = cls.env.ref("payment.payment_provider_stripe").sudo()
        cls.stripe.write(
            {
                "state": "test",
                "is_published": True,
                "company_id": cls.company.id,
                "stripe_secret_key": SECRET_KEY,
                "stripe_publishable_key": "pk_test_localstripe",
                "payment_method_ids": [Command.set((cls.card | cls.sepa).ids)],
                "journal_id": cls.bank_journal.id,
            }
        )
        (cls.card | cls.sepa).active = True
        cls.client.country_id = cls.env.ref("base.be")
        cls.eur_request = cls._make_sent_request(80.0, currency_id=cls.eur.id)

    # ------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------

    def _start_payment(self, credit_request, method):
        """The client clicks Pay: our route creates the transaction and Odoo
        creates the PaymentIntent at (local) Stripe."""
        values = self.make_jsonrpc_request(
            f"/credit_request/transaction/{credit_request.id}",
            {
                "access_token": credit_request._get_payment_link_token(),
                **self._tx_values(
                    credit_request.amount_residual,
                    provider_id=self.stripe.id,
                    payment_method_id=method.id,
                ),
            },
        )
        self.assertTrue(values["client_secret"])
        tx = credit_request.transaction_ids.sorted("id")[-1:]
        intent_id = values["client_secret"].split("_secret_")[0]
        return tx, intent_id

    def _confirm_in_browser(self, intent_id, **payment_method):
        """What Stripe.js does: attach the client's payment method, confirm."""
        pm = self.localstripe.api("POST", "payment_methods", **payment_method)
        self.localstripe.api(
            "POST", f"payment_intents/{intent_id}", payment_method=pm["id"]
        )
        return self.localstripe.api("POST", f"payment_intents/{intent_id}/confirm")

    def _return_from_stripe(self, tx, intent_id):
        response = self.url_open(
            f"/payment/stripe/return?reference={tx.reference}&payment_intent={intent_id}",
            allow_redirects=False,
        )
        self.assertEqual(response.status_code, 303)
        self.assertIn("/payment/status", response.headers["Location"])
        tx.invalidate_recordset()

    def _card(self, number):
        return {
            "type": "card",
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": "2035",
            "card[cvc]": "123",
        }

    # ------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------

    def test_card_payment(self):
        request = self.credit_request
        tx, intent_id = self._start_payment(request, self.card)
        intent = self._confirm_in_browser(intent_id, **self._card(CARD_OK))
        self.assertEqual(intent["status"], "succeeded")
        self._return_from_stripe(tx, intent_id)
        self.assertEqual(tx.state, "done")
        self.assertEqual(tx.provider_reference, intent_id)
        tx._post_process()  # the status page's poll
        self.assertEqual(request.state, "paid")
        self.assertEqual(tx.payment_id.credit_request_id, request)
        self.assertAlmostEqual(self._balance(), 300.0)
        # Stripe redirects again, or the page is reloaded: still one payment.
        self._return_from_stripe(tx, intent_id)
        tx._post_process()
        self.assertEqual(len(request.payment_ids), 1)
        self.assertLedgerConsistent()

    def test_card_declined(self):
        request = self.credit_request
        tx, intent_id = self._start_payment(request, self.card)
        # Stripe.js shows the decline to the client (402 card_declined)...
        with self.assertRaises(requests.HTTPError) as declined:
            self._confirm_in_browser(intent_id, **self._card(CARD_DECLINED))
        self.assertEqual(declined.exception.response.status_code, 402)
        # ... and Odoo learns it from the PaymentIntent (return or webhook).
        self._return_from_stripe(tx, intent_id)
        self.assertEqual(tx.state, "error")
        tx._post_process()
        self.assertEqual(request.state, "sent")
        self.assertFalse(request.payment_ids)
        self.assertAlmostEqual(self._balance(), 0.0)

    def test_sepa_debit_payment(self):
        request = self.eur_request
        tx, intent_id = self._start_payment(request, self.sepa)
        self.assertEqual(tx.currency_id, self.eur)
        intent = self._confirm_in_browser(
            intent_id, type="sepa_debit", **{"sepa_debit[iban]": IBAN_OK}
        )
        self.assertEqual(intent["status"], "succeeded")
        self._return_from_stripe(tx, intent_id)
        self.assertEqual(tx.state, "done")
        tx._post_process()
        self.assertEqual(request.state, "paid")
        self.assertEqual(tx.payment_id.currency_id, self.eur)
        self.assertEqual(tx.payment_id.amount, 80.0)

    def test_sepa_debit_pending_then_failed(self):
        """The debit is clearing: the request is pending and its money is not
        credit; then the bank refuses it: the request is open again."""
        request = self.eur_request
        tx, intent_id = self._start_payment(request, self.sepa)
        intent = self._confirm_in_browser(
            intent_id, type="sepa_debit", **{"sepa_debit[iban]": IBAN_FAILS_LATER}
        )
        self.assertEqual(intent["status"], "processing")
        self._return_from_stripe(tx, intent_id)
        self.assertEqual(tx.state, "pending")
        tx._post_process()
        self.assertEqual(request.state, "pending")
        self.assertFalse(request.payment_ids)
        self.assertAlmostEqual(self._balance(), 0.0)
        # localstripe fails the debit half a second later.
        deadline = time.time() + 10
        while (
            self.localstripe.api("GET", f"payment_intents/{intent_id}")["status"]
            == "processing"
            and time.time() < deadline
        ):
            time.sleep(0.2)
        self._return_from_stripe(tx, intent_id)
        self.assertEqual(tx.state, "error")
        tx._post_process()
        self.assertEqual(request.state, "sent")
        self.assertFalse(request.payment_ids)
