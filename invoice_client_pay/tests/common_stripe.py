import itertools
import json
import time
from contextlib import contextmanager
from unittest.mock import patch

import stripe

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import new_test_user

from odoo.addons.payment import utils as payment_utils
from odoo.addons.payment.models.payment_provider import PaymentProvider

from .common import ClientCreditCommon

# Outcomes of the fake Stripe for a PaymentMethod id: a PaymentIntent status,
# or a card error (HTTP 402) message.
PM_CARD_OK = "pm_card_visa"
PM_CARD_DECLINED = "pm_card_chargeDeclined"
PM_CARD_NO_FUNDS = "pm_card_insufficientFunds"
PM_CARD_AUTH = "pm_card_authenticationRequired"
PM_SEPA = "pm_sepa_debit"
OUTCOMES = {
    PM_CARD_OK: "succeeded",
    PM_SEPA: "processing",
    PM_CARD_DECLINED: "Your card was declined.",
    PM_CARD_NO_FUNDS: "Your card has insufficient funds.",
    PM_CARD_AUTH: "Your card was declined. This transaction requires authentication.",
}


def patch_send_api_request(fake):
    """A patcher putting ``fake`` (a ``FakeStripe``) behind Odoo's request
    helper for Stripe providers; other providers keep the real helper."""
    original = PaymentProvider._send_api_request

    def _send_api_request(provider, method, endpoint, **kwargs):
        if provider.code != "stripe":
            return original(provider, method, endpoint, **kwargs)
        return fake(provider, method, endpoint, **kwargs)

    return patch.object(PaymentProvider, "_send_api_request", _send_api_request)


def create_card_provider(company, name, key, journal=None):
    """A Stripe provider of ``company`` in test mode that saves and charges
    cards (API keys ``sk_test_<key>``/``pk_test_<key>``), booking on
    ``journal``."""
    env = company.env
    pm_card = env.ref("payment.payment_method_card")
    values = {
        "name": name,
        "code": "stripe",
        "state": "test",
        "company_id": company.id,
        "allow_tokenization": True,
        "stripe_secret_key": f"sk_test_{key}",
        "stripe_publishable_key": f"pk_test_{key}",
        "payment_method_ids": [Command.set(pm_card.ids)],
    }
    if journal:
        values["journal_id"] = journal.id
    provider = env["payment.provider"].create(values)
    # Only once a provider supports it: Odoo refuses to activate it before.
    pm_card.write({"active": True, "support_tokenization": True})
    return provider


def save_auto_charge_card(provider, partner, customer, **partner_values):
    """A card ``partner`` saved with ``provider`` (the fake Stripe charges it),
    chosen for the automatic charges of its credit requests in the provider's
    company (with ``partner_values`` written alongside)."""
    token = provider.env["payment.token"].create(
        {
            "provider_id": provider.id,
            "payment_method_id": provider.env.ref("payment.payment_method_card").id,
            "partner_id": partner.id,
            "provider_ref": customer,
            "payment_details": "4242",
            "stripe_payment_method": PM_CARD_OK,
        }
    )
    partner.with_company(provider.company_id).write(
        {
            "auto_charge_credit_requests": True,
            "auto_charge_token_id": token.id,
            **partner_values,
        }
    )
    return token


class FakeStripe:
    """The part of Stripe's API Odoo's Stripe provider uses to charge a token
    and refund, in memory. Like Stripe, a POST with an Idempotency-Key already
    seen returns the first answer (or the first error) again."""

    def __init__(self):
        self.intents = {}
        self.refunds = {}
        self.requests = []
        self.idempotent = {}
        self._ids = itertools.count(1)

    @property
    def charges(self):
        """PaymentIntents really created (not replayed answers)."""
        return list(self.intents.values())

    def __call__(
        self, provider, method, endpoint, *, data=None, idempotency_key=None, **kw
    ):
        self.requests.append((method, endpoint, dict(data or {}), idempotency_key))
        if method == "POST" and idempotency_key and idempotency_key in self.idempotent:
            answer = self.idempotent[idempotency_key]
        else:
            answer = self._answer(method, endpoint, data or {})
            if method == "POST" and idempotency_key:
                self.idempotent[idempotency_key] = answer
        if isinstance(answer, Exception):
            raise answer
        return json.loads(json.dumps(answer))

    def _answer(self, method, endpoint, data):
        if method == "POST" and endpoint == "payment_intents":
            pm_id = data.get("payment_method")
            outcome = OUTCOMES.get(pm_id, "succeeded")
            if outcome not in ("succeeded", "processing"):
                return ValidationError(
                    f"The payment provider rejected the request.\n{outcome}"
                )
            intent = {
                "id": f"pi_{next(self._ids):08d}",
                "object": "payment_intent",
                "amount": data["amount"],
                "currency": data["currency"],
                "description": data["description"],
                "customer": data.get("customer"),
                "status": outcome,
                "payment_method": self._payment_method(pm_id),
            }
            self.intents[intent["id"]] = intent
            return intent
        if method == "POST" and endpoint == "refunds":
            refund = {
                "id": f"re_{next(self._ids):08d}",
                "object": "refund",
                "amount": data["amount"],
                "currency": self.intents[data["payment_intent"]]["currency"],
                "payment_intent": data["payment_intent"],
                "status": "succeeded",
            }
            self.refunds[refund["id"]] = refund
            return refund
        if method == "GET" and endpoint.startswith("payment_methods/"):
            return self._payment_method(endpoint.split("/", 1)[1])
        return ValidationError(f"Fake Stripe: no {method} {endpoint}")

    @staticmethod
    def _payment_method(pm_id):
        if pm_id == PM_SEPA:
            return {"id": pm_id, "type": "sepa_debit", "sepa_debit": {"last4": "3000"}}
        return {"id": pm_id, "type": "card", "card": {"brand": "visa", "last4": "4242"}}


class StripeClientCommon(ClientCreditCommon):
    """A Stripe provider (test mode, webhook secret set) on the company's bank
    journal, a card and a SEPA mandate saved by the client, and a fake Stripe
    behind Odoo's own request helper (``PaymentProvider._send_api_request``)."""

    WEBHOOK_SECRET = "whsec_icp_test_secret"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pm_card = cls.env.ref("payment.payment_method_card")
        cls.pm_sepa = cls.env.ref("payment.payment_method_sepa_direct_debit")
        cls.stripe_provider = (
            cls.env["payment.provider"]
            .sudo()
            .create(
                {
                    "name": "Stripe (ICP tests)",
                    "code": "stripe",
                    "state": "test",
                    "company_id": cls.company.id,
                    "allow_tokenization": True,
                    "stripe_secret_key": "sk_test_icp",
                    "stripe_publishable_key": "pk_test_icp",
                    "stripe_webhook_secret": cls.WEBHOOK_SECRET,
                    "payment_method_ids": [
                        Command.set((cls.pm_card + cls.pm_sepa).ids)
                    ],
                    "journal_id": cls.bank_journal.id,
                }
            )
        )
        (cls.pm_card + cls.pm_sepa).write(
            {"active": True, "support_tokenization": True}
        )
        line = cls.bank_journal.inbound_payment_method_line_ids.filtered(
            lambda pml: pml.payment_provider_id == cls.stripe_provider
        )
        if line and not line.payment_account_id:
            line.payment_account_id = cls.inbound_payment_method_line.payment_account_id
        cls.card_token = cls._make_token(cls.client, PM_CARD_OK, cls.pm_card, "4242")
        cls.sepa_token = cls._make_token(
            cls.client, PM_SEPA, cls.pm_sepa, "3000", mandate="mandate_icp"
        )
        cls.billing_user = new_test_user(
            cls.env,
            login="icp_billing",
            groups="account.group_account_invoice",
            company_id=cls.company.id,
            company_ids=[Command.set(cls.company.ids)],
        )

    @classmethod
    def _make_token(cls, partner, pm_ref, method, details, mandate=None, customer=None):
        return (
            cls.env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": cls.stripe_provider.id,
                    "payment_method_id": method.id,
                    "partner_id": partner.id,
                    "provider_ref": customer or f"cus_{partner.id}",
                    "payment_details": details,
                    "stripe_payment_method": pm_ref,
                    "stripe_mandate": mandate,
                }
            )
        )

    def setUp(self):
        super().setUp()
        self._patch_stripe()

    def _patch_stripe(self):
        """Put the fake Stripe behind Odoo's request helper."""
        self.fake_stripe = FakeStripe()
        patcher = patch_send_api_request(self.fake_stripe)
        patcher.start()
        self.addCleanup(patcher.stop)

    # ------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------

    def _take_payment(self, document, user=None, **values):
        """Open Take Payment on ``document`` as ``user`` and confirm it."""
        env = self.env(user=user) if user else self.env
        document = document.with_env(env)
        action = document.action_take_payment()
        wizard = (
            env[action["res_model"]].with_context(**action["context"]).create(values)
        )
        result = wizard.action_take_payment()
        return wizard, result

    def _run_auto_charge_cron(self):
        """The auto-charge scheduled action, then Odoo's payment
        post-processing it triggers (without its commits)."""
        self.env["account.credit.request"]._cron_auto_charge()
        self.env["payment.transaction"].search(
            [("is_post_processed", "=", False), ("state", "=", "done")]
        )._post_process()

    def _idempotency_keys(self):
        return [
            key
            for method, endpoint, __, key in self.fake_stripe.requests
            if method == "POST" and endpoint == "payment_intents"
        ]

    @staticmethod
    def _expected_key(tx):
        return payment_utils.generate_idempotency_key(tx, scope="payment_intents")

    # ------------------------------------------------------------
    # Webhook helpers: events built and signed as Stripe does
    # ------------------------------------------------------------

    @staticmethod
    def _event(event_type, stripe_object, event_id=None, created=None):
        return {
            "id": event_id or f"evt_{stripe_object.get('id', 'x')}_{event_type}",
            "object": "event",
            "type": event_type,
            "created": created or int(time.time()),
            "data": {"object": stripe_object},
        }

    @staticmethod
    def _signature_header(payload, secrets, timestamp=None):
        """``t=…,v1=…[,v1=…]``: one v1 signature per secret, as Stripe sends
        during a secret rotation."""
        timestamp = timestamp or int(time.time())
        parts = [f"t={timestamp}"]
        for secret in secrets:
            signed = stripe.WebhookSignature._compute_signature(
                f"{timestamp}.{payload}", secret
            )
            parts.append(f"v1={signed}")
        return ",".join(parts)

    @contextmanager
    def _no_webhook_secret(self):
        self.stripe_provider.stripe_webhook_secret = False
        try:
            yield
        finally:
            self.stripe_provider.stripe_webhook_secret = self.WEBHOOK_SECRET
