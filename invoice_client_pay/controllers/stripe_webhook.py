import calendar
import json
import logging

import stripe
from werkzeug.exceptions import Forbidden

from odoo import http
from odoo.http import request
from odoo.tools import SQL

from odoo.addons.payment_stripe.controllers.main import StripeController

_logger = logging.getLogger(__name__)

# Events handled here on top of payment_stripe's: money going back.
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.funds_withdrawn")
LATE_FAILURE_EVENTS = ("payment_intent.payment_failed", "charge.failed")


class StripeWebhookController(StripeController):
    """Stripe webhooks, hardened.

    - An event is processed only when its ``Stripe-Signature`` verifies, with
      the official ``stripe`` library (every ``v1`` signature of the header is
      tried, so a secret rotation works; the timestamp must be within
      ``WEBHOOK_AGE_TOLERANCE``). No webhook secret configured: refused.
    - A malformed header or body is a 400, never a 500.
    - Each event id is processed once: a duplicate or a replay is acknowledged
      and ignored; out-of-order events are left to the transaction state
      machine, which never goes back from a final state.
    """

    @http.route()
    def stripe_webhook(self):
        httprequest = request.httprequest
        payload = httprequest.get_data()
        header = httprequest.headers.get("Stripe-Signature")
        try:
            text = payload.decode("utf-8")
            event = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            return self._reject_event(400, "The body is not JSON.")
        if not self._is_stripe_event(event):
            return self._reject_event(400, "The body is not a Stripe event.")
        if not header:
            return self._reject_event(400, "The Stripe-Signature header is missing.")

        secrets = self._get_webhook_secrets()
        if not secrets:
            _logger.warning(
                "Stripe event %s refused: no webhook secret is configured.", event["id"]
            )
            return self._reject_event(403, "No webhook secret is configured.")
        if not any(
            self._is_signature_valid(text, header, secret) for secret in secrets
        ):
            _logger.warning("Stripe event %s refused: invalid signature.", event["id"])
            return self._reject_event(403, "Invalid signature.")

        try:
            with request.env.cr.savepoint():
                if not self._claim_event(event):
                    _logger.info("Stripe event %s already processed.", event["id"])
                    return request.make_json_response("")
                response = self._dispatch_event(event)
        except Forbidden:
            return self._reject_event(403, "Invalid signature.")
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            _logger.warning(
                "Malformed Stripe event %s.", event.get("id"), exc_info=True
            )
            return self._reject_event(400, "Malformed Stripe event.")
        return response

    # === SIGNATURE === #

    def _verify_signature(self, tx_sudo):
        """Override: verify with the stripe library against the secret of the
        transaction's own provider; refuse when it has none."""
        if not tx_sudo:
            # No transaction of ours: the event was verified against the
            # configured secrets already; payment_stripe then ignores it.
            return
        secret = tx_sudo.provider_id.sudo().stripe_webhook_secret
        if not secret:
            _logger.warning("Stripe event refused: the provider has no webhook secret.")
            raise Forbidden()
        text = request.httprequest.get_data().decode("utf-8")
        header = request.httprequest.headers.get("Stripe-Signature")
        if not self._is_signature_valid(text, header, secret):
            raise Forbidden()

    def _is_signature_valid(self, payload, header, secret):
        try:
            stripe.WebhookSignature.verify_header(
                payload, header, secret, tolerance=self.WEBHOOK_AGE_TOLERANCE
            )
        except stripe.SignatureVerificationError:
            return False
        return True

    @staticmethod
    def _get_webhook_secrets():
        providers = (
            request.env["payment.provider"]
            .sudo()
            .search([("code", "=", "stripe"), ("state", "in", ("enabled", "test"))])
        )
        return list(
            dict.fromkeys(filter(None, providers.mapped("stripe_webhook_secret")))
        )

    # === EVENTS === #

    @staticmethod
    def _is_stripe_event(event):
        return (
            isinstance(event, dict)
            and isinstance(event.get("id"), str)
            and isinstance(event.get("type"), str)
            and isinstance(event.get("data"), dict)
            and isinstance(event["data"].get("object"), dict)
        )

    @staticmethod
    def _claim_event(event):
        """Record the event id; False when it was already recorded (a duplicate
        or a replay). Two deliveries at once: the second waits for the first
        and then finds the id taken."""
        rows = request.env.execute_query(
            SQL(
                """
                INSERT INTO invoice_client_pay_stripe_event
                       (event_id, event_type, received_at)
                VALUES (%s, %s, NOW() AT TIME ZONE 'UTC')
                ON CONFLICT (event_id) DO NOTHING
                RETURNING id
                """,
                event["id"],
                event["type"],
            )
        )
        return bool(rows)

    def _dispatch_event(self, event):
        event_type = event["type"]
        stripe_object = event["data"]["object"]
        if event_type in DISPUTE_EVENTS:
            tx_sudo = self._find_event_transaction(stripe_object)
            if tx_sudo:
                self._verify_signature(tx_sudo)
                tx_sudo._process_dispute(stripe_object)
            return request.make_json_response("")
        if event_type in LATE_FAILURE_EVENTS:
            tx_sudo = self._find_event_transaction(stripe_object)
            if tx_sudo and tx_sudo.state == "done":
                self._verify_signature(tx_sudo)
                if self._is_stale_event(event, tx_sudo):
                    # A failure that happened before the success we recorded
                    # (events delivered out of order): the success stands.
                    _logger.info("Stale Stripe event %s ignored.", event["id"])
                    return request.make_json_response("")
                error = stripe_object.get("last_payment_error") or {}
                message = (
                    error.get("message")
                    or stripe_object.get("failure_message")
                    or event_type
                )
                tx_sudo._process_late_failure(message)
                return request.make_json_response("")
            if event_type == "charge.failed":
                return request.make_json_response("")
        return super().stripe_webhook()

    @staticmethod
    def _is_stale_event(event, tx_sudo):
        created = event.get("created")
        if not isinstance(created, int) or not tx_sudo.last_state_change:
            return False
        return created < calendar.timegm(tx_sudo.last_state_change.utctimetuple())

    @staticmethod
    def _find_event_transaction(stripe_object):
        """The transaction of a PaymentIntent, Charge or Dispute object."""
        Tx = request.env["payment.transaction"].sudo()
        intent = stripe_object.get("payment_intent")
        if isinstance(intent, dict):
            intent = intent.get("id")
        if not intent and str(stripe_object.get("id", "")).startswith("pi_"):
            intent = stripe_object["id"]
        tx = Tx
        if intent:
            tx = Tx.search(
                [("provider_code", "=", "stripe"), ("provider_reference", "=", intent)],
                limit=1,
            )
        if not tx and stripe_object.get("description"):
            tx = Tx.search(
                [
                    ("provider_code", "=", "stripe"),
                    ("reference", "=", stripe_object["description"]),
                ],
                limit=1,
            )
        return tx

    @staticmethod
    def _reject_event(status, message):
        return request.make_json_response({"error": message}, status=status)
