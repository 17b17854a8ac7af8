import re
from urllib.parse import quote, urlsplit

from markupsafe import Markup

from odoo import Command
from odoo.tests import JsonRpcException, tagged

from odoo.addons.http_routing.tests.common import MockRequest
from odoo.addons.payment import utils as payment_utils

from .common_portal import ClientPayHttpCommon

# What an attacker may put where a signed link token is expected.
MALFORMED_TOKENS = (
    "é",
    "²",
    "²³",
    "²³.abc",
    "１２.abc",  # full-width digits
    "12.é",
    "12.ab²",
    ".",
    "abc.",
    ".sig",
    "12.",
    "9" * 400,
    "9" * 400 + ".abc",
    "9" * 13 + ".abc",
    " 12.abc",
    "12.abc\x00",
)
# What a JSON body may carry instead of a string.
MALFORMED_JSON_TOKENS = (
    *MALFORMED_TOKENS,
    12,
    1.5,
    int("9" * 400),
    True,
    ["12"],
    {"a": 1},
)

TOKEN_RE = re.compile(r"access_token=([0-9]+)\.([0-9a-f]+)")


@tagged("post_install", "-at_install")
class TestPortalSecurityLinks(ClientPayHttpCommon):
    """Through real HTTP: malformed tokens are a plain 404 on every route; the
    raw portal token never reaches a browser nor opens a document; links derived
    on a page never outlive the link that opened it; chatter rights of a link
    visitor end with the link."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.auto_mark_invoices_paid = False
        cls.invoice, cls.invoice_2, cls.invoice_3 = (
            cls.init_invoice(
                "out_invoice",
                partner=cls.client,
                amounts=[amount],
                taxes=[],
                company=cls.company,
                post=True,
            )
            for amount in (200.0, 210.0, 220.0)
        )
        cls.credit_request_2 = cls._make_sent_request(310.0)
        cls.credit_request_3 = cls._make_sent_request(320.0)
        for document in (
            cls.invoice,
            cls.invoice_2,
            cls.invoice_3,
            cls.credit_request,
            cls.credit_request_2,
            cls.credit_request_3,
        ):
            document._portal_ensure_token()

    def _missing_url(self, document):
        return (
            "/my/invoices/999999999"
            if document._name == "account.move"
            else "/my/credit_requests/999999999"
        )

    def _json_error(self, route, params):
        """The JSON-RPC error of ``route`` (asserts there is one)."""
        response = self.opener.post(
            f"{self.base_url()}{route}",
            json={"id": 0, "jsonrpc": "2.0", "method": "call", "params": params},
            timeout=30,
        )
        self.assertEqual(response.status_code, 200, route)
        error = response.json().get("error")
        self.assertTrue(error, f"{route} {params} answered no error")
        return error

    def assertJsonNotFound(self, route, params):
        error = self._json_error(route, params)
        self.assertEqual(error["code"], 404, f"{route} {params}: {error}")
        self.assertEqual(
            error["data"]["name"], "werkzeug.exceptions.NotFound", f"{route} {params}"
        )
        self.assertFalse(error["data"].get("debug"), "No traceback in the answer")

    def _page_tokens(self, text):
        return TOKEN_RE.findall(text)

    # ------------------------------------------------------------
    # Malformed tokens
    # ------------------------------------------------------------

    def test_malformed_tokens_on_document_pages_are_a_plain_404(self):
        for document in (self.invoice, self.credit_request):
            missing = self._missing_url(document)
            for token in MALFORMED_TOKENS:
                for suffix in (
                    "",
                    "&report_type=pdf&download=true",
                    "&report_type=html",
                ):
                    url = f"{document.access_url}?access_token={quote(token)}{suffix}"
                    self.assertPlainNotFound(url, missing)

    def test_malformed_tokens_on_transaction_routes_are_a_plain_404(self):
        routes = (
            (f"/invoice/transaction/{self.invoice.id}", self.invoice),
            (f"/credit_request/transaction/{self.credit_request.id}", None),
        )
        for route, __ in routes:
            for token in MALFORMED_JSON_TOKENS:
                self.assertJsonNotFound(
                    route, {"access_token": token, **self._tx_values(200.0)}
                )
        # The pay-all link of a reminder.
        pay_all = self.client._get_pay_all_url(self.credit_request)
        pay_all_route = (
            f"/my/unpaid/link/{self.client.id}/transaction/cr-{self.credit_request.id}"
        )
        self.assertIn("access_token=", pay_all)
        for token in MALFORMED_JSON_TOKENS:
            self.assertJsonNotFound(
                pay_all_route, {"access_token": token, **self._tx_values(300.0)}
            )
        # Junk where the route expects document items.
        self.authenticate(self.portal_user.login, self.portal_user.login)
        for items in ("inv-²", "inv-" + "9" * 400, "cr-１", "inv-.", "x"):
            self.assertJsonNotFound(
                f"/my/unpaid/transaction/{quote(items)}", self._tx_values(200.0)
            )
        self.assertFalse(
            self.env["payment.transaction"].search(
                [("partner_id", "child_of", self.client.id)]
            )
        )

    def test_malformed_tokens_on_the_chatter(self):
        for document in (self.invoice, self.credit_request):
            thread = {"thread_model": document._name, "thread_id": document.id}
            good = document._get_payment_link_token()
            for token in MALFORMED_JSON_TOKENS:
                self.assertJsonNotFound(
                    "/mail/chatter_fetch", {**thread, "token": token}
                )
                self.assertJsonNotFound(
                    "/mail/message/post",
                    {
                        **thread,
                        "post_data": {"body": "Hi", "message_type": "comment"},
                        "token": token,
                    },
                )
            # A good link but a forged or malformed visitor identity.
            pid = document.partner_id.id
            for hash_, bad_pid in (
                ("²", pid),
                (12, pid),
                ("abc", "²"),
                (document._sign_token(pid), "9" * 400),
                (document._sign_token(pid), "abc"),
                (document._sign_token(pid), [pid]),
            ):
                self.assertJsonNotFound(
                    "/mail/message/post",
                    {
                        **thread,
                        "post_data": {"body": "Hi", "message_type": "comment"},
                        "token": good,
                        "hash": hash_,
                        "pid": bad_pid,
                    },
                )
        self.assertFalse(
            self.env["mail.message"]
            .search([("body", "ilike", "Hi"), ("res_id", "in", [self.invoice.id])])
            .filtered(lambda m: m.model == "account.move")
        )

    def test_malformed_identity_on_the_chatter_avatar(self):
        message = self.invoice.message_post(
            body="Avatar", message_type="comment", subtype_xmlid="mail.mt_comment"
        )
        token = self.invoice._get_payment_link_token()
        base = f"/mail/avatar/mail.message/{message.id}/author_avatar/50x50"
        for query in (
            f"access_token={quote('²')}",
            f"access_token={'9' * 400}",
            f"_hash=abc&pid={quote('²')}",
            f"_hash=abc&pid={'9' * 400}",
            "_hash=abc&pid=x",
            f"access_token={token}&_hash={quote('é')}&pid=1",
        ):
            self.assertEqual(self._get(f"{base}?{query}").status_code, 200, query)

    # ------------------------------------------------------------
    # The raw portal token
    # ------------------------------------------------------------

    def test_raw_portal_token_alone_opens_nothing(self):
        for document in (self.invoice, self.credit_request):
            raw = document.access_token
            missing = self._missing_url(document)
            for suffix in ("", "&report_type=pdf&download=true", "&report_type=html"):
                self.assertPlainNotFound(
                    f"{document.access_url}?access_token={raw}{suffix}", missing
                )
            self.assertJsonNotFound(
                "/mail/chatter_fetch",
                {
                    "thread_model": document._name,
                    "thread_id": document.id,
                    "token": raw,
                },
            )
        self.assertJsonNotFound(
            f"/invoice/transaction/{self.invoice.id}",
            {"access_token": self.invoice.access_token, **self._tx_values(200.0)},
        )
        self.assertFalse(self.invoice.transaction_ids)
        # The client, logged in, still opens it without any token.
        self.authenticate(self.portal_user.login, self.portal_user.login)
        self.assertEqual(self._get(self.invoice.access_url).status_code, 200)

    def test_mail_view_honours_only_signed_links(self):
        """/mail/view (the access point of notification emails): a raw portal
        token or a malformed one opens nothing and is no error; a signed link
        leads to that same link."""
        for document in (self.invoice, self.credit_request):
            base = f"/mail/view?model={document._name}&res_id={document.id}"
            for token in (document.access_token, *MALFORMED_TOKENS):
                response = self._get(f"{base}&access_token={quote(token)}")
                self.assertIn(response.status_code, (302, 303), token)
                self.assertNotIn("access_token", response.headers["Location"])
                self.assertIn("/web/login", response.headers["Location"])
            huge = self._get(f"/mail/view?model={document._name}&res_id={'9' * 400}")
            self.assertIn(huge.status_code, (302, 303))
            self.assertIn("/web/login", huge.headers["Location"])
            token = self._expired_token(document, 1)
            response = self._get(f"{base}&access_token={token}")
            self.assertIn(response.status_code, (302, 303))
            self.assertTrue(
                response.headers["Location"].endswith(
                    f"{document.access_url}?access_token={token}"
                )
            )

    def test_raw_token_reaches_no_browser(self):
        """Pages, reports, chatter, emails and the payment status of a document
        paid through its link never carry its raw portal token."""
        for document in (self.invoice, self.credit_request):
            raw = document.access_token
            path = self._link_path(document)
            token = path.split("access_token=")[1]
            texts = [self._get(path).text]
            for report_type in ("html", "pdf"):
                texts.append(self._get(f"{path}&report_type={report_type}").text)
            document.message_post(
                body="Your document",
                partner_ids=self.client.ids,
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
            )
            texts.append(
                str(
                    self.make_jsonrpc_request(
                        "/mail/chatter_fetch",
                        {
                            "thread_model": document._name,
                            "thread_id": document.id,
                            "token": token,
                        },
                    )
                )
            )
            self.env.flush_all()
            texts += (
                self.env["mail.mail"]
                .search([("model", "=", document._name), ("res_id", "=", document.id)])
                .mapped(lambda mail: str(mail.body_html))
            )
            route = (
                f"/invoice/transaction/{document.id}"
                if document._name == "account.move"
                else f"/credit_request/transaction/{document.id}"
            )
            processing = self.make_jsonrpc_request(
                route,
                {"access_token": token, **self._tx_values(document.amount_residual)},
            )
            texts.append(str(processing))
            tx = self.env["payment.transaction"].search(
                [("reference", "=", processing["reference"])]
            )
            if document._name == "account.credit.request":
                self.assertTrue(tx.landing_route.endswith(token), tx.landing_route)
            texts.append(tx.landing_route)
            self.assertGreater(len(texts), 5)
            for text in texts:
                self.assertNotIn(raw, text)

    def test_pager_carries_no_raw_token(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        cases = (
            ("/my/invoices", self.invoice_2, self.invoice | self.invoice_3),
            (
                "/my/credit_requests",
                self.credit_request_2,
                self.credit_request | self.credit_request_3,
            ),
        )
        for listing, document, siblings in cases:
            self.assertEqual(self._get(listing).status_code, 200)
            page = self._get(document.access_url)
            self.assertEqual(page.status_code, 200)
            text = page.text
            # The pager is there, and links the siblings.
            self.assertTrue(
                any(sibling.access_url in text for sibling in siblings), listing
            )
            for record in document | siblings:
                self.assertNotIn(record.access_token, text, record.display_name)

    def test_payment_links_carry_no_raw_token(self):
        """The back office's "Generate a payment link" for an invoice, and Odoo's
        /payment/pay page for an invoice, hand out no raw portal token."""
        wizard = (
            self.env["payment.link.wizard"]
            .with_context(active_model="account.move", active_id=self.invoice.id)
            .create({"amount": 200.0})
        )
        with MockRequest(self.env):
            link = wizard.link
            pay_token = payment_utils.generate_access_token(
                self.invoice.partner_id.id, 200.0, self.currency.id
            )
        self.assertNotIn(self.invoice.access_token, link)
        parts = urlsplit(link)
        response = self._get(f"/{parts.path.lstrip('/')}?{parts.query}")
        self.assertEqual(response.status_code, 200)
        self.assertIn('id="o_payment_form"', response.text)
        self.assertNotIn(self.invoice.access_token, response.text)
        response = self._get(
            f"/payment/pay?invoice_id={self.invoice.id}&amount=200.0"
            f"&access_token={pay_token}"
        )
        self.assertEqual(response.status_code, 200)
        self.assertIn('id="o_payment_form"', response.text)
        self.assertNotIn(self.invoice.access_token, response.text)

    # ------------------------------------------------------------
    # Derived links
    # ------------------------------------------------------------

    def test_derived_links_keep_the_issue_time(self):
        self.company.payment_link_validity_days = 30
        for document in (self.invoice, self.credit_request):
            token = self._expired_token(document, 20)
            issued = token.split(".")[0]
            response = self._get(f"{document.access_url}?access_token={token}")
            self.assertEqual(response.status_code, 200)
            tokens = self._page_tokens(response.text)
            self.assertTrue(tokens, document.display_name)
            for token_issued, signature in tokens:
                self.assertEqual(token_issued, issued, document.display_name)
                self.assertTrue(
                    document._check_payment_link_token(f"{token_issued}.{signature}")
                )

    def test_chatter_links_keep_the_issue_time(self):
        """A chatter message carrying a newer payment link (one an employee
        wrote to the client) shows the visitor the link they came with."""
        self.company.payment_link_validity_days = 30
        request = self.credit_request_2
        token = self._expired_token(request, 5)
        request.message_post(
            body=Markup('<a href="%s">Pay here</a>') % request.get_secure_payment_url(),
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )
        result = self.make_jsonrpc_request(
            "/mail/chatter_fetch",
            {
                "thread_model": request._name,
                "thread_id": request.id,
                "token": token,
            },
        )
        tokens = self._page_tokens(str(result))
        self.assertTrue(tokens, "The sent request's message carries its link")
        self.assertEqual({f"{issued}.{sig}" for issued, sig in tokens}, {token})

    def test_chatter_rights_end_with_the_link(self):
        self.company.payment_link_validity_days = 30
        for document in (self.invoice, self.credit_request):
            token = self._expired_token(document, 10)
            response = self._get(f"{document.access_url}?access_token={token}")
            self.assertEqual(response.status_code, 200)
            pid = document.partner_id.id
            hash_ = document._sign_token(pid)
            # The page hands the chatter the client's identity.
            self.assertIn(hash_, response.text)
            thread = {"thread_model": document._name, "thread_id": document.id}

            def post(body, **access):
                return self.make_jsonrpc_request(
                    "/mail/message/post",
                    {
                        **thread,
                        "post_data": {
                            "body": body,
                            "message_type": "comment",
                            "subtype_xmlid": "mail.mt_comment",
                        },
                        **access,
                    },
                )

            # While the link lives, the visitor posts as the client.
            result = post("Question", token=token, hash=hash_, pid=pid)
            message = self.env["mail.message"].browse(result["message_id"])
            self.assertEqual(message.author_id, document.partner_id)
            # The identity alone (hash and pid) grants nothing.
            with self.assertRaises(JsonRpcException) as error:
                post("Alone", hash=hash_, pid=pid)
            self.assertEqual(error.exception.code, 404)
            # Expired: nothing more.
            self.company.payment_link_validity_days = 5
            for access in (
                {"token": token, "hash": hash_, "pid": pid},
                {"hash": hash_, "pid": pid},
            ):
                with self.assertRaises(JsonRpcException) as error:
                    post("Late", **access)
                self.assertEqual(error.exception.code, 404)
            self.assertJsonNotFound("/mail/chatter_fetch", {**thread, "token": token})
            # A fresh link works again; revoking ends it and its identity.
            self.company.payment_link_validity_days = 30
            fresh = document._get_payment_link_token()
            post("Again", token=fresh, hash=hash_, pid=pid)
            document.action_revoke_payment_link()
            for access in (
                {"token": fresh, "hash": hash_, "pid": pid},
                {"token": fresh},
                {"hash": document._sign_token(pid), "pid": pid},
            ):
                with self.assertRaises(JsonRpcException) as error:
                    post("Revoked", **access)
                self.assertEqual(error.exception.code, 404)


@tagged("post_install", "-at_install")
class TestTransactionRouteProviders(ClientPayHttpCommon):
    """Every transaction route of the module checks the provider and the
    method as Odoo's payment form offers them, and refuses the others before
    any transaction exists."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.auto_mark_invoices_paid = False
        cls.invoice = cls.init_invoice(
            "out_invoice",
            partner=cls.client_contact,
            amounts=[60.0],
            taxes=[],
            company=cls.company,
            invoice_date="2000-01-01",
        )
        cls.invoice.invoice_date_due = "2000-01-31"
        cls.invoice.action_post()
        Provider = cls.env["payment.provider"].sudo()

        def provider(name, **values):
            return Provider.create(
                {
                    "name": name,
                    "code": "none",
                    "state": "test",
                    "is_published": True,
                    "company_id": cls.company.id,
                    "payment_method_ids": [Command.set(cls.pm_unknown.ids)],
                    **values,
                }
            )

        cls.disabled_provider = provider("Disabled", state="disabled")
        cls.unpublished_provider = provider("Unpublished", is_published=False)
        cls.other_company = cls.env["res.company"].create({"name": "ICP Other Co"})
        cls.other_company_provider = provider(
            "Other company", company_id=cls.other_company.id
        )
        other_currency = (
            cls.env["res.currency"]
            .with_context(active_test=False)
            .search([("id", "!=", cls.currency.id)], limit=1)
        )
        other_currency.active = True
        cls.other_currency_provider = provider(
            "Other currency",
            available_currency_ids=[Command.set(other_currency.ids)],
        )
        cls.method_not_offered = (
            cls.env["payment.method"]
            .with_context(active_test=False)
            .search(
                [("id", "!=", cls.pm_unknown.id), ("is_primary", "=", True)], limit=1
            )
        )

    def _token(self, partner, provider):
        return (
            self.env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": provider.id,
                    "payment_method_id": self.pm_unknown.id,
                    "partner_id": partner.id,
                    "provider_ref": f"ref-{partner.id}-{provider.id}",
                    "payment_details": "4242",
                }
            )
        )

    def _bad_choices(self):
        token_flow = {"flow": "token", "payment_method_id": None}
        return (
            {
                **token_flow,
                "token_id": self._token(self.other_client, self.provider).id,
            },
            {
                **token_flow,
                "provider_id": self.disabled_provider.id,
                "token_id": self._token(self.client, self.disabled_provider).id,
            },
            {**token_flow, "token_id": "²"},
            {"provider_id": self.disabled_provider.id},
            {"provider_id": self.unpublished_provider.id},
            {"provider_id": self.other_company_provider.id},
            {"provider_id": self.other_currency_provider.id},
            {"payment_method_id": self.method_not_offered.id},
            {"provider_id": "²"},
            {"provider_id": 10**12},
            {"payment_method_id": "9" * 400},
        )

    def assertRefused(self, route, params):
        count = self.env["payment.transaction"].sudo().search_count([])
        for choice in self._bad_choices():
            with self.assertRaises(JsonRpcException, msg=f"{route} {choice}") as error:
                self.make_jsonrpc_request(
                    route, {**params, **self._tx_values(60.0, **choice)}
                )
            self.assertEqual(
                str(error.exception),
                "odoo.exceptions.ValidationError",
                f"{route} {choice}",
            )
        self.assertEqual(
            self.env["payment.transaction"].sudo().search_count([]), count, route
        )

    def test_invoice_route_by_link(self):
        self.assertRefused(
            f"/invoice/transaction/{self.invoice.id}",
            {"access_token": self.invoice._get_payment_link_token()},
        )

    def test_invoice_route_logged_in(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        self.assertRefused(
            f"/invoice/transaction/{self.invoice.id}", {"access_token": None}
        )

    def test_overdue_route(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        self.assertRefused("/invoice/transaction/overdue", {"payment_reference": "X"})
        # The provider the form offers goes through.
        self.make_jsonrpc_request(
            "/invoice/transaction/overdue",
            {"payment_reference": "X", **self._tx_values(60.0)},
        )
        self.assertEqual(self.invoice.transaction_ids.provider_id, self.provider)

    def test_overdue_route_reference_is_the_servers(self):
        """The browser's payment reference (any value) never becomes the
        transaction's reference."""
        self.authenticate(self.portal_user.login, self.portal_user.login)
        other = self.init_invoice(
            "out_invoice",
            partner=self.other_client,
            amounts=[10.0],
            taxes=[],
            company=self.company,
            post=True,
        )
        for reference in (12, ["x"], {"a": 1}, other.name, "é" * 300, None):
            processing = self.make_jsonrpc_request(
                "/invoice/transaction/overdue",
                {"payment_reference": reference, **self._tx_values(60.0)},
            )
            self.assertTrue(
                processing["reference"].startswith(self.invoice.name),
                processing["reference"],
            )

    def test_credit_request_route(self):
        request = self._make_sent_request(60.0)
        self.assertRefused(
            f"/credit_request/transaction/{request.id}",
            {"access_token": request._get_payment_link_token()},
        )

    def test_pay_all_link_route(self):
        request = self._make_sent_request(60.0)
        url = self.client._get_pay_all_url(request)
        self.assertRefused(
            f"/my/unpaid/link/{self.client.id}/transaction/cr-{request.id}",
            {"access_token": url.split("access_token=")[1]},
        )

    def test_pay_several_route(self):
        request = self._make_sent_request(60.0)
        self.authenticate(self.portal_user.login, self.portal_user.login)
        self.assertRefused(f"/my/unpaid/transaction/cr-{request.id}", {})
