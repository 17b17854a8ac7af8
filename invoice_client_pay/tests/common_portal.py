import re
import time

from odoo import Command
from odoo.tests import HttpCase, new_test_user

from .common import ClientCreditCommon


class ClientPayCommon(ClientCreditCommon):
    """Fixtures for online payments, built once: a test payment provider (Odoo's
    'none' code, as in payment/tests/common.py) on the company's bank journal,
    portal users for the client (through its contact) and for another client,
    and helpers to drive transactions."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.portal_user = new_test_user(
            cls.env,
            login="icp_portal_client",
            password="icp_portal_client",
            groups="base.group_portal",
            partner_id=cls.client_contact.id,
            company_id=cls.company.id,
            company_ids=[Command.set(cls.company.ids)],
        )
        cls.other_portal_user = new_test_user(
            cls.env,
            login="icp_portal_other",
            password="icp_portal_other",
            groups="base.group_portal",
            partner_id=cls.other_client.id,
            company_id=cls.company.id,
            company_ids=[Command.set(cls.company.ids)],
        )
        cls.pm_unknown = cls.env.ref("payment.payment_method_unknown")
        cls.provider = (
            cls.env["payment.provider"]
            .sudo()
            .create(
                {
                    "name": "ICP Test Provider",
                    "code": "none",
                    "state": "test",
                    "is_published": True,
                    "company_id": cls.company.id,
                    "payment_method_ids": [Command.set(cls.pm_unknown.ids)],
                    "available_currency_ids": [Command.set(cls.currency.ids)],
                }
            )
        )
        cls.pm_unknown.write({"active": True, "support_tokenization": True})
        cls._create_dummy_payment_method_for_provider(
            provider=cls.provider, journal=cls.bank_journal
        )
        # A sent request of the client, and an unpaid invoice.
        cls.credit_request = cls._make_sent_request(300.0)

    @classmethod
    def _make_sent_request(cls, amount, partner=None, **values):
        request = cls.env["account.credit.request"].create(
            {"partner_id": (partner or cls.client).id, "amount": amount, **values}
        )
        request.action_send()
        return request

    # ------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------

    def _tx_values(self, amount, **overrides):
        """The payment form's values, as its JS sends them."""
        return {
            "provider_id": self.provider.id,
            "payment_method_id": self.pm_unknown.id,
            "token_id": None,
            "amount": amount,
            "flow": "direct",
            "tokenization_requested": False,
            "landing_route": "/my",
            "is_validation": False,
            **overrides,
        }

    def _new_tx(self, requests, invoices=None, amount=None, **values):
        """A transaction for credit ``requests`` and ``invoices``, as the routes
        create it."""
        invoices = invoices or self.env["account.move"]
        if amount is None:
            amount = sum(requests.mapped("amount_residual")) + sum(
                invoices.mapped("amount_residual")
            )
        link = {
            "credit_request_ids": [Command.set(requests.ids)],
            "invoice_ids": [Command.set(invoices.ids)],
        }
        Tx = self.env["payment.transaction"].sudo()
        return Tx.create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.pm_unknown.id,
                "reference": Tx._compute_reference(self.provider.code, **link),
                "amount": amount,
                "currency_id": self.currency.id,
                "partner_id": (requests[:1] or invoices[:1]).partner_id.id,
                "operation": "online_direct",
                **link,
                **values,
            }
        )

    def _expired_token(self, document, days_ago):
        issued = int(time.time()) - days_ago * 86400
        return f"{issued}.{document._get_payment_link_signature(issued)}"

    def _tx_payments(self, tx):
        return self.env["account.payment"].search(
            [("payment_transaction_id", "=", tx.id)]
        )


class ClientPayHttpCommon(ClientPayCommon, HttpCase):
    def _get(self, url):
        return self.url_open(url, allow_redirects=False)

    @staticmethod
    def _page_text(response):
        """The page without its per-request CSRF token (it holds a timestamp)."""
        return re.sub(r'csrf_token: "[^"]*"', "", response.text)

    def assertPlainNotFound(self, url, missing_url):
        """``url`` answers exactly what ``missing_url`` (a document that does
        not exist) answers: a 404 that says nothing about what exists."""
        response = self._get(url)
        self.assertEqual(response.status_code, 404, url)
        self.assertEqual(
            self._page_text(response), self._page_text(self._get(missing_url)), url
        )

    def _link_path(self, document, token=None):
        return (
            f"{document.access_url}?access_token="
            f"{token or document._get_payment_link_token()}"
        )
