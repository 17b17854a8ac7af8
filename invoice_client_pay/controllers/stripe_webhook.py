import calendar
import json
import logging

import stripe
from werkzeug.exceptions import Forbidden

from odoo import http
from odoo.http import request
from odoo.tools import SQL

from odoo.addons.payment_stripe import const
from odoo.addons.payment_stripe import utils as stripe_utils
from odoo.addons.payment_stripe.controllers.main import StripeController

_logger = logging.getLogger(__name__)

# Events handled here on top of payment_stripe's: money going back and back again.
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.funds_withdrawn")
DISPUTE_WON_EVENTS = ("charge.dispute.closed", "charge.dispute.funds_reinstated")
LATE_FAILURE_EVENTS = ("payment_intent.payment_failed", "charge.failed")

# Bounds of what a Stripe event can be: anything beyond is refused unread.
MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_SIGNATURE_HEADER_LENGTH = 4096

# One answer per kind of refusal, whatever the reason (no secret configured,
# wrong secret, malformed or outdated header): it tells an attacker nothing.
REFUSED = "Refused."
MALFORMED = "Malformed Stripe event."

# The model this add-on installs: tells a database where it is installed from
# one where it is not (controllers are shared by every database of a server).
EVENT_MODEL = "invoice_client_pay.stripe.event"


class StripeWebhookController(StripeController):
    """Stripe webhooks, hardened.

    - The body must be a Stripe event (UTF-8 JSON, bounded size and depth, an
      ``id``, a ``type`` and a ``data.object`` of the right types), else 400.
    - The signature is checked once, in payment_stripe's own hook
      ``_verify_signature`` (see ``_verify_stripe_signature`` below), for
      payment_stripe's events and for this add-on's alike: every event that
      does something is verified. A refusal is a 403, never a 500.
    - Each event id is processed once: it is recorded
      (``invoice_client_pay.stripe.event``) when its processing succeeded, so a
      duplicate or a replay is acknowledged and ignored, while an event whose
      processing failed can be sent again and is then processed.
    """

    @http.route()
    def stripe_webhook(self):
        event = self._read_event()
        if event is None:
            return self._reject_event(400, MALFORMED)
        request.icp_stripe_signature_verified = False
        request.icp_stripe_processing_failed = False
        try:
            with request.env.cr.savepoint():
                # The claim waits for a delivery of the same event in progress,
                # and goes with everything else when processing fails.
                claim_id = "id" in event and self._claim_event(event)
                if "id" in event and not claim_id:
                    _logger.info("Stripe event %s already processed.", event["id"])
                    return request.make_json_response("")
                response = self._dispatch_event(event)
                if claim_id and (
                    not request.icp_stripe_signature_verified
                    or request.icp_stripe_processing_failed
                ):
                    # Nothing verified it, or payment_stripe acknowledged it
                    # although its processing failed: not recorded, so it is
                    # processed when it comes again.
                    self._unclaim_event(claim_id)
        except Forbidden:
            return self._reject_event(403, REFUSED)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            _logger.warning(
                "Malformed Stripe event %s.", event.get("id"), exc_info=True
            )
            return self._reject_event(400, MALFORMED)
        return response

    # === READING THE REQUEST === #

    @classmethod
    def _read_event(cls):
        """The event of the request's body, or None when it is not one."""
        payload = request.httprequest.get_data(cache=True)
        if not payload or len(payload) > MAX_BODY_BYTES:
            return None
        try:
            text = payload.decode("utf-8")
            if cls._json_depth(text) > MAX_JSON_DEPTH:
                return None
            event = json.loads(text)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        return event if cls._is_stripe_event(event) else None

    @staticmethod
    def _json_depth(text):
        """The nesting depth of a JSON text, counted without parsing it (so a
        body of 100000 ``[`` never reaches the parser). Brackets inside strings
        may count too: that only overestimates."""
        depth = deepest = 0
        for char in text:
            if char in "[{":
                depth += 1
                if depth > deepest:
                    deepest = depth
                    if deepest > MAX_JSON_DEPTH:
                        break
            elif char in "]}":
                depth -= 1
        return deepest

    @staticmethod
    def _is_stripe_event(event):
        # Stripe's events all have an id; one without (only a signed one would
        # be processed) is processed without being recorded.
        return (
            isinstance(event, dict)
            and (
                "id" not in event
                or (isinstance(event["id"], str) and 0 < len(event["id"]) <= 255)
            )
            and isinstance(event.get("type"), str)
            and isinstance(event.get("data"), dict)
            and isinstance(event["data"].get("object"), dict)
            and isinstance(event["data"]["object"].get("id", ""), str)
        )

    # === ONE PROCESSING PER EVENT === #

    @staticmethod
    def _claim_event(event):
        """Record the event id; the record's id, or None when it was already
        recorded (a duplicate or a replay). Two deliveries at once: the second
        waits for the first, then finds the id taken (first committed) or takes
        it (first failed and rolled back)."""
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
                event["type"][:255],
            )
        )
        return rows[0][0] if rows else None

    @staticmethod
    def _unclaim_event(claim_id):
        request.env.execute_query(
            SQL("DELETE FROM invoice_client_pay_stripe_event WHERE id = %s", claim_id)
        )

    # === EVENTS === #

    def _dispatch_event(self, event):
        event_type = event["type"]
        stripe_object = event["data"]["object"]
        if event_type in DISPUTE_EVENTS + DISPUTE_WON_EVENTS:
            tx_sudo = self._find_event_transaction(stripe_object)
            self._verify_signature(tx_sudo)
            if tx_sudo:
                if event_type in DISPUTE_EVENTS:
                    tx_sudo._process_dispute(stripe_object)
                elif event_type == "charge.dispute.funds_reinstated" or (
                    stripe_object.get("status") == "won"
                ):
                    tx_sudo._process_dispute_won(stripe_object)
            return request.make_json_response("")
        if event_type in LATE_FAILURE_EVENTS:
            tx_sudo = self._find_event_transaction(stripe_object)
            if tx_sudo and tx_sudo.state == "done":
                self._verify_signature(tx_sudo)
                if self._is_stale_event(event, tx_sudo):
                    # A failure that happened before the success we recorded
                    # (events delivered out of order): the success stands.
                    _logger.info("Stale Stripe event %s ignored.", event.get("id"))
                    return request.make_json_response("")
                error = stripe_object.get("last_payment_error") or {}
                message = (
                    error.get("message")
                    or stripe_object.get("failure_message")
                    or event_type
                )
                tx_sudo._process_late_failure(str(message))
                return request.make_json_response("")
            if event_type == "charge.failed":
                self._verify_signature(tx_sudo)
                return request.make_json_response("")
        if event_type not in const.HANDLED_WEBHOOK_EVENTS:
            # payment_stripe ignores it without checking it: still, only a
            # signed event is acknowledged.
            self._verify_signature(request.env["payment.transaction"].sudo())
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
        if intent and isinstance(intent, str):
            tx = Tx.search(
                [("provider_code", "=", "stripe"), ("provider_reference", "=", intent)],
                limit=1,
            )
        description = stripe_object.get("description")
        if not tx and description and isinstance(description, str):
            tx = Tx.search(
                [("provider_code", "=", "stripe"), ("reference", "=", description)],
                limit=1,
            )
        return tx

    @staticmethod
    def _reject_event(status, message):
        return request.make_json_response({"error": message}, status=status)


# === SIGNATURE === #

_odoo_verify_signature = StripeController._verify_signature


def _verify_stripe_signature(self, tx_sudo):
    """payment_stripe's signature hook, done with the official ``stripe``
    library (``stripe.WebhookSignature.verify_header``).

    - The secret is the transaction's provider's; an event of no transaction
      is checked against every configured Stripe webhook secret.
    - No secret configured: refused (Odoo would accept the event unchecked).
    - Every ``v1`` signature of the header is tried (secret rotation); the
      timestamp must be within ``WEBHOOK_AGE_TOLERANCE``.
    - A missing, malformed, oversized or non-ASCII header is refused like a
      wrong signature: ``Forbidden``, never an error.

    It replaces the hook on payment_stripe's class itself, not in a subclass:
    payment_stripe's flow calls it there, and payment_stripe's own tests mock
    it there to test that flow. On a database without this add-on, Odoo's
    check runs unchanged.

    :raise Forbidden: when the signature does not verify.
    """
    if EVENT_MODEL not in request.env:
        return _odoo_verify_signature(self, tx_sudo)
    if tx_sudo:
        secrets = [stripe_utils.get_webhook_secret(tx_sudo.provider_id.sudo())]
    else:
        providers = (
            request.env["payment.provider"]
            .sudo()
            .search([("code", "=", "stripe"), ("state", "in", ("enabled", "test"))])
        )
        secrets = [stripe_utils.get_webhook_secret(p) for p in providers]
    secrets = list(dict.fromkeys(filter(None, secrets)))
    header = request.httprequest.headers.get("Stripe-Signature") or ""
    try:
        payload = request.httprequest.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError:
        raise Forbidden() from None
    if (
        not secrets
        or not header
        or len(header) > MAX_SIGNATURE_HEADER_LENGTH
        or not header.isascii()
    ):
        _logger.warning("Stripe event refused: no secret, or no usable signature.")
        raise Forbidden()
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(
                payload, header, secret, tolerance=self.WEBHOOK_AGE_TOLERANCE
            )
        except stripe.SignatureVerificationError:
            continue
        request.icp_stripe_signature_verified = True
        return
    _logger.warning("Stripe event refused: invalid signature.")
    raise Forbidden()


StripeController._verify_signature = _verify_stripe_signature
