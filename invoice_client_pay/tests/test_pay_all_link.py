import re
import time
from datetime import date

from freezegun import freeze_time

from odoo.tests import JsonRpcException, tagged

from .common_portal import ClientPayHttpCommon


@tagged("post_install", "-at_install")
class TestPayAllLink(ClientPayHttpCommon):
    """A reminder's pay-all link, through real HTTP, logged out: the checkout
    (/my/unpaid/link/<client>) and its transaction route."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.auto_mark_invoices_paid = False
        cls.invoice = cls.init_invoice(
            "out_invoice",
            partner=cls.client,
            amounts=[120.0],
            taxes=[],
            company=cls.company,
            post=True,
        )
        cls.other_invoice = cls.init_invoice(
            "out_invoice",
            partner=cls.other_client,
            amounts=[80.0],
            taxes=[],
            company=cls.company,
            post=True,
        )
        cls.documents = [cls.invoice, cls.credit_request]
        cls.missing = "/my/unpaid/link/2147483000?items=inv-1&access_token=1.x"

    def _path(self, partner, documents):
        url = partner._get_pay_all_url(documents)
        return url[len(partner.get_base_url()) :]

    def _pay(self, path, amount):
        """Pay through the transaction route the checkout's form uses."""
        page = self._get(path)
        self.assertEqual(page.status_code, 200)
        route = re.search(r"/my/unpaid/link/\d+/transaction/[\w,-]+", page.text)
        self.assertTrue(route, "the checkout offers the payment form")
        token = re.search(r"access_token=([0-9]+\.[\w-]+)", path).group(1)
        return self.make_jsonrpc_request(
            route.group(0), {**self._tx_values(amount), "access_token": token}
        )

    def _last_tx(self):
        return self.env["payment.transaction"].search([], order="id desc", limit=1)

    def test_valid_link_pays_exactly_the_listed_items(self):
        path = self._path(self.client, self.documents)
        page = self._get(path)
        self.assertEqual(page.status_code, 200)
        html = page.text
        for document in self.documents:
            self.assertIn(document.name, html)
        self.assertNotIn(self.other_invoice.name, html)
        self.assertRegex(html, r"o_icp_total[\s\S]*420\.00")
        for amount in (419.0, 421.0, 0.0):
            with self.assertRaises(JsonRpcException):
                self._pay(path, amount)
        self._pay(path, 420.0)
        tx = self._last_tx()
        self.assertEqual(tx.invoice_ids, self.invoice)
        self.assertEqual(tx.credit_request_ids, self.credit_request)
        self.assertEqual(tx.partner_id, self.client)
        self.assertEqual(tx.amount, 420.0)
        self.assertEqual(tx.currency_id, self.currency)
        self.assertTrue(
            tx.landing_route.startswith(f"/my/unpaid/link/{self.client.id}?")
        )
        tx._set_done()
        tx._post_process()
        self.assertEqual(self.credit_request.state, "paid")
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        # Back on the link: nothing left, no payment form.
        html = self._get(path).text
        self.assertIn("o_icp_nothing_to_pay", html)
        self.assertNotIn('id="o_payment_form"', html)

    def test_tampered_links_are_a_plain_404(self):
        path = self._path(self.client, self.documents)
        base, token = path.split("&access_token=")
        issued, signature = token.split(".")
        flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
        items = f"cr-{self.credit_request.id},inv-{self.invoice.id}"
        self.assertIn(f"items={items}", path)
        tampered = [
            f"{base}&access_token={issued}.{flipped}",
            f"{base}&access_token={int(issued) + 1}.{signature}",
            f"{base}&access_token=",
            base,
            path.replace(items, f"inv-{self.invoice.id}"),  # one item less
            path.replace(items, f"{items},inv-{self.other_invoice.id}"),  # one more
            path.replace(items, f"cr-{self.credit_request.id},inv-x"),
            # The client's link, another client's id.
            path.replace(
                f"/my/unpaid/link/{self.client.id}?",
                f"/my/unpaid/link/{self.other_client.id}?",
            ),
        ]
        for url in tampered:
            self.assertPlainNotFound(url, self.missing)
        too_many = ",".join(f"inv-{i}" for i in range(1, 502))
        for url in (
            path.replace(items, f"cr-{self.credit_request.id},inv-\u00b2"),
            path.replace(items, f"cr-{self.credit_request.id},inv-99999999999"),
            path.replace(items, too_many),
        ):
            self.assertPlainNotFound(url, self.missing)
        route = f"/my/unpaid/link/{self.client.id}/transaction/{items}"
        for bad_token in (f"{issued}.{flipped}", [token], {"token": token}, 42, None):
            with self.assertRaises(JsonRpcException, msg=repr(bad_token)) as error:
                self.make_jsonrpc_request(
                    route, {**self._tx_values(420.0), "access_token": bad_token}
                )
            self.assertEqual(error.exception.code, 404)
        # A valid token, other items in the route than it signs.
        with self.assertRaises(JsonRpcException) as error:
            self.make_jsonrpc_request(
                f"/my/unpaid/link/{self.client.id}/transaction/inv-{self.invoice.id}",
                {**self._tx_values(120.0), "access_token": token},
            )
        self.assertEqual(error.exception.code, 404)
        self.assertFalse(
            self.env["payment.transaction"].search(
                [("invoice_ids", "in", self.invoice.ids)]
            )
        )

    def test_expired_link(self):
        self.company.payment_link_validity_days = 2
        items = sorted([f"inv-{self.invoice.id}", f"cr-{self.credit_request.id}"])
        self.client._get_pay_all_url(self.documents)  # the client's token
        for days_ago, status in ((3, 404), (1, 200)):
            issued = int(time.time()) - days_ago * 86400
            token = f"{issued}.{self.client._get_pay_all_signature(items, issued)}"
            path = self.client._get_pay_all_path(items, token)
            if status == 404:
                self.assertPlainNotFound(path, self.missing)
            else:
                self.assertEqual(self._get(path).status_code, 200)

    def test_revoked_link(self):
        path = self._path(self.client, self.documents)
        self.assertEqual(self._get(path).status_code, 200)
        self.client.action_revoke_pay_all_links()
        self.assertPlainNotFound(path, self.missing)
        self.assertEqual(
            self._get(self._path(self.client, self.documents)).status_code, 200
        )

    def test_another_clients_documents_are_never_listed(self):
        """Even a link we signed (a bug, a merge of clients) that lists another
        client's invoice only ever shows and pays the link's client's own."""
        path = self._path(self.other_client, [self.other_invoice, self.invoice])
        html = self._get(path).text
        self.assertIn(self.other_invoice.name, html)
        self.assertNotIn(f">{self.invoice.name}<", html)
        self._pay(path, 80.0)
        tx = self._last_tx()
        self.assertEqual(tx.invoice_ids, self.other_invoice)
        self.assertEqual(tx.partner_id, self.other_client)
        # The client's logged-in portal user opening the other client's link
        # gets the same: nothing of its own is added.
        self.authenticate(self.portal_user.login, self.portal_user.login)
        self.assertNotIn(f">{self.invoice.name}<", self._get(path).text)

    def test_items_paid_since_disappear(self):
        path = self._path(self.client, self.documents)
        self._pay_request(self.credit_request)
        html = self._get(path).text
        self.assertNotIn(self.credit_request.name, html)
        self.assertIn(self.invoice.name, html)
        self.assertRegex(html, r"o_icp_total[\s\S]*120\.00")
        with self.assertRaises(JsonRpcException):
            self._pay(path, 420.0)
        self._pay(path, 120.0)
        tx = self._last_tx()
        self.assertEqual(tx.invoice_ids, self.invoice)
        self.assertFalse(tx.credit_request_ids)

    def test_portal_shows_reminded_on(self):
        self.invoice.invoice_date_due = date(2026, 3, 2)
        with freeze_time("2026-03-02 10:00:00"):
            self.env["res.partner"]._cron_send_payment_reminders(clients=self.client)
        self.authenticate(self.portal_user.login, self.portal_user.login)
        html = self._get("/my").text
        row = html.split(f">{self.invoice.name}<", 1)[1].split("</tr>", 1)[0]
        self.assertIn("o_icp_reminded_on", row)
        self.assertRegex(row, r"Reminded on\s*03/02/2026")
        # And on the item's own page, opened from its link.
        self.authenticate(None, None)
        self.credit_request.date_due = date(2026, 3, 2)
        with freeze_time("2026-03-02 10:00:00"):
            self.env["res.partner"]._cron_send_payment_reminders(clients=self.client)
        for document in (self.invoice, self.credit_request):
            html = self._get(self._link_path(document)).text
            self.assertRegex(html, r"Reminded on\s*03/02/2026", document.name)


@tagged("post_install", "-at_install")
class TestPayAllLinkTour(ClientPayHttpCommon):
    """The client opens the pay-all link of a reminder email, logged out, and
    pays everything in a real browser."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.auto_mark_invoices_paid = False
        redirect_form = cls.env["ir.ui.view"].create(
            {
                "name": "ICP test provider redirect",
                "type": "qweb",
                "arch": '<form action="/payment/status" method="get">'
                '<input type="hidden" name="test" value="1"/></form>',
            }
        )
        cls.provider.redirect_form_view_id = redirect_form
        cls.invoice = cls.init_invoice(
            "out_invoice",
            partner=cls.client,
            amounts=[120.0],
            taxes=[],
            company=cls.company,
            post=True,
        )
        cls.invoice.invoice_date_due = date(2026, 3, 2)
        cls.credit_request.date_due = date(2026, 3, 2)

    def test_tour_pay_all_from_a_reminder(self):
        with freeze_time("2026-03-02 10:00:00"):
            self.env["res.partner"]._cron_send_payment_reminders(clients=self.client)
        digest = self.env["mail.message"].search(
            [
                ("model", "=", "res.partner"),
                ("res_id", "=", self.client.id),
                ("message_type", "=", "comment"),
            ],
            order="id desc",
            limit=1,
        )
        link = re.search(r'href="[^"]*(/my/unpaid/link/[^"]+)"', str(digest.body))
        self.assertTrue(link, "the digest holds the pay-all link")
        path = link.group(1).replace("&amp;", "&")
        self.start_tour(path, "icp_tour_pay_all_link")
        tx = self.env["payment.transaction"].search([], order="id desc", limit=1)
        self.assertEqual(tx.invoice_ids, self.invoice)
        self.assertEqual(tx.credit_request_ids, self.credit_request)
        self.assertEqual(tx.partner_id, self.client)
        self.assertEqual(tx.amount, 420.0)
        tx._set_done()
        tx._post_process()
        self.assertEqual(self.credit_request.state, "paid")
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        self.assertLedgerConsistent()
