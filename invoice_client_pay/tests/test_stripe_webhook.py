import json
import time
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from odoo.addons.payment.models.payment_transaction import PaymentTransaction

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
        now = int(time.time())
        cases = {
            "no header": (event, False),
            "garbage header": (event, "garbage"),
            "empty header": (event, ""),
            "header without v1": (event, f"t={now}"),
            "header without t": (event, "v1=abc"),
            "bad timestamp": (event, "t=abc,v1=def"),
            "timestamp not a number": (event, "t=1e9,v1=def"),
            "parts without =": (event, "t,v1"),
            "only commas": (event, ",,,,"),
            "non-ASCII header": (event, f"t={now},v1=\xe9\xff".encode("latin-1")),
            "non-UTF-8 header": (event, b"t=\xc3\x28,v1=\xa0\xa1"),
            "huge header": (event, f"t={now}," + "v1=" + "a" * 20000),
            "huge timestamp": (event, "t=" + "9" * 4000 + ",v1=abc"),
            "not json": ("{not json", None),
            "empty body": ("", None),
            "not an event": ('["a list"]', None),
            "no object": ({"id": "evt_1", "type": "x", "data": {}}, None),
            "data not a dict": ({"id": "evt_1", "type": "x", "data": 5}, None),
            "id not a string": (
                {"id": 12, "type": "x", "data": {"object": {"id": "pi_1"}}},
                None,
            ),
            "type not a string": (
                {"id": "evt_1", "type": ["x"], "data": {"object": {}}},
                None,
            ),
            "object id not a string": (
                {"id": "evt_1", "type": "x", "data": {"object": {"id": 7}}},
                None,
            ),
            "deeply nested": ("[" * 100000 + "]" * 100000, None),
            "deeply nested object": ('{"a":' * 5000 + "1" + "}" * 5000, None),
        }
        for name, (body, header) in cases.items():
            with self.subTest(name):
                response = self._post(body, header=header)
                self.assertTrue(400 <= response.status_code < 500, response.status_code)
        with self.subTest("non-UTF-8 body"):
            headers = {
                "Content-Type": "application/json",
                "Stripe-Signature": f"t={now},v1=abc",
            }
            response = self.url_open(
                WEBHOOK_URL, data=b'{"id": "\xff\xfe"}', headers=headers
            )
            self.assertEqual(response.status_code, 400)
        # Signed, but the object lacks what payment_stripe needs: a 400.
        broken = self._event("payment_intent.succeeded", {"description": tx.reference})
        response = self._post(broken)
        self.assertEqual(response.status_code, 400)
        self.assertEqual(tx.state, "pending")
        self.assertFalse(
            self.env["invoice_client_pay.stripe.event"].search(
                [("event_id", "=", event["id"])]
            ),
            "Nothing refused is recorded.",
        )

    def test_refusal_says_the_same_with_and_without_secret(self):
        __, tx = self._pending_sepa_request()
        event = self._event("payment_intent.succeeded", self._intent(tx, "succeeded"))
        header = self._signature_header(json.dumps(event), ["whsec_attacker"])
        with_secret = self._post(event, header=header)
        with self._no_webhook_secret():
            without_secret = self._post(event, header=header)
        self.assertEqual(with_secret.status_code, 403)
        self.assertEqual(without_secret.status_code, 403)
        self.assertEqual(with_secret.content, without_secret.content)
        self.assertEqual(tx.state, "pending")

    def test_unsigned_events_of_every_kind_refused(self):
        """Events payment_stripe handles, the add-on's own, and events nobody
        handles: none is acknowledged without a valid signature."""
        request, tx = self._pending_sepa_request()
        objects = {
            "payment_intent.succeeded": self._intent(tx, "succeeded"),
            "charge.dispute.created": {
                "id": "dp_unsigned",
                "amount": 10000,
                "payment_intent": tx.provider_reference,
            },
            "charge.failed": {"id": "ch_unsigned", "description": tx.reference},
            "customer.created": {"id": "cus_unsigned"},
        }
        for event_type, stripe_object in objects.items():
            with self.subTest(event_type):
                event = self._event(event_type, stripe_object)
                response = self._post(event, header=False)
                self.assertEqual(response.status_code, 403)
                response = self._post(event, secrets=["whsec_wrong"])
                self.assertEqual(response.status_code, 403)
        self.assertEqual(tx.state, "pending")
        self.assertEqual(request.state, "pending")
        self.assertFalse(self.env["invoice_client_pay.stripe.event"].search([]))

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

    def test_failed_processing_is_processed_when_sent_again(self):
        """Processing raises once: nothing is recorded, Stripe (or the
        dashboard) sends the same signed event again, and it is processed."""
        request, tx = self._pending_sepa_request()
        event = self._event(
            "payment_intent.succeeded", self._intent(tx, "succeeded"), "evt_retry"
        )
        payload = json.dumps(event)
        header = self._signature_header(payload, [self.WEBHOOK_SECRET])
        original = PaymentTransaction._process
        calls = []

        def _process(tx_self, provider_code, payment_data):
            calls.append(tx_self.id)
            if len(calls) == 1:
                raise RuntimeError("Database went away")
            return original(tx_self, provider_code, payment_data)

        with (
            patch.object(PaymentTransaction, "_process", _process),
            mute_logger("odoo.http"),
        ):
            first = self._post(payload, header=header)
            self.assertGreaterEqual(first.status_code, 500)
            self.assertEqual(tx.state, "pending")
            Event = self.env["invoice_client_pay.stripe.event"]
            self.assertFalse(Event.search([("event_id", "=", "evt_retry")]))
            second = self._post(payload, header=header)
        self.assertEqual(second.status_code, 200)
        self.assertEqual(len(calls), 2)
        self.assertEqual(tx.state, "done")
        self.assertEqual(len(Event.search([("event_id", "=", "evt_retry")])), 1)
        # A third delivery is a duplicate: acknowledged, not processed.
        self.assertEqual(self._post(payload, header=header).status_code, 200)
        self.assertEqual(len(calls), 2)
        tx._post_process()
        self.assertEqual(request.state, "paid")
        self.assertEqual(self._balance(), 100.0)

    def test_event_acknowledged_after_a_failure_is_not_recorded(self):
        """payment_stripe acknowledges (200) an event whose processing raised a
        ValidationError: it is not recorded, and is processed when resent."""
        __, tx = self._pending_sepa_request()
        event = self._event(
            "payment_intent.succeeded", self._intent(tx, "succeeded"), "evt_ack"
        )
        payload = json.dumps(event)
        header = self._signature_header(payload, [self.WEBHOOK_SECRET])

        error = "The provider sent something odd."

        def _failing_process(tx_self, provider_code, payment_data):
            raise ValidationError(error)

        Event = self.env["invoice_client_pay.stripe.event"]
        with (
            patch.object(PaymentTransaction, "_process", _failing_process),
            mute_logger("odoo.addons.payment_stripe.controllers.main"),
        ):
            self.assertEqual(self._post(payload, header=header).status_code, 200)
        self.assertEqual(tx.state, "pending")
        self.assertFalse(Event.search([("event_id", "=", "evt_ack")]))
        self.assertEqual(self._post(payload, header=header).status_code, 200)
        self.assertEqual(tx.state, "done")
        self.assertEqual(len(Event.search([("event_id", "=", "evt_ack")])), 1)

    def test_prune_keeps_recent_and_removes_old_events(self):
        Event = self.env["invoice_client_pay.stripe.event"].sudo()
        now = fields.Datetime.now()
        old = Event.create(
            {"event_id": "evt_old", "received_at": now - timedelta(days=31)}
        )
        recent = Event.create(
            {"event_id": "evt_recent", "received_at": now - timedelta(days=4)}
        )
        cron = self.env.ref("invoice_client_pay.ir_cron_prune_stripe_events")
        self.assertTrue(cron.active)
        cron.method_direct_trigger()
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists(), "Kept beyond Stripe's 3 days of retries.")

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

    def _dispute(self, tx, amount, dispute_id="dp_0001", status="needs_response"):
        return {
            "id": dispute_id,
            "object": "dispute",
            "amount": amount,
            "currency": "usd",
            "charge": "ch_0001",
            "payment_intent": tx.provider_reference,
            "reason": "fraudulent",
            "status": status,
        }

    def _paid_by_card(self, amount):
        request = self._credit_request(amount)
        request.action_send()
        self._take_payment(request, token_id=self.card_token.id)
        self.assertEqual(self._balance(), amount)
        return request, request.transaction_ids

    def test_dispute_reverses_credit_and_flags_client(self):
        request, tx = self._paid_by_card(120.0)
        dispute = self._dispute(tx, 12000)
        response = self._post(
            self._event("charge.dispute.created", dispute, "evt_dp_1")
        )
        self.assertEqual(response.status_code, 200)
        self.assertTrue(tx.icp_disputed)
        self.assertTrue(self.client.icp_payment_disputed)
        self.assertEqual(self._balance(), 0.0)
        self.assertTrue(
            request.message_ids.filtered(lambda m: "disputed" in str(m.body))
        )
        self.assertTrue(
            self.client.message_ids.filtered(lambda m: "disputed" in str(m.body))
        )
        # funds_withdrawn for the same dispute: nothing more.
        response = self._post(
            self._event("charge.dispute.funds_withdrawn", dispute, "evt_dp_2")
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._balance(), 0.0)
        self.assertLedgerConsistent()

    def test_partial_dispute_then_won_gives_the_credit_back(self):
        request, tx = self._paid_by_card(120.0)
        payment = tx.payment_id
        dispute = self._dispute(tx, 5000)
        self._post(self._event("charge.dispute.created", dispute, "evt_pdp_1"))
        self.assertEqual(self._balance(), 70.0, "Only the disputed 50 goes.")
        self.assertNotEqual(payment.state, "canceled", "The payment itself stands.")
        taken = self.env["account.payment"].search(
            [("icp_stripe_dispute_id", "=", "dp_0001")]
        )
        self.assertEqual(taken.payment_type, "outbound")
        self.assertEqual(taken.amount, 50.0)
        self.assertLedgerConsistent()
        # Won: closed with status won, then funds_reinstated for the same
        # dispute. The 50 come back once.
        won = self._dispute(tx, 5000, status="won")
        self._post(self._event("charge.dispute.closed", won, "evt_pdp_2"))
        self.assertEqual(self._balance(), 120.0)
        self._post(self._event("charge.dispute.funds_reinstated", won, "evt_pdp_3"))
        self.assertEqual(self._balance(), 120.0)
        self.assertFalse(tx.icp_disputed)
        self.assertFalse(self.client.icp_payment_disputed)
        for record in (request, self.client):
            bodies = " ".join(str(body) for body in record.message_ids.mapped("body"))
            self.assertIn("disputed", bodies)
            self.assertIn("was won", bodies)
        self.assertLedgerConsistent()

    def test_dispute_lost_keeps_the_credit_taken(self):
        __, tx = self._paid_by_card(80.0)
        self._post(
            self._event("charge.dispute.created", self._dispute(tx, 3000), "evt_l1")
        )
        lost = self._dispute(tx, 3000, status="lost")
        self._post(self._event("charge.dispute.closed", lost, "evt_l2"))
        self.assertEqual(self._balance(), 50.0)
        self.assertTrue(self.client.icp_payment_disputed)

    def test_dispute_of_spent_credit_leaves_the_client_owing(self):
        request, tx = self._paid_by_card(100.0)
        invoice = self._invoice(100.0)
        self._pay_from_credit_all(invoice)
        self.assertEqual(self._balance(), 0.0)
        self._post(
            self._event("charge.dispute.created", self._dispute(tx, 4000), "evt_s1")
        )
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(self._balance(), 0.0)
        taken = self.env["account.payment"].search(
            [("icp_stripe_dispute_id", "=", "dp_0001")]
        )
        owed = taken.move_id.line_ids._filter_open_receivable("debit")
        self.assertEqual(owed.amount_residual, 40.0, "The client owes the 40.")
        self.assertLedgerConsistent()

    def _pay_from_credit_all(self, invoice):
        if invoice.amount_residual:
            action = invoice.action_pay_from_credit()
            wizard = (
                self.env[action["res_model"]]
                .with_context(**action.get("context", {}))
                .create({})
            )
            wizard.action_confirm()
