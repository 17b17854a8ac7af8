import json
import time
from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common_stripe import PM_SEPA, StripeClientCommon

WEBHOOK_URL = "/payment/stripe/webhook"


@tagged("post_install", "-at_install")
class TestStripeWebhook(StripeClientCommon, HttpCase):
    """Events built and signed here, as Stripe builds and signs them, posted to
    the real route."""

    # ------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------

    def _post(self, body, header=None, secrets=None, timestamp=None):
        payload = body if isinstance(body, str) else json.dumps(body)
        headers = {"Content-Type": "application/json"}
        if header is None:
            header = self._signature_header(
                payload, secrets or [self.WEBHOOK_SECRET], timestamp=timestamp
            )
        if header is not False:
            headers["Stripe-Signature"] = header
        return self.url_open(WEBHOOK_URL, data=payload.encode(), headers=headers)

    def _pending_sepa_request(self, amount=100.0):
        """A credit request whose SEPA debit is processing at Stripe."""
        request = self._credit_request(amount)
        request.action_send()
        self._take_payment(request, token_id=self.sepa_token.id)
        tx = request.transaction_ids
        self.assertEqual(tx.state, "pending")
        self.assertEqual(request.state, "pending")
        return request, tx

    def _intent(self, tx, status, **extra):
        return {
            "id": tx.provider_reference,
            "object": "payment_intent",
            "amount": int(round(tx.amount * 100)),
            "currency": tx.currency_id.name.lower(),
            "description": tx.reference,
            "status": status,
            "payment_method": PM_SEPA,
            **extra,
        }

    def _succeed(self, tx, event_id="evt_succeeded"):
        response = self._post(
            self._event(
                "payment_intent.succeeded", self._intent(tx, "succeeded"), event_id
            )
        )
        self.assertEqual(response.status_code, 200)
        tx._post_process()  # What the payment cron does next.
        return response

    # ------------------------------------------------------------
    # Signatures
    # ------------------------------------------------------------

    def test_valid_event_processed(self):
        request, tx = self._pending_sepa_request()
        self._succeed(tx)
        self.assertEqual(tx.state, "done")
        self.assertEqual(request.state, "paid")
        self.assertEqual(self._balance(), 100.0)

    def test_no_secret_refused(self):
        __, tx = self._pending_sepa_request()
        event = self._event("payment_intent.succeeded", self._intent(tx, "succeeded"))
        with self._no_webhook_secret():
            response = self._post(
                event, header=self._signature_header(json.dumps(event), ["x"])
            )
        self.assertEqual(response.status_code, 403)
        self.assertEqual(tx.state, "pending", "Not trusted without a secret.")

    def test_bad_signature_wrong_secret_and_old_timestamp_refused(self):
        __, tx = self._pending_sepa_request()
        event = self._event("payment_intent.succeeded", self._intent(tx, "succeeded"))
        self.assertEqual(self._post(event, secrets=["whsec_wrong"]).status_code, 403)
        old = int(time.time()) - 3600
        self.assertEqual(self._post(event, timestamp=old).status_code, 403)
        payload = json.dumps(event)
        header = self._signature_header(payload, [self.WEBHOOK_SECRET])
        tampered = payload.replace('"succeeded"', '"succeeded" ', 1)
        self.assertEqual(self._post(tampered, header=header).status_code, 403)
        self.assertEqual(tx.state, "pending")

    def test_secret_rotation_several_v1(self):
        __, tx = self._pending_sepa_request()
        event = self._event("payment_intent.succeeded", self._intent(tx, "succeeded"))
        response = self._post(event, secrets=["whsec_old_rotated", self.WEBHOOK_SECRET])
        self.assertEqual(response.status_code, 200)
        self.assertEqual(tx.state, "done")

    def test_malformed_requests_are_4xx(self):
        __, tx = self._pending_sepa_request()
        event = self._event("payment_intent.succeeded", self._intent(tx, "succeeded"))
        cases = {
            "no header": (event, False),
            "garbage header": (event, "garbage"),
            "header without v1": (event, f"t={int(time.time())}"),
            "bad timestamp": (event, "t=abc,v1=def"),
            "not json": ("{not json", None),
            "not an event": ('["a list"]', None),
            "no object": ({"id": "evt_1", "type": "x", "data": {}}, None),
        }
        for name, (body, header) in cases.items():
            with self.subTest(name):
                response = self._post(body, header=header)
                self.assertTrue(400 <= response.status_code < 500, response.status_code)
        # Signed, but the object lacks what payment_stripe needs: a 400.
        broken = self._event("payment_intent.succeeded", {"description": tx.reference})
        response = self._post(broken)
        self.assertEqual(response.status_code, 400)
        self.assertEqual(tx.state, "pending")

    # ------------------------------------------------------------
    # Duplicates, replays, order
    # ------------------------------------------------------------

    def test_duplicate_and_replayed_events_counted_once(self):
        request, tx = self._pending_sepa_request()
        self._succeed(tx, event_id="evt_dup")
        payments = request.payment_ids
        self.assertEqual(len(payments), 1)
        # The same event again (Stripe retries, or an attacker replays it).
        self._succeed(tx, event_id="evt_dup")
        self.assertEqual(request.payment_ids, payments)
        events = self.env["invoice_client_pay.stripe.event"].search(
            [("event_id", "=", "evt_dup")]
        )
        self.assertEqual(len(events), 1)
        self.assertEqual(self._balance(), 100.0)

    def test_out_of_order_processing_after_success(self):
        request, tx = self._pending_sepa_request()
        self._succeed(tx)
        late = self._event(
            "payment_intent.processing",
            self._intent(tx, "processing"),
            "evt_late_processing",
        )
        self.assertEqual(self._post(late).status_code, 200)
        self.assertEqual(tx.state, "done", "A final state never goes back.")
        self.assertEqual(request.state, "paid")
        # A failure of an earlier attempt of the same intent, delivered late.
        tx.last_state_change = fields.Datetime.now()
        stale = self._event(
            "payment_intent.payment_failed",
            self._intent(tx, "requires_payment_method"),
            "evt_stale_failure",
            created=int(time.time()) - 600,
        )
        self.assertEqual(self._post(stale).status_code, 200)
        self.assertEqual(tx.state, "done")
        self.assertEqual(request.state, "paid")
        self.assertEqual(self._balance(), 100.0)

    # ------------------------------------------------------------
    # Money going back
    # ------------------------------------------------------------

    def test_sepa_failure_while_pending(self):
        request, tx = self._pending_sepa_request()
        failed = self._event(
            "payment_intent.payment_failed",
            self._intent(
                tx,
                "requires_payment_method",
                last_payment_error={"message": "The account has insufficient funds."},
            ),
        )
        self.assertEqual(self._post(failed).status_code, 200)
        self.assertEqual(tx.state, "error")
        self.assertEqual(request.state, "sent", "Open again.")
        self.assertEqual(self._balance(), 0.0)

    def test_sepa_failure_after_success_takes_credit_back(self):
        request, tx = self._pending_sepa_request()
        self._succeed(tx)
        self.assertEqual(self._balance(), 100.0)
        tx.last_state_change = fields.Datetime.now() - timedelta(minutes=5)
        failed = self._event(
            "payment_intent.payment_failed",
            self._intent(
                tx,
                "requires_payment_method",
                last_payment_error={"message": "The debit was returned."},
            ),
            "evt_late_failure",
        )
        self.assertEqual(self._post(failed).status_code, 200)
        self.assertEqual(tx.state, "error")
        self.assertEqual(self._balance(), 0.0, "The credit it gave is gone.")
        self.assertEqual(request.state, "sent", "What it paid is open again.")
        self.assertEqual(request.amount_residual, 100.0)
        # Delivered again under another id: nothing more happens.
        again = json.loads(
            json.dumps(
                self._event(
                    "payment_intent.payment_failed",
                    self._intent(tx, "requires_payment_method"),
                    "evt_late_failure_2",
                )
            )
        )
        self.assertEqual(self._post(again).status_code, 200)
        self.assertEqual(self._balance(), 0.0)

    def test_sepa_failure_after_credit_paid_an_invoice_reopens_it(self):
        request, tx = self._pending_sepa_request()
        self._succeed(tx)
        invoice = self._invoice(60.0)  # Paid from the new credit.
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        tx.last_state_change = fields.Datetime.now() - timedelta(minutes=5)
        failed = self._event(
            "payment_intent.payment_failed",
            self._intent(tx, "requires_payment_method"),
            "evt_late_failure_inv",
        )
        self.assertEqual(self._post(failed).status_code, 200)
        self.assertEqual(invoice.payment_state, "not_paid", "What it paid reopens.")
        self.assertEqual(self._balance(), 0.0)
        self.assertLedgerConsistent()

    def test_dispute_reverses_credit_and_flags_client(self):
        request = self._credit_request(120.0)
        request.action_send()
        self._take_payment(request, token_id=self.card_token.id)
        tx = request.transaction_ids
        self.assertEqual(self._balance(), 120.0)
        dispute = {
            "id": "dp_0001",
            "object": "dispute",
            "amount": 12000,
            "currency": "usd",
            "charge": "ch_0001",
            "payment_intent": tx.provider_reference,
            "reason": "fraudulent",
            "status": "needs_response",
        }
        response = self._post(
            self._event("charge.dispute.created", dispute, "evt_dp_1")
        )
        self.assertEqual(response.status_code, 200)
        self.assertTrue(tx.icp_disputed)
        self.assertTrue(self.client.icp_payment_disputed)
        self.assertEqual(self._balance(), 0.0)
        self.assertEqual(request.state, "sent")
        self.assertTrue(
            request.message_ids.filtered(lambda m: "disputed" in str(m.body))
        )
        # funds_withdrawn for the same dispute: nothing more.
        response = self._post(
            self._event("charge.dispute.funds_withdrawn", dispute, "evt_dp_2")
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._balance(), 0.0)
        self.assertLedgerConsistent()
