"""Run Odoo's Stripe provider against localstripe (a local fake of Stripe's
API, from PyPI) listening on 127.0.0.1 only.

localstripe implements less than Stripe: it refuses a few parameters Odoo
sends (``description``, ``expand[]``, ``mandate``) and ignores Idempotency-Key.
``localstripe_adapter`` keeps Odoo's own request helper
(``PaymentProvider._send_api_request``: real HTTP, headers, error parsing) and
only drops what localstripe refuses (and the shipping address), moves the
merchant reference to ``metadata[odoo_reference]`` on the way
in and back to ``description`` on the way out.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
from unittest.mock import patch

import requests

from odoo.addons.payment.models.payment_provider import PaymentProvider
from odoo.addons.payment_stripe.models.payment_provider import (
    PaymentProvider as StripePaymentProvider,
)

LAUNCHER = """
import sys
from aiohttp import web
from localstripe.server import app
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""
UNSUPPORTED_KEYS = ("expand[]", "mandate")


def localstripe_python():
    """The python that runs localstripe: scripts/test may give it its own venv
    (ICP_LOCALSTRIPE_PYTHON), as its aiohttp stack is no business of Odoo's."""
    return os.environ.get("ICP_LOCALSTRIPE_PYTHON") or sys.executable


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_localstripe(port=None):
    """Start localstripe on 127.0.0.1; return (process, API base URL)."""
    port = port or free_port()
    process = subprocess.Popen(  # noqa: S603 - fixed command, our interpreter
        [localstripe_python(), "-c", LAUNCHER, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1/"
    deadline = time.time() + 20
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"localstripe exited at start: is it installed for "
                f"{localstripe_python()}? (scripts/test provides it)"
            )
        try:
            requests.get(base + "customers", auth=("sk_test_probe", ""), timeout=1)
            return process, base
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("localstripe did not start")


def stop_localstripe(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@contextlib.contextmanager
def localstripe_adapter(base):
    """Point Odoo's Stripe requests at ``base`` (localstripe)."""
    original_send = PaymentProvider._send_api_request
    original_url = StripePaymentProvider._build_request_url

    def _build_request_url(provider, endpoint, **kwargs):
        if provider.code != "stripe":
            return original_url(provider, endpoint, **kwargs)
        return base + endpoint

    def _send_api_request(provider, method, endpoint, *, data=None, **kwargs):
        if provider.code != "stripe" or not isinstance(data, dict):
            return original_send(provider, method, endpoint, data=data, **kwargs)
        data = {
            k: v
            for k, v in data.items()
            if k not in UNSUPPORTED_KEYS and not k.startswith("shipping[")
        }
        if "description" in data:
            data["metadata[odoo_reference]"] = data.pop("description")
        response = original_send(provider, method, endpoint, data=data, **kwargs)
        if isinstance(response, dict) and "metadata" in response:
            response.setdefault("description", None)
            response["description"] = (response.get("metadata") or {}).get(
                "odoo_reference"
            ) or response["description"]
        return response

    with (
        patch.object(PaymentProvider, "_send_api_request", _send_api_request),
        patch.object(StripePaymentProvider, "_build_request_url", _build_request_url),
    ):
        yield


def create_customer_with_method(base, secret_key, method_values):
    """A localstripe Customer with a PaymentMethod attached, made with the
    official stripe library. :return: (customer id, payment method id)"""
    import stripe  # noqa: PLC0415

    client = stripe.StripeClient(
        secret_key,
        base_addresses={"api": base.rstrip("/").removesuffix("/v1")},
    )
    customer = client.v1.customers.create(params={"name": "ICP test client"})
    method = client.v1.payment_methods.create(params=method_values)
    client.v1.payment_methods.attach(method.id, params={"customer": customer.id})
    return customer.id, method.id


CARD_OK = {
    "type": "card",
    "card": {
        "number": "4242424242424242",
        "exp_month": 12,
        "exp_year": 2040,
        "cvc": "123",
    },
}
CARD_DECLINED = {
    "type": "card",
    "card": {
        "number": "4000000000000341",
        "exp_month": 12,
        "exp_year": 2040,
        "cvc": "123",
    },
}
CARD_AUTHENTICATION = {
    "type": "card",
    "card": {
        "number": "4000002500003155",
        "exp_month": 12,
        "exp_year": 2040,
        "cvc": "123",
    },
}
SEPA_OK = {"type": "sepa_debit", "sepa_debit": {"iban": "DE89370400440532013000"}}
